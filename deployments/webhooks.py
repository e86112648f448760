"""`/hooks/github`: GitHub's webhook deliveries for the GitOps repository.

Anonymous and CSRF-exempt, authenticated by HMAC instead: `X-Hub-Signature-256` is the
SHA-256 HMAC of the raw body with PORTAL_GITHUB_WEBHOOK_SECRET, compared in constant time.
Each delivery is recorded by its `X-GitHub-Delivery` id in the transaction that applies it,
so a redelivery of a processed delivery answers 200 and changes nothing.

- `pull_request`: the row follows GitHub (opened, new commits, merged or closed), through
  the same transitions and signals as the poller; a merge refreshes the snapshot.
- `push` to the default branch: the snapshot is refreshed.
- `check_run` and `check_suite`: the checks of the pull requests they name are read again.
- `ping`: answered.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta

import structlog
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from deployments import prpoll
from deployments.gitops.base import PermanentError, TransientError
from deployments.gitops.github import info_from_github
from deployments.models import PullRequest, WebhookDelivery
from portal.repository import get_provider
from portal.tasks import refresh_snapshot

log = structlog.get_logger(__name__)

PROVIDER = "github"


@csrf_exempt
@login_not_required
@require_POST
def github(request: HttpRequest) -> JsonResponse:
    # Reference: https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
    secret = settings.PORTAL_GITHUB_WEBHOOK_SECRET
    if not secret:
        return _answer(503, "GitHub webhooks are off: set PORTAL_GITHUB_WEBHOOK_SECRET to the secret of the webhook "
                            "configured on GitHub.")
    signature = request.headers.get("X-Hub-Signature-256", "")
    if not signature:
        return _answer(401, "The X-Hub-Signature-256 header is missing: configure the webhook on GitHub with a secret.")
    expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        log.warning("webhook signature mismatch", delivery=request.headers.get("X-GitHub-Delivery", ""))
        return _answer(401, "The X-Hub-Signature-256 signature does not match: the webhook's secret on GitHub "
                            "differs from PORTAL_GITHUB_WEBHOOK_SECRET.")
    delivery = request.headers.get("X-GitHub-Delivery", "")
    event = request.headers.get("X-GitHub-Event", "")
    if not delivery or not event:
        return _answer(400, "X-GitHub-Delivery and X-GitHub-Event are required.")
    try:
        payload = json.loads(request.body)
    except ValueError:
        return _answer(400, "The body is not JSON: set the webhook's content type to application/json.")
    if not isinstance(payload, dict):
        return _answer(400, "The body is not a JSON object.")
    if event == "ping":
        return _answer(200, "pong")
    named = ((payload.get("repository") or {}).get("full_name") or "").lower()
    if named != settings.PORTAL_GITHUB_REPOSITORY.lower():
        return _answer(200, f"Ignored: the portal watches {settings.PORTAL_GITHUB_REPOSITORY or 'no repository'}.")

    with transaction.atomic():
        try:
            with transaction.atomic():
                WebhookDelivery.objects.create(delivery_id=delivery[:64], event=event[:64],
                                               action=str(payload.get("action") or "")[:64])
        except IntegrityError:
            return _answer(200, f"Delivery {delivery} was already processed.")
        outcome = _handle(event, payload)
        WebhookDelivery.objects.filter(delivery_id=delivery[:64]).update(outcome=outcome[:500])
    log.info("webhook processed", delivery=delivery, github_event=event, outcome=outcome)
    return _answer(200, outcome)


def _handle(event: str, payload: dict) -> str:
    if event == "pull_request" and isinstance(payload.get("pull_request"), dict):
        info = info_from_github(payload["pull_request"])
        actor = (payload.get("sender") or {}).get("login") or ""
        changed = prpoll.apply(info, provider=PROVIDER, repository=settings.PORTAL_GITHUB_REPOSITORY, actor=actor)
        return changed or f"pull request #{info.number}: nothing changed"
    if event == "push":
        if payload.get("ref") != f"refs/heads/{settings.PORTAL_GITOPS_DEFAULT_BRANCH}":
            return f"push to {payload.get('ref')}: not the default branch"
        transaction.on_commit(refresh_snapshot.delay)
        return "snapshot refresh queued"
    if event in ("check_run", "check_suite") and isinstance(payload.get(event), dict):
        return _checks(payload[event])
    return f"{event}: not used by the portal"


def _checks(check: dict) -> str:
    """Read again the checks of the open pull requests whose head is the checked commit."""
    sha = str(check.get("head_sha") or "")
    numbers = [pull.get("number") for pull in check.get("pull_requests") or [] if isinstance(pull, dict)]
    rows = list(PullRequest.objects.filter(provider=PROVIDER, repository=settings.PORTAL_GITHUB_REPOSITORY,
                                           number__in=[n for n in numbers if isinstance(n, int)], head_sha=sha)
                .values_list("number", flat=True))
    if not sha or not rows:
        return "checks: no open pull request of the portal has this head"
    try:
        provider = get_provider()
        for number in rows:
            prpoll.refresh_checks(provider, number, sha)
    except (TransientError, PermanentError) as error:
        return f"checks of {sha[:8]} not read: {error}"
    return f"checks of {sha[:8]} read for pull request #{', #'.join(map(str, sorted(rows)))}"


def _answer(status: int, message: str) -> JsonResponse:
    return JsonResponse({"message": message}, status=status)


def prune_deliveries(now=None) -> int:
    """Forget deliveries older than PORTAL_RETENTION_DAYS; the number deleted. GitHub offers
    redelivery for a few days only, so an older id cannot come back."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.PORTAL_RETENTION_DAYS)
    deleted, _ = WebhookDelivery.objects.filter(received_at__lt=cutoff).delete()
    return deleted
