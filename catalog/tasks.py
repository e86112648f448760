"""Celery entry points of the catalog. Thin: the work lives in catalog.ingestion."""

from __future__ import annotations

from celery import shared_task

from catalog import ingestion


@shared_task(name="catalog.refresh_locations", soft_time_limit=600, time_limit=660)
def refresh_locations() -> dict:
    """Re-read every location from the current snapshot (the API's `POST /refresh`)."""
    reports = ingestion.refresh_all()
    return {
        "locations": len(reports),
        "added": sum(r.added for r in reports),
        "updated": sum(r.updated for r in reports),
        "orphaned": sum(r.orphaned for r in reports),
        "errors": sum(len(r.errors) for r in reports),
    }
