"""Task services: creating (validation, idempotency, enqueue on commit), cancel, retry, permissions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from portal.models import AuditEvent
from scaffolder import runner, services, tasks
from scaffolder.choices import StepStatus, TaskStatus
from scaffolder.models import IdempotencyKey, Task
from scaffolder.tests import task_helpers
from scaffolder.tests.task_helpers import REFERENCE_VALUES, messages, step_statuses, template

task_catalog = task_helpers.task_catalog  # fixture


@pytest.fixture
def enqueued(monkeypatch):
    """The task primary keys sent to the worker."""
    sent: list[int] = []
    monkeypatch.setattr(tasks.run_task, "delay", lambda pk: sent.append(pk))
    return sent


def test_create_saves_the_task_and_its_steps_then_enqueues_after_commit(
    task_catalog, dana, enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        task = services.create_task(template(), dict(REFERENCE_VALUES), user=dana)
        assert enqueued == [], "nothing is sent before the transaction commits"

    assert len(callbacks) == 1 and enqueued == [task.pk]
    assert task.status == TaskStatus.OPEN
    assert task.template_ref == "template:default/kserve-model-endpoint"
    assert task.template_title == "KServe model endpoint"
    assert task.spec["templateInfo"] == {
        "entityRef": "template:default/kserve-model-endpoint",
        "basePath": "templates/kserve-model-endpoint-reference/",
    }
    assert task.spec["spec"]["steps"][0]["action"] == "fetch:template"
    assert list(task.steps.values_list("index", "step_id", "name", "action", "status")) == [
        (0, "fetchBase", "Render manifests", "fetch:template", StepStatus.OPEN),
        (1, "publishPr", "Open pull request", "publish:github:pull-request", StepStatus.OPEN),
    ]
    audit = AuditEvent.objects.get(action="task.created")
    assert audit.actor == dana and audit.target == f"task:{task.uuid}"


def test_invalid_values_raise_errors_naming_each_field(task_catalog, dana):
    with pytest.raises(services.ParameterError) as caught:
        services.create_task(template(), {"name": "Fraud_Model", "owner": "fraud-detection", "costCenter": 42}, user=dana)

    fields = {error.field for error in caught.value.errors}
    assert fields == {"name", "costCenter"}
    assert not Task.objects.exists()


def test_fields_left_out_take_their_template_default(task_catalog, dana, enqueued):
    values = {key: value for key, value in REFERENCE_VALUES.items() if key != "costCenter"}
    task = services.create_task(template(), values, user=dana)
    assert task.values["costCenter"] == "cc-ml", "the reference template's default"


def test_the_same_idempotency_key_and_body_answers_the_same_task(task_catalog, dana, enqueued):
    first = services.create_task(template(), dict(REFERENCE_VALUES), user=dana, idempotency_key="k-1", body_hash="h1")
    again = services.create_task(template(), dict(REFERENCE_VALUES), user=dana, idempotency_key="k-1", body_hash="h1")

    assert again.pk == first.pk
    assert Task.objects.count() == 1


def test_the_same_key_with_another_body_is_a_conflict(task_catalog, dana):
    first = services.create_task(template(), dict(REFERENCE_VALUES), user=dana, idempotency_key="k-1", body_hash="h1")

    with pytest.raises(services.IdempotencyConflict) as caught:
        services.create_task(template(), {**REFERENCE_VALUES, "name": "other"}, user=dana,
                             idempotency_key="k-1", body_hash="h2")

    assert caught.value.task == first
    assert "k-1" in str(caught.value)
    assert Task.objects.count() == 1


def test_keys_are_scoped_to_the_user_and_expire_after_a_day(task_catalog, dana, priya):
    mine = services.create_task(template(), dict(REFERENCE_VALUES), user=dana, idempotency_key="k", body_hash="h")
    theirs = services.create_task(template(), dict(REFERENCE_VALUES), user=priya, idempotency_key="k", body_hash="h")
    assert theirs.pk != mine.pk

    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    fresh = services.create_task(template(), dict(REFERENCE_VALUES), user=dana, idempotency_key="k", body_hash="other")

    assert fresh.pk not in (mine.pk, theirs.pk)
    assert list(IdempotencyKey.objects.values_list("task_id", flat=True)) == [fresh.pk], "expired keys are deleted"


def test_cancel_before_a_worker_starts_ends_the_task_at_once(task_catalog, dana):
    task = services.create_task(template(), dict(REFERENCE_VALUES), user=dana)

    services.cancel_task(task, dana)

    task.refresh_from_db()
    assert task.status == TaskStatus.CANCELLED
    assert set(step_statuses(task).values()) == {StepStatus.CANCELLED}
    assert runner.run(task.pk) is None, "a cancelled task is never claimed"
    assert AuditEvent.objects.filter(action="task.cancelled", target=f"task:{task.uuid}").exists()
    with pytest.raises(services.TaskStateError, match="already cancelled"):
        services.cancel_task(task, dana)


def test_cancel_of_a_running_task_is_a_request_the_runner_honours(task_catalog, dana):
    task = services.create_task(template(), dict(REFERENCE_VALUES), user=dana)
    runner.claim(task.pk)

    services.cancel_task(task, dana)

    task.refresh_from_db()
    assert task.status == TaskStatus.PROCESSING and task.cancel_requested_at is not None
    assert "the task stops before its next step" in messages(task)[-1]


def test_outsiders_can_neither_see_nor_change_a_task(task_catalog, dana, priya, outsider):
    task = services.create_task(template(), dict(REFERENCE_VALUES), user=dana)

    assert services.can_view(task, dana) and services.can_change(task, dana)
    assert services.can_view(task, priya) and services.can_change(task, priya), "admins may"
    assert not services.can_view(task, outsider) and not services.can_change(task, outsider)
    with pytest.raises(PermissionDenied):
        services.cancel_task(task, outsider)
    with pytest.raises(PermissionDenied):
        services.retry_task(task, outsider)


def test_the_owning_team_may_see_and_change_a_task_about_its_component(task_catalog, dana, make_user):
    teammate = make_user("fran", groups=["fraud-detection"])
    task = services.create_task(template(), dict(REFERENCE_VALUES), user=dana)
    assert not services.can_view(task, teammate)

    Task.objects.filter(pk=task.pk).update(entity_ref="component:default/fraud-scorer")
    task.refresh_from_db()

    assert services.can_view(task, teammate) and services.can_change(task, teammate)


def test_only_failed_or_cancelled_tasks_can_be_retried(task_catalog, dana):
    task = services.create_task(template(), dict(REFERENCE_VALUES), user=dana)

    with pytest.raises(services.TaskStateError, match="Only a failed or cancelled task can be retried; this one is open"):
        services.retry_task(task, dana)


def test_retry_of_a_cancelled_task_runs_the_remaining_steps(task_catalog, dana, enqueued, django_capture_on_commit_callbacks):
    task = services.create_task(template(), dict(REFERENCE_VALUES), user=dana)
    services.cancel_task(task, dana)

    with django_capture_on_commit_callbacks(execute=True):
        services.retry_task(task, dana)

    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN and enqueued[-1] == task.pk
    assert runner.run(task.pk) == TaskStatus.COMPLETED
    assert AuditEvent.objects.filter(action="task.retried").count() == 1


def test_dry_run_renders_files_and_reports_the_pull_request_without_opening_it(task_catalog, dana):
    from deployments.models import PullRequest

    entity = template()
    result = services.dry_run(entity.document, dict(REFERENCE_VALUES), user=dana, template_entity=entity)

    assert list(result.files) == ["apps/fraud-model/inference-service.yaml"]
    assert [step["status"] for step in result.steps] == ["completed", "completed"]
    lines = [entry["body"]["message"] for entry in result.log]
    assert "Would open a pull request from model-fraud-model into main:" in lines
    assert "  write apps/fraud-model/inference-service.yaml" in lines
    assert result.output == {"links": [{"title": "Pull Request", "url": ""}]}
    assert not PullRequest.objects.exists()
    assert not Task.objects.exists()
    assert "model-fraud-model" not in task_helpers.branches(task_catalog)


def test_dry_run_with_inline_files_and_a_failing_step(dana, db):
    document = {
        "apiVersion": "scaffolder.backstage.io/v1beta3", "kind": "Template", "metadata": {"name": "t"},
        "spec": {"steps": [
            {"id": "fetch", "action": "fetch:plain", "input": {"url": "./skeleton"}},
            {"id": "gone", "action": "fs:rename", "input": {"files": [{"from": "missing.txt", "to": "x.txt"}]}},
            {"id": "after", "action": "debug:log", "input": {"message": "never"}},
        ]},
    }

    result = services.dry_run(document, {}, user=dana, files={"skeleton/README.md": b"hello"})

    assert result.files == {"README.md": b"hello"}
    assert [step["status"] for step in result.steps] == ["completed", "failed", "open"]
    errors = [entry["body"] for entry in result.log if entry["body"]["level"] == "error"]
    assert len(errors) == 1 and errors[0]["stepId"] == "gone" and "missing.txt" in errors[0]["message"]
