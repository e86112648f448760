"""The runner end to end, in process, against a real git repository and the demo catalog."""

from __future__ import annotations

import json

import pytest

from catalog.models import Entity
from deployments.gitops.local import LocalProvider
from deployments.models import PullRequest
from portal.repository import PermanentError
from scaffolder import runner, services
from scaffolder.choices import EventType, StepStatus, TaskStatus
from scaffolder.models import Task
from scaffolder.tests import task_helpers
from scaffolder.tests.task_helpers import (
    EXPECTED_MANIFEST,
    GOLDEN_TEMPLATE,
    GOLDEN_VALUES,
    REFERENCE_VALUES,
    branch_commits,
    changed_paths,
    messages,
    show,
    step_statuses,
    template,
)

task_catalog = task_helpers.task_catalog  # fixture


def create(user, values=None, ref=None, **kwargs) -> Task:
    entity = template(ref) if ref else template()
    return services.create_task(entity, dict(values or REFERENCE_VALUES), user=user, **kwargs)


def test_reference_template_runs_unchanged_and_opens_a_pull_request(task_catalog, dana):
    task = create(dana)

    assert runner.run(task.pk) == TaskStatus.COMPLETED

    task.refresh_from_db()
    assert task.status == TaskStatus.COMPLETED and task.error == ""
    assert step_statuses(task) == {"fetchBase": StepStatus.COMPLETED, "publishPr": StepStatus.COMPLETED}
    pull_request = PullRequest.objects.get(task=task.uuid)
    assert pull_request.branch == "model-fraud-model" and pull_request.base == "main"
    assert pull_request.state == "open"
    assert f"<!-- portal-task:{task.uuid} -->" in pull_request.body
    # Exactly the expected manifest, in one commit, and no Component anywhere.
    assert changed_paths(task_catalog, "model-fraud-model") == ["apps/fraud-model/inference-service.yaml"]
    assert show(task_catalog, "model-fraud-model", "apps/fraud-model/inference-service.yaml") == EXPECTED_MANIFEST
    assert len(branch_commits(task_catalog, "model-fraud-model")) == 1
    assert not Entity.objects.filter(ref="component:default/fraud-model").exists()
    # The template's output link points at the pull request.
    assert task.output == {"links": [{"title": "Pull Request", "url": pull_request.url}]}
    publish = task.steps.get(step_id="publishPr")
    assert publish.output["pullRequestNumber"] == pull_request.number
    assert publish.output["remoteUrl"] == pull_request.url == publish.output["pullRequestUrl"]
    assert publish.output["targetBranchName"] == "main"


def test_events_follow_backstage_shapes(task_catalog, dana):
    task = create(dana)
    runner.run(task.pk)

    events = list(task.events.order_by("id"))
    transitions = [(e.body.get("stepId"), e.body.get("status")) for e in events if e.body.get("status")]
    assert transitions == [
        ("fetchBase", "processing"), ("fetchBase", "completed"),
        ("publishPr", "processing"), ("publishPr", "completed"),
    ]
    assert "repoUrl github.com?repo=neuroscale-platform&owner=sodiq-code is mapped onto the local repository" in messages(task)
    assert any("Writing apps/fraud-model/inference-service.yaml" in m for m in messages(task))
    completion = events[-1]
    assert completion.type == EventType.COMPLETION
    assert completion.body["message"] == "Run completed with status: completed"
    assert completion.body["output"]["links"][0]["title"] == "Pull Request"
    assert all(e.type == EventType.LOG for e in events[:-1])


def test_golden_path_registers_a_pending_component_linked_to_its_pull_request(task_catalog, dana):
    task = create(dana, GOLDEN_VALUES, GOLDEN_TEMPLATE)

    assert runner.run(task.pk) == TaskStatus.COMPLETED, messages(task)

    task.refresh_from_db()
    pull_request = PullRequest.objects.get(task=task.uuid)
    component = Entity.objects.get(ref="component:default/card-fraud")
    assert component.status == "pending"
    assert component.owner_ref == "group:default/fraud-detection"
    assert task.entity_ref == pull_request.entity_ref == "component:default/card-fraud"
    assert changed_paths(task_catalog, pull_request.branch) == [
        "apps/card-fraud/catalog-info.yaml", "apps/card-fraud/inference-service.yaml",
    ]
    assert task.output["links"][0]["url"] == pull_request.url


def test_a_second_task_for_the_same_name_fails_naming_the_first(task_catalog, dana, priya):
    first = create(dana)
    runner.run(first.pk)
    second = create(priya)

    assert runner.run(second.pk) == TaskStatus.FAILED

    second.refresh_from_db()
    assert str(first.uuid) in second.error
    assert "KServe model endpoint for 'fraud-model'" in second.error
    assert "created by dana" in second.error
    assert f"/create/tasks/{first.uuid}" in second.error
    assert step_statuses(second)["publishPr"] == StepStatus.FAILED
    assert PullRequest.objects.count() == 1
    assert len(branch_commits(task_catalog, "model-fraud-model")) == 1


