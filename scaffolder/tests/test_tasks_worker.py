"""End to end with a real Celery worker process: a task created by the service runs to a pull request."""

from __future__ import annotations

import pytest

from catalog import ingestion
from deployments.models import PullRequest
from portal import snapshot
from portal.testing import wait_for
from scaffolder import services
from scaffolder.choices import TASK_TERMINAL, TaskStatus
from scaffolder.models import Task
from scaffolder.tests.task_helpers import (
    EXPECTED_MANIFEST,
    REFERENCE_VALUES,
    branch_commits,
    changed_paths,
    show,
    template,
)

pytestmark = [pytest.mark.worker, pytest.mark.services]


def test_the_worker_runs_a_created_task_to_its_pull_request(transactional_db, celery_worker_process, worker_repo, dana):
    snapshot.refresh()
    ingestion.refresh_all()

    task = services.create_task(template(), dict(REFERENCE_VALUES), user=dana)

    def finished():
        row = Task.objects.get(pk=task.pk)
        return row if row.status in TASK_TERMINAL else None

    row = wait_for(finished, timeout=90, message=f"the worker to finish the task; worker log:\n{celery_worker_process.log()}")
    assert row.status == TaskStatus.COMPLETED, f"{row.error}\n{celery_worker_process.log()}"
    pull_request = PullRequest.objects.get(task=task.uuid)
    assert pull_request.branch == "model-fraud-model" and pull_request.state == "open"
    assert changed_paths(worker_repo, "model-fraud-model") == ["apps/fraud-model/inference-service.yaml"]
    assert show(worker_repo, "model-fraud-model", "apps/fraud-model/inference-service.yaml") == EXPECTED_MANIFEST
    assert len(branch_commits(worker_repo, "model-fraud-model")) == 1
    assert row.output["links"][0]["url"] == pull_request.url
    assert "scaffolder.run_task" in celery_worker_process.log()
