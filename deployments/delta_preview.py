"""The preview's "Resources and cost" section: what the change asks for, before and after, and
about how much it would cost a month (after the Guardrails section)."""

from __future__ import annotations

import logging

from deployments.delta import change_delta
from scaffolder.preview import PreviewContext, PreviewSection, contributor

logger = logging.getLogger(__name__)

TEMPLATE = "deployments/partials/delta_preview.html"


@contributor("delta", order=30)
def delta_section(context: PreviewContext) -> PreviewSection | None:
    """The resource and cost delta of the files the task would commit."""
    result = context.result
    files = (result.get("files") if isinstance(result, dict) else getattr(result, "files", None)) or {}
    base = {"name": "delta", "title": "Resources and cost", "template_name": TEMPLATE}
    try:
        delta = change_delta(files)
    except Exception as error:  # an estimate that cannot run is said so, never shown as $0
        logger.info("delta.preview_failed", exc_info=True)
        return PreviewSection(**base, context={"failed": str(error) or error.__class__.__name__},
                              status="bad", summary="could not estimate")
    if delta.errors:
        status = "bad"
    elif delta.flags:
        status = "warn"
    else:
        status = "ok" if delta.rows else ""
    return PreviewSection(**base, context=delta.context(), status=status, summary=delta.summary())
