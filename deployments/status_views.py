"""The "Live status" panel on a model endpoint's page, and the fragment it polls while things move.

Both read the database only (the poller writes it). The fragment answers 286 once the endpoint is
ready and synced with nothing in flight, which tells htmx to stop polling.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from catalog.models import Entity
from deployments.live import live_status

TEMPLATE = "deployments/partials/live_status.html"
SHELL = "deployments/partials/live_status_shell.html"
#: htmx stops polling an element whose request answers 286.
STOP_POLLING = 286
POLL_SECONDS = 5


def is_endpoint(entity) -> bool:
    return entity.kind.lower() == "component" and entity.type == "model-endpoint"


def panel_context(entity) -> dict:
    live = live_status(entity)
    return {"live": live, "entity": entity, "poll_seconds": POLL_SECONDS}


def live_status_panel(entity, request) -> tuple[str, dict] | None:
    """A shell that loads the fragment at once: the entity page itself makes no extra query."""
    if not is_endpoint(entity):
        return None
    return SHELL, {"entity": entity}


@login_required
@require_GET
def endpoint_status(request, uid):
    """The panel alone, for htmx polling; 286 (stop polling) once the endpoint has settled."""
    entity = Entity.objects.filter(uid=uid).first()
    if entity is None or not is_endpoint(entity):
        raise Http404("No model endpoint with this uid.")
    context = panel_context(entity)
    response = render(request, TEMPLATE, {"panel": context})
    if request.headers.get("HX-Request") and context["live"].settled:
        response.status_code = STOP_POLLING
    patch_vary_headers(response, ["HX-Request"])
    return response


def register_panels() -> None:
    from catalog.panels import register_panel

    register_panel("live-status", 5, live_status_panel)
