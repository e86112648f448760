"""The Deployments board (/deployments/): every model endpoint with its live state, and the
reconciliation between the catalog and the clusters; the Register button behind it.

Reads the database only. With HX-Request the board answers its rows alone, polled every 5 s,
and 286 (stop polling) once none of the rows shown is moving.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views import View
from django.views.decorators.http import require_POST

from catalog.filtersets import OWNER_ANY, OWNER_MINE
from catalog.refs import humanize
from catalog.views import FacetField, Option
from deployments import board, reconcile
from deployments.costs.fetch import group_name
from deployments.filtersets import STATE_CHOICES, EndpointFilterSet, endpoints
from deployments.models import Cluster
from deployments.status_views import POLL_SECONDS, STOP_POLLING
from portal import identity


def _select(name: str, label: str, current: str, choices: list[tuple[str, str]]) -> FacetField:
    options = [Option(value, text, value == current) for value, text in choices]
    if current and not any(option.selected for option in options):
        options.append(Option(current, current, True))  # what was typed stays shown
    return FacetField(name, label, options)


def _filter_fields(filterset: EndpointFilterSet) -> list[FacetField]:
    """The board's select filters, with the values the endpoints have (three queries)."""
    everything = endpoints().order_by()
    owners = sorted(set(everything.exclude(owner_ref="").values_list("owner_ref", flat=True)))
    centres = sorted(set(everything.exclude(cost_center="").values_list("cost_center", flat=True)))
    clusters = list(Cluster.objects.order_by("name").values_list("name", flat=True))
    owner = (filterset.data.get("owner") or OWNER_ANY).strip()
    owner_choices = [(OWNER_MINE, "My teams")] if filterset.team_refs else []
    owner_choices += [(OWNER_ANY, "Any owner")] + [(ref, humanize(ref, "group")) for ref in owners]
    if owner not in (OWNER_MINE, OWNER_ANY) and ":" not in owner:
        owner = f"group:default/{owner.lower()}"
    return [
        _select("owner", "Owner", owner, owner_choices),
        _select("cost_center", "Cost centre", filterset.data.get("cost_center", ""),
                [("", "Any cost centre")] + [(c, c) for c in centres]),
        _select("cluster", "Cluster", filterset.data.get("cluster", ""), [("", "Any cluster")] + [(c, c) for c in clusters]),
        _select("state", "State", filterset.data.get("state", ""), [("", "Any state"), *STATE_CHOICES]),
        _select("stale", "Freshness", filterset.data.get("stale", ""),
                [("", "Stale or fresh"), ("true", "Stale only"), ("false", "Fresh only")]),
    ]


def _valid_filterset(request: HttpRequest) -> tuple[EndpointFilterSet, list[str]]:
    """The filters as asked; an invalid one is dropped (its message kept) so the board still shows."""
    default_mine = not identity.is_admin(request.user)
    filterset = EndpointFilterSet(request.GET, request=request, default_mine=default_mine)
    if filterset.is_valid():
        return filterset, []
    errors = filterset.errors_in_words()
    data = filterset.data.copy()
    for name in filterset.form.errors:
        data.pop(name, None)
    if not data:
        data = QueryDict(f"owner={OWNER_ANY}")
    return EndpointFilterSet(data, request=request), errors


class BoardView(View):
    """Model endpoints (owner, cost centre, cluster, state, URL, last transition, staleness) and,
    below them, unregistered workloads, missing endpoints and label disagreements."""

    def get(self, request: HttpRequest) -> HttpResponse:
        filterset, errors = _valid_filterset(request)
        page, rows = board.rows(filterset, request.GET.get("page"))
        query = filterset.data.copy()
        query.pop("page", None)
        context = {
            "rows": rows,
            "page": page,
            "query": query.urlencode(),
            "poll_seconds": POLL_SECONDS,
            "moving": any(row.live.moving for row in rows),
            "rows_url": f"{reverse('deployments:board')}?{query.urlencode()}"
                        + (f"&page={page.number}" if page.number > 1 else ""),
        }
        if request.htmx and not request.htmx.history_restore_request:
            response = render(request, "deployments/partials/board_rows.html", context)
            if not context["moving"]:
                response.status_code = STOP_POLLING
        else:
            refs = filterset.owner_refs(filterset.value("owner"))
            owner_names = None if refs is None else [group_name(ref) for ref in refs]
            unregistered = reconcile.unregistered(owner_names, cluster=filterset.value("cluster"))
            for item in unregistered:
                item.can_register = reconcile.can_register(request.user, item.owner)
            context |= {
                "fields": _filter_fields(filterset),
                "errors": errors,
                "mine": filterset.value("owner") == OWNER_MINE,
                "team_names": [humanize(ref, "group") for ref in filterset.team_refs],
                "unregistered": unregistered,
                "missing": reconcile.missing(filterset.queryset_without("cluster")),
                "disagreements": reconcile.disagreements(filterset.qs),
                "next": request.get_full_path(),
            }
            response = render(request, "deployments/board.html", context)
        patch_vary_headers(response, ["HX-Request"])
        return response


@require_POST
def register_workload(request: HttpRequest) -> HttpResponse:
    """Register an unregistered workload in the catalog (admins and the owning group's members)."""
    back = request.POST.get("next") or ""
    if not back.startswith(reverse("deployments:board")) or "//" in back:
        back = reverse("deployments:board")
    try:
        item = reconcile.find(request.POST.get("cluster", ""), request.POST.get("application", ""),
                              request.POST.get("inference_service", ""))
        entity = reconcile.register(request.user, item)
    except reconcile.RegisterError as exc:
        messages.error(request, str(exc))
        return redirect(f"{back.split('#')[0]}#unregistered")
    owner = humanize(entity.owner_ref, "group")
    messages.success(request, f"{entity.name} is in the catalog now, owned by {owner}, and linked to what runs on "
                              f"{item.cluster}.")
    return redirect(back)
