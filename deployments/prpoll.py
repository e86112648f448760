"""Pull-request state from GitHub: the poller, and the one place that state reaches the rows.

GitHub tells the portal about pull requests in two ways: the `/hooks/github` webhook and,
for installations without webhooks, this poller (a beat task every PORTAL_POLL_SECONDS).
Both hand what GitHub said to `apply`, which writes a row, a timeline event and the signals
only when something changed, with the same transitions the local back end makes.

One poll of a repository is one paginated list (`state=all&sort=updated&direction=desc`)
that stops at the last poll's cursor, plus one GET for each pull request that left `open`
(the list does not say who merged it), plus one read of the check runs of each open pull
request whose head commit the portal has not read checks for yet (`checks_summary["sha"]`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from deployments.choices import PullRequestEventKind, PullRequestState
from deployments.gitops.base import (
    PermanentError,
    PullRequestInfo,
    TransientError,
    marker_in_body,
    task_uuid,
)
from deployments.models import PullRequest, PullRequestEvent, PullRequestPoll
from deployments.pullrequests import pull_request_closed, pull_request_merged
from portal import audit
from portal.repository import get_provider
from portal.tasks import refresh_snapshot

log = structlog.get_logger(__name__)

#: How long a poll may hold its repository before another worker may take it over.
POLL_LEASE_SECONDS = 90
#: The actor of timeline entries when GitHub does not say who acted.
GITHUB_ACTOR = "github"


@dataclass(frozen=True)
class PollResult:
    listed: int = 0
    fetched: int = 0
    changed: int = 0
    checks: int = 0
    skipped: str = ""


def poll(provider=None) -> PollResult:
    """Bring the rows of the provider's repository up to GitHub's state; safe to run concurrently."""
    provider = provider or get_provider()
    now = timezone.now()
    state, _ = PullRequestPoll.objects.get_or_create(provider=provider.name, repository=provider.repository)
    claimed = PullRequestPoll.objects.filter(
        Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now), pk=state.pk
    ).update(next_poll_at=now + timedelta(seconds=POLL_LEASE_SECONDS))
    if not claimed:
        return PollResult(skipped="another poll holds the repository, or GitHub asked to wait")
    # The first poll reaches back as far as the portal keeps history.
    since = state.cursor or now - timedelta(days=settings.PORTAL_RETENTION_DAYS)
    try:
        result, cursor = _poll(provider, since)
    except TransientError as error:
        wait = error.retry_after or settings.PORTAL_POLL_SECONDS
        PullRequestPoll.objects.filter(pk=state.pk).update(
            next_poll_at=timezone.now() + timedelta(seconds=wait), last_error=str(error), last_error_at=timezone.now()
        )
        raise
    except Exception as error:
        PullRequestPoll.objects.filter(pk=state.pk).update(
            next_poll_at=None, last_error=str(error), last_error_at=timezone.now()
        )
        raise
    PullRequestPoll.objects.filter(pk=state.pk).update(
        cursor=max(filter(None, [cursor, state.cursor]), default=None), polled_at=now, next_poll_at=None,
        last_error="", last_error_at=None,
    )
    if result.changed:
        log.info("pull requests polled", repository=provider.repository, listed=result.listed,
                 fetched=result.fetched, changed=result.changed)
    return result


def _poll(provider, since: datetime) -> tuple[PollResult, datetime | None]:
    listed = provider.list_pull_requests("all", updated_since=since)
    rows = {
        row.number: row
        for row in PullRequest.objects.filter(
            provider=provider.name, repository=provider.repository, number__in=[info.number for info in listed]
        )
    }
    fetched = changed = checks = 0
    for info in listed:
        row = rows.get(info.number)
        if row is not None and row.state == PullRequestState.OPEN and info.state != PullRequestState.OPEN:
            info = provider.get_pull_request(info.number)  # merged or not, and by whom
            fetched += 1
        if apply(info, provider=provider.name, repository=provider.repository, row=row):
            changed += 1
        if (info.state == PullRequestState.OPEN and info.head_sha
                and (row.checks_summary if row is not None else {}).get("sha") != info.head_sha):
            checks += bool(refresh_checks(provider, info.number, info.head_sha))
    cursor = max((info.updated_at for info in listed if info.updated_at), default=None)
    return PollResult(listed=len(listed), fetched=fetched, changed=changed, checks=checks), cursor


def refresh_checks(provider, number: int, sha: str) -> bool:
    """Read the check runs of a pull request's head commit into its row; False when the provider has none.

    Checks the portal may not read (a token without checks access) are recorded as an error
    for that commit, so the poller does not ask again until a new commit arrives.
    """
    check_runs = getattr(provider, "check_runs", None)
    if check_runs is None:
        return False
    try:
        summary = check_runs(sha)
    except TransientError:
        raise
    except PermanentError as error:
        summary = {"sha": sha, "error": str(error)}
    # Only onto the head it belongs to: a newer commit's checks are never replaced by older ones.
    PullRequest.objects.filter(provider=provider.name, repository=provider.repository, number=number,
                               head_sha=sha).update(checks_summary=summary)
    return True


def apply(info: PullRequestInfo, *, provider: str, repository: str, actor: str = "",
          row: PullRequest | None = None) -> str:
    """Write what GitHub says about one pull request; returns what changed in words ('' when nothing).

    Transitions are conditional UPDATEs, so the webhook and the poller seeing the same merge
    write one event and send one signal.
    """
    if row is None:
        row = PullRequest.objects.filter(provider=provider, repository=repository, number=info.number).first()
    if row is None:
        return _record(info, provider, repository, actor)
    rows = PullRequest.objects.filter(pk=row.pk)
    now = timezone.now()
    when = info.updated_at or now
    done = []
    details = {
        field: value
        for field, value in (("title", info.title), ("body", info.body), ("labels", info.labels), ("draft", info.draft),
                             ("url", info.url))
        if value != getattr(row, field)
    }
    if details:
        rows.update(**details)
    if info.state == PullRequestState.MERGED:
        if rows.exclude(state=PullRequestState.MERGED).update(
            state=PullRequestState.MERGED, merged_by=info.merged_by, merged_at=info.merged_at or when,
            closed_at=info.merged_at or when, head_sha=info.head_sha or row.head_sha, updated_at=when,
        ):
            done.append(_transition(row, PullRequestEventKind.MERGED, info.merged_by or actor,
                                    f"into {row.base}", pull_request_merged))
            transaction.on_commit(refresh_snapshot.delay)
    elif info.state == PullRequestState.CLOSED:
        if rows.filter(state=PullRequestState.OPEN).update(state=PullRequestState.CLOSED, closed_at=when,
                                                           updated_at=when):
            done.append(_transition(row, PullRequestEventKind.CLOSED, actor, "", pull_request_closed))
    else:
        try:
            with transaction.atomic():
                reopened = rows.filter(state=PullRequestState.CLOSED).update(
                    state=PullRequestState.OPEN, closed_at=None, updated_at=when)
        except IntegrityError:  # another open row holds the branch: GitHub's list will close it
            reopened = 0
        if reopened:
            PullRequestEvent.objects.create(pull_request=row, kind=PullRequestEventKind.OPENED,
                                            actor=actor or GITHUB_ACTOR, message="reopened", created_at=now)
            done.append("reopened")
        if info.head_sha and rows.filter(state=PullRequestState.OPEN).exclude(head_sha=info.head_sha).update(
            head_sha=info.head_sha, updated_at=when
        ):
            PullRequestEvent.objects.create(pull_request=row, kind=PullRequestEventKind.UPDATED,
                                            actor=actor or GITHUB_ACTOR, message=f"New commit {info.head_sha[:8]}",
                                            created_at=now)
            done.append(f"new commit {info.head_sha[:8]}")
    if not done and details:
        done.append("details updated")
    return f"pull request #{info.number} " + ", ".join(done) if done else ""


def _transition(row: PullRequest, kind: str, actor: str, message: str, signal) -> str:
    """The timeline entry, the audit record and the signal of a merge or a close seen on GitHub."""
    row.refresh_from_db()
    PullRequestEvent.objects.create(pull_request=row, kind=kind, actor=actor or GITHUB_ACTOR, message=message,
                                    created_at=timezone.now())
    audit.record(None, f"pullrequest.{kind}", f"pullrequest:{row.uuid}", number=row.number, branch=row.branch,
                 base=row.base, by=actor or GITHUB_ACTOR, source="github")
    signal.send(sender=PullRequest, pull_request=row)
    return str(kind)


def _record(info: PullRequestInfo, provider: str, repository: str, actor: str) -> str:
    """A pull request the portal has not seen yet (opened on GitHub, or its answer was lost)."""
    now = timezone.now()
    terminal = info.state in PullRequestState.TERMINAL
    try:
        with transaction.atomic():
            row = PullRequest.objects.create(
                provider=provider, repository=repository, number=info.number, url=info.url, branch=info.branch,
                base=info.base, head_sha=info.head_sha, title=info.title, body=info.body, labels=list(info.labels),
                draft=info.draft, state=info.state, merged_by=info.merged_by, merged_at=info.merged_at,
                closed_at=(info.merged_at or info.updated_at) if terminal else None,
                task=task_uuid(marker_in_body(info.body) or ""), created_at=info.created_at or now,
                updated_at=info.updated_at or now,
            )
            PullRequestEvent.objects.create(pull_request=row, kind=PullRequestEventKind.OPENED,
                                            actor=actor or GITHUB_ACTOR, message=f"{info.branch} → {info.base}",
                                            created_at=info.created_at or now)
    except IntegrityError:
        # Saved meanwhile by open_change, the webhook or another poll: apply to that row instead.
        row = PullRequest.objects.filter(provider=provider, repository=repository, number=info.number).first()
        if row is None:
            return ""  # an older open row holds the branch; a later poll sorts it out
        return apply(info, provider=provider, repository=repository, actor=actor, row=row)
    return f"pull request #{info.number} recorded ({info.state})"
