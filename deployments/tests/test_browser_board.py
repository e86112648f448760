"""The Deployments board in a real browser: Priya finds what is not ready and an endpoint nobody
registered, registers it in one click, and watches a progressing endpoint turn Ready without a
reload; the Clusters page; both fit a phone and pass axe."""

from __future__ import annotations

import pytest

from deployments import status
from deployments.models import Cluster
from deployments.tests.test_live_status import endpoint, failed_isvc
from deployments.tests.test_reconciliation import labelled, tracked_isvc
from deployments.tests.test_status_poll import application, inference_service
from sandbox.testing import sandbox_fixture  # noqa: F401  (provides `sandbox`)

pytestmark = pytest.mark.browser


def put_and_poll(sandbox, *objects) -> None:
    for item in objects:
        sandbox.store.put(item)
    # transactional tests flush the data migration's default cluster; make it again
    cluster, _ = Cluster.objects.get_or_create(name=Cluster.DEFAULT_NAME, defaults={"is_default": True})
    status.poll(cluster, sandbox.api_client)


def check(page, name: str) -> None:
    page.check(name)


def test_priya_reads_the_board_and_registers_a_stray_endpoint(page, transactional_db, priya, dana, sandbox):
    endpoint("card-fraud")
    endpoint("churn-predictor", cost_center="cc-9999")
    endpoint("broken-model")
    endpoint("search-rank", owner="search", cost_center="cc-5555")
    stray = tracked_isvc("shadow-scorer", "shadow")
    stray["metadata"]["labels"] |= {"owner": "fraud-detection", "cost-center": "cc-7777"}
    put_and_poll(
        sandbox,
        application("card-fraud"), labelled(inference_service("card-fraud"), owner="fraud-detection", cost_center="cc-1234"),
        application("churn-predictor", health="Progressing"), inference_service("churn-predictor", ready="Unknown"),
        application("broken-model", health="Degraded"),
        labelled(failed_isvc("broken-model"), owner="fraud-detection", cost_center="cc-0000"),
        application("shadow"), stray,
    )
    browser = page.page
    page.login("priya")
    browser.get_by_role("link", name="Deployments", exact=True).click()
    browser.locator("#board-rows table").wait_for()
    assert browser.locator("#board-rows tbody tr").count() == 4
    assert "KServe cannot download the model" in browser.locator("#board-rows .board-failure").first.inner_text()
    assert browser.locator("#missing").get_by_text("Nothing missing").count() == 1
    assert browser.locator("#labels tbody tr").count() == 3  # churn (no labels: both) and broken-model's cost centre
    check(page, "deployments-board")

    # Progressing turns Ready without a reload.
    put_and_poll(sandbox, application("churn-predictor"), inference_service("churn-predictor"))
    browser.locator("#board-rows a[href='http://churn-predictor.default.example.com']").wait_for(timeout=12_000)

    browser.get_by_role("button", name="Register shadow-scorer in the catalog").click()
    browser.get_by_text("shadow-scorer is in the catalog now, owned by fraud-detection").wait_for()
    assert browser.locator("#board-rows").get_by_role("link", name="shadow-scorer", exact=True).count() == 1
    assert browser.locator("#unregistered").get_by_text("Every Application and InferenceService").count() == 1
    page.screenshot("deployments-board-registered")


def test_dana_sees_her_teams_endpoints_and_can_widen(page, transactional_db, dana, sandbox):
    endpoint("card-fraud")
    endpoint("search-rank", owner="search", cost_center="cc-5555")
    put_and_poll(sandbox, application("card-fraud"), inference_service("card-fraud"))
    browser = page.page
    page.login("dana")
    page.goto("/deployments/")
    assert browser.locator("#board-rows tbody tr").count() == 1
    check(page, "deployments-board-dana")
    browser.get_by_role("link", name="Show every team's").click()
    browser.locator("#board-rows").get_by_role("link", name="search-rank").wait_for()
    browser.get_by_label("State").select_option("unknown")
    browser.get_by_role("button", name="Apply").click()
    browser.locator("#filter-state option[value='unknown'][selected]").wait_for(state="attached")
    assert browser.locator("#board-rows tbody tr").count() == 1


def test_the_clusters_page(page, transactional_db, priya, sandbox):
    put_and_poll(sandbox, application("card-fraud"), inference_service("card-fraud"))
    Cluster.objects.create(name="eu-west", context="gke_acme_europe-west1_prod", watched_namespaces=["fraud", "search"])
    browser = page.page
    page.login("priya")
    page.goto("/deployments/clusters/")
    row = browser.locator("tbody tr").first
    assert "connected" in row.inner_text() and "1 Application" in row.inner_text()
    check(page, "deployments-clusters")
