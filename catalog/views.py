"""Catalog pages: the list, an entity (with a group's extra sections) and a location.

They read only the database: no git, no cluster and no HTTP while rendering.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views import View

from catalog import ingestion, panels
from catalog.choices import EntityStatus
from catalog.filtersets import OWNER_ANY, OWNER_MINE, EntityFilterSet
from catalog.models import Entity, Location, Relation
from catalog.refs import RefError, entity_ref, humanize, ref_string
from catalog.templatetags.catalog_tags import kind_name
from portal import identity

#: Filters shown as removable chips above the results, in this order.
CHIP_LABELS = {
    "q": "Search",
    "kind": "Kind",
    "type": "Type",
    "owner": "Owner",
    "cost_center": "Cost centre",
    "lifecycle": "Lifecycle",
    "tag": "Tag",
    "status": "Status",
    "errors": "Processing errors",
}
SORT_LABELS = {
    "name": "Name",
    "kind": "Kind",
    "type": "Type",
    "owner": "Owner",
    "lifecycle": "Lifecycle",
    "cost_center": "Cost centre",
}


@dataclass(frozen=True)
class Chip:
    label: str
    value: str
    remove_query: QueryDict


@dataclass(frozen=True)
class Option:
    value: str
    text: str
    selected: bool


@dataclass(frozen=True)
class FacetField:
    name: str
    label: str
    options: list[Option]


#: The select filters, their label and the text of their "no filter" option.
FACET_FIELDS = [
    ("kind", "Kind", "Any kind"),
    ("type", "Type", "Any type"),
    ("owner", "Owner", "Any owner"),
    ("cost_center", "Cost centre", "Any cost centre"),
    ("lifecycle", "Lifecycle", "Any lifecycle"),
    ("tag", "Tag", "Any tag"),
    ("status", "Status", "Any status"),
]


def _facet_fields(filterset: EntityFilterSet, facets: dict, values: dict[str, str]) -> list[FacetField]:
    """Each select filter with its values and counts; the chosen value stays listed at zero."""
    fields = []
    for name, label, anything in FACET_FIELDS:
        current = values[name]
        options: list[Option] = []
        if name == "owner":
            current = _owner_ref(current) or OWNER_ANY
            if filterset.team_refs:
                mine = sum(f.count for f in facets["owner"] if f.value in filterset.team_refs)
                options.append(Option(OWNER_MINE, f"My team ({mine})", current == OWNER_MINE))
            options.append(Option(OWNER_ANY, anything, current == OWNER_ANY))
        else:
            options.append(Option("", anything, not current))
        listed = False
        for facet in facets[name]:
            selected = facet.value.lower() == current.lower() if name in ("kind", "tag") else facet.value == current
            listed = listed or selected
            options.append(Option(facet.value, f"{_facet_text(name, facet.value)} ({facet.count})", selected))
        if current and not listed and current not in (OWNER_ANY, OWNER_MINE):
            options.append(Option(current, f"{_facet_text(name, current)} (0)", True))
        fields.append(FacetField(name, label, options))
    return fields


def _facet_text(name: str, value: str) -> str:
    if name == "kind":
        return kind_name(value)
    if name == "owner":
        return _short(value)
    if name == "status":
        return value.capitalize()
    return value


@dataclass(frozen=True)
class SortColumn:
    key: str
    label: str
    sort_value: str  # the `sort` a click on the header asks for
    aria_sort: str  # ascending, descending or none


def canonical_query(filterset: EntityFilterSet, data: QueryDict) -> QueryDict:
    """The filters as a short, bookmarkable query: empty values left out, `owner=any` kept only
    where it differs from the default ("my team" for a user in a team)."""
    query = QueryDict(mutable=True)
    for key in filterset.filters:
        value = (data.get(key) or "").strip()
        if not value or (key == "owner" and value == OWNER_ANY and not filterset.team_refs):
            continue
        query[key] = value
    if not query and data and filterset.team_refs:
        query["owner"] = OWNER_ANY
    return query


def _without(query: QueryDict, key: str, team_refs: list[str]) -> QueryDict:
    smaller = query.copy()
    smaller.pop(key, None)
    # For a user in a team an empty query means "my team": removing a filter must not add it back.
    if team_refs and (key == "owner" or not smaller):
        smaller["owner"] = OWNER_ANY
    return smaller


def _chips(filterset: EntityFilterSet, query: QueryDict) -> list[Chip]:
    chips = []
    for key, label in CHIP_LABELS.items():
        value = query.get(key, "")
        if not value or (key == "owner" and value == OWNER_ANY):
            continue
        if key == "owner":
            if value == OWNER_MINE:
                label, value = "Owned by my team", ", ".join(humanize(ref, "group") for ref in filterset.team_refs)
            else:
                value = _short(value)
        elif key == "kind":
            value = kind_name(value)
        elif key == "errors":
            value = "yes" if filterset.value("errors") == "true" else "none"
        chips.append(Chip(label, value, _without(query, key, filterset.team_refs)))
    return chips


def _owner_ref(value: str) -> str:
    """An owner filter value as a full ref (`fraud-detection` → `group:default/fraud-detection`)."""
    if value in ("", OWNER_ANY, OWNER_MINE):
        return value
    try:
        return ref_string(value, default_kind="Group")
    except RefError:
        return value


def _short(ref: str) -> str:
    try:
        return humanize(ref, "group")
    except ValueError:
        return ref


def _sort_columns(current: str) -> list[SortColumn]:
    columns = []
    for key, label in SORT_LABELS.items():
        if current == key:
            columns.append(SortColumn(key, label, f"-{key}", "ascending"))
        elif current == f"-{key}":
            columns.append(SortColumn(key, label, key, "descending"))
        else:
            columns.append(SortColumn(key, label, key, "none"))
    return columns


class EntityListView(View):
    """The catalog list: filters with facet counts, sortable columns, pagination.

    One URL, two renderings: the full page, or (for htmx) the results plus the refreshed
    filter values and counts, swapped in place.
    """

    page_size = 25

    def get(self, request: HttpRequest) -> HttpResponse:
        filterset = EntityFilterSet(request.GET, request=request)
        query = canonical_query(filterset, filterset.data)
        page = Paginator(filterset.qs, self.page_size).get_page(request.GET.get("page"))
        entities = list(page.object_list)
        owner_refs = {entity.owner_ref for entity in entities if entity.owner_ref}
        sort = filterset.value("sort") or "name"
        values = {name: filterset.value(name) for name in filterset.filters}
        context = {
            "facet_fields": _facet_fields(filterset, filterset.facets(), values),
            "values": values,
            "query": query,
            "page": page,
            "entities": entities,
            "known_owners": set(Entity.objects.filter(ref__in=owner_refs).values_list("ref", flat=True)),
            "chips": _chips(filterset, query),
            "sort_columns": _sort_columns(sort),
            "clear_query": QueryDict(f"owner={OWNER_ANY}") if filterset.team_refs else QueryDict(),
            "team_refs": filterset.team_refs,
            "typing": request.htmx.trigger_name == "q",
        }
        if request.htmx and not request.htmx.history_restore_request:
            response = render(request, "catalog/partials/entity_list_update.html", context)
            location = reverse("catalog:entity_list")
            page_number = request.GET.get("page")
            push = query.copy()
            if page_number and page_number != "1":
                push["page"] = page_number
            response["HX-Push-Url"] = f"{location}?{push.urlencode()}" if push else location
        else:
            context["error_count"] = Entity.objects.exclude(errors=[]).count()
            response = render(request, "catalog/entity_list.html", context)
        patch_vary_headers(response, ["HX-Request"])
        return response


def _entity_or_404(namespace: str, kind: str, name: str) -> Entity:
    entity = Entity.objects.select_related("location").filter(ref=entity_ref(kind, namespace, name)).first()
    if entity is None:
        raise Http404(f"No {kind} named {namespace}/{name} in the catalog.")
    return entity


@dataclass(frozen=True)
class RelatedEntity:
    ref: str
    entity: Entity | None  # None: the target is not in the catalog (an unresolved relation)


def _relations(entity: Entity) -> tuple[dict[str, list[RelatedEntity]], dict[str, Entity]]:
    """The entity's relations grouped by type, each target resolved when it exists (two queries)."""
    pairs = sorted(set(Relation.objects.filter(source_ref=entity.ref).values_list("type", "target_ref")))
    targets = {target for _, target in pairs} | {ref for ref in (entity.owner_ref, entity.system_ref) if ref}
    known = {e.ref: e for e in Entity.objects.filter(ref__in=targets)}
    grouped: dict[str, list[RelatedEntity]] = {}
    for relation_type, target in pairs:
        grouped.setdefault(relation_type, []).append(RelatedEntity(target, known.get(target)))
    return grouped, known


