"""The cost figures pages and the API show, from CostSnapshot rows only: one query each.

Windows are whole UTC days, as the snapshots are:
- `24h`: yesterday, the last complete UTC day (today's figures grow all day; they are in the others);
- `7d`, `30d`: the last 7 or 30 days, today so far included;
- `mtd`: the first of this month to today so far.

A day with no snapshot is missing, never zero: series carry None for it and pages say so.
Efficiencies over several rows are weighted by the cost of what they measure, as OpenCost does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Case, CharField, F, FloatField, Max, Q, QuerySet, Sum, When
from django.db.models.functions import Cast
from django.utils import timezone

from deployments import opencost
from deployments.costs.fetch import CURRENCY
from deployments.models import CostPoll, CostScope, CostSnapshot

ZERO = Decimal(0)
DEFAULT_WINDOW = "7d"
#: key → (selector label, words for "USD, <words>")
WINDOWS = {
    "24h": ("24 h", "yesterday (the last full UTC day)"),
    "7d": ("7 d", "last 7 days"),
    "30d": ("30 d", "last 30 days"),
    "mtd": ("Month to date", "month to date"),
}
#: How an allocation without the label is named on pages.
UNLABELLED = {
    CostScope.COST_CENTER: "No cost-center label",
    CostScope.OWNER: "No owner label",
    CostScope.ENDPOINT: "Not attributed to a controller",
}
_MONEY = ("total_cost", "cpu_cost", "gpu_cost", "ram_cost", "network_cost", "pv_cost")
_EFFICIENCY_WEIGHTS = {
    "cpu_efficiency": ("cpu_cost",),
    "ram_efficiency": ("ram_cost",),
    "total_efficiency": ("cpu_cost", "ram_cost"),
}


class UnknownWindow(ValueError):
    pass


@dataclass(frozen=True)
class Window:
    key: str
    label: str
    words: str
    start: date
    end: date

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]


def window(key: str | None, today: date | None = None) -> Window:
    """The named window, ending today (UTC); UnknownWindow names the choices."""
    key = key or DEFAULT_WINDOW
    if key not in WINDOWS:
        raise UnknownWindow(f"window must be one of {', '.join(WINDOWS)}, not {key!r}")
    today = today or timezone.now().date()
    start, end = {
        "24h": (today - timedelta(days=1), today - timedelta(days=1)),
        "7d": (today - timedelta(days=6), today),
        "30d": (today - timedelta(days=29), today),
        "mtd": (today.replace(day=1), today),
    }[key]
    label, words = WINDOWS[key]
    return Window(key, label, words, start, end)


def entity_path(ref: str) -> str:
    """"component:default/fraud" → "/catalog/default/component/fraud" (Entity.url_path, without a query)."""
    kind, _, rest = ref.partition(":")
    namespace, _, name = rest.rpartition("/")
    return f"/catalog/{namespace or 'default'}/{kind}/{name}" if kind and name else ""


# --- Freshness -----------------------------------------------------------------------------------


@dataclass
class Freshness:
    """When OpenCost last answered, and which clusters' figures are stale (their last fetch failed)."""

    last_success_at: datetime | None = None
    polled: bool = False
    errors: list[tuple[str, str, datetime | None]] = field(default_factory=list)

    @property
    def stale(self) -> bool:
        return bool(self.errors)

    @property
    def age(self) -> timedelta | None:
        return timezone.now() - self.last_success_at if self.last_success_at else None

    @property
    def age_seconds(self) -> int | None:
        age = self.age
        return int(age.total_seconds()) if age is not None else None


def freshness() -> Freshness:
    """One query over the clusters' CostPoll rows."""
    found = Freshness()
    for poll in CostPoll.objects.select_related("cluster").order_by("cluster__name"):
        found.polled = True
        if poll.last_success_at and (found.last_success_at is None or poll.last_success_at > found.last_success_at):
            found.last_success_at = poll.last_success_at
        if poll.stale:
            found.errors.append((poll.cluster.name, poll.last_error, poll.last_error_at))
    return found


# --- Totals --------------------------------------------------------------------------------------


