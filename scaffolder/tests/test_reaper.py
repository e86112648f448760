"""The reaper and the takeover claim: stale processing tasks are re-queued and taken over."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from portal.celery import app
from scaffolder import runner, services, tasks
from scaffolder.choices import TaskStatus
from scaffolder.models import Task
from scaffolder.tests import task_helpers
from scaffolder.tests.task_helpers import REFERENCE_VALUES, template

task_catalog = task_helpers.task_catalog  # fixture


@pytest.fixture
def queued(monkeypatch):
    sent: list[int] = []
    monkeypatch.setattr(tasks.run_task, "delay", lambda pk: sent.append(pk))
    return sent


def age(task: Task, seconds: int) -> None:
    Task.objects.filter(pk=task.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=seconds))


def test_the_reaper_requeues_only_stale_processing_tasks(task_catalog, dana, queued, settings):
    settings.PORTAL_TASK_STALE_SECONDS = 60
    stale = services.create_task(template(), dict(REFERENCE_VALUES), user=dana)
    alive = services.create_task(template(), dict(REFERENCE_VALUES), user=dana)
    waiting = services.create_task(template(), dict(REFERENCE_VALUES), user=dana)
    runner.claim(stale.pk)
    runner.claim(alive.pk)
    age(stale, 61)
    age(alive, 30)

    assert tasks.reap_stale_tasks() == 1

    assert queued == [stale.pk]
    assert Task.objects.get(pk=waiting.pk).status == TaskStatus.OPEN


def test_a_live_task_cannot_be_claimed_twice_but_a_stale_one_is_taken_over(task_catalog, dana, settings):
    settings.PORTAL_TASK_STALE_SECONDS = 60
    task = services.create_task(template(), dict(REFERENCE_VALUES), user=dana)
    first = runner.claim(task.pk)
    assert first is not None and first.attempts == 1
    assert runner.claim(task.pk) is None, "a running task with a fresh heartbeat is left alone"

    age(task, 61)
    second = runner.claim(task.pk)

    assert second is not None and second.attempts == 2 and second.claimed_at > first.claimed_at
    with pytest.raises(runner.LostClaim):
        runner.TaskRun(first).beat()
    assert runner.TaskRun(second).run() == TaskStatus.COMPLETED


def test_a_gone_or_finished_task_is_not_claimed(task_catalog, dana):
    task = services.create_task(template(), dict(REFERENCE_VALUES), user=dana)
    assert runner.run(task.pk) == TaskStatus.COMPLETED

    assert runner.run(task.pk) is None
    assert tasks.run_task.run(task.pk) is None
    assert tasks.run_task.run(999_999) is None


def test_the_reaper_runs_on_the_beat_schedule_every_30_seconds():
    entries = [entry for entry in app.conf.beat_schedule.values() if entry["task"] == "scaffolder.reap_stale_tasks"]
    assert entries == [{"task": "scaffolder.reap_stale_tasks", "schedule": 30.0}]


def test_temporary_errors_give_the_task_back_for_a_retry(task_catalog, dana, monkeypatch):
    from deployments.gitops.local import LocalProvider
    from portal.repository import TransientError

    task = services.create_task(template(), dict(REFERENCE_VALUES), user=dana)
    monkeypatch.setattr(LocalProvider, "open_change",
                        lambda self, **kw: (_ for _ in ()).throw(TransientError("GitHub is rate limiting", 12)))
    retried = []

    def fake_retry(exc=None, countdown=None):
        retried.append(countdown)
        return RuntimeError("retry")

    monkeypatch.setattr(tasks.run_task, "retry", fake_retry)
    with pytest.raises(RuntimeError, match="retry"):
        tasks.run_task.run(task.pk)

    task.refresh_from_db()
    assert retried == [12]
    assert task.status == TaskStatus.OPEN, "the next try can claim it"
    assert task_helpers.step_statuses(task)["publishPr"] == "open"
    assert "will be tried again after a temporary error" in task_helpers.messages(task)[-1]


def test_a_temporary_error_that_outlives_its_retries_fails_the_task(task_catalog, dana, monkeypatch):
    from deployments.gitops.local import LocalProvider
    from portal.repository import TransientError

    task = services.create_task(template(), dict(REFERENCE_VALUES), user=dana)
    monkeypatch.setattr(LocalProvider, "open_change",
                        lambda self, **kw: (_ for _ in ()).throw(TransientError("GitHub answered 502")))
    tasks.run_task.push_request(retries=tasks.MAX_RETRIES)
    try:
        tasks.run_task.run(task.pk)
    finally:
        tasks.run_task.pop_request()

    task.refresh_from_db()
    assert task.status == TaskStatus.FAILED
    assert task.error == "Gave up after 6 tries: GitHub answered 502"
    assert bytes(task.secrets_encrypted) == b""


def test_a_long_step_keeps_its_heartbeat_fresh(transactional_db, gitops_repo, dana, priya, settings, monkeypatch):
    """The worker's background heartbeat: a step longer than the stale limit is not taken over."""
    from catalog import ingestion
    from portal import snapshot

    snapshot.refresh()
    ingestion.refresh_all()
    settings.PORTAL_TASK_STALE_SECONDS = 5  # a beat every 1.25 s
    task = services.create_task(template(), dict(REFERENCE_VALUES), user=dana)
    original = runner.execute_step
    seen = {}

    def slow_first_step(step, index, **kwargs):
        if index == 0:
            seen["before"] = Task.objects.get(pk=task.pk).heartbeat_at
            time.sleep(6)
            seen["after"] = Task.objects.get(pk=task.pk).heartbeat_at
            seen["claimable"] = runner.claim(task.pk)
        return original(step, index, **kwargs)

    monkeypatch.setattr(runner, "execute_step", slow_first_step)

    assert runner.run(task.pk) == TaskStatus.COMPLETED
    assert (seen["after"] - seen["before"]).total_seconds() >= 4
    assert seen["claimable"] is None, "another worker could not take it over mid-step"


def test_an_open_task_whose_message_was_lost_is_enqueued_again(task_catalog, dana, settings):
    task = services.create_task(template(), dict(REFERENCE_VALUES), user=dana)
    assert task.pk not in runner.stale_task_pks(), "a fresh open task is still on its way to a worker"
    Task.objects.filter(pk=task.pk).update(
        created_at=timezone.now() - timedelta(seconds=settings.PORTAL_TASK_STALE_SECONDS + 1)
    )
    assert task.pk in runner.stale_task_pks()
    assert runner.run(task.pk) == TaskStatus.COMPLETED
    assert task.pk not in runner.stale_task_pks()
