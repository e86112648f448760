"""Celery entry points of the portal core. Thin: the work lives in service modules."""

from __future__ import annotations

import structlog
from celery import shared_task
from django.dispatch import Signal

from portal import snapshot
from portal.repository import PermanentError, TransientError

log = structlog.get_logger(__name__)

#: Sent after the snapshot moved to a new commit; the catalog re-reads its locations.
snapshot_changed = Signal()


@shared_task(
    name="portal.refresh_snapshot",
    autoretry_for=(TransientError,),
    retry_backoff=5,
    retry_backoff_max=120,
    max_retries=5,
    soft_time_limit=120,
    time_limit=150,
)
def refresh_snapshot() -> str:
    """Bring the repository snapshot to the default branch's head; tell readers when it moved."""
    try:
        result = snapshot.refresh()
    except PermanentError as exc:
        snapshot.record_error(str(exc))
        log.error("snapshot refresh failed", error=str(exc))
        return "failed"
    if result.changed_anything:
        snapshot_changed.send(sender=refresh_snapshot, result=result)
    return result.commit_sha
