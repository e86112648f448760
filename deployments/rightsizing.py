"""Right-sizing: model endpoints that reserve far more CPU or memory than they use, each with a
suggested request and what it would save a month.

The figures are the daily cost snapshots of each endpoint (scope `endpoint`, per cluster) that
the cost job writes; a page never asks OpenCost.

**When an endpoint is flagged.** The window is the `PORTAL_RIGHTSIZING_DAYS` days ending today
(UTC). A resource (CPU, memory) is flagged when the endpoint has a figure for it on at least
70 % of those days (5 of 7: a new endpoint, or a day or two the cost job missed, never makes a
flag out of a day or two) and its efficiency — usage ÷ request, OpenCost's `cpuEfficiency` /
`ramEfficiency`, else the usage and request averages — is under `PORTAL_RIGHTSIZING_THRESHOLD`
percent on **every** day with a figure. One busy day clears the flag.

**The suggestion.** Per replica, as the manifest asks: the current request × the highest daily
efficiency in the window (what a replica used on its busiest day, on average) × 1.3 headroom,
rounded up to a tidy quantity — CPU in steps of 50m below one core and 100m above, memory in
64Mi steps below 1Gi and 128Mi above — and never below 50m or 64Mi. Only a suggestion below the
current request is one. Limits stay as they are: the cost is what is requested (reserved).

**The saving.** The monthly cost of the current requests minus that of the suggested ones, each
× the replicas the manifest keeps running (its minimum, at least one) at the unit prices of
`deployments.delta` (730 hours a month) and rounded to the cent, as the pull request's delta
will show them.

The current requests and replicas come from the app's manifest in the repository snapshot, with
the namespace's LimitRange defaults, as the pull-request delta counts them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_CEILING, Decimal

import django_filters
import structlog
from django.conf import settings
from django.db.models import QuerySet

from deployments import budgets
from deployments.delta import GIB, Prices
from deployments.guardrails.checks import SnapshotSource, repository_context
from deployments.models import CostScope, CostSnapshot
from deployments.resources import QuantityError, format_quantity, workload_resources

log = structlog.get_logger(__name__)

HEADROOM = Decimal("1.3")
#: The share of the window's days that must have figures before a flag is raised.
MIN_DATA_SHARE = 0.7
MIB = Decimal(2**20)
MILLI = Decimal("0.001")
#: (below this, step; above it, step; floor) per resource.
STEPS = {
    "cpu": (Decimal(1), Decimal("0.05"), Decimal("0.1"), Decimal("0.05")),
    "memory": (GIB, 64 * MIB, 128 * MIB, 64 * MIB),
}
RESOURCE_LABELS = {"cpu": "CPU", "memory": "Memory"}


def window(on: date | None = None) -> tuple[date, date]:
    """The first and last day of the window (PORTAL_RIGHTSIZING_DAYS days ending `on`)."""
    on = on or budgets.today()
    return on - timedelta(days=settings.PORTAL_RIGHTSIZING_DAYS - 1), on


def min_days() -> int:
    return max(1, math.ceil(settings.PORTAL_RIGHTSIZING_DAYS * MIN_DATA_SHARE - 1e-9))


def threshold() -> Decimal:
    return Decimal(settings.PORTAL_RIGHTSIZING_THRESHOLD) / 100


def tidy(resource: str, value: Decimal) -> Decimal:
    """Round a request up to a tidy quantity: 50m/100m CPU steps, 64Mi/128Mi memory steps, a floor."""
    boundary, small, large, floor = STEPS[resource]
    step = small if value < boundary else large
    rounded = (value / step).to_integral_value(rounding=ROUND_CEILING) * step
    return max(rounded, floor)


@dataclass
class ResourceSuggestion:
    """One resource's suggestion, per replica."""

    resource: str
    current: Decimal
    suggested: Decimal
    #: The busiest day's efficiency and the quietest's, as fractions (0.12 = 12 %).
    peak: Decimal
    low: Decimal
    days: int

    @property
    def label(self) -> str:
        return RESOURCE_LABELS[self.resource]

    @property
    def current_text(self) -> str:
        return format_quantity(self.resource, self.current)

    @property
    def suggested_text(self) -> str:
        return format_quantity(self.resource, self.suggested)

    @property
    def peak_percent(self) -> Decimal:
        return (self.peak * 100).quantize(Decimal("0.1"))

    @property
    def low_percent(self) -> Decimal:
        return (self.low * 100).quantize(Decimal("0.1"))


