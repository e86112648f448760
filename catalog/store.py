"""The catalog's write path: upsert an entity, compute its relations, stitch its search rows.

Every writer (location ingestion, the scaffolder, the API) goes through here, so uid, etag,
relations and search rows follow one set of rules.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from catalog.choices import REVERSE_RELATION, EntityStatus
from catalog.models import Entity, EntitySearch, Location, Relation
from catalog.refs import DEFAULT_NAMESPACE, RefError, entity_ref, ref_string

#: Search values longer than this are not indexed (Backstage does the same).
MAX_SEARCH_VALUE = 200
#: Entities stitched per round of queries.
STITCH_CHUNK = 500

# Inside `batch()`, the refs waiting to be stitched once at the end.
_deferred: ContextVar[set[str] | None] = ContextVar("catalog_deferred_stitch", default=None)

# (spec field, relation type, default kind of the target) per kind, as Backstage's
# built-in kinds processor emits them. A target without a kind gets the default kind.
SPEC_RELATIONS: dict[str, list[tuple[str, str, str | None]]] = {
    "component": [
        ("owner", "ownedBy", "Group"),
        ("subcomponentOf", "partOf", "Component"),
        ("providesApis", "providesApi", "API"),
        ("consumesApis", "consumesApi", "API"),
        ("dependsOn", "dependsOn", None),
        ("dependencyOf", "dependencyOf", None),
        ("system", "partOf", "System"),
    ],
    "api": [("owner", "ownedBy", "Group"), ("system", "partOf", "System")],
    "resource": [
        ("owner", "ownedBy", "Group"),
        ("dependsOn", "dependsOn", None),
        ("dependencyOf", "dependencyOf", None),
        ("system", "partOf", "System"),
    ],
    "system": [("owner", "ownedBy", "Group"), ("domain", "partOf", "Domain")],
    "domain": [("owner", "ownedBy", "Group"), ("subdomainOf", "partOf", "Domain")],
    "group": [("parent", "childOf", "Group"), ("children", "parentOf", "Group"), ("members", "hasMember", "User")],
    "user": [("memberOf", "memberOf", "Group")],
    "template": [("owner", "ownedBy", "Group")],
}


@dataclass
class UpsertResult:
    entity: Entity
    created: bool
    changed: bool


def document_ref(document: dict) -> str:
    metadata = document.get("metadata") or {}
    return entity_ref(document["kind"], metadata.get("namespace") or DEFAULT_NAMESPACE, metadata["name"])


def outgoing_relations(document: dict) -> tuple[list[tuple[str, str]], list[str]]:
    """The (type, target ref) pairs an entity declares, and the refs that could not be parsed."""
    kind = document["kind"].lower()
    namespace = (document.get("metadata") or {}).get("namespace") or DEFAULT_NAMESPACE
    spec = document.get("spec") or {}
    relations: list[tuple[str, str]] = []
    errors: list[str] = []
    for field, relation_type, default_kind in SPEC_RELATIONS.get(kind, []):
        value = spec.get(field)
        if value in (None, "", []):
            continue
        for target in value if isinstance(value, list) else [value]:
            try:
                relations.append((relation_type, ref_string(target, default_kind=default_kind, default_namespace=namespace)))
            except RefError as exc:
                errors.append(f"spec.{field}: {exc}")
    return relations, errors


def flatten(document: dict, prefix: str = "") -> Iterable[tuple[str, str | None]]:
    """Backstage's search flattening: dotted keys, arrays as repeated keys, values lower-cased."""
    for key, value in document.items():
        path = f"{prefix}{key}".lower()
        if isinstance(value, dict):
            yield from flatten(value, f"{path}.")
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    yield from flatten(item, f"{path}.")
                else:
                    yield path, _search_value(item)
        else:
            yield path, _search_value(value)


def _search_value(value) -> str | None:
    if value is None:
        return None
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    text = text.lower()
    return text if len(text) <= MAX_SEARCH_VALUE else None


def compute_etag(document: dict, relations: list[tuple[str, str]], status: str) -> str:
    payload = json.dumps([document, sorted(relations), status], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:40]


def _columns(document: dict, cost_center_of_owner: dict[str, str] | None = None) -> dict:
    metadata = document.get("metadata") or {}
    spec = document.get("spec") or {}
    namespace = metadata.get("namespace") or DEFAULT_NAMESPACE
    owner = spec.get("owner")
    owner_ref = ""
    if isinstance(owner, str) and owner:
        try:
            owner_ref = ref_string(owner, default_kind="Group", default_namespace=namespace)
        except RefError:
            owner_ref = ""
    system = spec.get("system")
    system_ref = ""
    if isinstance(system, str) and system:
        try:
            system_ref = ref_string(system, default_kind="System", default_namespace=namespace)
        except RefError:
            system_ref = ""
    labels = metadata.get("labels") or {}
    cost_center = str(labels.get("cost-center", "")) or (cost_center_of_owner or {}).get(owner_ref, "")
    return {
        "api_version": document.get("apiVersion", ""),
        "kind": document["kind"],
        "namespace": namespace,
        "name": metadata["name"],
        "title": str(metadata.get("title") or "")[:255],
        "description": str(metadata.get("description") or ""),
        "type": str(spec.get("type") or "")[:255] if not isinstance(spec.get("type"), dict | list) else "",
        "owner_ref": owner_ref,
        "lifecycle": str(spec.get("lifecycle") or "")[:63],
        "system_ref": system_ref,
        "cost_center": cost_center[:63],
    }


def group_cost_centers(refs: Iterable[str]) -> dict[str, str]:
    """The `cost-center` label of the given Groups, by ref (the inherited cost centre)."""
    rows = Entity.objects.filter(ref__in=set(refs), kind__iexact="group").values_list("ref", "document")
    return {ref: str((doc.get("metadata", {}).get("labels") or {}).get("cost-center", "")) for ref, doc in rows}