#: Keys in the order Backstage's own files use; others follow in their stored order.
DOCUMENT_ORDER = ("apiVersion", "kind", "metadata", "spec", "relations")
METADATA_ORDER = ("name", "namespace", "title", "description", "labels", "annotations", "tags", "links", "uid", "etag")


def _ordered(mapping: dict, order: tuple[str, ...]) -> dict:
    return {**{key: mapping[key] for key in order if key in mapping}, **mapping}


def entity_yaml(document: dict) -> str:
    """The entity as YAML in the familiar key order (PostgreSQL's JSON does not keep it)."""
    document = _ordered(document, DOCUMENT_ORDER)
    if isinstance(document.get("metadata"), dict):
        document["metadata"] = _ordered(document["metadata"], METADATA_ORDER)
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


class EntityDetailView(View):
    """An entity's page; a Group's page adds its members, sub-groups and what it owns."""

    owned_limit = 50

    def get(self, request: HttpRequest, namespace: str, kind: str, name: str) -> HttpResponse:
        entity = _entity_or_404(namespace, kind, name)
        relations, known = _relations(entity)
        flat = [{"type": t, "targetRef": r.ref} for t, items in relations.items() for r in items]
        context = {
            "entity": entity,
            "relations": relations,
            "known": known,
            "owner": known.get(entity.owner_ref),
            "system": known.get(entity.system_ref),
            "links": [link for link in entity.metadata.get("links") or [] if isinstance(link, dict)],
            "yaml": entity_yaml(entity.as_backstage(flat)),
            "can_remove": entity.status == EntityStatus.ORPHANED and identity.is_admin(request.user),
            "is_group": entity.kind.lower() == "group",
            "is_owned": entity.kind.lower() not in ("group", "user", "location"),
            "panels": panels.panels_for(entity, request),
        }
        if context["is_group"]:
            owned = Entity.objects.filter(owner_ref=entity.ref).order_by("kind", "name")
            context["owned"] = list(owned[: self.owned_limit])
            full = len(context["owned"]) == self.owned_limit
            context["owned_count"] = owned.count() if full else len(context["owned"])
            context["group_cost_center"] = str(entity.labels.get("cost-center", ""))
            context["members"] = relations.get("hasMember", [])
            context["children"] = relations.get("parentOf", [])
            context["parents"] = relations.get("childOf", [])
        return render(request, "catalog/entity_detail.html", context)