@dataclass
class Suggestion:
    """A flagged endpoint on one cluster: what to request instead, and the monthly saving."""

    cluster: str
    key: str
    namespace: str
    name: str
    entity_ref: str
    owner: str
    cost_center: str
    days: int
    replicas: int
    resources: list[ResourceSuggestion]
    monthly_saving: Decimal
    currency: str = "USD"
    #: The change-resources form's values: replicas and limits as they are, the suggested requests.
    form_values: dict = field(default_factory=dict)
    manifest: str = ""

    @property
    def owner_ref(self) -> str:
        return f"group:default/{self.owner.lower()}" if self.owner else ""

    @property
    def title(self) -> str:
        """The endpoint as the catalog names it; OpenCost's controller name when the catalog has none."""
        if ":" in self.entity_ref and "/" in self.entity_ref:
            return self.entity_ref.rsplit("/", 1)[1]
        return self.name

    @property
    def entity_url(self) -> str:
        if ":" not in self.entity_ref or "/" not in self.entity_ref:
            return ""
        kind, rest = self.entity_ref.split(":", 1)
        namespace, name = rest.split("/", 1)
        return f"/catalog/{namespace}/{kind}/{name}"

    @property
    def change_kwargs(self) -> dict | None:
        """The URL arguments of the endpoint's "Change resources" flow, when the catalog knows it."""
        if not self.entity_url:
            return None
        kind, rest = self.entity_ref.split(":", 1)
        namespace, name = rest.split("/", 1)
        return {"namespace": namespace, "kind": kind, "name": name, "flow": "resources"}

    @property
    def saving_text(self) -> str:
        return budgets.money(self.monthly_saving, self.currency)


# --- The days of figures ----------------------------------------------------------------------------


def efficiency(row: dict, resource: str) -> Decimal | None:
    """One day's efficiency of a resource: OpenCost's figure, else usage ÷ request; None when unknown."""
    prefix = "cpu" if resource == "cpu" else "ram"
    given = row.get(f"{prefix}_efficiency")
    if given is not None:
        return Decimal(str(given))
    unit = "core" if resource == "cpu" else "byte"
    request = row.get(f"{prefix}_{unit}_request_average")
    usage = row.get(f"{prefix}_{unit}_usage_average")
    if request and usage is not None and request > 0:
        return Decimal(str(usage)) / Decimal(str(request))
    return None


def under_every_day(values: list[Decimal]) -> bool:
    return len(values) >= min_days() and all(value < threshold() for value in values)


_FIELDS = ("cluster__name", "key", "day", "namespace", "name", "entity_ref", "owner", "cost_center", "currency",
           "cpu_efficiency", "ram_efficiency", "cpu_core_request_average", "cpu_core_usage_average",
           "ram_byte_request_average", "ram_byte_usage_average")


def endpoint_days(queryset: QuerySet | None = None, *, on: date | None = None) -> QuerySet:
    first, last = window(on)
    rows = queryset if queryset is not None else CostSnapshot.objects.all()
    return rows.filter(scope=CostScope.ENDPOINT, day__gte=first, day__lte=last)


def suggestions(queryset: QuerySet | None = None, *, on: date | None = None, prices: Prices | None = None) -> list[Suggestion]:
    """Every flagged endpoint, largest saving first (one query for the figures, plus the
    repository snapshot's parsed manifests, cached per commit)."""
    rows = endpoint_days(queryset, on=on).order_by("cluster__name", "key", "day").values(*_FIELDS)
    grouped: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        grouped.setdefault((row["cluster__name"], row["key"]), []).append(row)
    if not grouped:
        return []
    prices = prices or Prices.from_settings()
    manifests = _Manifests()
    found = []
    for (cluster, key), days in grouped.items():
        suggestion = _suggest(cluster, key, days, manifests, prices)
        if suggestion is not None:
            found.append(suggestion)
    found.sort(key=lambda s: (-s.monthly_saving, s.cluster, s.key))
    return found


