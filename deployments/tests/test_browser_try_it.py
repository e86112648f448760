"""The whole journey in a real browser, with a real Celery worker, the sandbox cluster and the real
KServe model server: Dana fills the golden-path form, the worker opens the pull request, Priya
merges it, the sandbox's ArgoCD and KServe bring the endpoint up, Dana's page follows the
timeline to Ready without a reload, and "Try it" answers {"predictions": [1, 1]}; then the
worker times the first response once and the timeline shows it."""

from __future__ import annotations

import re

import pytest

from catalog import ingestion
from catalog.models import Entity
from deployments import status
from deployments.models import Cluster, StatusEvent, StatusEventKind
from deployments.tasks import probe_first_responses
from portal import snapshot
from portal.testing import wait_for
from sandbox.controllers import Controllers, snapshot_source
from sandbox.testing import model_server_fixture, sandbox_fixture  # noqa: F401  (provide `model_server`, `sandbox`)
from scaffolder.tests.test_browser_scaffolder import DESKTOP, PHONE, fits

pytestmark = [pytest.mark.browser, pytest.mark.worker]


@pytest.fixture
def journey(transactional_db, dana, priya, worker_repo):
    """The demo repository the worker uses, in the snapshot and the catalog."""
    snapshot.refresh()
    ingestion.refresh_all()
    return worker_repo


def create_endpoint(page, name: str) -> None:
    """Dana's golden-path form with its defaults, to the finished task."""
    browser = page.page
    page.goto("/create/templates/default/model-endpoint")
    browser.get_by_label("Name").fill(name)
    browser.get_by_label("Description").fill("Scores card payments for fraud")
    for _ in range(3):
        browser.get_by_role("button", name="Next").click()
    browser.get_by_role("heading", name="Ownership").wait_for()
    browser.get_by_role("button", name="Review").click()
    browser.get_by_role("heading", name="Review").wait_for()
    browser.get_by_role("button", name="Create", exact=True).click()
    browser.wait_for_url(re.compile(r"/create/tasks/[0-9a-f-]{36}$"))
    browser.locator("#task-status", has_text="Finished").wait_for(timeout=90_000)


