"""Fixtures of the deployments tests: a real local GitOps repository, and a poll of the sandbox
cluster."""

from __future__ import annotations

import uuid

import git
import pytest

from catalog import store
from deployments import status
from deployments.gitops.local import LocalProvider
from deployments.models import Cluster

MANIFEST = b"""apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: churn-model
  labels:
    owner: fraud-detection
    cost-center: cc-fraud
spec:
  predictor:
    model:
      modelFormat: {name: sklearn}
      storageUri: gs://models/churn
"""
CATALOG_INFO = b"""apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: churn-model
spec:
  type: model-endpoint
  lifecycle: experimental
  owner: fraud-detection
"""

ENTITY = "component:default/churn-model"


@pytest.fixture
def provider(gitops_repo) -> LocalProvider:
    return LocalProvider.from_settings()


class Repo:
    """Questions a test asks about the bare repository, answered by git itself."""

    def __init__(self, path):
        self.git = git.Repo(path)

    def branches(self) -> list[str]:
        return sorted(head.name for head in self.git.heads)

    def commits_between(self, base: str, branch: str) -> list[git.Commit]:
        return list(self.git.iter_commits(f"{base}..{branch}"))

    def files(self, ref: str) -> dict[str, bytes]:
        tree = self.git.commit(ref).tree
        return {blob.path: blob.data_stream.read() for blob in tree.traverse() if blob.type == "blob"}


@pytest.fixture
def repo(gitops_repo) -> Repo:
    return Repo(gitops_repo)


@pytest.fixture
def task_id() -> str:
    return str(uuid.UUID("6f1f0b1e-0000-4000-8000-000000000001"))


@pytest.fixture
def open_churn_change(provider, task_id):
    """Open the change a scaffolder task would: two new files and a deletion."""

    def open_change(marker: str | None = None, **overrides):
        arguments = {
            "branch": "portal/churn-model",
            "base": "main",
            "files": {
                "apps/churn-model/inference-service.yaml": MANIFEST,
                "apps/churn-model/catalog-info.yaml": CATALOG_INFO,
                "apps/demo-iris-2/inference-service.yaml": None,
            },
            "title": "Create model endpoint churn-model",
            "body": "Adds the churn-model endpoint.",
            "labels": ["portal", "model-endpoint"],
            "draft": False,
            "marker": marker or task_id,
        }
        arguments.update(overrides)
        return provider.open_change(**arguments)

    return open_change


@pytest.fixture
def churn_component(db):
    """The Component the pull request concerns, owned by the fraud-detection team."""
    return store.upsert({
        "apiVersion": "backstage.io/v1alpha1", "kind": "Component",
        "metadata": {"name": "churn-model"},
        "spec": {"type": "model-endpoint", "lifecycle": "experimental", "owner": "fraud-detection"},
    }).entity


@pytest.fixture
def teammate_elsewhere(make_user):
    """A signed-in engineer on another team."""
    return make_user("sam", groups=["search-ranking"])


@pytest.fixture
def poll(sandbox):
    """`poll(*objects)`: put the objects in the sandbox cluster, then run one status poll cycle
    on the default cluster (the test module provides `sandbox`)."""
    def cycle(*objects):
        for item in objects:
            sandbox.store.put(item)
        return status.poll(Cluster.default(), sandbox.api_client)
    return cycle
