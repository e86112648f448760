"""Fixtures for the sandbox's tests: a fresh cluster per test and the platform's reference objects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from sandbox.testing import sandbox_fixture  # noqa: F401  (provides `sandbox`)

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"


def load_fixture(relative: str) -> list[dict]:
    """The documents of a YAML or JSON file under ../shared/fixtures."""
    path = FIXTURES / relative
    if path.suffix == ".json":
        return [json.loads(path.read_text())]
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def manifest(obj: dict, **metadata) -> dict:
    """What a user would apply: the object without the fields the server owns."""
    kept = {key: value for key, value in obj["metadata"].items() if key in ("name", "namespace", "labels", "annotations")}
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "metadata": {**kept, **metadata},
        **{key: value for key, value in obj.items() if key not in ("apiVersion", "kind", "metadata", "status")},
    }


@pytest.fixture
def isvc() -> dict:
    """The reference platform's demo-iris-2 InferenceService (apps/demo-iris-2)."""
    return load_fixture("neuroscale/apps/demo-iris-2/inference-service.yaml")[0]


@pytest.fixture
def core(sandbox) -> client.CoreV1Api:
    return client.CoreV1Api(sandbox.api_client)


@pytest.fixture
def custom(sandbox) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(sandbox.api_client)


ISVC = ("serving.kserve.io", "v1beta1", "inferenceservices")
APPLICATION = ("argoproj.io", "v1alpha1", "applications")
CLUSTER_POLICY = ("kyverno.io", "v1", "clusterpolicies")
