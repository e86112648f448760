"""Cost snapshot rows as the cost job would write them, made directly for budget and
right-sizing tests (no OpenCost client involved)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from deployments.models import Cluster, CostScope, CostSnapshot

#: The day the budget and right-sizing tests stand on: the 20th of a 30-day month, 10 days left.
TODAY = dt.date(2026, 11, 20)


def cluster(name: str = "default") -> Cluster:
    found = Cluster.objects.filter(name=name).first()
    return found or Cluster.objects.create(name=name)


def cost_center_days(cost_center: str, per_day: str, days, *, on_cluster: Cluster | None = None,
                     fetched_at=None, currency: str = "USD") -> list[CostSnapshot]:
    """One scope=cost-center row per day, each costing `per_day`."""
    on_cluster = on_cluster or cluster()
    return CostSnapshot.objects.bulk_create(
        CostSnapshot(cluster=on_cluster, scope=CostScope.COST_CENTER, key=cost_center, cost_center=cost_center,
                     day=day, total_cost=Decimal(per_day), currency=currency,
                     fetched_at=fetched_at or _fetched(day))
        for day in days
    )


def month_days(last: dt.date = TODAY) -> list[dt.date]:
    """The 1st of `last`'s month through `last`."""
    return [last.replace(day=day) for day in range(1, last.day + 1)]


def endpoint_day(day: dt.date, *, name: str = "fraud-scorer", namespace: str = "default", owner: str = "fraud-detection",
                 cost_center: str = "cc-fraud", cpu_efficiency: float | None = 0.1, ram_efficiency: float | None = 0.1,
                 cpu_request: float | None = 0.1, ram_request: float | None = 128 * 2**20,
                 cpu_usage: float | None = None, ram_usage: float | None = None,
                 entity_ref: str | None = None, on_cluster: Cluster | None = None, total: str = "0.1") -> CostSnapshot:
    """One endpoint's day (scope=endpoint), usage derived from the efficiencies unless given."""
    if cpu_usage is None and cpu_request is not None and cpu_efficiency is not None:
        cpu_usage = cpu_request * cpu_efficiency
    if ram_usage is None and ram_request is not None and ram_efficiency is not None:
        ram_usage = ram_request * ram_efficiency
    return CostSnapshot.objects.create(
        cluster=on_cluster or cluster(), scope=CostScope.ENDPOINT, key=f"{namespace}/{name}", day=day,
        namespace=namespace, name=name, owner=owner, cost_center=cost_center,
        entity_ref=entity_ref if entity_ref is not None else f"component:default/{name}",
        total_cost=Decimal(total), cpu_efficiency=cpu_efficiency, ram_efficiency=ram_efficiency,
        cpu_core_request_average=cpu_request, cpu_core_usage_average=cpu_usage,
        ram_byte_request_average=ram_request, ram_byte_usage_average=ram_usage,
        fetched_at=_fetched(day),
    )


def _fetched(day: dt.date):
    """Late on the day, as the cost job would have fetched it (never in the future)."""
    return min(timezone.make_aware(dt.datetime.combine(day, dt.time(23, 30))), timezone.now())
