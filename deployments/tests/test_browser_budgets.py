"""Budgets and right-sizing in a real browser: Priya sets a budget and sees spend against it;
Dana sees her team's budget on its page, and the right-sizing suggestion on her endpoint whose
button brings up the "Change resources" form filled in; all of it readable on a phone."""

from __future__ import annotations

from decimal import Decimal

import pytest

from deployments import budgets
from deployments.models import Budget
from deployments.tests.cost_factories import cost_center_days, endpoint_day, month_days

pytestmark = pytest.mark.browser

#: Where root conftest.py reads axe-core from (installed by `make test`).


@pytest.fixture
def demo(transactional_db, gitops_repo, dana, priya, settings):
    """The demo catalog, a month of cc-fraud and cc-search spend, and a week of fraud-scorer
    using a tenth of what it asks for."""
    from catalog import ingestion
    from portal import snapshot

    settings.PORTAL_PRICE_CPU_HOUR = Decimal("0.031611")
    settings.PORTAL_PRICE_GIB_HOUR = Decimal("0.004237")
    snapshot.refresh()
    ingestion.refresh_all()
    today = budgets.today()
    cost_center_days("cc-fraud", "4.10", month_days(today))
    cost_center_days("cc-search", "1.25", month_days(today))
    cost_center_days("cc-platform", "9.00", month_days(today))
    Budget.objects.create(cost_center="cc-search", amount=Decimal("200.00"), updated_by="priya", note="Q4 plan")
    Budget.objects.create(cost_center="cc-platform", amount=Decimal("250.00"), updated_by="priya")
    for offset in range(7):
        endpoint_day(today.replace(day=today.day - offset), cpu_efficiency=0.08 + offset / 100, ram_efficiency=0.12)


def check(page, name: str) -> None:
    page.check(name)


def test_priya_sets_a_budget_and_sees_spend_against_it(page, demo):
    browser = page.page
    page.login("priya")
    page.goto("/deployments/costs/budgets/")

    browser.locator("#id_cost_center").fill("cc-fraud")
    browser.get_by_label("Budget per month (USD)").fill("130")
    browser.get_by_label("Note").fill("Q4 plan")
    browser.get_by_role("button", name="Save budget").click()

    assert "The budget of cc-fraud is set to $130.00 a month." in browser.locator(".messages").inner_text()
    row = browser.locator("#budget-cc-fraud")
    assert "130.00 USD" in row.inner_text()
    tones = {name: browser.locator(f"#budget-{name} .budget-bar").get_attribute("class")
             for name in ("cc-fraud", "cc-search", "cc-platform")}
    today = budgets.today()
    spent = Decimal("4.10") * today.day
    expected = "budget-bad" if spent > 130 else "budget-warn" if spent > 104 else "budget-ok"
    assert expected in tones["cc-fraud"]
    assert "budget-ok" in tones["cc-search"]
    check(page, "budgets")


def test_dana_sees_her_teams_budget_and_the_right_sizing_suggestion(page, demo):
    Budget.objects.create(cost_center="cc-fraud", amount=Decimal("150.00"), updated_by="priya")
    browser = page.page
    page.login("dana")

    page.goto("/catalog/default/group/fraud-detection")
    panel = browser.locator(".budget-panel")
    assert "150.00 USD a month" in panel.inner_text()
    check(page, "budget-panel-team")

    page.goto("/catalog/default/component/fraud-scorer")
    suggestion = browser.locator(".rightsizing-panel")
    assert "request 100m → 50m per replica" in suggestion.inner_text()
    assert "128Mi → 64Mi" in suggestion.inner_text()
    suggestion.scroll_into_view_if_needed()
    check(page, "rightsizing-panel")

    suggestion.get_by_role("button", name="Open a pull request that right-sizes fraud-scorer").click()
    browser.wait_for_load_state("networkidle")
    assert browser.get_by_label("CPU request").input_value() == "50m"
    assert browser.get_by_label("Memory request").input_value() == "64Mi"
    assert "−$1.34" in browser.locator("#preview").inner_text()
    page.screenshot("rightsizing-change-form")

    page.goto("/deployments/costs/right-sizing/")
    assert "fraud-scorer" in browser.locator(".rightsizing-table").inner_text()
    check(page, "rightsizing-list")


def test_over_budget_on_the_form_a_member_is_told_whom_to_ask_and_an_admin_may_override(page, demo, settings):
    settings.PORTAL_BUDGET_HARD_STOP = True
    Budget.objects.create(cost_center="cc-fraud", amount=Decimal("120.00"), updated_by="priya")
    browser = page.page
    change = "/deployments/changes/default/component/fraud-scorer/resources"

    page.login("dana")
    page.goto(change)
    browser.get_by_label("CPU request").fill("2")
    browser.get_by_label("CPU limit").fill("2")
    browser.get_by_role("button", name="Preview").click()
    browser.wait_for_load_state("networkidle")
    effects = browser.locator("#budget-effects")
    assert "only a platform admin can override the budget" in effects.inner_text()
    assert "ask a platform admin (a member of platform-team)" in effects.inner_text()
    effects.scroll_into_view_if_needed()
    page.screenshot("budget-stop-member")

    browser.get_by_role("button", name="Sign out").click()
    page.login("priya")
    page.goto(change)
    browser.get_by_label("CPU request").fill("2")
    browser.get_by_label("CPU limit").fill("2")
    browser.get_by_role("button", name="Preview").click()
    browser.wait_for_load_state("networkidle")
    override = browser.get_by_label("Override the budget")
    assert override.is_visible() and not override.is_checked()
    assert page.accessibility_violations() == []
    page.screenshot("budget-stop-admin")
