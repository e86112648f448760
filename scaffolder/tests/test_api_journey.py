"""The script's journey (JOURNEYS.md): create a model endpoint through the API with an
Idempotency-Key, retry the request, poll the task that a real Celery worker runs, and read the
pull request from the task's output."""

from __future__ import annotations

from pathlib import Path

import git
import pytest
import yaml
from django.conf import settings

from catalog import ingestion
from catalog.choices import EntityStatus
from catalog.models import Entity
from catalog.tests.conftest import token_client  # noqa: F401 - fixture
from deployments.models import PullRequest
from portal import snapshot
from portal.testing import wait_for
from scaffolder.models import Task
from scaffolder.tests.api_helpers import API
from scaffolder.tests.test_golden_path import EXPECTED_INFERENCE_SERVICE, SAMPLE


@pytest.fixture
def script(transactional_db, dana, worker_repo, token_client):  # noqa: F811
    """A CI job holding dana's write token, against the demo repository the worker uses."""
    snapshot.refresh()
    ingestion.refresh_all()
    return token_client(dana)


def test_a_script_creates_an_endpoint_once_and_follows_it_to_its_pull_request(script):
    body = {"templateRef": "template:default/model-endpoint", "values": SAMPLE}
    created = script.post(f"{API}/tasks", body, format="json", HTTP_IDEMPOTENCY_KEY="ci-run-1234")
    assert created.status_code == 201, created.json()
    task_id = created.json()["id"]

    # The network failed before the answer arrived: the script sends the same request again.
    retried = script.post(f"{API}/tasks", body, format="json", HTTP_IDEMPOTENCY_KEY="ci-run-1234")
    assert retried.json() == {"id": task_id}
    assert retried["Idempotent-Replayed"] == "true"

    def finished():
        task = script.get(f"{API}/tasks/{task_id}").json()
        return task if task["status"] in ("completed", "failed", "cancelled") else None

    task = wait_for(finished, timeout=60, interval=0.5, message="the worker to finish the task")
    assert task["status"] == "completed", script.get(f"{API}/tasks/{task_id}/events").json()
    assert [(step["id"], step["status"]) for step in task["steps"]] == [
        (step_id, "completed") for step_id in ("owner", "render", "guardrails", "publish", "register")
    ]
    links = {link["title"]: link for link in task["output"]["links"]}
    assert links["Open in catalog"]["entityRef"] == "component:default/fraud-model"

    # One task, one pull request, and the link in the output leads to it.
    assert Task.objects.count() == 1
    pull_request = PullRequest.objects.get(task=task_id)
    assert links["Pull request"]["url"] == pull_request.url
    assert pull_request.branch == "model-endpoint/fraud-model"
    assert pull_request.title == "Add model endpoint fraud-model"
    assert "| Cost centre | `cc-fraud` |" in pull_request.body
    assert "| Replicas | 0 to 4 |" in pull_request.body

    # The branch holds the manifest, exactly as previewed.
    repository = git.Repo(Path(settings.PORTAL_GITOPS_REPO_PATH))
    manifest = repository.git.show("model-endpoint/fraud-model:apps/fraud-model/inference-service.yaml")
    assert yaml.safe_load(manifest) == EXPECTED_INFERENCE_SERVICE

    # The Component waits in the catalog with its pull request until the merge.
    component = Entity.objects.get(ref="component:default/fraud-model")
    assert component.status == EntityStatus.PENDING
    assert component.owner_ref == "group:default/fraud-detection"
    assert task["entityRef"] == "component:default/fraud-model"
