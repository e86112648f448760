"""Cost at form time: the golden path's preview and pull-request comment say what a new endpoint
costs a month and, when its cost centre has a budget, the month's projected spend without and
with it; over the budget they warn, and with PORTAL_BUDGET_HARD_STOP the publish step refuses
unless a platform admin overrides (which the audit log records).

The month: the 20th of November 2026 (30 days, 10 left after today). cc-fraud has spent $4.00 a
day for 20 days: $80.00 so far, projected $80.00 ÷ 20 × 30 = $120.00. card-fraud asks for 500m and
1Gi at one replica: (0.5 × 0.031611 + 1 × 0.004237) = $0.0200425 an hour, × 24 = $0.48102 a day,
× 10 days = $4.8102 → $4.81 by the month's end: $124.81 with it. $14.63 a month (× 730 hours).
"""

from __future__ import annotations

import html as html_lib
import re
from decimal import Decimal

import pytest

from deployments import budgets
from deployments.delta import DELTA_MARKER
from deployments.models import Budget, PullRequest, PullRequestComment
from deployments.tests.cost_factories import TODAY, cost_center_days, month_days
from portal.models import AuditEvent
from scaffolder import forms, preview, runner, services
from scaffolder.choices import TaskStatus
from scaffolder.tests import task_helpers
from scaffolder.tests.form_templates import golden_catalog  # noqa: F401 - fixture
from scaffolder.tests.task_helpers import GOLDEN_TEMPLATE, GOLDEN_VALUES, template

pytestmark = pytest.mark.django_db

FORM = "/create/templates/default/model-endpoint"
WITHOUT_AND_WITH = ("cc-fraud: projected month-end spend $120.00 without this change, $124.81 with it "
                    "($4.81 over the 10 days left this month), against a monthly budget of {budget}.")


@pytest.fixture(autouse=True)
def month(settings, monkeypatch):
    settings.PORTAL_PRICE_CPU_HOUR = Decimal("0.031611")
    settings.PORTAL_PRICE_GIB_HOUR = Decimal("0.004237")
    settings.PORTAL_PRICE_GPU_HOUR = Decimal("0.95")
    settings.PORTAL_BUDGET_HARD_STOP = False
    monkeypatch.setattr(budgets, "today", lambda: TODAY)


@pytest.fixture
def spend(db):
    """cc-fraud's month so far: $4.00 a day from the 1st to today."""
    cost_center_days("cc-fraud", "4.00", month_days())


def budget(amount: str, cost_center: str = "cc-fraud") -> Budget:
    return Budget.objects.create(cost_center=cost_center, amount=Decimal(amount), updated_by="priya")


def delta_section(user, **values):
    found = preview.build_preview(template(GOLDEN_TEMPLATE), {**GOLDEN_VALUES, **values}, user)
    return next(section for section in found if section.name == "delta")


def text_of(html: str) -> str:
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", html)).split())


