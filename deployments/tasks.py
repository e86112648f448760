"""Celery entry points of the deployments app. Thin: the work lives in domain modules."""

from __future__ import annotations

import structlog
from celery import shared_task
from celery.signals import beat_init
from django.conf import settings

from deployments import prpoll
from deployments.guardrails import scan
from portal.repository import PermanentError, TransientError

log = structlog.get_logger(__name__)


@shared_task(
    name="deployments.scan_guardrails",
    # No route in settings.CELERY_TASK_ROUTES: the `default` queue, for quick housekeeping.
    acks_late=True,
    # Every app on the snapshot through the policies, quotas and schemas: seconds, even for thousands.
    soft_time_limit=120,
    time_limit=150,
)
def scan_guardrails(scan_pk: int) -> str | None:
    """Claim the guardrail scan and run it; nothing happens when it is gone, finished or taken."""
    finished = scan.run_scan(scan_pk)
    return finished.status if finished is not None else None


@shared_task(
    # Routed to the `poll` queue by settings.CELERY_TASK_ROUTES (deployments.poll_*).
    name="deployments.poll_pull_requests",
    # One paginated list and a GET per pull request that closed: seconds, even for thousands.
    soft_time_limit=60,
    time_limit=90,
)
def poll_pull_requests() -> str:
    """Bring the GitHub pull requests' rows up to date, for installations without webhooks.

    The local provider's rows are its pull requests: there is nothing to poll. A passing
    failure waits for the next beat (or for the wait GitHub asked for); it is not retried here.
    """
    if settings.PORTAL_GITOPS_PROVIDER != "github":
        return "skipped: the local provider has nothing to poll"
    try:
        result = prpoll.poll()
    except TransientError as exc:
        log.warning("pull-request poll deferred", error=str(exc), retry_after=exc.retry_after)
        return "deferred"
    except PermanentError as exc:
        log.error("pull-request poll failed", error=str(exc))
        return "failed"
    return result.skipped or f"{result.changed} changed of {result.listed}"


@shared_task(
    # Routed to the `poll` queue by settings.CELERY_TASK_ROUTES (deployments.poll_*).
    name="deployments.poll_status",
    # A few list calls per cluster, each with a 30 s read timeout: a cycle never outlives two beats.
    soft_time_limit=60,
    time_limit=90,
)
def poll_status() -> str:
    """One status poll cycle on every cluster: Applications, InferenceServices and quotas.

    An unreachable cluster is recorded on its ClusterPoll row and its status rows go stale;
    nothing is retried here, the next beat polls again.
    """
    from deployments import status, tryit

    results = status.poll_all()
    # An endpoint that just became Ready gets its first response timed, on the default queue.
    if tryit.pending_first_responses().exists():
        probe_first_responses.delay()
    return "; ".join(
        f"{r.cluster}: {r.error}" if r.error else f"{r.cluster}: {r.seen} seen, {r.written} written, {r.events} events"
        for r in results
    ) or "no cluster configured"


@shared_task(
    # No route in settings.CELERY_TASK_ROUTES: the `default` queue, for quick housekeeping.
    name="deployments.prune_status_events",
    # Two indexed DELETEs (StatusEvent.created_at, WebhookDelivery.received_at).
    soft_time_limit=60,
    time_limit=90,
)
def prune_status_events() -> str:
    """Forget status events and GitHub webhook deliveries older than PORTAL_RETENTION_DAYS
    (timelines keep the rest)."""
    from deployments import status, webhooks

    events, deliveries = status.prune_events(), webhooks.prune_deliveries()
    return f"{events} status events and {deliveries} webhook deliveries pruned"


@shared_task(
    # No route in settings.CELERY_TASK_ROUTES: the `default` queue, so a slow model server
    # never delays a status poll.
    name="deployments.probe_first_responses",
    # At most tryit.FIRST_RESPONSE_BATCH requests, each with PORTAL_TRY_IT_TIMEOUT.
    soft_time_limit=300,
    time_limit=330,
)
def probe_first_responses() -> str:
    """Time the first response of each endpoint that just became Ready, once per InferenceService."""
    from deployments import tryit

    recorded = tryit.probe_first_responses()
    return f"{recorded} first response{'' if recorded == 1 else 's'} recorded"


@shared_task(
    # Routed to the `poll` queue by settings.CELERY_TASK_ROUTES (deployments.poll_*).
    name="deployments.poll_costs",
    # Three allocation queries per cluster, each with a 10 s read timeout and two retries on failure.
    soft_time_limit=240,
    time_limit=270,
)
def poll_costs() -> str:
    """Yesterday's and today's figures from every cluster's OpenCost, replacing those days' rows.

    An OpenCost that cannot be asked is recorded on the cluster's CostPoll and its figures stay
    as they were (shown with their age); the next beat asks again.
    """
    from deployments.costs import fetch

    results = fetch.poll_all()
    return "; ".join(
        f"{r.cluster}: {r.error or r.skipped or f'{r.rows} rows for {len(r.days)} days to {r.days[-1]}'}" for r in results
    ) or "no cluster configured"


@shared_task(
    # No route in settings.CELERY_TASK_ROUTES: the `default` queue, for quick housekeeping.
    name="deployments.rollup_costs",
    soft_time_limit=120,
    time_limit=150,
)
def rollup_costs() -> str:
    """Cost snapshots older than PORTAL_RETENTION_DAYS added into their month's rows, then deleted."""
    from deployments.costs import fetch

    rolled, months = fetch.rollup()
    return f"{rolled} cost snapshots rolled up into {months} monthly rows"


@beat_init.connect
def fetch_costs_when_beat_starts(sender=None, **kwargs) -> None:
    """Ask OpenCost once shortly after beat starts: the schedule's first fetch would otherwise come
    a whole PORTAL_COST_POLL_SECONDS later (15 minutes with no costs on a fresh `make run`). The
    delay lets a cluster started alongside (the sandbox in development) begin answering."""
    poll_costs.apply_async(countdown=COST_FETCH_AFTER_BEAT_START)


#: Seconds between beat starting and its first cost fetch.
COST_FETCH_AFTER_BEAT_START = 15
