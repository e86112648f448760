"""The cost job: each cluster's OpenCost asked for yesterday and today, stored as CostSnapshot rows.

Per cluster, yesterday and today (the last 30 days on its first success, a week per question)
with `step=1d`, three aggregations: `namespace,controller` (one row per workload controller: the endpoint scope,
matched to catalog entities through the live-status rows), `label:owner` and
`label:cost-center`. Every question is asked before anything is written: an
OpenCost that fails half-way leaves the stored figures as they were, and the error, with its
time, goes on the cluster's CostPoll so pages show the last figures with their age.

A day's rows are replaced in one transaction (delete, then one bulk insert): re-running a day
gives the same rows with the new figures. A constant number of queries per cluster.

`rollup()` folds snapshots older than PORTAL_RETENTION_DAYS into CostMonth rows, then deletes
them. Costs, minutes and days add up; request and usage averages are weighted by minutes; each
efficiency is weighted by the cost of the resource it measures (CPU efficiency by CPU cost, RAM
by RAM cost, total by CPU + RAM cost), which is how OpenCost itself combines allocations.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from deployments import opencost
from deployments.models import (
    Cluster,
    CostMonth,
    CostPoll,
    CostScope,
    CostSnapshot,
    WorkloadKind,
    WorkloadStatus,
)

log = structlog.get_logger(__name__)

#: OpenCost reports in the currency its pricing is configured in; the portal's prices are USD.
CURRENCY = "USD"
#: (scope, OpenCost's `aggregate` parameter) asked for each day.
AGGREGATIONS = (
    (CostScope.ENDPOINT, "namespace,controller"),
    (CostScope.OWNER, "label:owner"),
    (CostScope.COST_CENTER, "label:cost-center"),
)
#: Days fetched on a cluster's first successful fetch (at most PORTAL_RETENTION_DAYS).
BACKFILL_DAYS = 30
#: Days asked in one question (the backfill asks a week at a time).
CHUNK_DAYS = 7
#: The kubeconfig context the sandbox writes (python -m sandbox --kubeconfig ...).
SANDBOX_CONTEXT = "sandbox"
#: KServe's controllers for an InferenceService `<isvc>`: `<isvc>-predictor` (raw deployment),
#: `<isvc>-predictor-00001-deployment` (a Knative revision), `<isvc>-predictor-default(-xxxx)`
#: (before KServe 0.8); transformers and explainers are named the same way.
_KSERVE_CONTROLLER = re.compile(r"^(?P<isvc>.+?)-(?:predictor|transformer|explainer)(?:-default)?(?:-[a-z0-9]+)*$")
_MONEY = ("cpu_cost", "gpu_cost", "ram_cost", "network_cost", "pv_cost", "total_cost")
_AVERAGES = ("cpu_core_request_average", "cpu_core_usage_average", "ram_byte_request_average", "ram_byte_usage_average")
_EFFICIENCIES = (("cpu_efficiency", ("cpu_cost",)), ("ram_efficiency", ("ram_cost",)),
                 ("total_efficiency", ("cpu_cost", "ram_cost")))
FIGURES = (*_MONEY, *_AVERAGES, "cpu_efficiency", "ram_efficiency", "total_efficiency", "minutes")


# --- Where OpenCost is -----------------------------------------------------------------------------


def sandbox_opencost_url() -> str:
    """In development with no PORTAL_OPENCOST_URL, the sandbox's server answers OpenCost's API:
    its URL is the server of the kubeconfig's `sandbox` context, when that is the current one."""
    if settings.PRODUCTION or not settings.PORTAL_KUBECONFIG:
        return ""
    from portal import yamlsafe

    try:
        config = yamlsafe.load(Path(settings.PORTAL_KUBECONFIG).read_bytes()) or {}
    except (OSError, ValueError):
        return ""
    if config.get("current-context") != SANDBOX_CONTEXT:
        return ""
    contexts = {c.get("name"): c.get("context") or {} for c in config.get("contexts") or []}
    clusters = {c.get("name"): c.get("cluster") or {} for c in config.get("clusters") or []}
    server = clusters.get(contexts.get(SANDBOX_CONTEXT, {}).get("cluster"), {}).get("server", "")
    return str(server or "")


