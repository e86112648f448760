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

from django.db import connection, transaction
from django.utils import timezone

from catalog.choices import REVERSE_RELATION, EntityStatus
from catalog.models import Entity, EntitySearch, Location, Relation
from catalog.refs import DEFAULT_NAMESPACE, RefError, entity_ref, ref_string

#: Search values longer than this are not indexed (Backstage does the same).
MAX_SEARCH_VALUE = 200

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


@dataclass
class Write:
    """One entity to store: a valid document and where it came from."""

    document: dict
    source: str = ""
    status: str = EntityStatus.ACTIVE
    errors: list | None = None


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
    return upsert_many([Write(document, source, status, errors)], location=location)[0]


@transaction.atomic
def upsert_many(writes: list[Write], *, location: Location | None = None) -> list[UpsertResult]:
    """`upsert` for many entities in a constant number of queries per 500 entities."""
    prepared = [_prepare(write) for write in writes]
    _inherit_cost_centers([item[3] for item in prepared])
    refs = [item[0] for item in prepared]
    existing = {
        entity.ref: entity
        for chunk in _chunks(refs)
        for entity in Entity.objects.select_for_update().filter(ref__in=chunk)
    }
    now = timezone.now()
    location_id = location.pk if location else None
    results: list[UpsertResult] = []
    created: list[Entity] = []
    updated: list[Entity] = []
    relations_of_written: dict[str, list[tuple[str, str]]] = {}
    for (ref, document, relations, columns, all_errors), write in zip(prepared, writes, strict=True):
        etag = compute_etag(document, relations, write.status)
        entity = existing.get(ref)
        if entity is None:
            entity = Entity(
                ref=ref, document=document, etag=etag, status=write.status, location=location,
                source=write.source, errors=all_errors, created_at=now, updated_at=now, **columns,
            )
            created.append(entity)
            results.append(UpsertResult(entity, created=True, changed=True))
        elif entity.etag != etag or entity.errors != all_errors or entity.location_id != location_id:
            for field, value in columns.items():
                setattr(entity, field, value)
            entity.document, entity.etag, entity.status = document, etag, write.status
            entity.location, entity.source, entity.errors, entity.updated_at = location, write.source, all_errors, now
            updated.append(entity)
            results.append(UpsertResult(entity, created=False, changed=True))
        else:
            results.append(UpsertResult(entity, created=False, changed=False))
            continue
        relations_of_written[ref] = relations
    Entity.objects.bulk_create(created, batch_size=CHUNK)
    if created and created[0].pk is None:  # databases that do not return keys from bulk inserts
        keys = dict(Entity.objects.filter(ref__in=[e.ref for e in created]).values_list("ref", "pk"))
        for entity in created:
            entity.pk = entity.id = keys[entity.ref]
    Entity.objects.bulk_update(updated, [*UPDATED_FIELDS], batch_size=CHUNK)
    affected = _replace_relations([*created, *updated], relations_of_written)
    _stitch_or_defer(set(relations_of_written) | affected)
    return results


CHUNK = 500
UPDATED_FIELDS = (
    "api_version", "kind", "namespace", "name", "title", "description", "type", "owner_ref", "lifecycle",
    "system_ref", "cost_center", "document", "etag", "status", "location", "source", "errors", "updated_at",
)


def _chunks(items: list, size: int = CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _prepare(write: Write) -> tuple[str, dict, list[tuple[str, str]], dict, list]:
    relations, relation_errors = outgoing_relations(write.document)
    all_errors = list(write.errors or []) + [{"message": message} for message in relation_errors]
    return document_ref(write.document), write.document, relations, _columns(write.document), all_errors


def _inherit_cost_centers(all_columns: list[dict]) -> None:
    """Entities without a `cost-center` label take their owner Group's, in one query per chunk."""
    owners = sorted({c["owner_ref"] for c in all_columns if not c["cost_center"] and c["owner_ref"]})
    centres: dict[str, str] = {}
    for chunk in _chunks(owners):
        centres.update(group_cost_centers(chunk))
    for columns in all_columns:
        if not columns["cost_center"] and columns["owner_ref"]:
            columns["cost_center"] = centres.get(columns["owner_ref"], "")


def _replace_relations(entities: list[Entity], relations_by_ref: dict[str, list[tuple[str, str]]]) -> set[str]:
    """Store each entity's relations both ways; returns the refs whose relations changed."""
    by_pk = {entity.pk: entity for entity in entities}
    old: dict[int, set[tuple[str, str, str]]] = {pk: set() for pk in by_pk}
    for chunk in _chunks(list(by_pk)):
        for pk, source, relation_type, target in Relation.objects.filter(originating_id__in=chunk).values_list(
            "originating_id", "source_ref", "type", "target_ref"
        ):
            old[pk].add((source, relation_type, target))
    affected: set[str] = set()
    stale: list[int] = []
    rows: list[Relation] = []
    for pk, entity in by_pk.items():
        new: set[tuple[str, str, str]] = set()
        for relation_type, target in relations_by_ref[entity.ref]:
            new.add((entity.ref, relation_type, target))
            new.add((target, REVERSE_RELATION[relation_type], entity.ref))
        if new == old[pk]:
            continue
        affected |= {source for source, _, _ in old[pk] ^ new}
        if old[pk]:
            stale.append(pk)
        rows.extend(Relation(originating_id=pk, source_ref=s, type=t, target_ref=g) for s, t, g in sorted(new))
    for chunk in _chunks(stale):
        Relation.objects.filter(originating_id__in=chunk).delete()
    Relation.objects.bulk_create(rows, batch_size=CHUNK * 2)
    return affected


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
    for chunk in _chunks(refs):
        _stitch_chunk(chunk)


def _stitch_chunk(refs: list[str]) -> None:
    entities = list(Entity.objects.filter(ref__in=refs).values_list("pk", "ref", "namespace", "uid", "document"))
    if not entities:
        return
    relations: dict[str, list[tuple[str, str]]] = {}
    for source, relation_type, target in Relation.objects.filter(source_ref__in=refs).values_list(
        "source_ref", "type", "target_ref"
    ):
        relations.setdefault(source, []).append((relation_type, target))
    EntitySearch.objects.filter(entity_id__in=[pk for pk, *_ in entities]).delete()
    rows: list[tuple[int, str, str | None]] = []
    for pk, ref, namespace, uid, document in entities:
        seen: set[tuple[str, str | None]] = set()
        pairs = list(flatten(document))
        pairs.append(("metadata.namespace", namespace))
        pairs.append(("metadata.uid", str(uid)))
        pairs.extend((f"relations.{t.lower()}", target) for t, target in relations.get(ref, []))
        for key, value in pairs:
            if (key, value) in seen or len(key) > 255:
                continue
            seen.add((key, value))
            rows.append((pk, key, value))
    _insert_search_rows(rows)


def _insert_search_rows(rows: list[tuple[int, str, str | None]]) -> None:
    """A plain multi-row INSERT: search rows are many and carry no logic, so skip the ORM's objects."""
    table = connection.ops.quote_name(EntitySearch._meta.db_table)
    # Only quoted identifiers from the model are interpolated; the values are parameters.
    sql = f"INSERT INTO {table} (entity_id, {connection.ops.quote_name('key')}, value) VALUES (%s, %s, %s)"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


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
