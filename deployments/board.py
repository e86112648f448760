"""The Deployments board's rows: catalog model endpoints joined with their live status and their
last transition, from the database only, in a constant number of queries.

Owner, cost centre and cluster filter in SQL and the page is cut there; state and stale are
live facts, so with one of them set every matching endpoint's status is read (still one query)
and the page is cut after filtering.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.paginator import Page, Paginator
from django.db.models import OuterRef, QuerySet, Subquery

from deployments.filtersets import EndpointFilterSet
from deployments.live import LiveStatus, live_statuses
from deployments.models import StatusEvent, StatusEventKind

PAGE_SIZE = 50
#: Transitions whose new value says more than the kind alone.
WITH_VALUE = {StatusEventKind.SYNC, StatusEventKind.HEALTH}


@dataclass
class BoardRow:
    entity: object
    live: LiveStatus
    last_change: str = ""
    last_change_at: datetime | None = None


def with_last_transition(queryset: QuerySet) -> QuerySet:
    """Annotate each entity with its latest status event (the statusevent_entity index serves it)."""
    latest = StatusEvent.objects.filter(entity=OuterRef("pk")).order_by("-created_at", "-pk")
    return queryset.annotate(
        last_event_kind=Subquery(latest.values("kind")[:1]),
        last_event_to=Subquery(latest.values("to_value")[:1]),
        last_event_at=Subquery(latest.values("created_at")[:1]),
    )


def transition_words(kind: str | None, to_value: str | None) -> str:
    if not kind:
        return ""
    label = StatusEventKind(kind).label if kind in StatusEventKind.values else kind
    return f"{label}: {to_value}" if kind in WITH_VALUE and to_value else label


def rows(filterset: EndpointFilterSet, page_number=None, page_size: int = PAGE_SIZE) -> tuple[Page, list[BoardRow]]:
    """One page of board rows for a valid filterset."""
    queryset = with_last_transition(filterset.qs)
    if filterset.has_live_filters():
        entities = list(queryset)
        statuses = live_statuses(entities)
        kept = {row.entity.pk for row in filterset.filter_rows([statuses[e.pk] for e in entities])}
        page = Paginator([e for e in entities if e.pk in kept], page_size).get_page(page_number)
    else:
        page = Paginator(queryset, page_size).get_page(page_number)
        page.object_list = list(page.object_list)
        statuses = live_statuses(page.object_list)
    return page, [
        BoardRow(entity, statuses[entity.pk], transition_words(entity.last_event_kind, entity.last_event_to),
                 entity.last_event_at)
        for entity in page.object_list
    ]