@dataclass
class Total:
    """A cost centre's, an owner's or an endpoint's figures over a window."""

    scope: str
    key: str
    currency: str
    total_cost: Decimal = ZERO
    cpu_cost: Decimal = ZERO
    gpu_cost: Decimal = ZERO
    ram_cost: Decimal = ZERO
    network_cost: Decimal = ZERO
    pv_cost: Decimal = ZERO
    cpu_efficiency: float | None = None
    ram_efficiency: float | None = None
    total_efficiency: float | None = None
    entity_ref: str = ""
    owner: str = ""
    cost_center: str = ""
    namespace: str = ""
    name: str = ""
    #: This total as a fraction of the largest in its list, for a bar.
    share: float = 0.0

    @property
    def unallocated(self) -> bool:
        return self.key in (opencost.UNALLOCATED, opencost.IDLE) or self.key.endswith(f"/{opencost.UNALLOCATED}")

    @property
    def label(self) -> str:
        if self.unallocated:
            return UNLABELLED.get(self.scope, self.key)
        if self.entity_ref:
            return self.entity_ref.rpartition("/")[2]
        if self.scope == CostScope.ENDPOINT and self.name:
            return f"{self.namespace}/{self.name}" if self.namespace else self.name
        return self.key

    @property
    def url(self) -> str:
        """The entity's page: an endpoint's when it was matched, an owner group's (DESIGN §4.0:
        the `owner` label holds a Group's name in the default namespace)."""
        if self.entity_ref:
            return entity_path(self.entity_ref)
        if self.scope == CostScope.OWNER and not self.unallocated:
            return entity_path(f"group:default/{self.key}")
        return ""

    @property
    def share_percent(self) -> int:
        return round(self.share * 100)


def _weighted() -> dict:
    """Sum expressions for the money columns and for cost-weighted efficiencies."""
    # Named apart from the columns: F("cpu_cost") below must read the row, not the sum.
    exprs = {f"sum_{name}": Sum(name) for name in _MONEY}
    for efficiency, costs in _EFFICIENCY_WEIGHTS.items():
        weight = sum((Cast(F(c), FloatField()) for c in costs[1:]), Cast(F(costs[0]), FloatField()))
        known = Q(**{f"{efficiency}__isnull": False})
        exprs[f"{efficiency}_num"] = Sum(weight * F(efficiency), filter=known, output_field=FloatField())
        exprs[f"{efficiency}_den"] = Sum(weight, filter=known, output_field=FloatField())
    return exprs


def _efficiencies(row: dict) -> dict:
    out = {}
    for efficiency in _EFFICIENCY_WEIGHTS:
        num, den = row.pop(f"{efficiency}_num"), row.pop(f"{efficiency}_den")
        out[efficiency] = (num / den) if num is not None and den else None
    return out


def snapshots(scope: str, win: Window, *, owner: str = "", cost_center: str = "", entity_ref: str = "") -> QuerySet:
    """A window's snapshots of one scope; the filters apply where the scope carries the field
    (an owner filter does not narrow cost centres, which OpenCost aggregates by their own label)."""
    queryset = CostSnapshot.objects.filter(scope=scope, day__gte=win.start, day__lte=win.end)
    if owner and scope in (CostScope.OWNER, CostScope.ENDPOINT):
        queryset = queryset.filter(owner=owner)
    if cost_center and scope in (CostScope.COST_CENTER, CostScope.ENDPOINT):
        queryset = queryset.filter(cost_center=cost_center)
    if entity_ref:
        queryset = queryset.filter(entity_ref=entity_ref.lower())
    return queryset


def snapshots_all_scopes(win: Window, *, owner: str = "", cost_center: str = "") -> QuerySet:
    """A window's snapshots of every scope, each narrowed as `snapshots()` narrows it (for the CSV)."""
    wanted = Q()
    for scope in CostScope.values:
        condition = Q(scope=scope)
        if owner and scope in (CostScope.OWNER, CostScope.ENDPOINT):
            condition &= Q(owner=owner)
        if cost_center and scope in (CostScope.COST_CENTER, CostScope.ENDPOINT):
            condition &= Q(cost_center=cost_center)
        wanted |= condition
    return CostSnapshot.objects.filter(wanted, day__gte=win.start, day__lte=win.end)


def totals(scope: str, win: Window, *, limit: int | None = None, **filters) -> list[Total]:
    """Totals per key over the window, largest first (one query). Endpoint rows of one catalog
    entity (a revision per controller, a transformer) add up to one total."""
    queryset = snapshots(scope, win, **filters)
    if scope == CostScope.ENDPOINT:
        queryset = queryset.annotate(group=Case(When(entity_ref="", then=F("key")), default=F("entity_ref"),
                                                output_field=CharField()))
    else:
        queryset = queryset.annotate(group=F("key"))
    rows = (
        queryset.values("group", "currency")
        .annotate(**_weighted(), entity=Max("entity_ref"), owner_=Max("owner"), cost_center_=Max("cost_center"),
                  namespace_=Max("namespace"), name_=Max("name"))
        .order_by("-sum_total_cost", "group")
    )
    if limit:
        rows = rows[:limit]
    found = []
    for row in rows:
        efficiencies = _efficiencies(row)
        found.append(Total(
            scope=scope, key=row["group"], currency=row["currency"], **{name: row[f"sum_{name}"] or ZERO for name in _MONEY},
            **efficiencies, entity_ref=row["entity"] or "", owner=row["owner_"] or "",
            cost_center=row["cost_center_"] or "", namespace=row["namespace_"] or "", name=row["name_"] or "",
        ))
    largest = max((t.total_cost for t in found), default=ZERO)
    for item in found:
        item.share = float(item.total_cost / largest) if largest else 0.0
    return found


