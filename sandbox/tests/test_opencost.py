"""The sandbox's OpenCost allocation API: OpenCost's shapes, figures computed from what runs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from sandbox.controllers import directory_source
from sandbox.opencost import Prices, parse_window
from sandbox.tests.conftest import FIXTURES
from sandbox.tests.test_cli_controllers import ROOT

#: "Now" for every test: Tuesday 2026-05-19 12:00 UTC.
NOW = datetime(2026, 5, 19, 12, 0, tzinfo=UTC)
DAY_18 = "2026-05-18T00:00:00Z,2026-05-19T00:00:00Z"
PRICES = Prices()
GIB = 1024**3


def isvc(name: str, *, labels: dict | None = None, cpu: str | None = "500m", memory: str | None = "512Mi",
         replicas: int | None = None, created: str = "2026-05-01T00:00:00Z", annotations: dict | None = None,
         namespace: str = "default", gpu: str | None = None) -> dict:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory), ("nvidia.com/gpu", gpu)) if v is not None}
    predictor: dict = {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "gs://kfserving-examples/models/sklearn/1.0/model",
                                 "resources": {"requests": requests} if requests else {}}}
    if replicas is not None:
        predictor["minReplicas"] = replicas
    return {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": created,
                     "labels": labels if labels is not None else {"owner": "fraud-detection", "cost-center": "cc-fraud"},
                     "annotations": annotations or {}},
        "spec": {"predictor": predictor},
    }


@pytest.fixture
def opencost(sandbox):
    """The sandbox, its OpenCost clock frozen at NOW; call it with query parameters."""
    sandbox.server.opencost.clock = lambda: NOW

    def ask(path: str = "/allocation/compute", **params) -> httpx.Response:
        return httpx.get(f"{sandbox.url}{path}", params=params, timeout=10)

    ask.sandbox = sandbox
    return ask


def seed(sandbox, *objects: dict) -> None:
    for obj in objects:
        sandbox.store.put(obj)


def test_the_answer_has_opencosts_envelope_and_fields(opencost):
    seed(opencost.sandbox, isvc("fraud-scorer"))
    reference = json.loads((FIXTURES / "status-examples" / "opencost-allocation-compute-aggregate-label.AUTHORED.json").read_text())

    answer = opencost(window=DAY_18, aggregate="namespace").json()

    assert (answer["code"], answer["status"]) == (200, "success")
    allocation = answer["data"][0]["default"]
    assert list(allocation) == list(reference["data"][0]["cc-platform"])
    assert allocation["window"] == {"start": "2026-05-18T00:00:00Z", "end": "2026-05-19T00:00:00Z"}
    assert (allocation["start"], allocation["end"], allocation["minutes"]) == ("2026-05-18T00:00:00Z", "2026-05-19T00:00:00Z", 1440.0)
    assert allocation["properties"] == {
        "cluster": "sandbox", "node": "sandbox-node", "container": "kserve-container",
        "controller": "fraud-scorer-predictor", "controllerKind": "deployment", "namespace": "default",
        "pod": allocation["properties"]["pod"],
        "labels": {"app": "fraud-scorer-predictor", "component": "predictor", "cost_center": "cc-fraud",
                   "owner": "fraud-detection", "serving_kserve_io_inferenceservice": "fraud-scorer"},
        "namespaceLabels": {"kubernetes_io_metadata_name": "default"},
    }
    assert allocation["properties"]["pod"].startswith("fraud-scorer-predictor-")
    assert opencost("/allocation", window=DAY_18, aggregate="namespace").json() == answer


def test_costs_by_cost_center_add_up_to_the_cent(opencost):
    seed(
        opencost.sandbox,
        isvc("fraud-scorer", cpu="500m", memory="512Mi"),
        isvc("fraud-batch", cpu="1", memory="1Gi", replicas=2),
        isvc("search-ranker", cpu="250m", memory="256Mi", labels={"owner": "search-ranking", "cost-center": "cc-search"}),
        isvc("stray", cpu="100m", memory="128Mi", labels={"owner": "someone"}),
    )

    data = opencost(window=DAY_18, aggregate="label:cost-center").json()["data"]

    assert len(data) == 1
    assert sorted(data[0]) == ["__unallocated__", "cc-fraud", "cc-search"]
    fraud = data[0]["cc-fraud"]
    # By hand: 0.5 + 2 × 1 = 2.5 cores and 0.5 + 2 × 1 = 2.5 GiB for 24 h.
    assert fraud["cpuCoreHours"] == 60.0
    assert fraud["ramByteHours"] == 60.0 * GIB
    assert fraud["cpuCost"] == 1.89666  # 60 × 0.031611
    assert fraud["ramCost"] == 0.25422  # 60 × 0.004237
    assert fraud["totalCost"] == 2.15088
    assert (fraud["cpuCores"], fraud["cpuCoreRequestAverage"], fraud["ramBytes"]) == (2.5, 2.5, 2.5 * GIB)
    search = data[0]["cc-search"]  # 0.25 cores and 0.25 GiB for 24 h
    assert (search["cpuCost"], search["ramCost"], search["totalCost"]) == (0.18967, 0.02542, 0.21509)
    unallocated = data[0]["__unallocated__"]  # 0.1 cores and 0.125 GiB for 24 h
    assert (unallocated["cpuCost"], unallocated["ramCost"], unallocated["totalCost"]) == (0.07587, 0.01271, 0.08858)
    for allocation in data[0].values():
        parts = Decimal(str(allocation["cpuCost"])) + Decimal(str(allocation["ramCost"])) + Decimal(str(allocation["gpuCost"]))
        assert abs(parts - Decimal(str(allocation["totalCost"]))) < Decimal("0.005")
        assert round(allocation["cpuCoreHours"] * PRICES.cpu_hour, 2) == round(allocation["cpuCost"], 2)
    # Several workloads under one key share only what they have in common: no labels, no pod.
    assert fraud["properties"] == {"cluster": "sandbox", "node": "sandbox-node", "container": "kserve-container",
                                   "controllerKind": "deployment", "namespace": "default",
                                   "namespaceLabels": {"kubernetes_io_metadata_name": "default"}}


def test_usage_stays_below_requests_and_annotations_set_it(opencost):
    seed(
        opencost.sandbox,
        isvc("sklearn-iris", labels={"owner": "platform-team", "cost-center": "cc-platform"},
             annotations={"sandbox.neuroscale.io/cpu-utilization": "0.12", "sandbox.neuroscale.io/memory-utilization": "0.18"}),
        isvc("fraud-scorer"),
    )

    data = opencost(window=DAY_18, aggregate="label:cost-center").json()["data"][0]
    again = opencost(window=DAY_18, aggregate="label:cost-center").json()["data"][0]

    platform = data["cc-platform"]
    assert (platform["cpuEfficiency"], platform["ramEfficiency"]) == (0.12, 0.18)
    assert platform["cpuCoreUsageAverage"] == 0.06  # 12 % of 0.5 cores
    # OpenCost weighs the two efficiencies by their cost.
    # (0.12 × 12 × 0.031611 + 0.18 × 12 × 0.004237) / (12 × (0.031611 + 0.004237)) = 0.05467176 / 0.430176
    assert platform["totalEfficiency"] == 0.12709
    fraud = data["cc-fraud"]
    assert 0.35 <= fraud["cpuEfficiency"] <= 0.85 and 0.35 <= fraud["ramEfficiency"] <= 0.85
    assert fraud["cpuCoreUsageAverage"] < fraud["cpuCoreRequestAverage"]
    assert again == data  # the same figures every time


def test_step_gives_one_set_per_day_and_an_endpoint_counts_from_its_creation(opencost):
    seed(opencost.sandbox, isvc("demo-iris-2", created="2026-05-18T09:30:00Z", cpu="125m", memory="128Mi",
                                labels={"owner": "platform-team", "cost-center": "cc-demo"}))

    data = opencost(window="2026-05-17T00:00:00Z,2026-05-19T00:00:00Z", step="1d", aggregate="label:cost-center").json()["data"]
    accumulated = opencost(window="2026-05-17T00:00:00Z,2026-05-19T00:00:00Z", step="1d", accumulate="true",
                           aggregate="label:cost-center").json()["data"]

    assert len(data) == 2
    assert data[0] == {}  # not created yet on the 17th
    demo = data[1]["cc-demo"]
    assert demo["window"] == {"start": "2026-05-18T00:00:00Z", "end": "2026-05-19T00:00:00Z"}
    assert (demo["start"], demo["end"], demo["minutes"]) == ("2026-05-18T09:30:00Z", "2026-05-19T00:00:00Z", 870.0)
    assert demo["cpuCoreHours"] == 1.8125  # 0.125 cores × 14.5 h
    assert demo["cpuCost"] == 0.05729
    assert len(accumulated) == 1
    assert accumulated[0]["cc-demo"]["window"] == {"start": "2026-05-17T00:00:00Z", "end": "2026-05-19T00:00:00Z"}
    assert accumulated[0]["cc-demo"]["cpuCost"] == demo["cpuCost"]


def test_a_window_before_creation_is_empty(opencost):
    seed(opencost.sandbox, isvc("fraud-scorer", created="2026-05-18T00:00:00Z"))

    answer = opencost(window="2026-05-10T00:00:00Z,2026-05-11T00:00:00Z", aggregate="namespace").json()

    assert answer == {"code": 200, "status": "success", "data": [{}]}


def test_windows_run_to_now_and_no_further(opencost):
    seed(opencost.sandbox, isvc("fraud-scorer", created="2026-05-19T06:00:00Z"))

    today = opencost(window="today", aggregate="namespace").json()["data"][0]["default"]
    last_day = opencost(window="24h", aggregate="namespace").json()["data"][0]["default"]

    assert today["window"] == {"start": "2026-05-19T00:00:00Z", "end": "2026-05-19T12:00:00Z"}
    assert (today["start"], today["end"], today["minutes"]) == ("2026-05-19T06:00:00Z", "2026-05-19T12:00:00Z", 360.0)
    assert last_day["minutes"] == 360.0


@pytest.mark.parametrize(("window", "start", "end"), [
    ("today", "2026-05-19T00:00:00", "2026-05-20T00:00:00"),
    ("yesterday", "2026-05-18T00:00:00", "2026-05-19T00:00:00"),
    ("24h", "2026-05-18T13:00:00", "2026-05-19T13:00:00"),
    ("7d", "2026-05-13T00:00:00", "2026-05-20T00:00:00"),
    ("30d", "2026-04-20T00:00:00", "2026-05-20T00:00:00"),
    ("week", "2026-05-17T00:00:00", "2026-05-19T12:30:00"),  # from Sunday
    ("lastweek", "2026-05-10T00:00:00", "2026-05-17T00:00:00"),
    ("month", "2026-05-01T00:00:00", "2026-05-19T12:30:00"),
    ("lastmonth", "2026-04-01T00:00:00", "2026-05-01T00:00:00"),
    ("2026-05-01T00:00:00Z,2026-05-03T12:00:00Z", "2026-05-01T00:00:00", "2026-05-03T12:00:00"),
    ("1778112000,1778198400", "2026-05-07T00:00:00", "2026-05-08T00:00:00"),
])
def test_windows_are_parsed_as_opencost_does(window, start, end):
    now = datetime(2026, 5, 19, 12, 30, tzinfo=UTC)

    parsed = parse_window(window, now)

    assert parsed == (datetime.fromisoformat(start).replace(tzinfo=UTC), datetime.fromisoformat(end).replace(tzinfo=UTC))


def test_aggregations_name_allocations_as_opencost(opencost):
    seed(
        opencost.sandbox,
        isvc("fraud-scorer"),
        isvc("search-ranker", labels={"owner": "search-ranking", "cost-center": "cc-search"}),
        isvc("churn", namespace="team-a", labels={}),
    )

    def keys(aggregate):
        return sorted(opencost(window=DAY_18, aggregate=aggregate).json()["data"][0])

    assert keys("namespace,controller") == [
        "default/deployment:fraud-scorer-predictor", "default/deployment:search-ranker-predictor",
        "team-a/deployment:churn-predictor",
    ]
    assert keys("controller") == ["deployment:churn-predictor", "deployment:fraud-scorer-predictor",
                                  "deployment:search-ranker-predictor"]
    assert keys("namespace") == ["default", "team-a"]
    assert keys("label:owner") == ["__unallocated__", "fraud-detection", "search-ranking"]
    assert keys("label:cost-center") == ["__unallocated__", "cc-fraud", "cc-search"]
    assert keys("") == [
        "sandbox/sandbox-node/default/" + opencost.sandbox.server.opencost.workloads()[i].properties["pod"] + "/kserve-container"
        for i in (0, 1)
    ] + ["sandbox/sandbox-node/team-a/" + opencost.sandbox.server.opencost.workloads()[2].properties["pod"] + "/kserve-container"]
    one = opencost(window=DAY_18, aggregate="namespace,controller").json()["data"][0]["default/deployment:fraud-scorer-predictor"]
    assert one["properties"]["labels"]["cost_center"] == "cc-fraud"  # one workload keeps its labels


def test_bad_parameters_are_refused_in_words(opencost):
    missing = opencost(aggregate="namespace")
    window = opencost(window="fortnight")
    aggregate = opencost(window="24h", aggregate="team")
    step = opencost(window="30d", step="1minute")
    too_many = opencost(window="30d", step="1s")

    assert missing.status_code == window.status_code == aggregate.status_code == step.status_code == 400
    assert "Missing 'window' parameter" in missing.json()["message"]
    assert window.json()["message"].startswith("Invalid 'window' parameter: illegal window: fortnight")
    assert aggregate.json()["message"].startswith("Invalid 'aggregate' parameter: invalid allocation property: team")
    assert step.json()["message"].startswith("Invalid 'step' parameter: 1minute")
    assert too_many.status_code == 400 and "more than 2000 sets" in too_many.json()["message"]


def test_replicas_gpus_limit_range_defaults_and_scale_to_zero(opencost, tmp_path):
    sandbox = opencost.sandbox
    seed(
        sandbox,
        isvc("gpu-model", cpu="2", memory="4Gi", gpu="1", replicas=2, labels={"cost-center": "cc-gpu"}),
        isvc("idle", replicas=0, labels={"cost-center": "cc-idle"}),
        isvc("defaults", cpu=None, memory=None, namespace="team-a", labels={"cost-center": "cc-defaults"}),
        isvc("repo-defaults", cpu=None, memory=None, labels={"cost-center": "cc-repo"}),
        {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "limits", "namespace": "team-a"},
         "spec": {"limits": [{"type": "Container", "defaultRequest": {"cpu": "200m", "memory": "256Mi"}}]}},
    )
    sandbox.server.opencost.source = directory_source(ROOT / "examples" / "gitops")  # default: 100m, 128Mi

    data = opencost(window=DAY_18, aggregate="label:cost-center").json()["data"][0]

    assert "cc-idle" not in data  # scaled to zero: no pod
    gpu = data["cc-gpu"]
    assert (gpu["gpuCount"], gpu["gpuHours"], gpu["gpuCost"]) == (2.0, 48.0, 45.6)  # 48 GPU-hours × 0.95
    # 96 CPU-hours × 0.031611 + 192 GiB-hours × 0.004237 + 45.6 = 3.034656 + 0.813504 + 45.6
    assert gpu["totalCost"] == 49.44816
    assert (data["cc-defaults"]["cpuCores"], data["cc-defaults"]["ramBytes"]) == (0.2, 256 * 1024**2)
    assert (data["cc-repo"]["cpuCores"], data["cc-repo"]["ramBytes"]) == (0.1, 128 * 1024**2)


def test_the_portals_client_reads_the_answer(opencost):
    from deployments.opencost import OpenCostClient

    seed(opencost.sandbox, isvc("fraud-scorer"), isvc("fraud-batch", cpu="1", memory="1Gi", replicas=2))

    with OpenCostClient(opencost.sandbox.url, retries=0) as client:
        sets = client.allocation(DAY_18, "label:cost-center")

    assert [a.name for a in sets[0].allocations] == ["cc-fraud"]
    assert sets[0].total_cost == Decimal("2.15088")
    assert sets[0].allocations[0].cpu_cost == Decimal("1.89666")


def test_the_command_line_sets_the_prices(tmp_path):
    manifest = tmp_path / "endpoint.yaml"
    manifest.write_text(json.dumps(isvc("fraud-scorer", cpu="1", memory="1Gi")))
    command = [sys.executable, "-m", "sandbox", "--port", "0", "--load", str(manifest),
               "--price-cpu-hour", "0.5", "--price-gib-hour", "0.25", "--price-gpu-hour", "2"]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            url = process.stdout.readline().strip()
            answer = httpx.get(f"{url}/allocation/compute", params={"window": DAY_18, "aggregate": "namespace"}, timeout=10)
        finally:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=10)

    allocation = answer.json()["data"][0]["default"]
    assert (allocation["cpuCost"], allocation["ramCost"], allocation["totalCost"]) == (12.0, 6.0, 18.0)


def test_backdated_demo_endpoints_have_a_cost_history(sandbox, tmp_path):
    """`--backdate-days`: the endpoints of the first sync have run for days; later ones start now."""
    from sandbox.controllers import Controllers
    from sandbox.tests.test_controllers import Repository, endpoint

    repository = Repository({"apps/fraud-scorer/inference-service.yaml": endpoint("fraud-scorer", cpu="1")})
    controllers = Controllers(sandbox.store, repository, backdate=3 * 86400)
    controllers.settle()
    repository.files["apps/late/inference-service.yaml"] = endpoint("late", cpu="1")
    controllers.settle()

    answer = httpx.get(f"{sandbox.url}/allocation/compute", params={"window": "yesterday", "aggregate": "namespace,controller"},
                       timeout=10).json()["data"][0]

    assert list(answer) == ["default/deployment:fraud-scorer-predictor"]
    assert answer["default/deployment:fraud-scorer-predictor"]["minutes"] == 1440.0
    resource = sandbox.store.resource_for("serving.kserve.io/v1beta1", "InferenceService")
    created = {i["metadata"]["name"]: i["metadata"]["creationTimestamp"] for i in sandbox.store.list(resource).items}
    assert created["late"] > created["fraud-scorer"]
