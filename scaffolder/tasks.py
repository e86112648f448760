"""Celery entry points of the scaffolder. Thin: the work lives in `scaffolder.runner`."""

from __future__ import annotations

import structlog
from celery import shared_task

from portal.repository import TransientError
from scaffolder import runner

log = structlog.get_logger(__name__)

#: Temporary errors (a timeout, a rate limit) are retried this many times, with backoff.
MAX_RETRIES = 5
#: Longest wait between two tries of a temporary error, in seconds.
MAX_BACKOFF = 300

@shared_task(
    bind=True,
    # Routed to the `scaffolder` queue by settings.CELERY_TASK_ROUTES (scaffolder.*).
    name="scaffolder.run_task",
    acks_late=True,
    max_retries=MAX_RETRIES,
    # A template's steps render files and open one pull request: minutes at most.
    soft_time_limit=600,
    time_limit=660,
)
def run_task(self, task_pk: int) -> str | None:
    """Claim the task and run its steps; nothing happens when it is gone, ended, or running elsewhere."""
    try:
        return runner.run(task_pk)
    except TransientError as exc:
        if self.request.retries >= self.max_retries:
            runner.give_up(task_pk, f"Gave up after {self.max_retries + 1} tries: {exc}")
            return None
        countdown = exc.retry_after or min(MAX_BACKOFF, 5 * 2**self.request.retries)
        log.info("task will be retried", task_pk=task_pk, countdown=countdown, error=str(exc))
        raise self.retry(exc=exc, countdown=countdown) from None
    except runner.LostClaim as exc:
        log.warning("task taken over by another worker", task_pk=task_pk, error=str(exc))
        return None


@shared_task(name="scaffolder.reap_stale_tasks", soft_time_limit=30, time_limit=45)
def reap_stale_tasks() -> int:
    """Re-queue processing tasks whose worker stopped responding (the claim takes them over)."""
    stale = runner.stale_task_pks()
    for task_pk in stale:
        run_task.delay(task_pk)
    if stale:
        log.warning("stale tasks re-queued", count=len(stale))
    return len(stale)