def opencost_url(cluster: Cluster, default: Cluster | None = None) -> str:
    """The cluster's own OpenCost URL; PORTAL_OPENCOST_URL (or the sandbox's) for the default one."""
    if cluster.opencost_url:
        return cluster.opencost_url
    is_default = cluster.is_default or (default is not None and default.pk == cluster.pk)
    if not is_default:
        return ""
    return settings.PORTAL_OPENCOST_URL or sandbox_opencost_url()


# --- Matching endpoints with the catalog -------------------------------------------------------------


def inference_service_name(controller: str) -> str:
    """The InferenceService a KServe controller serves ("fraud-predictor-00001-deployment" → "fraud")."""
    match = _KSERVE_CONTROLLER.match(controller)
    return match.group("isvc") if match else ""


def group_name(owner_ref: str) -> str:
    """"group:default/fraud-detection" → "fraud-detection", the `owner` label's value (DESIGN §4.0)."""
    return owner_ref.rpartition("/")[2] if owner_ref else ""


def split_endpoint_key(allocation: opencost.Allocation) -> tuple[str, str]:
    """(namespace, controller) of a `namespace,controller` allocation: from its properties, else
    from its key, which OpenCost writes `<namespace>/<controllerKind>:<controller>`."""
    if allocation.unallocated:
        return allocation.namespace, ""
    namespace, _, controller = allocation.name.partition("/")
    return allocation.namespace or namespace, allocation.controller or controller.rpartition(":")[2]


@dataclass(frozen=True)
class Match:
    entity_id: int | None = None
    entity_ref: str = ""
    owner: str = ""
    cost_center: str = ""


class EndpointIndex:
    """The cluster's InferenceServices by (namespace, name), with their entity: one query."""

    def __init__(self, cluster: Cluster):
        rows = WorkloadStatus.objects.filter(cluster=cluster, kind=WorkloadKind.INFERENCE_SERVICE).values_list(
            "namespace", "name", "labels", "entity_id", "entity__ref", "entity__owner_ref", "entity__cost_center"
        )
        self.by_key: dict[tuple[str, str], Match] = {}
        for namespace, name, labels, entity_id, ref, owner_ref, cost_center in rows:
            labels = labels or {}
            self.by_key[(namespace, name)] = Match(
                entity_id=entity_id,
                entity_ref=(ref or "").lower(),
                owner=group_name(owner_ref or "") or str(labels.get("owner") or ""),
                cost_center=cost_center or str(labels.get("cost-center") or ""),
            )

    def match(self, allocation: opencost.Allocation) -> Match:
        namespace, controller = split_endpoint_key(allocation)
        found = self.by_key.get((namespace, inference_service_name(controller))) or self.by_key.get((namespace, controller))
        labels = allocation.labels
        # OpenCost writes label names with `_` for characters Prometheus does not allow.
        owner = str(labels.get("owner") or labels.get("label_owner") or "")
        cost_center = str(labels.get("cost_center") or labels.get("cost-center") or labels.get("label_cost_center") or "")
        if found is None:
            return Match(owner=owner, cost_center=cost_center)
        return Match(found.entity_id, found.entity_ref, found.owner or owner, found.cost_center or cost_center)


# --- Figures -----------------------------------------------------------------------------------------


def figures(allocation: opencost.Allocation) -> dict:
    return {name: getattr(allocation, name) for name in FIGURES}


def combine(parts: Iterable[dict]) -> dict:
    """Several rows' figures as one: costs and minutes add up, averages are weighted by minutes,
    efficiencies by the cost of what they measure (minutes when that cost is zero throughout)."""
    parts = list(parts)
    out: dict = {name: sum((Decimal(p[name] or 0) for p in parts), Decimal(0)) for name in _MONEY}
    minutes = sum(float(p["minutes"] or 0) for p in parts)
    out["minutes"] = minutes
    for name in _AVERAGES:
        known = [(p[name], float(p["minutes"] or 0)) for p in parts if p[name] is not None]
        weight = sum(w for _, w in known)
        out[name] = (sum(v * w for v, w in known) / weight if weight else known[0][0]) if known else None
    for name, costs in _EFFICIENCIES:
        known = [(p[name], float(sum(Decimal(p[c] or 0) for c in costs))) for p in parts if p[name] is not None]
        if not known:
            out[name] = None
            continue
        weight = sum(w for _, w in known)
        if not weight:
            known = [(p[name], float(p["minutes"] or 0)) for p in parts if p[name] is not None]
            weight = sum(w for _, w in known)
        out[name] = sum(v * w for v, w in known) / weight if weight else sum(v for v, _ in known) / len(known)
    return out


