"""The Right-sizing page (every flagged endpoint with its suggestion and saving, for everyone
signed in, filtered by owner or cost centre) and the Right-sizing panel on an endpoint's page.

The "Open a pull request" button posts the suggestion to the endpoint's "Change resources" flow
(`deployments:endpoint_change`), which shows it filled in with its preview; the flow opens the
pull request. Only the owning group's members and admins see the button, and the flow checks
again on the server.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from deployments import changes, rightsizing
from portal import identity

PANEL_TEMPLATE = "deployments/partials/rightsizing_panel.html"


def _method(on=None) -> dict:
    first, last = rightsizing.window(on)
    return {
        "threshold": settings.PORTAL_RIGHTSIZING_THRESHOLD,
        "days": settings.PORTAL_RIGHTSIZING_DAYS,
        "min_days": rightsizing.min_days(),
        "first": first,
        "last": last,
    }


def _with_buttons(found: list[rightsizing.Suggestion], user) -> list[tuple[rightsizing.Suggestion, bool]]:
    return [(item, bool(item.change_kwargs) and identity.can_change(user, item.owner_ref)) for item in found]


def rightsizing_list(request: HttpRequest) -> HttpResponse:
    """Every flagged endpoint, largest saving first."""
    filterset = rightsizing.RightsizingFilterSet(request.GET or None)
    queryset = filterset.qs if filterset.is_bound and filterset.is_valid() else filterset.queryset
    found = rightsizing.suggestions(queryset)
    context = {
        "filter": filterset,
        "rows": _with_buttons(found, request.user),
        "total_saving": sum((item.monthly_saving for item in found), start=Decimal(0)),
        "method": _method(),
        "filtered": bool(request.GET.get("owner") or request.GET.get("cost_center")),
    }
    return render(request, "deployments/rightsizing_list.html", context)


def rightsizing_panel(entity, request) -> tuple[str, dict] | None:
    """A model endpoint that asks for far more than it uses: the suggestion, the saving, the button."""
    if entity.kind.lower() != "component" or entity.type != "model-endpoint":
        return None
    from deployments.models import CostSnapshot

    found = rightsizing.suggestions(CostSnapshot.objects.filter(entity_ref=entity.ref))
    if not found:
        return None
    can_open = bool(changes.offered_flows(entity, request.user))
    return PANEL_TEMPLATE, {"rows": [(item, can_open) for item in found], "method": _method(), "entity": entity}


def register_panels() -> None:
    from catalog.panels import register_panel

    register_panel("rightsizing", 25, rightsizing_panel)
