"""Budgets (Priya's journey, step 4): platform admins set, change and remove a monthly budget per
cost centre, each recorded in the audit log; everyone signed in sees spend against budget, the
projected month-end and how old the figures are; a team's page shows its cost centre's budget.

The month: the 20th of November 2026 (30 days). $4.00 a day for 20 days is $80.00 so far,
projected $80.00 ÷ 20 × 30 = $120.00.
"""

from __future__ import annotations

import html as html_lib
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from deployments import budgets
from deployments.models import Budget
from deployments.tests.cost_factories import TODAY, cluster, cost_center_days, month_days
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db

PAGE = "/deployments/costs/budgets/"


@pytest.fixture(autouse=True)
def today(monkeypatch):
    monkeypatch.setattr(budgets, "today", lambda: TODAY)


def text_of(response) -> str:
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def budget(cost_center: str, amount: str) -> Budget:
    return Budget.objects.create(cost_center=cost_center, amount=Decimal(amount), updated_by="priya")


# --- the figures ---------------------------------------------------------------------------------------


def test_spend_and_projection_to_the_cent():
    cost_center_days("cc-fraud", "4.00", month_days())
    budget("cc-fraud", "150.00")

    [row] = [row for row in budgets.standings() if row.cost_center == "cc-fraud"]

    assert (row.month_to_date, row.projected, row.percent, row.tone) == (
        Decimal("80.00"), Decimal("120.00"), Decimal("53.3"), "ok")
    assert (row.elapsed, row.days_in_month) == (20, 30)


def test_odd_amounts_project_to_the_cent():
    # 1.234567 × 7 days = 8.641969; ÷ 7 × 30 = 37.03701 → $37.04 (rounded half up at the end only)
    cost_center_days("cc-odd", "1.234567", month_days(TODAY.replace(day=7)))

    row = budgets.standing("cc-odd") if budget("cc-odd", "10") else None

    assert (row.month_to_date, row.projected) == (Decimal("8.64"), Decimal("37.04"))


def test_every_cluster_counts_and_other_months_do_not():
    cost_center_days("cc-fraud", "4.00", month_days())
    cost_center_days("cc-fraud", "1.00", month_days(), on_cluster=cluster("eu-west"))
    cost_center_days("cc-fraud", "99.00", [TODAY.replace(day=1) - timedelta(days=1)])  # October
    budget("cc-fraud", "150.00")

    row = budgets.standing("cc-fraud")

    assert (row.month_to_date, row.projected) == (Decimal("100.00"), Decimal("150.00"))


def test_what_no_label_claims_is_no_cost_centre():
    cost_center_days("__unallocated__", "1.00", month_days())
    cost_center_days("cc-fraud", "4.00", month_days())

    assert [row.cost_center for row in budgets.standings()] == ["cc-fraud"]


def test_figures_that_stopped_project_from_the_days_they_cover():
    cost_center_days("cc-fraud", "4.00", month_days(TODAY.replace(day=15)))
    budget("cc-fraud", "150.00")

    row = budgets.standing("cc-fraud")

    # $60.00 over the 1st to the 15th: 60 ÷ 15 × 30
    assert (row.month_to_date, row.elapsed, row.projected) == (Decimal("60.00"), 15, Decimal("120.00"))


@pytest.mark.parametrize(("amount", "percent", "tone"), [
    ("100.00", "80.0", "ok"),     # exactly 80 % is not over 80 %
    ("99.00", "80.8", "warn"),
    ("80.00", "100.0", "warn"),   # exactly spent is not over
    ("79.00", "101.3", "bad"),
])
def test_the_tone_turns_amber_over_80_and_red_over_100_percent(amount, percent, tone):
    cost_center_days("cc-fraud", "4.00", month_days())
    budget("cc-fraud", amount)

    row = budgets.standing("cc-fraud")

    assert (row.percent, row.tone) == (Decimal(percent), tone)


# --- the page ---------------------------------------------------------------------------------------------


def test_members_see_spend_against_budget_with_the_method_and_the_age(client, dana):
    cost_center_days("cc-fraud", "4.00", month_days())
    budget("cc-fraud", "99.00")
    budget("cc-search", "500.00")
    client.force_login(dana)

    response = client.get(PAGE)

    assert response.status_code == 200
    text = text_of(response)
    assert "cc-fraud not carried by any team or endpoint 99.00 USD by priya" in text
    assert "80.00 USD 120.00 USD projected over budget 20 of 30 days 80.8 % over 80 %" in text
    assert "through 20 Nov" in text
    assert "cc-search not carried by any team or endpoint 500.00 USD" in text
    assert "missing no cost figures this month" in text
    assert "Projected month-end: month to date ÷ the days from the 1st to the newest day with figures × the days in the month." in text
    # Reading only: no form, no buttons.
    assert "Save budget" not in text and "Remove" not in text
    assert "ask one of them to set or change a budget" in text


def test_the_page_needs_a_sign_in(client):
    response = client.get(PAGE)

    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_page_has_a_constant_number_of_queries(client, priya, django_assert_max_num_queries):
    client.force_login(priya)
    for index in range(30):
        cost_center_days(f"cc-team-{index}", "2.00", month_days())
        budget(f"cc-team-{index}", "100.00")

    with django_assert_max_num_queries(12):
        response = client.get(PAGE)

    assert response.status_code == 200
    assert text_of(response).count(" over 80 %") == 0


# --- setting, changing and removing --------------------------------------------------------------------


