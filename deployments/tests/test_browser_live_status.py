"""The "Live status" panel in a real browser: Dana watches her endpoint go from Progressing to
Ready without reloading, and the panel fits a phone."""

from __future__ import annotations

import pytest

from deployments import status
from deployments.models import Cluster
from deployments.tests.test_live_status import endpoint, failed_isvc, requested_and_merged
from deployments.tests.test_status_poll import application, inference_service
from sandbox.testing import sandbox_fixture  # noqa: F401  (provides `sandbox`)
from scaffolder.tests.test_browser_scaffolder import DESKTOP, PHONE, fits

pytestmark = pytest.mark.browser


def put_and_poll(sandbox, *objects) -> None:
    for item in objects:
        sandbox.store.put(item)
    # transactional tests flush the data migration's default cluster; make it again
    cluster, _ = Cluster.objects.get_or_create(name=Cluster.DEFAULT_NAME, defaults={"is_default": True})
    status.poll(cluster, sandbox.api_client)


def test_dana_watches_her_endpoint_become_ready(page, transactional_db, dana, sandbox):
    entity = endpoint("card-fraud")
    requested_and_merged(entity, dana, number=3)
    put_and_poll(sandbox, application("card-fraud", health="Progressing"), inference_service("card-fraud", ready="Unknown"))
    browser = page.page
    page.login("dana")
    page.goto(entity.url_path())
    # The page loads the panel's fragment at once, then every 5 s while something moves.
    browser.locator("#live-status .live-facts").wait_for(timeout=5_000)
    assert browser.locator("#live-status").get_by_text("Progressing").count() >= 1
    assert page.accessibility_violations() == []
    assert fits(page)
    page.screenshot("live-status-progressing")

    put_and_poll(sandbox, application("card-fraud"), inference_service("card-fraud"))
    # htmx swaps the fragment in within one poll interval, without a reload.
    browser.locator("#live-status a.live-url").wait_for(timeout=12_000)
    assert browser.locator("#live-status a.live-url").inner_text() == "http://card-fraud.default.example.com"
    assert browser.locator("#live-status .live-stage").all_inner_texts()[-1] == "Ready"
    page.screenshot("live-status-ready")
    browser.set_viewport_size(PHONE)
    assert fits(page), "the live status scrolls sideways at 390px"
    page.screenshot("live-status-ready-phone")
    browser.set_viewport_size(DESKTOP)


def test_a_failed_model_in_the_browser(page, transactional_db, dana, sandbox):
    entity = endpoint("card-fraud")
    put_and_poll(sandbox, application("card-fraud", health="Degraded"), failed_isvc("card-fraud"))
    page.login("dana")
    page.goto(entity.url_path())
    assert "KServe cannot download the model" in page.page.locator("#live-status .live-failure").first.inner_text()
    assert page.accessibility_violations() == []
    page.screenshot("live-status-failed")