# --- The job ------------------------------------------------------------------------------------------


@dataclass
class CostPollResult:
    cluster: str
    url: str = ""
    days: list[date] = field(default_factory=list)
    rows: int = 0
    calls: int = 0
    error: str = ""
    skipped: str = ""


def _rows_for(cluster: Cluster, day: date, scope: str, sets: list[opencost.AllocationSet],
              index: EndpointIndex, now: datetime) -> list[CostSnapshot]:
    by_key: dict[str, list[opencost.Allocation]] = {}
    for allocation_set in sets:
        for allocation in allocation_set.allocations:
            by_key.setdefault(allocation.name[:500], []).append(allocation)
    rows = []
    for key, allocations in sorted(by_key.items()):
        first = allocations[0]
        values = combine(figures(a) for a in allocations) if len(allocations) > 1 else figures(first)
        row = CostSnapshot(cluster=cluster, day=day, scope=scope, key=key, currency=CURRENCY, fetched_at=now, **values)
        if scope == CostScope.ENDPOINT:
            namespace, controller = split_endpoint_key(first)
            row.namespace, row.name = namespace[:253], controller[:253]
            if not first.unallocated:
                match = index.match(first)
                row.entity_id, row.entity_ref = match.entity_id, match.entity_ref
                row.owner, row.cost_center = match.owner[:253], match.cost_center[:253]
        elif scope == CostScope.OWNER and not first.unallocated:
            row.owner = key[:253]
        elif scope == CostScope.COST_CENTER and not first.unallocated:
            row.cost_center = key[:253]
        rows.append(row)
    return rows


def days_to_fetch(cluster: Cluster, today: date) -> list[date]:
    """Yesterday and today; the last BACKFILL_DAYS on a cluster's first successful fetch, so the
    pages have a history from the start (OpenCost keeps one; the job would otherwise build it a
    day at a time)."""
    if CostPoll.objects.filter(cluster=cluster, last_success_at__isnull=False).exists():
        count = 2
    else:
        count = min(BACKFILL_DAYS, settings.PORTAL_RETENTION_DAYS)
    return [today - timedelta(days=n) for n in range(count - 1, -1, -1)]


def sets_by_day(sets: list[opencost.AllocationSet], days: list[date]) -> dict[date, list[opencost.AllocationSet]]:
    """OpenCost's sets (one per step of a day) by UTC day: by their window, or in order when a set
    is empty (an empty set carries no window) and there is one set per day."""
    found: dict[date, list[opencost.AllocationSet]] = {day: [] for day in days}
    if len(sets) == len(days):
        for day, allocation_set in zip(days, sets, strict=True):
            found[day].append(allocation_set)
        return found
    for allocation_set in sets:
        if allocation_set.window_start is not None and allocation_set.window_start.date() in found:
            found[allocation_set.window_start.date()].append(allocation_set)
    return found


