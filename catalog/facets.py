"""Facet counts: how many entities carry each value of a key (Backstage's entity-facets)."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from catalog.models import Entity, EntitySearch


def facet_counts(entities: QuerySet[Entity] | None, keys: list[str]) -> dict[str, list[dict]]:
    """For each key, `[{"value", "count"}]` over the given entities (all when None).

    One grouped query per key on the (key, value) index; values come back as stored
    (lower-cased), ordered by count then value, as Backstage orders them.
    """
    result: dict[str, list[dict]] = {}
    for key in keys:
        rows = EntitySearch.objects.filter(key=key.lower(), value__isnull=False)
        if entities is not None:
            rows = rows.filter(entity__in=entities.values("pk"))
        counts = rows.values("value").annotate(count=Count("entity", distinct=True)).order_by("-count", "value")
        result[key] = [{"value": row["value"], "count": row["count"]} for row in counts]
    return result
