"""`/hooks/github`: signed deliveries move pull requests and refresh the snapshot; nothing else does."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from types import SimpleNamespace

import pytest
from django.test import Client

from deployments import prpoll, webhooks
from deployments.choices import PullRequestEventKind, PullRequestState
from deployments.gitops.base import body_marker
from deployments.models import PullRequest, WebhookDelivery
from deployments.pullrequests import pull_request_closed, pull_request_merged
from portal.models import AuditEvent

SECRET = "whsec-test"
REPOSITORY = "neuroscale/gitops"
TASK = "6f1f0b1e-0000-4000-8000-000000000001"
HEAD = "a" * 40
NEW_HEAD = "b" * 40

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def github_settings(settings):
    settings.PORTAL_GITHUB_REPOSITORY = REPOSITORY
    settings.PORTAL_GITHUB_WEBHOOK_SECRET = SECRET
    settings.PORTAL_GITOPS_DEFAULT_BRANCH = "main"


@pytest.fixture
def github_client() -> Client:
    """GitHub: anonymous, no cookies, no CSRF token."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def refreshes(monkeypatch, django_capture_on_commit_callbacks) -> list:
    queued = []
    stub = SimpleNamespace(delay=lambda: queued.append("refresh"))
    monkeypatch.setattr(prpoll, "refresh_snapshot", stub)
    monkeypatch.setattr(webhooks, "refresh_snapshot", stub)
    return queued


@pytest.fixture
def pull_request() -> PullRequest:
    """The pull request a task opened on GitHub, as open_change saved it."""
    return PullRequest.objects.create(
        provider="github", repository=REPOSITORY, number=7, url=f"https://github.com/{REPOSITORY}/pull/7",
        branch="portal/churn-model", base="main", head_sha=HEAD, title="Create model endpoint churn-model",
        body=f"Adds churn-model.\n\n{body_marker(TASK)}", task=uuid.UUID(TASK),
    )


def pull_payload(action: str, *, number=7, state="open", merged=False, head=HEAD, merged_by=None, sender="priya",
                 repository=REPOSITORY) -> dict:
    stamp = "2026-11-28T10:00:00Z"
    return {
        "action": action,
        "number": number,
        "pull_request": {
            "number": number, "html_url": f"https://github.com/{repository}/pull/{number}", "state": state,
            "title": "Create model endpoint churn-model", "body": f"Adds churn-model.\n\n{body_marker(TASK)}",
            "draft": False, "labels": [], "head": {"ref": "portal/churn-model", "sha": head},
            "base": {"ref": "main", "sha": "c" * 40}, "merged": merged,
            "merged_by": {"login": merged_by} if merged_by else None, "merged_at": stamp if merged else None,
            "closed_at": stamp if state == "closed" else None, "created_at": stamp, "updated_at": stamp,
        },
        "repository": {"full_name": repository},
        "sender": {"login": sender},
    }


def deliver(client, event: str, payload: dict, *, delivery: str | None = None, secret: str | None = SECRET,
            signature: str | None = None):
    body = json.dumps(payload).encode()
    headers = {"HTTP_X_GITHUB_EVENT": event, "HTTP_X_GITHUB_DELIVERY": delivery or str(uuid.uuid4())}
    if signature is None and secret is not None:
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if signature is not None:
        headers["HTTP_X_HUB_SIGNATURE_256"] = signature
    return client.post("/hooks/github", body, content_type="application/json", **headers)


def test_a_merge_marks_the_pull_request_merged_and_refreshes_the_snapshot(github_client, pull_request, refreshes,
                                                                          django_capture_on_commit_callbacks):
    heard = []
    pull_request_merged.connect(lambda sender, pull_request, **kw: heard.append(pull_request.state), weak=False,
                                dispatch_uid="test-webhook-merged")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = deliver(github_client, "pull_request",
                               pull_payload("closed", state="closed", merged=True, merged_by="priya"))
    finally:
        pull_request_merged.disconnect(dispatch_uid="test-webhook-merged")

    assert response.status_code == 200
    pull_request.refresh_from_db()
    assert (pull_request.state, pull_request.merged_by) == (PullRequestState.MERGED, "priya")
    assert pull_request.merged_at is not None
    assert list(pull_request.events.values_list("kind", "actor")) == [(PullRequestEventKind.MERGED, "priya")]
    assert heard == [PullRequestState.MERGED]
    assert refreshes == ["refresh"]
    assert AuditEvent.objects.filter(action="pullrequest.merged", target=f"pullrequest:{pull_request.uuid}").exists()


def test_a_close_without_merge_closes_the_pull_request(github_client, pull_request, refreshes):
    heard = []
    pull_request_closed.connect(lambda sender, pull_request, **kw: heard.append(pull_request.number), weak=False,
                                dispatch_uid="test-webhook-closed")
    try:
        response = deliver(github_client, "pull_request", pull_payload("closed", state="closed", sender="dana"))
    finally:
        pull_request_closed.disconnect(dispatch_uid="test-webhook-closed")

    assert response.status_code == 200
    pull_request.refresh_from_db()
    assert pull_request.state == PullRequestState.CLOSED and pull_request.closed_at is not None
    assert heard == [7] and refreshes == []
    assert list(pull_request.events.values_list("kind", "actor")) == [(PullRequestEventKind.CLOSED, "dana")]


