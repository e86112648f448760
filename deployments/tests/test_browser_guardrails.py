"""Guardrails in a real browser: Dana asks for 20 CPUs and the preview names the quota and the
excess beside the CPU field; Priya's Guardrails page lists the app that breaks a policy."""

from __future__ import annotations

import pytest

from catalog import ingestion
from deployments.guardrails import scan
from deployments.tests.test_guardrails_scan import UNLABELLED, push
from portal import snapshot

pytestmark = pytest.mark.browser

FORM = "/create/templates/default/model-endpoint"


@pytest.fixture
def journey(transactional_db, dana, priya, gitops_repo):
    snapshot.refresh()
    ingestion.refresh_all()
    return gitops_repo


def check(page, name: str) -> None:
    page.check(f"guardrails-{name}")


def test_dana_asks_for_twenty_cpus_and_the_preview_refuses_it_beside_the_field(page, journey):
    browser = page.page
    page.login("dana")
    page.goto(FORM)
    browser.get_by_label("Name").fill("card-fraud")
    browser.get_by_role("button", name="Next").click()
    browser.get_by_role("heading", name="Model", exact=True).wait_for()
    browser.get_by_role("button", name="Next").click()
    browser.get_by_role("heading", name="Resources").wait_for()
    browser.get_by_label("CPU request").fill("20")
    browser.get_by_label("CPU limit").fill("20")
    browser.get_by_role("button", name="Next").click()
    browser.get_by_role("heading", name="Ownership").wait_for()
    browser.get_by_role("button", name="Review").click()
    browser.get_by_role("heading", name="Review").wait_for()

    browser.get_by_role("button", name="Preview").click()
    beside_cpu = browser.locator("#guardrail-field-cpuRequest")
    beside_cpu.wait_for()
    shown = " ".join(beside_cpu.inner_text().split())
    assert "CPU request" in shown and "you entered 20" in shown
    assert "over the quota default-namespace-quota of 4 by 16.4" in shown
    section = browser.locator(".preview-guardrails")
    assert "refused: fix before creating" in section.locator(".section-head").inner_text()
    assert section.locator("tbody tr").first.locator(".badge").inner_text() == "Fail"  # refusals first
    check(page, "preview-twenty-cpus")
    page.screenshot("guardrails-preview-twenty-cpus")  # whole page; the section alone below
    section.screenshot(path=str(page.screenshot("guardrails-preview-section").with_name("guardrails-preview-section.png")))

    # The button beside the field goes back to its page with the value kept.
    beside_cpu.get_by_role("button", name="Change CPU request").click()
    browser.get_by_role("heading", name="Resources").wait_for()
    assert browser.get_by_label("CPU request").input_value() == "20"


def test_priya_sees_which_app_breaks_which_rule(page, journey):
    push(journey, {"apps/rogue-model/inference-service.yaml": UNLABELLED}, "An app without labels")
    snapshot.refresh()
    scan.run_scan(scan.request_scan().pk)

    page.login("priya")
    page.goto("/deployments/guardrails/")
    row = page.page.locator("tr", has_text="apps/rogue-model")
    row.wait_for()
    assert "require-standard-labels-inferenceservice" in row.inner_text()
    assert "Fail" in row.inner_text()
    check(page, "admin-page")