def test_cancel_stops_the_task_between_steps(task_catalog, dana, monkeypatch):
    task = create(dana)
    original = runner.execute_step

    def cancel_during_first_step(step, index, **kwargs):
        outcome = original(step, index, **kwargs)
        if index == 0:
            services.cancel_task(Task.objects.get(pk=task.pk), dana)
        return outcome

    monkeypatch.setattr(runner, "execute_step", cancel_during_first_step)

    assert runner.run(task.pk) == TaskStatus.CANCELLED

    task.refresh_from_db()
    assert task.status == TaskStatus.CANCELLED and task.finished_at is not None
    assert step_statuses(task) == {"fetchBase": StepStatus.COMPLETED, "publishPr": StepStatus.CANCELLED}
    assert task.events.filter(type=EventType.CANCELLED).count() == 1
    assert not PullRequest.objects.exists()
    assert "model-fraud-model" not in LocalProvider(task_catalog).repo.heads


def test_retry_resumes_from_the_failed_step_on_a_fresh_workspace(task_catalog, dana, monkeypatch):
    task = create(dana)
    original = LocalProvider.open_change
    monkeypatch.setattr(LocalProvider, "open_change",
                        lambda self, **kw: (_ for _ in ()).throw(PermanentError("The repository is read-only today.")))
    assert runner.run(task.pk) == TaskStatus.FAILED
    task.refresh_from_db()
    assert task.error == "publish:github:pull-request: The repository is read-only today."
    assert step_statuses(task) == {"fetchBase": StepStatus.COMPLETED, "publishPr": StepStatus.FAILED}

    monkeypatch.setattr(LocalProvider, "open_change", original)
    services.retry_task(task, dana)
    assert runner.run(task.pk) == TaskStatus.COMPLETED

    task.refresh_from_db()
    assert task.attempts == 2
    # The render step ran once; the retry restored its files into a new workspace.
    assert messages(task).count("Beginning step Render manifests") == 1
    assert messages(task).count("Beginning step Open pull request") == 2
    assert show(task_catalog, "model-fraud-model", "apps/fraud-model/inference-service.yaml") == EXPECTED_MANIFEST


def test_failure_is_reported_in_words_without_a_traceback(task_catalog, dana, monkeypatch):
    task = create(dana)

    def broken(self, **kwargs):
        raise RuntimeError("disk quota exceeded")

    monkeypatch.setattr(LocalProvider, "open_change", broken)
    runner.run(task.pk)

    task.refresh_from_db()
    assert task.error == "Unexpected error (RuntimeError): disk quota exceeded"
    text = json.dumps([e.body for e in task.events.all()])
    assert "Traceback" not in text and 'File "' not in text
    last = task.events.order_by("id").last()
    assert last.type == EventType.COMPLETION and last.body["error"]["message"] == task.error


def test_conditions_skip_steps_and_undefined_values_log_warnings(task_catalog, dana):
    entity = template()
    entity.document["spec"]["steps"] = [
        {"id": "hello", "name": "Say hello", "action": "debug:log",
         "input": {"message": "Hello ${{ parameters.nickname }}"}},
        {"id": "never", "if": "${{ parameters.name == 'other' }}", "action": "debug:log", "input": {"message": "no"}},
        {"id": "later", "action": "debug:log", "input": {"message": "${{ steps.hello.output | dump }}"}},
    ]
    entity.document["spec"]["output"] = {"text": [{"title": "Done", "content": "Ran for ${{ parameters.name }}"}]}
    task = services.create_task(entity, dict(REFERENCE_VALUES), user=dana)

    assert runner.run(task.pk) == TaskStatus.COMPLETED

    task.refresh_from_db()
    assert step_statuses(task) == {"hello": "completed", "never": "skipped", "later": "completed"}
    warnings = [e.body for e in task.events.all() if e.body.get("level") == "warning"]
    assert len(warnings) == 1 and "parameters.nickname" in warnings[0]["message"]
    assert warnings[0]["stepId"] == "hello"
    assert "Hello " in messages(task)
    assert task.output == {"text": [{"title": "Done", "content": "Ran for fraud-model"}]}


def test_a_lost_claim_stops_the_old_runner(task_catalog, dana):
    task = create(dana)
    claimed = runner.claim(task.pk)
    old = runner.TaskRun(claimed)
    Task.objects.filter(pk=task.pk).update(claimed_at=claimed.claimed_at.replace(year=2000))

    with pytest.raises(runner.LostClaim):
        old.beat()
