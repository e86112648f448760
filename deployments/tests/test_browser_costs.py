"""Costs in a real browser: Dana opens the Costs page, switches window, reads the trend as a table,
and finds her team's cost on its page; both fit a phone and pass axe. Figures come from the cost
job run against an OpenCost serving the example payloads."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.models import Entity
from deployments import opencost
from deployments.costs import fetch
from deployments.models import Cluster, CostPoll
from deployments.tests.opencost_fake import FakeOpenCost
from deployments.tests.test_costs_fetch import endpoint, isvc
from deployments.tests.test_costs_pages import group

pytestmark = pytest.mark.browser


def quick_client(url: str) -> opencost.OpenCostClient:
    return opencost.OpenCostClient(url, backoff=0, timeout=2)


@pytest.fixture
def seeded(transactional_db, httpserver, settings, dana):
    # transactional tests flush the data migration's default cluster; make it again
    cluster, _ = Cluster.objects.get_or_create(name=Cluster.DEFAULT_NAME, defaults={"is_default": True})
    fake = FakeOpenCost(httpserver, timezone.now().date())
    settings.PORTAL_OPENCOST_URL = fake.url
    group("platform-team", "cc-platform")
    group("fraud-detection", "cc-demo")
    iris = endpoint("sklearn-iris", "platform-team", "cc-platform")
    demo = endpoint("demo-iris-2", "fraud-detection", "cc-demo")
    isvc(cluster, "sklearn-iris", iris)
    isvc(cluster, "demo-iris-2", demo)
    assert fetch.poll(cluster, client_factory=quick_client).rows == 15
    return {"cluster": cluster, "fake": fake, "demo": demo}


def look(page, name: str) -> None:
    page.check(name)


def test_dana_reads_the_costs_page(page, seeded):
    browser = page.page
    page.login("dana")
    page.goto("/deployments/costs/")
    assert browser.locator("nav[aria-label=Main]").get_by_role("link", name="Costs").get_attribute("aria-current") == "page"
    centres = browser.locator("section[aria-labelledby=by-centre-title] tbody tr")
    assert centres.all_inner_texts()[1].split("\t")[:2] == ["cc-platform", "0.22 USD"]
    assert browser.get_by_role("img", name="Daily cost of cc-demo, USD, last 7 days").count() == 1
    look(page, "costs-7d")

    browser.get_by_role("link", name="Month to date").click()
    browser.wait_for_url("**/deployments/costs/?window=mtd")
    assert browser.locator("section[aria-labelledby=by-owner-title]").get_by_text("Total, USD, month to date").count() == 1
    browser.get_by_text("The same figures as a table").click()
    table = browser.locator(".cost-trend-table table")
    assert table.is_visible()
    today_row = table.locator("tbody tr").last.inner_text()
    assert "0.06" in today_row and "4.32" not in today_row  # a day's figures, not the window's
    look(page, "costs-mtd-table")

    browser.get_by_role("link", name="demo-iris-2").click()
    browser.wait_for_url(f"**{seeded['demo'].url_path()}")
    assert "0.06 USD" in browser.locator("#cost").inner_text()
    browser.locator("#cost").scroll_into_view_if_needed()
    look(page, "costs-endpoint-panel")


def test_a_team_page_shows_its_cost_and_an_outage_shows_its_age(page, seeded):
    browser = page.page
    CostPoll.objects.filter(cluster=seeded["cluster"]).update(last_success_at=timezone.now() - timedelta(hours=5))
    seeded["fake"].fail_with = 500
    assert "answered 500" in fetch.poll(seeded["cluster"], client_factory=quick_client).error
    page.login("dana")
    team = Entity.objects.get(kind="Group", name="fraud-detection")
    page.goto(team.url_path())
    panel = browser.locator("#cost")
    text = panel.inner_text().replace("\xa0", " ")
    assert "Last 30 days\n0.06 USD" in text
    assert "stale" in text and "Figures as of 5 hours ago" in text
    assert panel.get_by_role("img", name="Daily cost of this team's workloads, USD, last 30 days").count() == 1
    look(page, "costs-team-panel-stale")
    panel.get_by_role("link", name="fraud-detection's costs on the Costs page").click()
    browser.wait_for_url("**/deployments/costs/?window=30d&owner=fraud-detection")
    assert browser.locator(".cost-stale").is_visible()
    look(page, "costs-owner-filtered-stale")