def poll(cluster: Cluster, *, today: date | None = None, now: datetime | None = None,
         client_factory: Callable[[str], opencost.OpenCostClient] = opencost.OpenCostClient,
         default: Cluster | None = None) -> CostPollResult:
    """Yesterday's and today's figures from the cluster's OpenCost (a month's on its first
    success, a week per question), replacing what was stored for those days: one question per
    aggregation, a set per day.
    Never raises for an OpenCost that cannot be asked: the error goes on CostPoll."""
    now = now or timezone.now()
    today = today or now.date()
    result = CostPollResult(cluster.name)
    url = opencost_url(cluster, default)
    if not url:
        result.skipped = "no OpenCost URL"
        return result
    result.url = opencost.public_url(url)
    result.days = days_to_fetch(cluster, today)
    # A month at once can take OpenCost longer than the read timeout on a large cluster: a week
    # per question keeps each answer small.
    chunks = [result.days[i:i + CHUNK_DAYS] for i in range(0, len(result.days), CHUNK_DAYS)]
    fetched: list[tuple[date, str, list[opencost.AllocationSet]]] = []
    client = client_factory(url)
    try:
        for chunk in chunks:
            window = opencost.days_window(chunk[0], chunk[-1], now)
            for scope, aggregate in AGGREGATIONS:
                sets = client.allocation(window, aggregate, step="1d")
                fetched += [(day, scope, day_sets) for day, day_sets in sets_by_day(sets, chunk).items()]
    except opencost.OpenCostError as exc:
        result.error = str(exc)
        log.warning("cost fetch failed", cluster=cluster.name, error=result.error)
        CostPoll.objects.update_or_create(
            cluster=cluster, defaults={"polled_at": now, "last_error": result.error, "last_error_at": now}
        )
        return result
    finally:
        result.calls = client.calls
        client.close()

    index = EndpointIndex(cluster)
    rows = [row for day, scope, sets in fetched for row in _rows_for(cluster, day, scope, sets, index, now)]
    with transaction.atomic():
        CostSnapshot.objects.filter(cluster=cluster, day__gte=result.days[0], day__lte=result.days[-1]).delete()
        CostSnapshot.objects.bulk_create(rows, batch_size=500)
        CostPoll.objects.update_or_create(
            cluster=cluster, defaults={"polled_at": now, "last_success_at": now, "last_error": ""}
        )
    result.rows = len(rows)
    return result


def poll_all(**kwargs) -> list[CostPollResult]:
    """One fetch per configured cluster (a cluster that left PORTAL_CLUSTERS keeps its figures)."""
    from deployments.clusters import configured_names

    names = configured_names()
    clusters = [c for c in Cluster.objects.order_by("name") if not names or c.name in names]
    default = next((c for c in clusters if c.is_default), clusters[0] if clusters else None)
    return [poll(cluster, default=default, **kwargs) for cluster in clusters]


# --- Roll-up and pruning --------------------------------------------------------------------------------


def rollup(today: date | None = None) -> tuple[int, int]:
    """Snapshots older than PORTAL_RETENTION_DAYS added into their CostMonth rows, then deleted.
    Returns (snapshots rolled up, month rows written). A constant number of queries."""
    today = today or timezone.now().date()
    cutoff = today - timedelta(days=settings.PORTAL_RETENTION_DAYS)
    with transaction.atomic():
        old = list(CostSnapshot.objects.filter(day__lt=cutoff).select_for_update().order_by("day", "pk"))
        if not old:
            return 0, 0
        groups: dict[tuple, list[CostSnapshot]] = {}
        for row in old:
            groups.setdefault((row.cluster_id, row.day.replace(day=1), row.scope, row.key), []).append(row)
        months = {first_day for _, first_day, _, _ in groups}
        existing = {
            (m.cluster_id, m.month, m.scope, m.key): m
            for m in CostMonth.objects.filter(month__in=months, cluster_id__in={c for c, _, _, _ in groups})
        }
        creates, updates = [], []
        for key, rows in groups.items():
            month = existing.get(key)
            parts = [{name: getattr(r, name) for name in FIGURES} for r in rows]
            if month is not None:
                parts.append({name: getattr(month, name) for name in FIGURES})
            else:
                cluster_id, first_day, scope, name = key
                month = CostMonth(cluster_id=cluster_id, month=first_day, scope=scope, key=name)
                creates.append(month)
            latest = rows[-1]
            for column in ("entity_id", "entity_ref", "namespace", "name", "owner", "cost_center", "currency"):
                value = getattr(latest, column)
                if value not in (None, ""):
                    setattr(month, column, value)
            for column, value in combine(parts).items():
                setattr(month, column, value)
            month.days = (month.days or 0) + len(rows)
            month.fetched_at = max(r.fetched_at for r in rows)
            if month.pk:
                updates.append(month)
        CostMonth.objects.bulk_create(creates, batch_size=500)
        if updates:
            CostMonth.objects.bulk_update(
                updates, ["entity", "entity_ref", "namespace", "name", "owner", "cost_center", "currency",
                          *FIGURES, "days", "fetched_at"], batch_size=500)
        # The rows just read: locked above, and nothing the job writes is this old.
        CostSnapshot.objects.filter(day__lt=cutoff).delete()
    return len(old), len(creates) + len(updates)
