"""The preview's "Resources and cost" section: what the change asks for, before and after, about
how much it would cost a month (after the Guardrails section), and what it does to the month of
each cost centre with a budget: projected month-end spend without and with it, a warning when it
would go over, and, when the portal stops such changes, who may override (admins, with a
checkbox that travels with the form's Create button) and whom the others should ask."""

from __future__ import annotations

import logging

from deployments import budgets
from deployments.delta import change_delta
from portal import identity
from scaffolder.preview import PreviewContext, PreviewSection, contributor

logger = logging.getLogger(__name__)

TEMPLATE = "deployments/partials/delta_preview.html"


@contributor("delta", order=30)
def delta_section(context: PreviewContext) -> PreviewSection | None:
    """The resource and cost delta of the files the task would commit, with its budget effects."""
    result = context.result
    files = (result.get("files") if isinstance(result, dict) else getattr(result, "files", None)) or {}
    base = {"name": "delta", "title": "Resources and cost", "template_name": TEMPLATE}
    try:
        delta = budgets.with_effects(change_delta(files))
    except Exception as error:  # an estimate that cannot run is said so, never shown as $0
        logger.info("delta.preview_failed", exc_info=True)
        return PreviewSection(**base, context={"failed": str(error) or error.__class__.__name__},
                              status="bad", summary="could not estimate")
    over = [effect for effect in delta.budget_effects if effect.over]
    if delta.errors or any(effect.stops for effect in over):
        status = "bad"
    elif delta.flags or over:
        status = "warn"
    else:
        status = "ok" if delta.rows else ""
    summary = delta.summary()
    if over:
        summary += ", over budget"
    user = context.user
    data = {
        **delta.context(),
        "budget_stops": any(effect.stops for effect in over),
        "can_override": user is not None and identity.is_admin(user),
        "override_field": budgets.BUDGET_OVERRIDE,
        # The checkbox belongs to the form whose button creates the task: the template form's
        # review step holds the preview, the endpoint change page shows it after its form.
        "override_form": "change-form" if _is_endpoint_change(context) else "template-form",
        "admin_group": budgets.admin_group(),
    }
    return PreviewSection(**base, context=data, status=status, summary=summary)


def _is_endpoint_change(context: PreviewContext) -> bool:
    spec = (context.template_document or {}).get("spec") or {}
    return spec.get("type") == "endpoint-change"