class EntityRemoveView(View):
    """Removes an orphaned entity after an admin confirms it."""

    def post(self, request: HttpRequest, namespace: str, kind: str, name: str) -> HttpResponse:
        entity = _entity_or_404(namespace, kind, name)
        if not identity.is_admin(request.user):
            raise PermissionDenied("Only platform admins can remove entities from the catalog.")
        if entity.status != EntityStatus.ORPHANED:
            messages.error(
                request,
                f"{entity.display_name} is still emitted by its location, so it cannot be removed here: "
                "delete it from its file in the repository instead.",
            )
            return redirect(entity.url_path())
        ingestion.remove_orphan(entity, request.user)
        messages.success(request, f"{kind_name(entity.kind)} {entity.display_name} was removed from the catalog.")
        return redirect("catalog:entity_list")


class LocationDetailView(View):
    """A location: what it points at, when it was last read, its errors and its entities."""

    page_size = 50

    def get(self, request: HttpRequest, location_uuid) -> HttpResponse:
        location = get_object_or_404(Location, uuid=location_uuid)
        entities = Entity.objects.filter(location=location).order_by("kind", "name")
        page = Paginator(entities, self.page_size).get_page(request.GET.get("page"))
        return render(
            request,
            "catalog/location_detail.html",
            {"location": location, "page": page, "query": QueryDict()},
        )

