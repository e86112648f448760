"""Starting the sandbox: as a context manager, from a kubeconfig, and as `python -m sandbox`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from kubernetes import client, config

from sandbox import SandboxServer, Store, running_sandbox
from sandbox.tests.conftest import FIXTURES

ROOT = Path(__file__).resolve().parents[2]


def test_running_sandbox_serves_until_the_block_ends():
    with running_sandbox() as sandbox:
        names = [ns.metadata.name for ns in client.CoreV1Api(sandbox.api_client).list_namespace().items]
        url = sandbox.url

    assert url.startswith("http://127.0.0.1:")
    assert "default" in names
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "/healthz", timeout=1)


def test_a_kubeconfig_for_load_kube_config(tmp_path):
    with SandboxServer() as server:
        path = server.write_kubeconfig(tmp_path / "kube" / "config")
        configuration = client.Configuration()
        config.load_kube_config(config_file=str(path), client_configuration=configuration)
        contexts, active = config.list_kube_config_contexts(config_file=str(path))

        with client.ApiClient(configuration) as api:
            namespaces = client.CoreV1Api(api).list_namespace().items

    assert configuration.host == server.url
    assert active["name"] == "sandbox" and active["context"]["namespace"] == "default"
    assert len(namespaces) == 4


def test_put_seeds_recorded_objects_with_their_status():
    store = Store()
    ready = json.loads((FIXTURES / "status-examples" / "kserve-inferenceservice-ready.json").read_text())
    recorded = {**ready, "metadata": {"name": "flower-sample", "namespace": "kserve-test"}}

    stored = store.put(recorded)
    again = store.put({**recorded, "metadata": {**recorded["metadata"], "labels": {"owner": "x"}}})

    assert stored["status"] == recorded["status"]
    assert store.get(store.namespaces, None, "kserve-test")["status"] == {"phase": "Active"}
    assert again["metadata"]["uid"] == stored["metadata"]["uid"]
    assert again["metadata"]["labels"] == {"owner": "x"}


def test_the_command_line_prints_its_url_and_stops_on_sigterm(tmp_path):
    kubeconfig = tmp_path / "config"
    manifest = FIXTURES / "neuroscale" / "apps" / "demo-iris-2" / "inference-service.yaml"
    command = [sys.executable, "-m", "sandbox", "--port", "0", "--kubeconfig", str(kubeconfig), "--load", str(manifest)]

    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            url = process.stdout.readline().strip()
            with urllib.request.urlopen(url + "/apis/serving.kserve.io/v1beta1/inferenceservices", timeout=5) as response:
                listed = json.load(response)
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=10)

    assert process.returncode == 0, stderr
    assert url.startswith("http://127.0.0.1:")
    assert [item["metadata"]["name"] for item in listed["items"]] == ["demo-iris-2"]
    assert f"server: {url}" in kubeconfig.read_text()
