"""`python -m sandbox --controllers`: the demo's cluster, with ArgoCD and KServe at work."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from kubernetes import client, config

ROOT = Path(__file__).resolve().parents[2]
ISVC = ("serving.kserve.io", "v1beta1", "inferenceservices")
APPLICATION = ("argoproj.io", "v1alpha1", "applications")


def _ready(isvc: dict) -> bool:
    conditions = (isvc.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _wait(check, timeout: float = 8.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_the_controllers_turn_the_repository_apps_into_ready_endpoints(tmp_path):
    repo = tmp_path / "gitops"
    shutil.copytree(ROOT / "examples" / "gitops", repo)
    demo_apps = sorted(p.name for p in (repo / "apps").iterdir() if p.is_dir())
    endpoints = sorted(  # ai-model-alpha's InferenceService is named sklearn-iris
        yaml.safe_load(path.read_text())["metadata"]["name"] for path in (repo / "apps").glob("*/inference-service.yaml")
    )
    kubeconfig = tmp_path / "sandbox.kubeconfig"
    command = [
        sys.executable, "-m", "sandbox", "--port", "0", "--kubeconfig", str(kubeconfig),
        "--controllers", "--repo", str(repo), "--app-healthy-delay", "0.5", "--isvc-ready-delay", "0.5",
        "--tick", "0.2",
    ]

    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            url = process.stdout.readline().strip()
            with config.new_client_from_config(config_file=str(kubeconfig)) as api_client:
                custom = client.CustomObjectsApi(api_client)
                namespaces = [ns.metadata.name for ns in client.CoreV1Api(api_client).list_namespace().items]

                def applications():
                    items = custom.list_namespaced_custom_object(*APPLICATION[:2], "argocd", APPLICATION[2])["items"]
                    return items if sorted(a["metadata"]["name"] for a in items) == demo_apps else None

                def all_ready():
                    items = custom.list_namespaced_custom_object(*ISVC[:2], "default", ISVC[2])["items"]
                    names = sorted(i["metadata"]["name"] for i in items)
                    return items if names == endpoints and all(_ready(i) for i in items) else None

                listed = _wait(applications)
                ready = _wait(all_ready)
                healthy = _wait(lambda: all(
                    a["status"]["health"]["status"] == "Healthy" for a in applications() or []
                ) and applications())
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=10)

    assert process.returncode == 0, stderr
    assert url.startswith("http://127.0.0.1:")
    assert "argocd" in namespaces
    assert listed, f"no Application for each of {demo_apps}"
    assert [a["spec"]["source"]["path"] for a in listed] == [f"apps/{name}" for name in demo_apps]
    assert ready, "the demo InferenceServices did not become Ready"
    assert {i["status"]["url"] for i in ready} == {f"http://{name}.default.example.com" for name in endpoints}
    assert healthy, "the Applications did not become Healthy"
    assert all(a["status"]["sync"]["status"] == "Synced" for a in healthy)


def test_repo_needs_an_apps_folder(tmp_path):
    finished = subprocess.run(
        [sys.executable, "-m", "sandbox", "--controllers", "--repo", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=10,
    )

    assert finished.returncode == 2
    assert "no apps/ folder" in finished.stderr
