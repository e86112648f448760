"""The shared KServe model server, and the KServe controller pointing sklearn endpoints at it."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time

import httpx
import pytest

from sandbox.controllers import Controllers
from sandbox.modelserver import EXAMPLE_INSTANCES
from sandbox.testing import model_server_fixture  # noqa: F401  (provides `model_server`)
from sandbox.tests.test_cli_controllers import ROOT, _ready, _wait

pytest.importorskip("kserve", reason="the kserve extra is not installed")


def test_v1_predict_answers_the_reference_platform_example(model_server):
    response = httpx.post(f"{model_server.url}/v1/models/demo-iris-2:predict",
                          json={"instances": EXAMPLE_INSTANCES}, timeout=10)

    assert response.status_code == 200
    assert response.json() == {"predictions": [1, 1]}


def test_every_model_name_answers_and_is_ready(model_server):
    for name in ("sklearn-iris", "fraud-scorer", "a-name-never-seen-before"):
        readiness = httpx.get(f"{model_server.url}/v1/models/{name}", timeout=10)
        predict = httpx.post(f"{model_server.url}/v1/models/{name}:predict",
                             json={"instances": [[5.1, 3.5, 1.4, 0.2]]}, timeout=10)

        assert readiness.status_code == 200
        assert readiness.json() == {"name": name, "ready": True}
        assert predict.json() == {"predictions": [0]}  # setosa


def test_v2_infer_speaks_the_open_inference_protocol(model_server):
    body = {
        "id": "try-it-1",
        "inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP32",
                    "data": [value for row in EXAMPLE_INSTANCES for value in row]}],
    }

    response = httpx.post(f"{model_server.url}/v2/models/fraud-scorer/infer", json=body, timeout=10)
    ready = httpx.get(f"{model_server.url}/v2/models/fraud-scorer/ready", timeout=10)

    assert response.status_code == 200
    answer = response.json()
    assert answer["model_name"] == "fraud-scorer"
    assert answer["id"] == "try-it-1"
    assert answer["outputs"] == [
        {"name": "output-0", "shape": [2], "datatype": "INT64", "parameters": None, "data": [1, 1]},
    ]
    assert ready.status_code == 200


def test_unknown_paths_and_bad_payloads_are_refused_in_words(model_server):
    unknown = httpx.get(f"{model_server.url}/v1/nothing-here", timeout=10)
    missing_instances = httpx.post(f"{model_server.url}/v1/models/x:predict", json={"rows": []}, timeout=10)
    wrong_width = httpx.post(f"{model_server.url}/v1/models/x:predict", json={"instances": [[1, 2]]}, timeout=10)

    assert unknown.status_code == 404
    assert missing_instances.status_code == 400
    assert '{"instances": [[sepal length' in missing_instances.json()["error"]
    assert wrong_width.status_code == 400
    assert "each instance needs 4 numbers" in wrong_width.json()["error"]


def test_it_listens_on_the_loopback_interface_only(model_server):
    assert model_server.url.startswith("http://127.0.0.1:")
    port = int(model_server.url.rsplit(":", 1)[1])
    listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, timeout=10)
    if listening.returncode != 0:
        pytest.skip("ss is not available")
    addresses = {line.split()[3] for line in listening.stdout.splitlines() if line.strip()}
    assert addresses == {f"127.0.0.1:{port}"}


# --- The KServe controller ---------------------------------------------------------------------------


def isvc(name: str, predictor: dict) -> dict:
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": name, "namespace": "default"}, "spec": {"predictor": predictor}}


SKLEARN_MODEL = {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "gs://kfserving-examples/models/sklearn/1.0/model"}}
SKLEARN_SHORT = {"sklearn": {"storageUri": "gs://kfserving-examples/models/sklearn/1.0/model"}}
XGBOOST = {"model": {"modelFormat": {"name": "xgboost"}, "storageUri": "gs://kfserving-examples/models/xgboost/iris"}}


def _statuses(sandbox, url: str | None) -> dict[str, dict]:
    resource = sandbox.store.resource_for("serving.kserve.io/v1beta1", "InferenceService")
    for name, predictor in (("iris-model", SKLEARN_MODEL), ("iris-short", SKLEARN_SHORT), ("boosted", XGBOOST)):
        sandbox.store.create(resource, "default", isvc(name, predictor))
    Controllers(sandbox.store, model_server_url=url).settle()
    return {item["metadata"]["name"]: item["status"] for item in sandbox.store.list(resource).items}


def test_ready_sklearn_endpoints_are_addressed_at_the_model_server(sandbox):
    statuses = _statuses(sandbox, "http://127.0.0.1:8767/")

    for name in ("iris-model", "iris-short"):
        assert statuses[name]["address"] == {"url": "http://127.0.0.1:8767"}
        assert statuses[name]["components"]["predictor"]["address"] == {"url": "http://127.0.0.1:8767"}
        assert statuses[name]["url"] == f"http://{name}.default.example.com"
    # No model server can answer for another framework: its in-cluster address stays.
    assert statuses["boosted"]["address"] == {"url": "http://boosted.default.svc.cluster.local"}


def test_without_a_model_server_the_in_cluster_address_stays(sandbox):
    statuses = _statuses(sandbox, None)

    assert statuses["iris-model"]["address"] == {"url": "http://iris-model.default.svc.cluster.local"}
    assert statuses["iris-model"]["url"] == "http://iris-model.default.example.com"


def test_the_demo_answers_try_it_through_address_url(tmp_path, model_server):
    """`python -m sandbox --controllers --model-server URL`: a Ready demo endpoint's address
    answers the reference request, as the portal's "try it" sends it."""
    repo = tmp_path / "gitops"
    shutil.copytree(ROOT / "examples" / "gitops", repo)
    command = [sys.executable, "-m", "sandbox", "--port", "0", "--controllers", "--repo", str(repo),
               "--app-healthy-delay", "0", "--isvc-ready-delay", "0", "--tick", "0.2",
               "--model-server", model_server.url]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            url = process.stdout.readline().strip()

            def ready_demo():
                items = httpx.get(f"{url}/apis/serving.kserve.io/v1beta1/namespaces/default/inferenceservices",
                                  timeout=5).json()["items"]
                found = [i for i in items if i["metadata"]["name"] == "demo-iris-2"]
                return found[0] if found and _ready(found[0]) else None

            demo = _wait(ready_demo, timeout=20)
            assert demo, "demo-iris-2 did not become Ready"
            address = demo["status"]["address"]["url"]
            answer = httpx.post(f"{address}/v1/models/demo-iris-2:predict",
                                json={"instances": EXAMPLE_INSTANCES}, timeout=10)
        finally:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=10)

    assert address == model_server.url
    assert answer.json() == {"predictions": [1, 1]}


def test_model_server_flag_needs_a_url():
    finished = subprocess.run(
        [sys.executable, "-m", "sandbox", "--controllers", "--repo", str(ROOT / "examples" / "gitops"),
         "--model-server", "127.0.0.1:8767"],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )

    assert finished.returncode == 2
    assert "expected a URL such as http://127.0.0.1:8767" in finished.stderr


def test_the_first_stdout_line_is_the_url_and_sigterm_stops_it():
    process = subprocess.Popen([sys.executable, "-m", "sandbox.modelserver", "--port", "0"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().strip()
        answered = httpx.get(f"{url}/v1/models/anything", timeout=10).status_code
    finally:
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        process.communicate(timeout=20)

    assert url.startswith("http://127.0.0.1:")
    assert answered == 200
    assert process.returncode == 0
    assert time.monotonic() - started < 10
