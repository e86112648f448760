"""The Costs page, its CSV download, and the cost panel on endpoint and team pages.

Showback: every signed-in user sees every total (as the catalog, costs are not secret inside
the company). Everything is read from CostSnapshot and CostPoll rows with a constant number of
queries; OpenCost is asked only by the cost job. Figures are shown with their currency and
window, a window without figures says so (with when OpenCost last answered), and figures kept
through an OpenCost outage carry a stale badge with their age.
"""

from __future__ import annotations

import csv
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from deployments.costs import chart, report
from deployments.costs.fetch import CURRENCY, group_name
from deployments.models import CostScope

#: How many endpoints "Top endpoints" lists.
TOP_ENDPOINTS = 10
PANEL_TEMPLATE = "deployments/partials/cost_panel.html"
CSV_COLUMNS = (
    "day", "cluster", "scope", "key", "owner", "cost_center", "entity_ref", "cpu_cost", "gpu_cost", "ram_cost",
    "network_cost", "pv_cost", "total_cost", "currency", "cpu_efficiency", "ram_efficiency", "total_efficiency",
    "minutes",
)
#: A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _filters(request: HttpRequest) -> dict:
    return {
        "owner": request.GET.get("owner", "").strip()[:253],
        "cost_center": request.GET.get("cost_center", "").strip()[:253],
    }


def costs_url(window_key: str = "", **filters) -> str:
    query = {k: v for k, v in {"window": window_key, **filters}.items() if v}
    return reverse("deployments:costs") + (f"?{urlencode(query)}" if query else "")


@require_GET
def costs(request: HttpRequest) -> HttpResponse:
    """Totals by cost centre and owner, top endpoints and the daily trend per cost centre."""
    error = ""
    try:
        win = report.window(request.GET.get("window"))
    except report.UnknownWindow as exc:
        error = f"The window {request.GET.get('window')!r} is not one the page knows: choose 24 h, 7 d, 30 d or month to date ({exc})."
        win = report.window(None)
    filters = _filters(request)
    by_centre = report.totals(CostScope.COST_CENTER, win, **filters)
    by_owner = report.totals(CostScope.OWNER, win, **filters)
    endpoints = report.totals(CostScope.ENDPOINT, win, limit=TOP_ENDPOINTS, **filters)
    series = report.daily_series(CostScope.COST_CENTER, win, **filters)
    fresh = report.freshness()
    currency = next((t.currency for t in (*by_centre, *by_owner, *endpoints)), CURRENCY)
    charts = [
        (s, chart.bars(s.points, currency=s.currency, title=f"Daily cost of {s.label}, {s.currency}, {win.words}"),
         f"trend-{index}")
        for index, s in enumerate(series)
    ]
    return render(request, "deployments/costs.html", {
        "window": win,
        "windows": [(key, label, costs_url(key, **filters)) for key, (label, _) in report.WINDOWS.items()],
        "window_error": error,
        "filters": filters,
        "clear_url": costs_url(win.key),
        "csv_url": reverse("deployments:costs_csv") + "?" + urlencode({"window": win.key, **{k: v for k, v in filters.items() if v}}),
        "freshness": fresh,
        "currency": currency,
        "by_centre": by_centre,
        "by_owner": by_owner,
        "endpoints": endpoints,
        "top_endpoints": TOP_ENDPOINTS,
        "charts": charts,
        "table": report.series_table(series),
        "series": series,
        "has_data": bool(by_centre or by_owner or endpoints),
    })


def _csv_cell(value) -> str:
    if value is None:
        return ""
    text = str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


@require_GET
def costs_csv(request: HttpRequest) -> HttpResponse:
    """Every snapshot of the window (all three scopes), one row per (day, cluster, scope, key)."""
    try:
        win = report.window(request.GET.get("window"))
    except report.UnknownWindow as exc:
        return HttpResponseBadRequest(f"{exc}: use ?window=7d, for example.", content_type="text/plain")
    filters = _filters(request)
    rows = (
        report.snapshots_all_scopes(win, **filters)
        .select_related("cluster")
        .order_by("day", "cluster__name", "scope", "key")
    )
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="costs-{win.key}-{win.start}-to-{win.end}.csv"'
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for row in rows.iterator(chunk_size=2000):
        writer.writerow([
            row.day.isoformat(), _csv_cell(row.cluster.name), row.scope, _csv_cell(row.key), _csv_cell(row.owner),
            _csv_cell(row.cost_center), _csv_cell(row.entity_ref),
            row.cpu_cost, row.gpu_cost, row.ram_cost, row.network_cost, row.pv_cost, row.total_cost, row.currency,
            _number(row.cpu_efficiency), _number(row.ram_efficiency), _number(row.total_efficiency), _number(row.minutes),
        ])
    return response


def _number(value) -> str:
    return "" if value is None else f"{value:.5g}"


# --- The cost panel on entity pages ------------------------------------------------------------------


def cost_panel(entity, request) -> tuple[str, dict] | None:
    """Month to date, last 30 days, a 30-day sparkline and efficiency: a model endpoint's own
    figures, or a team's (the `owner` label's allocation). Two queries."""
    kind = entity.kind.lower()
    if kind == "component" and entity.type == "model-endpoint":
        found = report.summary(CostScope.ENDPOINT, entity_ref=entity.ref)
        owner = group_name(entity.owner_ref)
        subject = "this endpoint"
    elif kind == "group":
        found = report.summary(CostScope.OWNER, key=entity.name)
        owner = entity.name
        subject = "this team's workloads"
    else:
        return None
    return PANEL_TEMPLATE, {
        "summary": found,
        "subject": subject,
        "freshness": report.freshness(),
        "chart": chart.bars(found.points, currency=found.currency, height=48, top=2, bottom=2,
                            title=f"Daily cost of {subject}, {found.currency}, last 30 days"),
        "costs_url": costs_url("30d", owner=owner),
        "owner": owner,
    }


def register_panels() -> None:
    from catalog.panels import register_panel

    register_panel("costs", 15, cost_panel)