def test_from_the_form_to_ready_and_a_prediction(page, browser, live_server, journey, sandbox, model_server):
    dana_page = page.page
    page.login("dana")
    create_endpoint(page, "card-fraud")
    dana_page.get_by_role("link", name=re.compile(r"^Pull request #\d+")).click()
    dana_page.wait_for_url(re.compile(r"/deployments/pull-requests/[0-9a-f-]{36}$"))
    pull_request_path = dana_page.url.removeprefix(live_server.url)

    # Priya, in her own browser, merges the pull request.
    context = browser.new_context(viewport=DESKTOP)
    try:
        priya = context.new_page()
        priya.goto(live_server.url + "/login/")
        priya.get_by_label("Username").fill("priya")
        priya.get_by_label("Password").fill("correct-horse-battery")
        priya.get_by_role("button", name="Sign in").click()
        priya.wait_for_load_state("networkidle")
        priya.goto(live_server.url + pull_request_path)
        priya.get_by_role("button", name=re.compile(r"^Merge into ")).click()
        priya.locator(".pr-merge-box", has_text="Merged").wait_for()
    finally:
        context.close()

    # Dana watches her endpoint's page while the cluster brings it up.
    entity = wait_for(lambda: Entity.objects.filter(ref="component:default/card-fraud").first(),
                      timeout=30, message="the endpoint in the catalog")
    page.goto(entity.url_path())
    dana_page.locator("#live-status").get_by_text("Not seen on any cluster yet").wait_for(timeout=10_000)

    # The sandbox's ArgoCD reads the merged default branch from the snapshot; its KServe points
    # the sklearn endpoint at the shared model server; the poller writes what it sees.
    assert "apps/card-fraud/inference-service.yaml" in snapshot.paths("apps/**")
    Controllers(sandbox.store, snapshot_source(), model_server_url=model_server.url).settle()
    cluster, _ = Cluster.objects.get_or_create(name=Cluster.DEFAULT_NAME, defaults={"is_default": True})
    result = status.poll(cluster, sandbox.api_client)
    assert result.error == "" and "ready" in result.event_kinds

    # Without a reload: the timeline reaches Ready, and "Try it" appears.
    dana_page.locator("#live-status a.live-url").wait_for(timeout=15_000)
    stages = dana_page.locator("#live-status .live-stage").all_inner_texts()
    assert stages[0] == "Requested by dana" and stages[-1] == "Ready"
    assert "Merged by priya" in stages and "Application created" in stages
    send = dana_page.locator("#try-it-send")
    send.wait_for(timeout=25_000)  # the hidden panel asks again every 10 s
    assert '"instances"' in dana_page.get_by_label(re.compile(r"^Request body")).input_value()

    send.click()
    response = dana_page.locator("#try-it-response")
    response.wait_for(timeout=15_000)
    assert '"predictions": [1, 1]' in response.inner_text()
    assert dana_page.locator("#try-it-status").inner_text() == "HTTP 200 OK"
    assert re.fullmatch(r"\d+ ms", dana_page.locator("#try-it-latency").inner_text())
    assert page.accessibility_violations() == []
    assert fits(page)
    dana_page.locator("#try-it").scroll_into_view_if_needed()
    page.screenshot("try-it-predictions")
    dana_page.set_viewport_size(PHONE)
    assert fits(page), "the try-it panel scrolls sideways at 390px"
    page.screenshot("try-it-predictions-phone")
    dana_page.set_viewport_size(DESKTOP)

    # The worker times the first response once; the timeline shows it.
    probe_first_responses.delay()
    event = wait_for(lambda: StatusEvent.objects.filter(kind=StatusEventKind.FIRST_RESPONSE).first(),
                     timeout=30, message="the worker to record the first response")
    assert re.fullmatch(r"First response in \d+ ms \(HTTP 200\) to a health probe", event.message)
    page.goto(entity.url_path())
    dana_page.locator("#live-status .live-stage", has_text="First response").wait_for(timeout=10_000)
    assert event.message in dana_page.locator("#live-status").inner_text()


def test_a_bad_payload_in_the_browser_keeps_what_was_typed(page, transactional_db, dana, sandbox, model_server):
    from deployments.tests.test_live_status import endpoint
    from deployments.tests.test_try_it import ready

    entity = endpoint("card-fraud")
    ready(entity, model_server.url)
    browser = page.page
    page.login("dana")
    page.goto(entity.url_path())
    payload = browser.get_by_label(re.compile(r"^Request body"))
    payload.wait_for(timeout=10_000)
    payload.fill('{"instances": [[6.8, 2.8, 4.8, 1.4]')
    browser.locator("#try-it-send").click()
    browser.locator("#try-it-error").wait_for()

    assert "Payload: not valid JSON" in browser.locator("#try-it-error").inner_text()
    assert payload.input_value() == '{"instances": [[6.8, 2.8, 4.8, 1.4]'
    assert payload.get_attribute("aria-invalid") == "true"
    assert page.accessibility_violations() == []
    page.screenshot("try-it-bad-payload")

    assert browser.locator(".try-it-url-v1").is_visible() and not browser.locator(".try-it-url-v2").is_visible()
    browser.get_by_label("Protocol").select_option("v2")
    assert browser.locator(".try-it-url-v2").is_visible() and not browser.locator(".try-it-url-v1").is_visible()
    browser.locator("#try-it-example").click()
    browser.wait_for_function("document.getElementById('try-it-payload').value.includes('FP32')")
    browser.locator("#try-it-send").click()
    browser.locator("#try-it-response").wait_for()
    assert '"data": [1, 1]' in browser.locator("#try-it-response").inner_text()
    page.screenshot("try-it-v2")