# --- Daily series --------------------------------------------------------------------------------


@dataclass
class Series:
    """One key's total per day of a window; None where no snapshot exists (missing, not zero)."""

    key: str
    label: str
    currency: str
    points: list[tuple[date, Decimal | None]]

    @property
    def total(self) -> Decimal:
        return sum((v for _, v in self.points if v is not None), ZERO)


def daily_series(scope: str, win: Window, **filters) -> list[Series]:
    """A series per key (largest total first) over every day of the window: one query."""
    rows = snapshots(scope, win, **filters).values("key", "currency", "day").annotate(total=Sum("total_cost"))
    by_key: dict[tuple[str, str], dict[date, Decimal]] = {}
    for row in rows.order_by("key", "day"):
        by_key.setdefault((row["key"], row["currency"]), {})[row["day"]] = row["total"]
    found = []
    for (key, currency), days in by_key.items():
        label = Total(scope=scope, key=key, currency=currency).label
        found.append(Series(key, label, currency, [(day, days.get(day)) for day in win.days]))
    return sorted(found, key=lambda s: (-s.total, s.key))


def series_table(series: list[Series]) -> list[tuple[date, list[Decimal | None]]]:
    """The same figures by day, for the table beside the charts: [(day, [value per series])]."""
    if not series:
        return []
    return [(day, [s.points[i][1] for s in series]) for i, (day, _) in enumerate(series[0].points)]


# --- One entity's or one team's figures ----------------------------------------------------------


@dataclass
class Summary:
    """Month to date, last 30 days and a daily trend, for an entity page's cost panel."""

    currency: str = CURRENCY
    month_to_date: Decimal | None = None
    last_30_days: Decimal | None = None
    points: list[tuple[date, Decimal | None]] = field(default_factory=list)
    cpu_efficiency: float | None = None
    ram_efficiency: float | None = None
    total_efficiency: float | None = None

    @property
    def has_data(self) -> bool:
        return self.last_30_days is not None or self.month_to_date is not None


def summary(scope: str, *, key: str = "", entity_ref: str = "", today: date | None = None) -> Summary:
    """An endpoint's (by entity ref) or an owner's (by key) figures: one query over the days of
    this month and the last 30."""
    today = today or timezone.now().date()
    last30, mtd = window("30d", today), window("mtd", today)
    start = min(last30.start, mtd.start)
    queryset = CostSnapshot.objects.filter(scope=scope, day__gte=start, day__lte=today)
    queryset = queryset.filter(entity_ref=entity_ref.lower()) if entity_ref else queryset.filter(key=key)
    rows = list(queryset.values("day", "currency").annotate(**_weighted()).order_by("day"))
    found = Summary()
    if not rows:
        found.points = [(day, None) for day in last30.days]
        return found
    found.currency = rows[-1]["currency"]
    by_day: dict[date, Decimal] = {}
    weights = {name: [0.0, 0.0] for name in _EFFICIENCY_WEIGHTS}
    for row in rows:
        if row["currency"] != found.currency:
            continue
        by_day[row["day"]] = by_day.get(row["day"], ZERO) + (row["sum_total_cost"] or ZERO)
        if row["day"] >= last30.start:
            for name in _EFFICIENCY_WEIGHTS:
                if row[f"{name}_num"] is not None and row[f"{name}_den"]:
                    weights[name][0] += row[f"{name}_num"]
                    weights[name][1] += row[f"{name}_den"]
    in_month = [v for d, v in by_day.items() if d >= mtd.start]
    in_30 = [v for d, v in by_day.items() if d >= last30.start]
    found.month_to_date = sum(in_month, ZERO) if in_month else None
    found.last_30_days = sum(in_30, ZERO) if in_30 else None
    found.points = [(day, by_day.get(day)) for day in last30.days]
    for name, (num, den) in weights.items():
        setattr(found, name, num / den if den else None)
    return found