def preview_page(client, user) -> str:
    client.force_login(user)
    draft = forms.dump_draft(dict(GOLDEN_VALUES), user)
    response = client.post(FORM, {"page": 4, "draft": draft, "action": "preview"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    return response.content.decode()


def create_through_the_form(client, user, **extra):
    client.force_login(user)
    draft = forms.dump_draft(dict(GOLDEN_VALUES), user)
    response = client.post(FORM, {"page": 4, "draft": draft, "action": "create", **extra})
    assert response.status_code == 302, response.content.decode()[:2000]
    from scaffolder.models import Task

    return Task.objects.get(uuid=response["Location"].rstrip("/").rsplit("/", 1)[1])


# --- the estimate and the month, with and without ------------------------------------------------------


def test_the_preview_shows_the_monthly_estimate_and_the_month_with_and_without_the_change(golden_catalog, dana, spend):  # noqa: F811
    budget("200.00")

    section = delta_section(dana)

    assert (section.status, section.summary) == ("ok", "about $14.63 per month")
    [effect] = section.context["budget_effects"]
    assert (effect.spent, effect.projected_without, effect.rest_of_month, effect.projected_with) == (
        Decimal("80.00"), Decimal("120.00"), Decimal("4.81"), Decimal("124.81"))
    assert effect.sentence() == WITHOUT_AND_WITH.format(budget="$200.00")
    assert not effect.over


def test_the_preview_page_says_the_estimate_and_the_projection(golden_catalog, client, dana, spend):  # noqa: F811
    budget("200.00")

    text = text_of(preview_page(client, dana))

    assert "About $14.63 per month (was $0.00, +$14.63)" in text
    assert "Budget this month " + WITHOUT_AND_WITH.format(budget="$200.00") in text
    assert "days with cost figures so far × days in the month; the change's daily cost" in text
    assert "Override the budget" not in text


def test_no_budget_no_budget_lines(golden_catalog, client, dana, spend):  # noqa: F811
    section = delta_section(dana)

    assert section.context["budget_effects"] == []
    assert "Budget this month" not in text_of(preview_page(client, dana))


def test_a_cost_centre_without_figures_this_month_is_said_so(golden_catalog, dana):  # noqa: F811
    budget("3.00")

    [effect] = delta_section(dana).context["budget_effects"]

    assert effect.sentence() == ("cc-fraud has no cost figures this month yet; the change adds $4.81 over the 10 days "
                                 "left this month, against a monthly budget of $3.00.")
    assert effect.over  # the change alone is more than the budget


def test_the_preview_warns_when_the_change_would_take_the_cost_centre_over_budget(golden_catalog, client, dana, spend):  # noqa: F811
    budget("124.00")

    section = delta_section(dana)

    assert (section.status, section.summary) == ("warn", "about $14.63 per month, over budget")
    text = text_of(preview_page(client, dana))
    assert "This change would take cc-fraud over its monthly budget of $124.00." in text
    assert WITHOUT_AND_WITH.format(budget="$124.00") in text
    assert "Creating it will be refused" not in text  # a warning, not a stop


def test_a_change_that_stays_under_does_not_warn_to_the_cent(golden_catalog, dana, spend):  # noqa: F811
    budget("124.81")

    [effect] = delta_section(dana).context["budget_effects"]

    assert effect.projected_with == Decimal("124.81") and not effect.over


def test_the_pull_request_comment_carries_the_estimate_and_the_month(golden_catalog, dana, spend):  # noqa: F811
    budget("124.00")
    task = services.create_task(template(GOLDEN_TEMPLATE), dict(GOLDEN_VALUES), user=dana)

    assert runner.run(task.pk) == TaskStatus.COMPLETED, task_helpers.messages(task)

    comment = PullRequestComment.objects.get(pull_request__task=task.uuid, marker=DELTA_MARKER)
    assert "About $14.63 per month (was $0.00, +$14.63)." in comment.body
    assert "**Budget**\n\n- " + WITHOUT_AND_WITH.format(budget="$124.00") in comment.body
    assert "**Warning**: This change would take cc-fraud over its monthly budget of $124.00." in comment.body
    # Without the hard stop the pull request opens, and the task's log says why it warned.
    assert any(m.startswith("Budget: cc-fraud: projected") for m in task_helpers.messages(task))


# --- the hard stop ----------------------------------------------------------------------------------


@pytest.fixture
def hard_stop(settings):
    settings.PORTAL_BUDGET_HARD_STOP = True


def test_the_form_refuses_a_non_admins_change_over_budget(golden_catalog, client, dana, spend, hard_stop):  # noqa: F811
    from scaffolder.models import Task

    budget("124.00")
    text = text_of(preview_page(client, dana))
    assert "only a platform admin can override the budget" in text
    assert "Creating it will be refused. Lower the requests, or ask a platform admin (a member of platform-team" in text
    assert "Override the budget" not in text

    draft = forms.dump_draft(dict(GOLDEN_VALUES), dana)
    response = client.post(FORM, {"page": 4, "draft": draft, "action": "create", "budgetOverride": "on"})  # forged

    assert response.status_code == 409
    refused = text_of(response.content.decode())
    assert ("This change would take cc-fraud over budget, and the portal stops such changes. Lower the requests, or "
            "ask a platform admin (a member of platform-team) to create it with the budget overridden.") in refused
    assert WITHOUT_AND_WITH.format(budget="$124.00") in refused  # the preview, to see why
    assert not Task.objects.exists()


def test_the_publish_step_refuses_it_whatever_created_the_task(golden_catalog, dana, spend, hard_stop):  # noqa: F811
    budget("124.00")
    task = services.create_task(template(GOLDEN_TEMPLATE), {**GOLDEN_VALUES, "budgetOverride": True}, user=dana)

    assert runner.run(task.pk) == TaskStatus.FAILED
    failure = " ".join(task_helpers.messages(task))
    assert "This change would take cc-fraud over budget, and the portal stops such changes." in failure
    assert WITHOUT_AND_WITH.format(budget="$124.00") in failure
    assert "ask a platform admin (a member of platform-team)" in failure
    assert "The override was ignored: only platform admins may override a budget." in failure
    assert not PullRequest.objects.filter(task=task.uuid).exists()
    assert task_helpers.branches(golden_catalog) == ["main"]
    assert not AuditEvent.objects.filter(action=budgets.OVERRIDE_ACTION).exists()


def test_an_admin_without_the_override_is_shown_it(golden_catalog, client, priya, spend, hard_stop):  # noqa: F811
    from scaffolder.models import Task

    budget("124.00")
    html = preview_page(client, priya)
    assert 'name="budgetOverride"' in html and "Override the budget" in text_of(html)

    draft = forms.dump_draft(dict(GOLDEN_VALUES), priya)
    response = client.post(FORM, {"page": 4, "draft": draft, "action": "create"})

    assert response.status_code == 409
    assert 'tick "Override the budget" in the preview below, then Create.' in text_of(response.content.decode())
    assert 'name="budgetOverride"' in response.content.decode()
    assert not Task.objects.exists()


def test_an_admins_override_goes_through_and_is_audited(golden_catalog, client, priya, spend, hard_stop):  # noqa: F811
    budget("124.00")

    task = create_through_the_form(client, priya, budgetOverride="on")

    assert task.values["budgetOverride"] is True
    assert runner.run(task.pk) == TaskStatus.COMPLETED, task_helpers.messages(task)
    assert PullRequest.objects.filter(task=task.uuid).exists()
    [event] = AuditEvent.objects.filter(action="budget.overridden")
    assert (event.actor_name, event.target) == ("priya", f"task:{task.uuid}")
    assert event.details == {
        "cost_center": "cc-fraud", "currency": "USD", "budget": "124.00",
        "projected_without": "120.00", "projected_with": "124.81",
        "rest_of_month": "4.81", "monthly_change": "14.63",
    }
    assert "Budget overridden by priya for cc-fraud" in task_helpers.messages(task)


def test_a_change_under_budget_goes_through_with_the_hard_stop_on(golden_catalog, dana, spend, hard_stop):  # noqa: F811
    budget("500.00")
    task = services.create_task(template(GOLDEN_TEMPLATE), dict(GOLDEN_VALUES), user=dana)

    assert runner.run(task.pk) == TaskStatus.COMPLETED, task_helpers.messages(task)
    assert not AuditEvent.objects.filter(action=budgets.OVERRIDE_ACTION).exists()


def test_lowering_the_cost_of_a_cost_centre_already_over_budget_is_never_stopped(golden_catalog, dana, spend, hard_stop):  # noqa: F811
    from deployments.delta import change_delta

    budget("10.00")  # long gone: $120.00 projected
    smaller = {"apps/fraud-scorer/inference-service.yaml": (
        b"apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n  name: fraud-scorer\n"
        b"  namespace: default\n  labels: {owner: fraud-detection, cost-center: cc-fraud}\nspec:\n  predictor:\n"
        b"    minReplicas: 0\n    model:\n      modelFormat: {name: sklearn}\n      storageUri: gs://m/model\n")}

    [effect] = budgets.effects(change_delta(smaller))

    assert effect.monthly_change < 0 and not effect.over and not effect.stops


# --- the same stop on an endpoint's "Change resources" flow -------------------------------------------------

CHANGE = "/deployments/changes/default/component/fraud-scorer/resources"
BIGGER = {"minReplicas": 2, "maxReplicas": 4, "cpuRequest": "1", "cpuLimit": "2",
          "memoryRequest": "2Gi", "memoryLimit": "4Gi", "gpu": 0}


def test_the_change_resources_flow_is_stopped_for_a_member_and_overridden_by_an_admin(
        golden_catalog, client, dana, priya, spend, hard_stop):  # noqa: F811
    from scaffolder.models import Task

    budget("124.00")
    client.force_login(dana)
    preview_text = text_of(client.post(CHANGE, {**BIGGER, "action": "preview"}).content.decode())
    assert "This change would take cc-fraud over its budget, and the portal stops such changes" in preview_text
    assert client.post(CHANGE, {**BIGGER, "action": "create", "budgetOverride": "on"}).status_code == 302
    refused = Task.objects.get()
    assert runner.run(refused.pk) == TaskStatus.FAILED
    assert "over budget" in " ".join(task_helpers.messages(refused))

    client.force_login(priya)
    html = client.post(CHANGE, {**BIGGER, "action": "preview"}).content.decode()
    assert 'name="budgetOverride" value="on" id="budget-override" form="change-form"' in html
    assert client.post(CHANGE, {**BIGGER, "action": "create", "budgetOverride": "on"}).status_code == 302
    task = Task.objects.exclude(pk=refused.pk).get()
    assert runner.run(task.pk) == TaskStatus.COMPLETED, task_helpers.messages(task)
    [event] = AuditEvent.objects.filter(action="budget.overridden")
    assert (event.actor_name, event.target, event.details["cost_center"]) == ("priya", f"task:{task.uuid}", "cc-fraud")


def test_a_change_that_lowers_the_cost_says_how_much_less(golden_catalog, dana, spend):  # noqa: F811
    from deployments.delta import change_delta

    budget("200.00")
    smaller = {"apps/fraud-scorer/inference-service.yaml": (
        b"apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n  name: fraud-scorer\n"
        b"  namespace: default\n  labels: {owner: fraud-detection, cost-center: cc-fraud}\nspec:\n  predictor:\n"
        b"    minReplicas: 0\n    model:\n      modelFormat: {name: sklearn}\n      storageUri: gs://m/model\n")}

    [effect] = budgets.effects(change_delta(smaller))

    # One replica of the LimitRange's 100m and 128Mi: (0.1 × 0.031611 + 0.125 × 0.004237) × 24 × 10 = 0.885774
    assert effect.sentence() == ("cc-fraud: projected month-end spend $120.00 without this change, $119.11 with it "
                                 "($0.89 less over the 10 days left this month), against a monthly budget of $200.00.")
