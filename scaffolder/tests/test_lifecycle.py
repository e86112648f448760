"""Scaffolded Components: pending with their pull request, active after the merge, gone when it closes."""

from __future__ import annotations

from catalog.models import Entity
from deployments import pullrequests
from deployments.models import PullRequest
from scaffolder import runner, services
from scaffolder.choices import TaskStatus
from scaffolder.tests import task_helpers
from scaffolder.tests.task_helpers import GOLDEN_TEMPLATE, GOLDEN_VALUES, template

task_catalog = task_helpers.task_catalog  # fixture
REF = "component:default/card-fraud"


def scaffold(user) -> PullRequest:
    task = services.create_task(template(GOLDEN_TEMPLATE), dict(GOLDEN_VALUES), user=user)
    assert runner.run(task.pk) == TaskStatus.COMPLETED, task_helpers.messages(task)
    assert Entity.objects.get(ref=REF).status == "pending"
    return PullRequest.objects.get(task=task.uuid)


def test_closing_the_pull_request_unmerged_removes_the_pending_component(task_catalog, dana):
    pull_request = scaffold(dana)

    pullrequests.close(pull_request, dana)

    assert not Entity.objects.filter(ref=REF).exists()
    assert not Entity.objects.filter(ref__contains="card-fraud").exists()
    assert Entity.objects.filter(ref="group:default/fraud-detection").exists(), "its owner stays"


def test_merging_makes_the_component_active_from_the_default_branch(task_catalog, dana, priya):
    pull_request = scaffold(dana)

    pullrequests.merge(pull_request, priya)

    entity = Entity.objects.get(ref=REF)
    assert entity.status == "active"
    assert entity.location is not None and entity.source.endswith("apps/card-fraud/catalog-info.yaml")
    # Closing some other pull request later does not touch an active Component.
    pull_request.refresh_from_db()
    assert pull_request.state == "merged"
    from scaffolder.lifecycle import remove_pending

    assert remove_pending(pull_request) == []
    assert Entity.objects.filter(ref=REF, status="active").exists()
