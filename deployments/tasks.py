"""Celery entry points of the deployments app. Thin: the work lives in domain modules."""

from __future__ import annotations

from celery import shared_task

from deployments.guardrails import scan


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

