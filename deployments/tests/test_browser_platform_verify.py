"""The "Platform verify" page in a real browser: Priya runs the checks against the sandbox and
reads a failure first, in words, on a desktop and on a phone."""

from __future__ import annotations

import pytest

from deployments.tests.test_platform_verify import platform  # noqa: F401  (fixture)
from deployments.tests.test_status_poll import application
from sandbox.testing import model_server_fixture, sandbox_fixture  # noqa: F401  (provide `model_server`, `sandbox`)
from scaffolder.tests.test_browser_scaffolder import DESKTOP, PHONE, fits

pytestmark = pytest.mark.browser


@pytest.fixture
def platform_db(transactional_db):
    """The live server's thread sees only committed rows."""


def test_priya_runs_the_checks_and_reads_the_failure_first(page, platform_db, priya, platform, sandbox):  # noqa: F811
    sandbox.store.put(application("fraud-scorer", sync="OutOfSync"))
    browser = page.page
    page.login("priya")
    page.goto("/admin/")
    browser.get_by_role("link", name="Platform verify").click()
    browser.get_by_text("Not run yet in this session").wait_for()

    browser.get_by_role("button", name="Run the checks").click()
    browser.locator(".verify-table").wait_for(timeout=30_000)

    rows = browser.locator(".verify-table tbody tr")
    assert rows.count() == 6
    assert rows.first.inner_text().startswith("FAIL")
    assert "fraud-scorer is OutOfSync and Healthy" in rows.first.inner_text()
    assert "1 check failed, 5 passed." in browser.locator(".callout-bad").inner_text()
    assert page.accessibility_violations() == []
    assert fits(page)
    page.screenshot("platform-verify")
    browser.set_viewport_size(PHONE)
    assert fits(page), "the verify page scrolls sideways at 390px"
    page.screenshot("platform-verify-phone")
    browser.set_viewport_size(DESKTOP)
