"""The "Try it" panel on a Ready model endpoint's page, and the page that sends its request.

The entity page renders a shell that loads the panel at once (the page itself makes no extra
query). The panel reads the database only: the poller's InferenceService row and the saved
example. Sending is an explicit POST (CSRF-protected) by a member of the owning group or an
admin; the request goes out from the server (deployments.tryit) to the URL stored on the row.
Everyone else sees the saved example, read-only. With htmx the form swaps the panel in place;
without JavaScript the same form posts to the panel's own page.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_http_methods

from catalog.models import Entity
from deployments import tryit
from deployments.models import InferenceProtocol
from portal import audit, identity

PANEL = "deployments/partials/try_it.html"
SHELL = "deployments/partials/try_it_shell.html"
PAGE = "deployments/try_it.html"
#: While the endpoint is not Ready, the hidden panel asks again this often.
WAIT_SECONDS = 10


def is_endpoint(entity) -> bool:
    return entity.kind.lower() == "component" and entity.type == "model-endpoint"


def _endpoint_or_404(uid) -> Entity:
    entity = Entity.objects.filter(uid=uid).first()
    if entity is None or not is_endpoint(entity):
        raise Http404("No model endpoint with this uid.")
    return entity


_UNREAD = object()


def panel_context(request, entity, *, protocol=None, payload=None, outcome=None, error="", saved=None,
                  target=_UNREAD, example=_UNREAD) -> dict:
    """What the panel shows: two queries (the InferenceService row, the saved example), fewer when
    the caller already read them."""
    if target is _UNREAD:
        target = tryit.target_for(entity)
    if example is _UNREAD:
        example = tryit.example_for(entity)
    if protocol is None:
        protocol = example.protocol if example is not None else InferenceProtocol.V1
    if payload is None:
        payload = example.payload if example is not None and example.protocol == protocol else tryit.default_payload(protocol)
    return {
        "entity": entity,
        "target": target,
        "example": example,
        "may_send": identity.can_change(request.user, entity.owner_ref),
        "owner": entity.owner_ref.split("/")[-1] if entity.owner_ref else "the owning group",
        "protocols": InferenceProtocol.choices,
        "protocol": protocol,
        "payload": payload,
        # Tall enough for the example without scrolling, never taller than a screen.
        "rows": min(max(payload.count("\n") + 2, 6), 20),
        # Both, the page shows the one the protocol picker names (CSS, no script).
        "urls": {value: target.url(value) for value in InferenceProtocol.values} if target else {},
        "outcome": outcome,
        "error": error,
        "saved": saved,
        "wait_seconds": WAIT_SECONDS,
        "max_bytes": tryit.size_words(_max_bytes()),
    }


def _max_bytes() -> int:
    from django.conf import settings

    return settings.PORTAL_TRY_IT_MAX_BYTES


def _respond(request, context: dict, status: int = 200) -> HttpResponse:
    if request.htmx:
        # htmx swaps only 2xx answers: the panel carries the error in words instead.
        response = render(request, PANEL, {"panel": context})
    else:
        response = render(request, PAGE, {"panel": context, "entity": context["entity"]}, status=status)
    response["Cache-Control"] = "no-store"
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@require_http_methods(["GET", "POST"])
def endpoint_try_it(request: HttpRequest, uid) -> HttpResponse:
    """GET: the panel (its fragment with HX-Request). POST: send the request, save it as the
    example, or load the example for the chosen protocol."""
    entity = _endpoint_or_404(uid)
    if request.method == "GET":
        return _respond(request, panel_context(request, entity))

    action = request.POST.get("action", "send")
    if not identity.can_change(request.user, entity.owner_ref):
        raise PermissionDenied(
            f"Only members of {entity.owner_ref or 'the owning group'} and platform admins may send requests to {entity.name}."
        )
    protocol = request.POST.get("protocol", InferenceProtocol.V1)
    payload = request.POST.get("payload", "")
    if protocol not in InferenceProtocol.values:
        return _respond(request, panel_context(request, entity, protocol=InferenceProtocol.V1, payload=payload,
                                               error=f"Protocol: choose {' or '.join(InferenceProtocol.labels)}."), 400)
    if action == "example":
        return _respond(request, panel_context(request, entity, protocol=protocol))
    try:
        payload = tryit.check_payload(payload, protocol)
    except tryit.PayloadError as exc:
        return _respond(request, panel_context(request, entity, protocol=protocol, payload=payload, error=str(exc)), 400)

    if action == "save":
        example = tryit.save_example(entity, protocol, payload, request.user)
        audit.record(request.user, "endpoint.example_saved", entity.ref.lower(), protocol=protocol,
                     size=len(payload.encode("utf-8")))
        return _respond(request, panel_context(request, entity, protocol=protocol, payload=payload, saved=True,
                                               example=example))

    target = tryit.target_for(entity)
    if target is None:
        return _respond(request, panel_context(
            request, entity, protocol=protocol, payload=payload, target=None,
            error=f"{entity.name} is not Ready (or has no URL yet): there is nothing to send the request to."), 409)
    outcome = tryit.try_endpoint(target, protocol, payload)
    # Who tried which endpoint and what came back; never the body sent or received.
    audit.record(request.user, "endpoint.tried", entity.ref.lower(), protocol=protocol,
                 status=outcome.status_code, latency_ms=outcome.latency_ms, error=outcome.error[:200])
    return _respond(request, panel_context(request, entity, protocol=protocol, payload=payload, outcome=outcome,
                                           target=target))


def try_it_panel(entity, request) -> tuple[str, dict] | None:
    """A shell that loads the panel at once: the entity page itself makes no extra query."""
    if not is_endpoint(entity):
        return None
    return SHELL, {"entity": entity}


def register_panels() -> None:
    from catalog.panels import register_panel

    # After the live status (5), before the change panel (10).
    register_panel("try-it", 7, try_it_panel)