def _suggest(cluster: str, key: str, days: list[dict], manifests: _Manifests, prices: Prices) -> Suggestion | None:
    figures = {resource: [e for e in (efficiency(row, resource) for row in days) if e is not None]
               for resource in ("cpu", "memory")}
    flagged = [resource for resource, values in figures.items() if under_every_day(values)]
    if not flagged:
        return None
    latest = days[-1]
    found = manifests.find(latest["namespace"], latest["name"], latest["entity_ref"], key)
    if found is None:
        log.info("rightsizing.no_manifest", cluster=cluster, key=key)
        return None
    path, document, limit_ranges = found
    try:
        workload = workload_resources(document, limit_ranges)
    except QuantityError:
        return None
    requests, limits = workload.per_pod("requests"), workload.per_pod("limits")
    resources = []
    for resource in flagged:
        current = requests.get(resource, Decimal(0))
        if current <= 0:
            continue
        values = figures[resource]
        suggested = tidy(resource, current * max(values) * HEADROOM)
        if suggested < current:
            resources.append(ResourceSuggestion(resource, current, suggested, max(values), min(values), len(values)))
    if not resources:
        return None
    replicas = max(workload.replicas, 1)
    new_requests = {**requests, **{item.resource: item.suggested for item in resources}}
    # As the pull request's delta will say it: each side's monthly cost to the cent, then the difference.
    saving = (prices.monthly({r: v * replicas for r, v in requests.items()})
              - prices.monthly({r: v * replicas for r, v in new_requests.items()}))
    return Suggestion(
        cluster=cluster, key=key, namespace=latest["namespace"], name=latest["name"],
        entity_ref=latest["entity_ref"], owner=latest["owner"], cost_center=latest["cost_center"],
        days=len(days), replicas=replicas, resources=resources,
        monthly_saving=saving, currency=latest["currency"] or "USD",
        form_values=_form_values(document, new_requests, limits), manifest=path,
    )


def _form_values(document: dict, requests: dict, limits: dict) -> dict:
    """What the "Change resources" form posts: the manifest's replicas and limits, the new requests."""
    predictor = ((document.get("spec") or {}).get("predictor") or {})
    minimum = predictor.get("minReplicas") if isinstance(predictor.get("minReplicas"), int) else 1
    maximum = predictor.get("maxReplicas") if isinstance(predictor.get("maxReplicas"), int) else 1
    return {
        "minReplicas": minimum,
        "maxReplicas": max(maximum, minimum, 1),
        "cpuRequest": format_quantity("cpu", requests.get("cpu", Decimal(0))),
        "memoryRequest": format_quantity("memory", requests.get("memory", Decimal(0))),
        "cpuLimit": format_quantity("cpu", limits.get("cpu") or requests.get("cpu", Decimal(0))),
        "memoryLimit": format_quantity("memory", limits.get("memory") or requests.get("memory", Decimal(0))),
        "gpu": int(requests.get("gpu") or limits.get("gpu") or 0),
    }


class _Manifests:
    """The repository snapshot's workloads by (namespace, name), parsed once per commit."""

    def __init__(self):
        self._index: dict[tuple[str, str], tuple[str, dict]] | None = None
        self._context = None

    def _load(self) -> None:
        self._context = repository_context(SnapshotSource())
        self._index = {}
        for path, documents in sorted(self._context.manifests.items()):
            for document in documents:
                if document.get("kind") in ("InferenceService", "Deployment"):
                    metadata = document.get("metadata") or {}
                    key = (str(metadata.get("namespace") or "default"), str(metadata.get("name") or ""))
                    self._index.setdefault(key, (path, document))

    def find(self, namespace: str, name: str, entity_ref: str, key: str):
        if self._index is None:
            self._load()
        candidates = [name, name.split("-predictor", 1)[0]]
        if "/" in entity_ref:
            candidates.append(entity_ref.rsplit("/", 1)[1])
        if "/" in key:
            candidates.append(key.split("/", 1)[1].split("-predictor", 1)[0])
        for candidate in candidates:
            found = self._index.get((namespace or "default", candidate))
            if found is not None:
                path, document = found
                return path, document, self._context.namespace(namespace or "default").limit_ranges
        return None


# --- Filters ---------------------------------------------------------------------------------------------


class RightsizingFilterSet(django_filters.FilterSet):
    """The right-sizing list by owner (team) and cost centre; choices are those in the window."""

    owner = django_filters.ChoiceFilter(field_name="owner", label="Owner", empty_label="Every owner")
    cost_center = django_filters.ChoiceFilter(field_name="cost_center", label="Cost centre",
                                              empty_label="Every cost centre")

    class Meta:
        model = CostSnapshot
        fields: list[str] = []

    def __init__(self, data=None, *args, on: date | None = None, **kwargs):
        base = endpoint_days(on=on)
        kwargs.setdefault("queryset", base)
        super().__init__(data, *args, **kwargs)
        for name in ("owner", "cost_center"):
            values = sorted(base.exclude(**{name: ""}).order_by().values_list(name, flat=True).distinct())
            self.filters[name].extra["choices"] = [(value, value) for value in values]


__all__ = ["RightsizingFilterSet", "Suggestion", "suggestions", "tidy", "window"]
