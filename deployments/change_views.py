"""Pages for changing an existing model endpoint: one form per flow, its preview, and its start.

The form is the flow's one page of fields, pre-filled from the endpoint's manifest; "Preview"
dry-runs the flow, "Open pull request" starts it as a scaffolder task. Only the owning group's
members and admins reach it (403 otherwise); while another change to the endpoint is open, the
page says so with a link to it and nothing can start (409).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views import View

from catalog.models import Entity
from catalog.refs import entity_ref
from deployments import changes
from deployments.budgets import with_override


def _endpoint_or_404(namespace: str, kind: str, name: str) -> Entity:
    entity = Entity.objects.filter(ref=entity_ref(kind, namespace, name)).first()
    if entity is None or changes.app_name(entity) is None:
        raise Http404(f"No model endpoint {kind}:{namespace}/{name} in the catalog.")
    return entity


class EndpointChangeView(View):
    """GET: the flow's form (or why it cannot start). POST: preview or start it."""

    def get(self, request: HttpRequest, namespace: str, kind: str, name: str, flow: str) -> HttpResponse:
        entity, flow_ = self._allowed(request, namespace, kind, name, flow)
        return self._form(request, entity, flow_, changes.initial_values(entity, flow_.key))

    def post(self, request: HttpRequest, namespace: str, kind: str, name: str, flow: str) -> HttpResponse:
        from scaffolder import forms
        from scaffolder.services import ParameterError

        entity, flow_ = self._allowed(request, namespace, kind, name, flow)
        page = _flow_page(entity, flow_.key)
        values = forms.read_page(page, request.POST, changes.initial_values(entity, flow_.key))
        try:
            if request.POST.get("action") == "create":
                values = with_override(values, request)
                task = changes.start_change(entity, flow_.key, values, request.user)
                return redirect("scaffolder:task_detail", task_uuid=task.uuid)
            sections = changes.preview_change(entity, flow_.key, values, request.user)
        except ParameterError as error:
            return self._form(request, entity, flow_, values, errors=list(error.errors), status=400)
        except changes.ChangeRefused as refused:
            return self._form(request, entity, flow_, values, refused=refused, status=409)
        return self._form(request, entity, flow_, values, sections=sections)

    def _allowed(self, request, namespace, kind, name, flow):
        entity = _endpoint_or_404(namespace, kind, name)
        flow_ = changes.flow_or_404(flow)
        if not changes.offered_flows(entity, request.user):
            raise PermissionDenied(f"Only members of {entity.owner_ref or 'the owning group'} and admins may change {entity.name}.")
        return entity, flow_

    def _form(self, request, entity, flow, values, *, errors=(), sections=None, refused=None, status=200):
        from scaffolder import forms

        if refused is None and request.method == "GET":
            current = changes.open_change(entity)
            if current is not None:
                what, url = current
                refused = changes.ChangeRefused(
                    f"{entity.name} already has an open change: {what}. Merge or close it before starting another.", url
                )
                status = 409
        fields = forms.build_fields(_flow_page(entity, flow.key), values, list(errors), user=request.user)
        context = {
            "entity": entity, "flow": flow, "fields": fields, "errors": list(errors), "sections": sections,
            "refused": refused, "app": changes.app_name(entity), "validate_url": request.path + "/validate",
        }
        response = render(request, "deployments/endpoint_change.html", context, status=status)
        response["Cache-Control"] = "no-store"
        return response


def validate_change_field(request: HttpRequest, namespace: str, kind: str, name: str, flow: str) -> HttpResponse:
    """htmx: one field's error (or none) as the user types."""
    from scaffolder import forms, parameters

    if request.method != "POST":
        return HttpResponse(status=405)
    entity = _endpoint_or_404(namespace, kind, name)
    flow_ = changes.flow_or_404(flow)
    if not changes.offered_flows(entity, request.user):
        raise PermissionDenied("Only the owning group's members and admins may change this endpoint.")
    page = _flow_page(entity, flow_.key)
    values = forms.read_page(page, request.POST, changes.initial_values(entity, flow_.key))
    document = {"spec": {"parameters": [page]}}
    field_name = request.GET.get("field", "")
    message = next((e.message for e in parameters.validate_values(document, values) if e.field.split(".", 1)[0] == field_name), "")
    response = render(request, "scaffolder/partials/field_error.html",
                      {"field": forms.FormField(name=field_name, label="", widget="text", error=message)})
    response["Cache-Control"] = "no-store"
    return response


def _flow_page(entity: Entity, key: str) -> dict:
    return changes.flow_document(entity, key)["spec"]["parameters"][0]


def entity_actions_panel(entity: Entity, request: HttpRequest):
    """The entity page's "Change this endpoint" panel: (template, context), or None when the user may not change it."""
    from django.urls import reverse

    offered = changes.offered_flows(entity, request.user)
    if not offered:
        return None
    actions = [
        {"flow": flow, "url": reverse("deployments:endpoint_change", kwargs={
            "namespace": entity.namespace, "kind": entity.kind.lower(), "name": entity.name, "flow": flow.key})}
        for flow in offered
    ]
    return "catalog/partials/entity_actions.html", {"actions": actions, "open_change": changes.open_change(entity)}


def register_panels() -> None:
    """Put the "Change this endpoint" panel on entity pages, above the pull requests."""
    from catalog.panels import register_panel

    register_panel("entity-actions", 10, entity_actions_panel)
