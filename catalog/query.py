"""Backstage's catalog query language over the search table: filters, full text, order, cursors.

`filter=kind=component,spec.owner=fraud-detection&filter=kind=group` means
"(kind is component AND spec.owner is fraud-detection) OR kind is group". A bare key
(`filter=metadata.annotations.argocd/app-name`) means the key exists. Keys and values
compare case-insensitively: both are lower-cased, as the search rows are.

Every condition becomes one `IN (SELECT entity_id FROM search WHERE key = ... AND value ...)`
on the (key, value) index; nothing is filtered in Python.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Count, Exists, Expression, F, OuterRef, Q, QuerySet, Subquery, Window
from django.db.models.functions import Lower

from catalog.models import Entity, EntitySearch

# Backstage's page size when `limit` is not given (DefaultEntitiesCatalog.queryEntities).
DEFAULT_LIMIT = 200
# The largest page anyone may ask for: a bound on one request's memory.
MAX_LIMIT = 1000


class QueryError(ValueError):
    """A malformed filter, order, fields or cursor parameter; the message says how to fix it."""


@dataclass(frozen=True)
class Condition:
    """One key of a filter string: the key exists, or has one of `values` (lower-cased)."""

    key: str
    values: tuple[str, ...] = ()


#: Outer list: any of; inner tuple: all of. An empty spec matches everything.
FilterSpec = list[tuple[Condition, ...]]


@dataclass(frozen=True)
class OrderField:
    field: str
    order: str = "asc"


@dataclass
class Query:
    """Everything a by-query page needs, the part a cursor carries forward."""

    filter: FilterSpec = field(default_factory=list)
    order_fields: list[OrderField] = field(default_factory=list)
    full_text_term: str = ""
    full_text_fields: list[str] = field(default_factory=list)


# --- filter= --------------------------------------------------------------------------------


def parse_filter_string(text: str) -> tuple[Condition, ...]:
    """`a=b,c=d,e` -> all of (a is b, c is d, e exists); a repeated key means any of its values."""
    by_key: dict[str, list[str]] = {}
    for statement in (part.strip() for part in text.split(",")):
        if not statement:
            continue
        key, equals, value = statement.partition("=")
        key = key.strip().lower()
        if not key:
            raise QueryError(
                f"Invalid filter, {statement!r} is not a valid statement: write key=value, key= or key."
            )
        values = by_key.setdefault(key, [])
        if equals:
            values.append(value.strip().lower())
    return tuple(Condition(key, tuple(values)) for key, values in by_key.items())


def parse_filters(filter_params: Iterable[str]) -> FilterSpec:
    """Repeated `filter` parameters, each an AND of conditions, ORed together."""
    return [conditions for conditions in map(parse_filter_string, filter_params) if conditions]


def _array_item_q(key: str) -> Q:
    """Backstage's array-item form: `metadata.tags.java` (or `=true`) matches the tag `java`.

    Search rows store array items as (array key, item), so the condition also matches each
    split of the key into (key prefix, rest) - each one more probe of the (key, value) index.
    """
    parts = key.split(".")
    q = Q()
    for i in range(1, len(parts)):
        q |= Q(key=".".join(parts[:i]), value=".".join(parts[i:]))
    return q


# Keys that nearly every entity has with a handful of values: matching them selects most of
# the catalog, so they are checked per candidate row (EXISTS) while the other conditions of the
# filter pick the candidates (IN). Otherwise the database reads every component's search row
# to answer `kind=component,spec.owner=x`.
BROAD_KEYS = frozenset({"kind", "apiversion", "metadata.namespace", "spec.type", "spec.lifecycle"})


def _search_rows(condition: Condition):
    if len(condition.values) == 1:
        match = Q(key=condition.key, value=condition.values[0])
    elif condition.values:
        match = Q(key=condition.key, value__in=condition.values)
    else:
        match = Q(key=condition.key)
    if condition.values in ((), ("true",)) and "." in condition.key:
        match |= _array_item_q(condition.key)
    return EntitySearch.objects.filter(match)


def condition_q(condition: Condition, *, per_row: bool = False) -> Q:
    """`pk IN (search rows)`, or with `per_row` a correlated `EXISTS (search rows of this entity)`."""
    rows = _search_rows(condition)
    if per_row:
        return Q(Exists(rows.filter(entity_id=OuterRef("pk"))))
    return Q(pk__in=rows.values("entity_id"))


def filter_q(spec: FilterSpec) -> Q:
    """The spec as one Q: an OR of ANDs, one search subquery per condition."""
    result = Q()
    for conditions in spec:
        narrow = any(c.key not in BROAD_KEYS for c in conditions)
        group = Q()
        for condition in conditions:
            group &= condition_q(condition, per_row=narrow and condition.key in BROAD_KEYS)
        result |= group
    return result


def apply_filters(queryset: QuerySet[Entity], spec: FilterSpec) -> QuerySet[Entity]:
    return queryset.filter(filter_q(spec)) if spec else queryset


# --- full text ------------------------------------------------------------------------------


def full_text_q(term: str, fields: list[str]) -> Q:
    """Entities with `term` inside the value of one of `fields` (Backstage's LIKE %term%)."""
    term = term.strip().lower()
    if not term:
        return Q()
    keys = [f.strip().lower() for f in fields if f.strip()]
    rows = EntitySearch.objects.filter(key__in=keys, value__contains=term)
    return Q(pk__in=rows.values("entity_id"))


# --- order ----------------------------------------------------------------------------------

# Fields every entity has once, read from Entity's own columns: Backstage orders by the
# lower-cased search value, hence Lower(). Any other field is read from the search rows.
COLUMN_FIELDS: dict[str, Expression] = {
    "kind": Lower("kind"),
    "metadata.name": Lower("name"),
    "metadata.namespace": Lower("namespace"),
}


def parse_order_fields(params: Iterable[str]) -> list[OrderField]:
    """by-query's `orderField=metadata.name,asc` (repeatable; the order defaults to asc)."""
    fields = []
    for text in params:
        name, _, order = text.partition(",")
        order = order.strip().lower() or "asc"
        if not name.strip():
            raise QueryError(f"Invalid orderField {text!r}: write orderField=metadata.name,asc.")
        if order not in ("asc", "desc"):
            raise QueryError(f"Invalid orderField {text!r}: the order must be asc or desc.")
        fields.append(OrderField(name.strip().lower(), order))
    return fields


def parse_order(params: Iterable[str]) -> list[OrderField]:
    """The entities list's `order=asc:metadata.name` (repeatable)."""
    fields = []
    for text in params:
        order, _, name = text.partition(":")
        if order not in ("asc", "desc") or not name.strip():
            raise QueryError(f'Invalid order parameter "{text}", expected "<asc or desc>:<field name>".')
        fields.append(OrderField(name.strip().lower(), order))
    return fields


def sort_expression(field_name: str) -> Expression:
    """The value an entity sorts by: its column, or the smallest search value of the key."""
    if field_name in COLUMN_FIELDS:
        return COLUMN_FIELDS[field_name]
    return Subquery(
        EntitySearch.objects.filter(entity_id=OuterRef("pk"), key=field_name, value__isnull=False)
        .order_by("value")
        .values("value")[:1]
    )


def _ordered(
    queryset: QuerySet[Entity], order_fields: list[OrderField], *, select: bool = False
) -> tuple[QuerySet[Entity], list[str]]:
    """Order by the sort values (s0, s1, ...), missing values last, then by uid.

    With `select` the sort values are fetched too, so a cursor can be built from a row.
    """
    aliases = {f"s{i}": sort_expression(o.field) for i, o in enumerate(order_fields)}
    if aliases:
        queryset = queryset.annotate(**aliases) if select else queryset.alias(**aliases)
    ordering = []
    for name, order_field in zip(aliases, order_fields, strict=True):
        expression = F(name)
        ordering.append(expression.desc(nulls_last=True) if order_field.order == "desc" else expression.asc(nulls_last=True))
    tie_order = order_fields[0].order if order_fields else "asc"
    ordering.append(F("uid").desc() if tie_order == "desc" else F("uid").asc())
    return queryset.order_by(*ordering), list(aliases)


def order_entities(queryset: QuerySet[Entity], order_fields: list[OrderField]) -> QuerySet[Entity]:
    """The entities list's order: by the given fields, else by ref (as Backstage's /entities)."""
    if not order_fields:
        return queryset.order_by("ref")
    return _ordered(queryset, order_fields)[0]


# --- fields= --------------------------------------------------------------------------------


def parse_fields(params: Iterable[str]) -> list[str]:
    """`fields=metadata.name,spec.owner` (comma-separated and/or repeated)."""
    fields = [part.strip() for text in params for part in text.split(",") if part.strip()]
    if any("[" in f for f in fields):
        raise QueryError("Invalid fields: array fields such as relations[0] are not supported.")
    return fields


def _path(document: dict, dotted: str) -> list[str] | None:
    """The keys leading to `dotted` in the document; keys may themselves contain dots
    (annotation keys such as `backstage.io/kubernetes-id`)."""
    parts = dotted.split(".")
    node, path, i = document, [], 0
    while i < len(parts):
        if not isinstance(node, dict):
            return None
        for j in range(len(parts), i, -1):
            key = ".".join(parts[i:j])
            if key in node:
                path.append(key)
                node, i = node[key], j
                break
        else:
            return None
    return path


def project(document: dict, fields: list[str]) -> dict:
    """Only the requested fields of the entity, in their nested places."""
    if not fields:
        return document
    out: dict = {}
    for dotted in fields:
        path = _path(document, dotted)
        if not path:
            continue
        value, target = document, out
        for key in path[:-1]:
            value = value[key]
            target = target.setdefault(key, {})
        target[path[-1]] = value[path[-1]]
    return out


def wants_relations(fields: list[str]) -> bool:
    return not fields or any(f == "relations" or f.startswith("relations.") for f in fields)


# --- the entities list's `after` cursor ------------------------------------------------------


def encode_offset_cursor(limit: int, offset: int) -> str:
    """Backstage's legacy `after` cursor of GET /entities: base64 JSON of limit and offset."""
    return base64.b64encode(json.dumps({"limit": limit, "offset": offset}).encode()).decode()


def decode_offset_cursor(text: str) -> tuple[int, int]:
    try:
        data = json.loads(base64.b64decode(text.encode(), validate=True))
        limit, offset = data["limit"], data["offset"]
        if not (isinstance(limit, int) and isinstance(offset, int)) or limit < 1 or offset < 0:
            raise ValueError("limit and offset must be whole numbers")
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise QueryError(f"Malformed after cursor ({exc}): pass back the one from the Link header unchanged.") from None
    return limit, offset


# --- by-query pages and cursors --------------------------------------------------------------


@dataclass
class Page:
    entities: list[Entity]
    total_items: int
    next_cursor: str | None
    prev_cursor: str | None


def _condition_json(spec: FilterSpec) -> list:
    return [[{"key": c.key, "values": list(c.values)} for c in conditions] for conditions in spec]


def _condition_spec(data) -> FilterSpec:
    return [tuple(Condition(c["key"], tuple(c["values"])) for c in conditions) for conditions in data]


def encode_cursor(query: Query, *, values: list, first_values: list, previous: bool, total_items: int) -> str:
    """An opaque cursor (base64 JSON, Backstage's field names) carrying the whole query.

    It deliberately has no `query` key: Backstage's client reads that key as "send the next
    page to the predicate endpoint".
    """
    payload = {
        "orderFields": [{"field": o.field, "order": o.order} for o in query.order_fields],
        "orderFieldValues": values,
        "filter": _condition_json(query.filter),
        "fullTextFilter": {"term": query.full_text_term, "fields": query.full_text_fields},
        "isPrevious": previous,
        "firstSortFieldValues": first_values,
        "totalItems": total_items,
    }
    return base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


@dataclass
class Cursor:
    query: Query
    values: list
    first_values: list
    previous: bool
    total_items: int


def decode_cursor(text: str) -> Cursor:
    try:
        data = json.loads(base64.b64decode(text.encode(), validate=True))
        query = Query(
            filter=_condition_spec(data.get("filter") or []),
            order_fields=[OrderField(o["field"], o["order"]) for o in data.get("orderFields") or []],
            full_text_term=(data.get("fullTextFilter") or {}).get("term", ""),
            full_text_fields=(data.get("fullTextFilter") or {}).get("fields") or [],
        )
        cursor = Cursor(
            query=query,
            values=list(data["orderFieldValues"]),
            first_values=list(data.get("firstSortFieldValues") or []),
            previous=bool(data["isPrevious"]),
            total_items=int(data["totalItems"]),
        )
        if any(o.order not in ("asc", "desc") for o in query.order_fields):
            raise ValueError("order must be asc or desc")
        if len(cursor.values) != len(query.order_fields) + 1:
            raise ValueError("orderFieldValues does not match orderFields")
        uuid.UUID(str(cursor.values[-1]))
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise QueryError(f"Malformed cursor: {exc}. Pass back the nextCursor or prevCursor of a previous page unchanged.") from None
    return cursor


def _keyset_q(aliases: list[str], order_fields: list[OrderField], values: list, backwards: bool) -> Q:
    """Rows strictly after (or before) `values` in (sort values, uid) order, missing values last."""
    directions = [o.order for o in order_fields]
    directions.append(directions[0] if directions else "asc")
    names = [*aliases, "uid"]
    result = Q(pk__in=[])
    equal = Q()
    for name, direction, value in zip(names, directions, values, strict=True):
        ascending = (direction == "asc") != backwards
        if value is None:
            # Missing values sort last: going forward nothing non-missing follows them;
            # going backwards every present value precedes them.
            step = Q(**{f"{name}__isnull": False}) if backwards else Q(pk__in=[])
            same = Q(**{f"{name}__isnull": True})
        else:
            step = Q(**{f"{name}__{'gt' if ascending else 'lt'}": value})
            if name != "uid" and not backwards:
                step |= Q(**{f"{name}__isnull": True})
            same = Q(**{name: value})
        result |= equal & step
        equal &= same
    return result


def _row_values(entity: Entity, aliases: list[str]) -> list:
    return [getattr(entity, name) for name in aliases] + [str(entity.uid)]


def query_page(
    base: QuerySet[Entity], query: Query, *, limit: int, offset: int = 0, cursor: Cursor | None = None,
    count: bool = True,
) -> Page:
    """One page of by-query: filtered, searched, ordered, after the cursor, with its count.

    Two queries: the ids of the page with the filtered count (first page only: later pages
    carry the count in their cursor), then the page's entities.
    """
    queryset = apply_filters(base, query.filter)
    if query.full_text_term.strip():
        fields = query.full_text_fields or [query.order_fields[0].field if query.order_fields else "metadata.uid"]
        queryset = queryset.filter(full_text_q(query.full_text_term, fields))
    ordered, aliases = _ordered(queryset, query.order_fields)
    backwards = bool(cursor and cursor.previous)
    if cursor:
        ordered = ordered.filter(_keyset_q(aliases, query.order_fields, cursor.values, backwards))
    window = ordered.reverse()[:limit] if backwards else ordered[offset : offset + limit + 1]
    total = cursor.total_items if cursor else 0
    counting = count and not cursor
    # The window is chosen on ids (with the filtered count alongside, so the filter runs once);
    # the documents of its few rows are read afterwards, so sorting thousands of matches never
    # carries their documents.
    if counting:
        window = window.annotate(total=Window(Count("pk")))
    ids = [] if limit <= 0 else list(window.values_list("pk", "total") if counting else window.values_list("pk", flat=True))
    if counting:
        total = ids[0][1] if ids else (queryset.count() if offset else 0)
        ids = [pk for pk, _ in ids]
    rows = list(_ordered(Entity.objects.filter(pk__in=ids), query.order_fields, select=True)[0]) if ids else []
    if backwards:
        more_after = True  # the page we came back from follows
    else:
        more_after = len(rows) > limit
        rows = rows[:limit]
    first_values = cursor.first_values if cursor else (_row_values(rows[0], aliases) if rows else [])
    next_cursor = prev_cursor = None
    if rows and more_after:
        next_cursor = encode_cursor(
            query, values=_row_values(rows[-1], aliases), first_values=first_values, previous=False, total_items=total
        )
    if rows and cursor and _row_values(rows[0], aliases) != first_values:
        prev_cursor = encode_cursor(
            query, values=_row_values(rows[0], aliases), first_values=first_values, previous=True, total_items=total
        )
    return Page(rows, total, next_cursor, prev_cursor)