@transaction.atomic
def upsert(
    document: dict,
    *,
    location: Location | None = None,
    source: str = "",
    status: str = EntityStatus.ACTIVE,
    errors: list | None = None,
) -> UpsertResult:
    """Insert or update one (valid) entity and its outgoing relations; stitch what changed.

    The uid is kept across updates; the etag changes only when the document, its relations
    or its status change.
    """
    ref = document_ref(document)
    relations, relation_errors = outgoing_relations(document)
    all_errors = list(errors or []) + [{"message": message} for message in relation_errors]
    columns = _columns(document)
    if not columns["cost_center"] and columns["owner_ref"]:
        columns["cost_center"] = group_cost_centers([columns["owner_ref"]]).get(columns["owner_ref"], "")
    etag = compute_etag(document, relations, status)
    now = timezone.now()
    entity = Entity.objects.select_for_update().filter(ref=ref).first()
    created = entity is None
    if created:
        entity = Entity.objects.create(
            ref=ref, document=document, etag=etag, status=status, location=location, source=source,
            errors=all_errors, created_at=now, updated_at=now, **columns,
        )
    else:
        changed = entity.etag != etag or entity.errors != all_errors or entity.location_id != (location.pk if location else None)
        if not changed:
            return UpsertResult(entity, created=False, changed=False)
        for field, value in columns.items():
            setattr(entity, field, value)
        entity.document, entity.etag, entity.status = document, etag, status
        entity.location, entity.source, entity.errors, entity.updated_at = location, source, all_errors, now
        entity.save()
    affected = _replace_relations(entity, relations)
    _stitch_or_defer({ref, *affected})
    return UpsertResult(entity, created=created, changed=True)


def _replace_relations(entity: Entity, relations: list[tuple[str, str]]) -> set[str]:
    """Store the entity's relations both ways; returns the refs whose relations changed."""
    old = set(entity.emitted_relations.values_list("source_ref", "type", "target_ref"))
    new: set[tuple[str, str, str]] = set()
    for relation_type, target in relations:
        new.add((entity.ref, relation_type, target))
        new.add((target, REVERSE_RELATION[relation_type], entity.ref))
    if old == new:
        return set()
    entity.emitted_relations.all().delete()
    Relation.objects.bulk_create(
        [Relation(originating=entity, source_ref=s, type=t, target_ref=g) for s, t, g in sorted(new)]
    )
    return {s for s, _, _ in old ^ new}


@transaction.atomic
def delete(entity: Entity) -> set[str]:
    """Remove an entity and the relations it emitted; re-stitch the entities they pointed at."""
    affected = set(entity.emitted_relations.values_list("source_ref", flat=True)) - {entity.ref}
    entity.delete()
    _stitch_or_defer(affected)
    return affected


@contextmanager
def batch() -> Iterator[None]:
    """Defer search-row rebuilding to the end of a bulk write, so each entity is stitched once.

    Without it, every Component written re-stitches its owner Group (whose reverse relations
    grew), which makes a bulk import quadratic in the size of the largest group.
    """
    if _deferred.get() is not None:  # nested: the outermost batch stitches
        yield
        return
    pending: set[str] = set()
    token = _deferred.set(pending)
    try:
        yield
    finally:
        _deferred.reset(token)
    stitch(pending)


def _stitch_or_defer(refs: set[str]) -> None:
    pending = _deferred.get()
    if pending is None:
        stitch(refs)
    else:
        pending.update(refs)


def stitch(refs: Iterable[str]) -> None:
    """Rebuild the search rows of these entities from their document and all their relations."""
    refs = sorted(set(refs))
    for start in range(0, len(refs), STITCH_CHUNK):
        _stitch_chunk(refs[start : start + STITCH_CHUNK])


def _stitch_chunk(refs: list[str]) -> None:
    entities = list(Entity.objects.filter(ref__in=refs))
    if not entities:
        return
    relations: dict[str, list[tuple[str, str]]] = {}
    for source, relation_type, target in Relation.objects.filter(source_ref__in=refs).values_list(
        "source_ref", "type", "target_ref"
    ):
        relations.setdefault(source, []).append((relation_type, target))
    EntitySearch.objects.filter(entity__in=entities).delete()
    rows: list[EntitySearch] = []
    for entity in entities:
        seen: set[tuple[str, str | None]] = set()
        pairs = list(flatten(entity.document))
        pairs.append(("metadata.namespace", entity.namespace))
        pairs.append(("metadata.uid", str(entity.uid)))
        pairs.extend((f"relations.{t.lower()}", target) for t, target in relations.get(entity.ref, []))
        for key, value in pairs:
            if (key, value) in seen or len(key) > 255:
                continue
            seen.add((key, value))
            rows.append(EntitySearch(entity=entity, key=key, value=value))
    EntitySearch.objects.bulk_create(rows, batch_size=1000)


def relations_of(entities: list[Entity]) -> dict[str, list[dict]]:
    """Backstage's `relations: [{type, targetRef}]` for many entities in one query."""
    out: dict[str, list[dict]] = {entity.ref: [] for entity in entities}
    for source, relation_type, target in (
        Relation.objects.filter(source_ref__in=list(out)).order_by("type", "target_ref").values_list("source_ref", "type", "target_ref")
    ):
        out[source].append({"type": relation_type, "targetRef": target})
    # The same relation may be emitted by both ends (a Group's children and a child's parent).
    for ref, items in out.items():
        unique = {(item["type"], item["targetRef"]): item for item in items}
        out[ref] = list(unique.values())
    return out
