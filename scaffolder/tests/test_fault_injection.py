"""A worker killed after each publish sub-step; the reaper resumes the task on another claim.

Each time the repository ends with exactly one branch, one commit on it and one pull request.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from deployments.gitops.local import LocalProvider
from deployments.models import PullRequest
from scaffolder import runner, services, tasks
from scaffolder.choices import StepStatus, TaskStatus
from scaffolder.models import Task
from scaffolder.tests import task_helpers
from scaffolder.tests.task_helpers import (
    REFERENCE_VALUES,
    branch_commits,
    branches,
    step_statuses,
    template,
)

task_catalog = task_helpers.task_catalog  # fixture


class WorkerKilled(BaseException):
    """Stands for the process dying: nothing in the runner may catch it."""


def kill_once(monkeypatch, seam: str, *, after: bool):
    """Make LocalProvider.<seam> kill the worker once, before or after doing its work."""
    original = getattr(LocalProvider, seam)
    calls = {"n": 0}

    def seam_then_die(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1 and not after:
            raise WorkerKilled(seam)
        result = original(self, *args, **kwargs)
        if calls["n"] == 1:
            raise WorkerKilled(seam)
        return result

    monkeypatch.setattr(LocalProvider, seam, seam_then_die)


@pytest.mark.parametrize(
    ("seam", "after"),
    [
        ("write_tree", True),  # the tree object exists, no commit yet
        ("write_commit", True),  # the commit exists, the branch does not point at it
        ("write_branch", True),  # the branch is created, no pull request
        ("record_pull_request", False),  # the pull request is being opened, its row not saved
        ("record_pull_request", True),  # the pull request is saved, the step's output not stored
    ],
)
def test_a_killed_publish_resumes_with_one_branch_one_commit_one_pull_request(
    task_catalog, dana, monkeypatch, seam, after
):
    task = services.create_task(template(), dict(REFERENCE_VALUES), user=dana)
    kill_once(monkeypatch, seam, after=after)

    with pytest.raises(WorkerKilled):
        runner.run(task.pk)

    task.refresh_from_db()
    assert task.status == TaskStatus.PROCESSING
    assert step_statuses(task) == {"fetchBase": StepStatus.COMPLETED, "publishPr": StepStatus.PROCESSING}
    # Nobody beats for the dead worker: its heartbeat grows old, and the reaper notices.
    Task.objects.filter(pk=task.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    queued: list[int] = []
    monkeypatch.setattr(tasks.run_task, "delay", lambda pk: queued.append(pk))
    assert tasks.reap_stale_tasks() == 1
    assert queued == [task.pk]

    assert runner.run(task.pk) == TaskStatus.COMPLETED

    task.refresh_from_db()
    assert task.attempts == 2
    assert [b for b in branches(task_catalog) if b != "main"] == ["model-fraud-model"]
    assert len(branch_commits(task_catalog, "model-fraud-model")) == 1
    assert PullRequest.objects.count() == 1
    pull_request = PullRequest.objects.get()
    assert pull_request.head_sha == LocalProvider(task_catalog).head("model-fraud-model")
    assert task.steps.get(step_id="publishPr").output["pullRequestNumber"] == pull_request.number
    assert task.events.filter(type="recovered").count() == 1
