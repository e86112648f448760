"""Dana changes her endpoint from its page in a real browser: raises the replicas with a preview,
lands on the task, and finds a second change refused with a link to the first."""

from __future__ import annotations

import pytest

from catalog import ingestion
from portal import snapshot

pytestmark = pytest.mark.browser

ENTITY = "/catalog/default/component/fraud-scorer"


@pytest.fixture
def journey(transactional_db, dana, priya, gitops_repo):
    snapshot.refresh()
    ingestion.refresh_all()
    yield gitops_repo


def check(page, name: str) -> None:
    page.check(f"change-{name}")


def test_dana_raises_the_replicas_and_a_second_change_waits_for_the_first(page, journey):
    browser = page.page
    page.login("dana")
    page.goto(ENTITY)
    browser.get_by_role("heading", name="Change this endpoint").wait_for()
    browser.get_by_role("link", name="Change resources").click()

    browser.get_by_role("heading", name="Change resources and replicas: fraud-scorer").wait_for()
    check(page, "resources-form")
    browser.get_by_label("Maximum replicas").fill("5")
    browser.get_by_label("CPU request").fill("250m")
    browser.get_by_label("CPU limit").fill("500m")
    browser.get_by_label("Memory request").fill("512Mi")
    browser.get_by_label("Memory limit").fill("1Gi")
    browser.get_by_role("button", name="Preview").click()
    preview = browser.locator("#preview")
    preview.wait_for()
    assert "apps/fraud-scorer/inference-service.yaml" in preview.inner_text()
    assert "maxReplicas: 5" in preview.inner_text()
    assert browser.get_by_label("Maximum replicas").input_value() == "5"  # nothing typed is lost
    check(page, "resources-preview")

    browser.get_by_role("button", name="Open pull request").click()
    browser.wait_for_url("**/create/tasks/*")
    task_url = browser.url.removeprefix(page.base_url)

    page.goto(ENTITY)
    notice = browser.locator("#open-change")
    notice.wait_for()
    assert notice.get_by_role("link").get_attribute("href") == task_url
    assert browser.locator("#change-decommission").count() == 0
    check(page, "entity-open-change")