def test_an_admin_sets_a_budget_and_the_audit_log_says_so(client, priya):
    client.force_login(priya)

    response = client.post(PAGE, {"cost_center": "cc-fraud", "amount": "1500", "note": "Q4 plan"}, follow=True)

    assert response.status_code == 200
    assert "The budget of cc-fraud is set to $1,500.00 a month." in text_of(response)
    saved = Budget.objects.get(cost_center="cc-fraud")
    assert (saved.amount, saved.note, saved.updated_by) == (Decimal("1500.00"), "Q4 plan", "priya")
    [event] = AuditEvent.objects.filter(action="budget.set")
    assert (event.actor_name, event.target) == ("priya", "cost-center:cc-fraud")
    assert event.details == {"cost_center": "cc-fraud", "amount": "1500.00", "currency": "USD", "note": "Q4 plan",
                             "previous": None}


def test_an_admin_changes_a_budget(client, priya):
    budget("cc-fraud", "1500.00")
    client.force_login(priya)

    form = client.get(PAGE, {"cost_center": "cc-fraud"})
    assert 'value="1500.00"' in form.content.decode() and "Change a budget" in text_of(form)
    response = client.post(PAGE, {"cost_center": "cc-fraud", "amount": "2000.50"}, follow=True)

    assert "The budget of cc-fraud is changed to $2,000.50 a month." in text_of(response)
    assert Budget.objects.get(cost_center="cc-fraud").amount == Decimal("2000.50")
    [event] = AuditEvent.objects.filter(action="budget.changed")
    assert (event.details["amount"], event.details["previous"]) == ("2000.50", "1500.00")


def test_an_admin_removes_a_budget(client, priya):
    budget("cc-fraud", "1500.00")
    client.force_login(priya)

    response = client.post(reverse("deployments:budget_remove", args=["cc-fraud"]), follow=True)

    assert "The budget of cc-fraud ($1,500.00 a month) is removed." in text_of(response)
    assert not Budget.objects.exists()
    [event] = AuditEvent.objects.filter(action="budget.removed")
    assert event.details == {"cost_center": "cc-fraud", "amount": "1500.00", "currency": "USD"}


def test_removing_a_budget_that_is_not_there_is_404(client, priya):
    client.force_login(priya)

    assert client.post(reverse("deployments:budget_remove", args=["cc-none"])).status_code == 404


def test_members_cannot_set_or_remove_budgets(client, dana):
    budget("cc-fraud", "1500.00")
    client.force_login(dana)

    assert client.post(PAGE, {"cost_center": "cc-fraud", "amount": "1"}).status_code == 403
    assert client.post(reverse("deployments:budget_remove", args=["cc-fraud"])).status_code == 403
    assert Budget.objects.get().amount == Decimal("1500.00")
    assert not AuditEvent.objects.filter(action__startswith="budget.").exists()


@pytest.mark.parametrize(("data", "message"), [
    ({"cost_center": "cc-fraud", "amount": "-5"}, "Budget per month: enter a positive amount, e.g. 1500"),
    ({"cost_center": "cc-fraud", "amount": "0"}, "Budget per month: enter a positive amount, e.g. 1500"),
    ({"cost_center": "cc-fraud", "amount": "$1,500"}, "Budget per month: enter a number in US dollars, e.g. 1500 or 1500.50"),
    ({"cost_center": "cc-fraud", "amount": "12.345"}, "Budget per month: at most two decimal places (cents)"),
    ({"cost_center": "cc fraud!", "amount": "10"}, "Cost centre: letters, digits, dashes, dots or underscores"),
    ({"cost_center": "", "amount": "10"}, "Cost centre: enter the cost centre, e.g. cc-fraud."),
])
def test_bad_input_names_the_field_and_the_fix_and_keeps_what_was_typed(client, priya, data, message):
    client.force_login(priya)

    response = client.post(PAGE, data)

    assert response.status_code == 400
    assert message in text_of(response)
    html = response.content.decode()
    for value in data.values():
        if value:
            assert f'value="{html_lib.escape(value)}"' in html
    assert not Budget.objects.exists()


def test_a_cost_centre_nobody_carries_is_saved_with_a_warning(client, priya):
    client.force_login(priya)

    response = client.post(PAGE, {"cost_center": "cc-frad", "amount": "10"}, follow=True)

    assert Budget.objects.filter(cost_center="cc-frad").exists()
    assert "No team or endpoint in the catalog carries the cost centre cc-frad yet: check the spelling." in text_of(response)


# --- a team's page --------------------------------------------------------------------------------------


def test_a_teams_page_shows_its_budget(client, dana, gitops_repo, django_assert_max_num_queries):
    from catalog import ingestion
    from portal import snapshot

    snapshot.refresh()
    ingestion.refresh_all()
    cost_center_days("cc-fraud", "4.00", month_days())
    budget("cc-fraud", "99.00")
    client.force_login(dana)

    team = text_of(client.get("/catalog/default/group/fraud-detection"))
    other = text_of(client.get("/catalog/default/group/search-ranking"))

    assert ("Budget All budgets Cost centre cc-fraud Budget 99.00 USD a month Month to date 80.00 USD "
            "Projected 120.00 USD by the month's end over budget Spent 80.8 % over 80 %") in team
    assert "All budgets" not in other  # cc-search has no budget


def test_the_demo_budgets_are_seeded_once_and_never_over_an_admins():
    assert budgets.seed_demo_budgets() == 3
    assert budgets.seed_demo_budgets() == 0
    Budget.objects.all().delete()
    budget("cc-fraud", "42.00")

    assert budgets.seed_demo_budgets() == 0
    assert list(Budget.objects.values_list("cost_center", "amount")) == [("cc-fraud", Decimal("42.00"))]