def test_new_commits_update_the_head(github_client, pull_request):
    deliver(github_client, "pull_request", pull_payload("synchronize", head=NEW_HEAD))

    pull_request.refresh_from_db()
    assert pull_request.head_sha == NEW_HEAD
    assert pull_request.events.get().kind == PullRequestEventKind.UPDATED


def test_a_pull_request_opened_on_github_is_recorded_with_its_task(github_client):
    response = deliver(github_client, "pull_request", pull_payload("opened", number=12))

    assert response.status_code == 200
    row = PullRequest.objects.get(number=12)
    assert (row.provider, row.state, str(row.task)) == ("github", "open", TASK)


def test_a_redelivery_is_answered_without_effect(github_client, pull_request, refreshes):
    delivery = str(uuid.uuid4())
    payload = pull_payload("closed", state="closed")
    deliver(github_client, "pull_request", payload, delivery=delivery)
    PullRequest.objects.filter(pk=pull_request.pk).update(state=PullRequestState.OPEN)  # would be closed again

    response = deliver(github_client, "pull_request", payload, delivery=delivery)

    assert response.status_code == 200 and "already processed" in response.json()["message"]
    pull_request.refresh_from_db()
    assert pull_request.state == PullRequestState.OPEN
    assert pull_request.events.count() == 1
    assert WebhookDelivery.objects.get().delivery_id == delivery


def test_a_bad_signature_is_refused(github_client, pull_request):
    response = deliver(github_client, "pull_request", pull_payload("closed", state="closed"), secret="not-the-secret")

    assert response.status_code == 401
    assert "does not match" in response.json()["message"]
    pull_request.refresh_from_db()
    assert pull_request.state == PullRequestState.OPEN and not WebhookDelivery.objects.exists()


def test_a_missing_signature_is_refused(github_client, pull_request):
    response = deliver(github_client, "pull_request", pull_payload("closed", state="closed"), secret=None)

    assert response.status_code == 401
    assert "X-Hub-Signature-256" in response.json()["message"]
    assert not WebhookDelivery.objects.exists()


def test_a_signature_over_another_body_is_refused(github_client, pull_request):
    signed = json.dumps(pull_payload("synchronize")).encode()
    forged = "sha256=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()

    response = deliver(github_client, "pull_request", pull_payload("closed", state="closed"), signature=forged)

    assert response.status_code == 401


def test_without_a_secret_the_hook_is_off_and_says_which_setting(github_client, settings):
    settings.PORTAL_GITHUB_WEBHOOK_SECRET = ""

    response = deliver(github_client, "ping", {"zen": "Keep it logically awesome."})

    assert response.status_code == 503
    assert "PORTAL_GITHUB_WEBHOOK_SECRET" in response.json()["message"]


def test_a_ping_is_answered(github_client):
    response = deliver(github_client, "ping", {"zen": "Design for failure.", "hook_id": 1})

    assert response.status_code == 200 and response.json() == {"message": "pong"}


def test_a_push_to_the_default_branch_refreshes_the_snapshot(github_client, refreshes,
                                                             django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        main = deliver(github_client, "push", {"ref": "refs/heads/main", "repository": {"full_name": REPOSITORY}})
        other = deliver(github_client, "push", {"ref": "refs/heads/portal/churn-model",
                                                "repository": {"full_name": REPOSITORY}})

    assert main.status_code == other.status_code == 200
    assert refreshes == ["refresh"]


def test_another_repositorys_delivery_changes_nothing(github_client, pull_request):
    response = deliver(github_client, "pull_request",
                       pull_payload("closed", state="closed", repository="someone/elsewhere"))

    assert response.status_code == 200 and "Ignored" in response.json()["message"]
    pull_request.refresh_from_db()
    assert pull_request.state == PullRequestState.OPEN


def test_only_post_is_allowed(github_client):
    assert github_client.get("/hooks/github").status_code == 405


def test_a_check_run_event_reads_the_pull_requests_checks_from_github(github_client, settings, pull_request):
    from deployments.tests.github_fake import serve

    with serve(settings) as fake:
        fake.seed({"catalog-info.yaml": b"kind: Location\n"})
        sha = fake.head("main")
        PullRequest.objects.filter(pk=pull_request.pk).update(head_sha=sha)
        fake.add_check_run(sha, "guardrails", conclusion="failure")
        payload = {"action": "completed", "repository": {"full_name": REPOSITORY},
                   "check_run": {"head_sha": sha, "name": "guardrails", "pull_requests": [{"number": 7}]}}

        response = deliver(github_client, "check_run", payload)
        other = deliver(github_client, "check_suite", {**payload, "check_suite": {"head_sha": "d" * 40,
                                                                                   "pull_requests": [{"number": 7}]}})

        assert fake.count("GET", "/commits/") == 1  # the suite of another commit is not read
    pull_request.refresh_from_db()
    assert response.status_code == 200 and "#7" in response.json()["message"]
    assert other.status_code == 200
    assert (pull_request.checks_summary["total"], pull_request.checks_summary["failed"]) == (1, 1)
