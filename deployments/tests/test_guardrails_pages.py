"""The admins' Guardrails page: the repository's policies and rules, and which apps break them
according to the latest background scan; "Scan now" queues another."""

from __future__ import annotations

import re
from html import unescape

import pytest

from deployments.choices import GuardrailScanStatus
from deployments.guardrails import scan
from deployments.models import GuardrailFinding, GuardrailScan
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db

PAGE = "/deployments/guardrails/"


@pytest.fixture
def repository(gitops_repo):
    from portal import snapshot

    snapshot.refresh()
    return gitops_repo


@pytest.fixture
def scanned(repository):
    """A finished scan with a refusal on one app and a warning on another."""
    done = GuardrailScan.objects.create(status=GuardrailScanStatus.DONE, commit_sha="a" * 40, files_checked=9,
                                        summary={"fail": 1, "warn": 1, "pass": 30})
    GuardrailScan.objects.filter(pk=done.pk).update(finished_at=done.created_at)
    GuardrailFinding.objects.create(
        scan=done, app_path="apps/rogue-model", file_path="apps/rogue-model/inference-service.yaml",
        policy="require-standard-labels-inferenceservice", rule="check-owner-and-cost-center-on-isvc",
        kind="InferenceService", namespace="default", name="rogue-model", result="fail",
        message="InferenceService resources must set metadata.labels.owner and metadata.labels.cost-center.",
    )
    GuardrailFinding.objects.create(
        scan=done, app_path="apps/quiet-model", file_path="apps/quiet-model/inference-service.yaml",
        policy="recommend-description", rule="check-description", kind="InferenceService", namespace="default",
        name="quiet-model", result="warn", message="InferenceServices should carry a description.",
    )
    return done


def text(html: str) -> str:
    return re.sub(r" ([,.:;])", r"\1", " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split()))


def test_admins_see_each_policy_with_its_rules_action_and_message(client, priya, repository):
    client.force_login(priya)
    page = text(client.get(PAGE).content.decode())

    assert ("require-standard-labels-inferenceservice ClusterPolicy · "
            "infrastructure/kyverno/policies/require-standard-labels-inferenceservice.yaml "
            "check-owner-and-cost-center-on-isvc Enforce: refused InferenceService "
            "InferenceService resources must set metadata.labels.owner and metadata.labels.cost-center.") in page
    assert "ResourceQuota/default-namespace-quota" in page and "count/inferenceservices.serving.kserve.io 5" in page
    assert "No scan has run yet." in page


def test_the_latest_scan_lists_the_apps_that_break_a_rule_refusals_first(client, priya, scanned):
    client.force_login(priya)
    html = client.get(PAGE).content.decode()
    page = text(html)

    assert "of commit aaaaaaaa, 9 files checked" in page
    assert "2 apps with 2 findings." in page
    assert page.index("apps/rogue-model") < page.index("apps/quiet-model")
    assert ("apps/rogue-model Fail require-standard-labels-inferenceservice check-owner-and-cost-center-on-isvc "
            "InferenceService default/rogue-model InferenceService resources must set") in page
    assert "apps/quiet-model Warning recommend-description" in page
    assert "Scan now" in page


def test_a_clean_scan_says_every_app_passes(client, priya, repository):
    scan.run_scan(scan.request_scan().pk)
    client.force_login(priya)

    assert "Every app on the default branch passes every policy, quota and schema." in text(client.get(PAGE).content.decode())


def test_a_failed_scan_is_never_shown_as_clean(client, priya, repository):
    GuardrailScan.objects.create(status=GuardrailScanStatus.FAILED, error="duplicate key 'rules'",
                                 finished_at="2026-01-01T00:00:00Z")
    client.force_login(priya)
    page = text(client.get(PAGE).content.decode())

    assert "The last scan could not finish, so the apps are not known to pass: duplicate key 'rules'" in page
    assert "Every app" not in page


def test_scan_now_queues_one_scan_audits_it_and_the_fragment_polls_until_it_ends(client, priya, repository,
                                                                                django_capture_on_commit_callbacks):
    client.force_login(priya)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post("/deployments/guardrails/scan")
    assert response.status_code == 302 and response["Location"] == PAGE
    queued = GuardrailScan.objects.get()
    assert (queued.status, queued.reason, queued.requested_by) == ("queued", "manual", "priya")
    assert len(callbacks) == 1
    assert AuditEvent.objects.filter(action="guardrails.scan_requested", target=f"guardrail-scan:{queued.uuid}",
                                     actor=priya).exists()

    polling = client.get(PAGE, HTTP_HX_REQUEST="true")
    assert polling.status_code == 200 and 'hx-trigger="every 2s"' in polling.content.decode()
    assert "<!doctype html>" not in polling.content.decode().lower()
    assert "HX-Request" in polling["Vary"]

    scan.run_scan(queued.pk)
    ended = client.get(PAGE, HTTP_HX_REQUEST="true")
    assert ended.status_code == 286 and "hx-trigger" not in ended.content.decode()


def test_only_admins_may_open_the_page_or_scan(client, dana, repository):
    client.force_login(dana)
    assert client.get(PAGE).status_code == 403
    assert client.post("/deployments/guardrails/scan").status_code == 403
    assert not GuardrailScan.objects.exists()


def test_signed_out_visitors_are_sent_to_sign_in(client, repository):
    response = client.get(PAGE)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_scan_now_needs_a_post(client, priya, repository):
    client.force_login(priya)
    assert client.get("/deployments/guardrails/scan").status_code == 405


def test_the_page_costs_the_same_queries_for_one_finding_or_many(client, priya, scanned, django_assert_max_num_queries):
    client.force_login(priya)
    client.get(PAGE)
    GuardrailFinding.objects.bulk_create([
        GuardrailFinding(scan=scanned, app_path=f"apps/m{i}", policy="p", rule="r", kind="InferenceService",
                         namespace="default", name=f"m{i}", result="fail", message="no")
        for i in range(40)
    ])
    with django_assert_max_num_queries(14):
        assert client.get(PAGE).status_code == 200
