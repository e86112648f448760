"""Dana's create journey in a real browser (JOURNEYS.md): the golden-path form checks her name
as she types, keeps her values across pages, previews the manifest, and the task a real Celery
worker runs ends at her pull request."""

from __future__ import annotations

import re

import pytest

from catalog import ingestion
from portal import snapshot

pytestmark = [pytest.mark.browser, pytest.mark.worker]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def create_journey(transactional_db, dana, priya, worker_repo):
    """The demo repository the worker uses, in the snapshot and the catalog (after the
    personas, so their memberships come from it)."""
    snapshot.refresh()
    ingestion.refresh_all()
    return worker_repo


def fits(page) -> bool:
    return page.fits()


def check(page, name: str) -> None:
    page.check(f"scaffolder-{name}")


def test_dana_creates_a_model_endpoint_and_reaches_its_pull_request(page, create_journey):
    browser = page.page
    page.login("dana")
    browser.get_by_role("link", name="Create", exact=True).click()
    browser.wait_for_url(re.compile(r"/create/$"))
    check(page, "templates")

    browser.locator("a[href='/create/templates/default/model-endpoint']", has_text="KServe model endpoint").click()
    browser.wait_for_url(re.compile(r"/create/templates/default/model-endpoint$"))
    name = browser.get_by_label("Name")
    assert browser.evaluate("document.activeElement.id") == "f-name"  # ui:autofocus

    # A capital letter: the field says at once what a valid name looks like, and keeps focus.
    name.press_sequentially("Card-Fraud", delay=20)
    error = browser.locator("#f-name-error")
    error.get_by_text("must be a lowercase DNS label, e.g. fraud-model").wait_for()
    assert browser.evaluate("document.activeElement.id") == "f-name"
    browser.wait_for_function("document.getElementById('f-name').getAttribute('aria-invalid') === 'true'")
    assert name.input_value() == "Card-Fraud"
    check(page, "form-name-error")

    name.fill("card-fraud")
    browser.wait_for_function("!document.getElementById('f-name').hasAttribute('aria-invalid')")
    assert error.inner_text() == ""
    browser.get_by_label("Description").fill("Scores card payments for fraud")
    browser.get_by_role("button", name="Next").click()

    browser.get_by_role("heading", name="Model", exact=True).wait_for()
    assert browser.get_by_label("Model format").input_value() == "sklearn"
    browser.get_by_role("button", name="Next").click()
    browser.get_by_role("heading", name="Resources").wait_for()
    check(page, "form-resources")
    browser.get_by_role("button", name="Back").click()
    browser.get_by_role("heading", name="Model", exact=True).wait_for()
    browser.get_by_role("button", name="Back").click()
    assert browser.get_by_label("Name").input_value() == "card-fraud"  # nothing typed is lost
    assert browser.get_by_label("Description").input_value() == "Scores card payments for fraud"
    for _ in range(3):
        browser.get_by_role("button", name="Next").click()
    browser.get_by_role("heading", name="Ownership").wait_for()
    assert browser.get_by_label("Owner").input_value() == "group:default/fraud-detection"  # her team
    browser.get_by_role("button", name="Review").click()

    browser.get_by_role("heading", name="Review").wait_for()
    assert browser.locator("dd", has_text="card-fraud").count() >= 1
    browser.get_by_role("button", name="Preview").click()
    manifest = browser.locator(".preview-file summary", has_text="apps/card-fraud/inference-service.yaml")
    manifest.wait_for()
    shown = browser.locator(".preview-file", has_text="apps/card-fraud/inference-service.yaml")
    assert "kind: InferenceService" in shown.locator(".file-view").first.inner_text()
    assert "+kind: InferenceService" in shown.inner_text()  # the diff: a new file
    check(page, "review-preview")

    browser.get_by_role("button", name="Create", exact=True).click()
    browser.wait_for_url(re.compile(r"/create/tasks/[0-9a-f-]{36}$"))
    browser.locator("#task-status", has_text="Finished").wait_for(timeout=90_000)
    assert browser.locator(".task-step.step-completed").count() == 5, "owner, render, guardrails, publish, register"
    assert "Beginning step" in browser.locator("#task-log").inner_text()
    check(page, "task-completed")

    browser.get_by_role("link", name=re.compile(r"^Pull request #\d+")).click()
    browser.wait_for_url(re.compile(r"/deployments/pull-requests/[0-9a-f-]{36}$"))
    assert "Add model endpoint card-fraud" in browser.locator("h1").inner_text()
    page.screenshot("scaffolder-pull-request")
