"""Location ingestion: read entity files from the repository snapshot, validate, store.

A refresh has two phases. Collecting reads every file a location reaches (globs, Location
entities' targets, `$text`/`$json`/`$yaml` placeholders) from the snapshot, an allow-listed
URL or, for `catalog import`, the local disk, and validates each document; it writes
nothing, which is also what a dry run shows. Applying upserts what was emitted through
`catalog.store`, records conflicts and errors, and orphans what disappeared.

A `file` location's target is a path in the GitOps repository; an absolute target marks a
location made by `manage.py catalog import` from the local disk, which only that command
refreshes.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import structlog
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from catalog import memberships, store
from catalog.choices import EntityStatus, LocationType
from catalog.models import Entity, EntitySearch, Location
from catalog.refs import DEFAULT_NAMESPACE, entity_ref
from catalog.validation import validate_entity
from portal import audit, snapshot, yamlsafe
from portal.identity import is_admin

log = structlog.get_logger(__name__)

#: Seconds to wait for an allow-listed URL: a slow host must not stall a refresh.
URL_TIMEOUT = 5.0
#: How deep Location entities may nest before the chain is treated as a loop.
MAX_DEPTH = 10
PLACEHOLDERS = ("$text", "$json", "$yaml")


class IngestionError(Exception):
    """A location or target the catalog refuses, with a message that says what to fix."""


class LocationExists(IngestionError):
    """The location is already registered."""


@dataclass
class RefreshReport:
    """What one refresh did to a location's entities."""

    location: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    orphaned: int = 0
    errors: list[dict] = field(default_factory=list)


# --- Sources: where a file lives and how to read it -----------------------------------------


@dataclass(frozen=True)
class Source:
    """A file (or glob) in the repository snapshot, at an allow-listed URL, or on local disk."""

    scheme: str  # "repo", "url" or "disk"
    path: str
    #: For disk sources: the folder placeholders and targets may not leave.
    root: str = ""

    def __str__(self) -> str:
        return self.path


def normalize_repo_path(target: str, base: str = "") -> str:
    """A repository path for `target` relative to the file `base`; refuses escapes."""
    if not target or target.startswith("/") or "\\" in target or "\0" in target:
        raise IngestionError(f"{target!r} is not a relative path in the repository (absolute paths are refused).")
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(base), target))
    if joined == ".." or joined.startswith("../") or joined == ".":
        raise IngestionError(f"{target!r} points outside the repository.")
    return joined


def check_url(url: str) -> str:
    """The URL itself when its host is in PORTAL_CATALOG_ALLOWED_HOSTS; IngestionError otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise IngestionError(f"{url!r} is not an http(s) URL.")
    allowed = {host.lower() for host in settings.PORTAL_CATALOG_ALLOWED_HOSTS}
    if parts.hostname.lower() not in allowed and (parts.netloc.lower() not in allowed):
        names = ", ".join(sorted(allowed)) or "none"
        raise IngestionError(
            f"The host {parts.hostname!r} is not allowed: add it to PORTAL_CATALOG_ALLOWED_HOSTS (allowed now: {names})."
        )
    return url


def _is_url(target: str) -> bool:
    return "://" in target


def resolve(target: str, base: Source, target_type: str | None = None) -> Source:
    """The source that `target` names, relative to the file `base`, within the rules."""
    if _is_url(target):
        return Source("url", check_url(target))
    if base.scheme == "url":
        return Source("url", check_url(urljoin(base.path, target)))
    if target_type == LocationType.URL:
        raise IngestionError(f"{target!r} is not a URL, but the Location's type is url.")
    if base.scheme == "disk":
        if target.startswith("/"):
            raise IngestionError(f"{target!r} is an absolute path: targets are relative to the file that names them.")
        path = Path(posixpath.normpath(posixpath.join(posixpath.dirname(base.path), target)))
        if not path.is_relative_to(base.root):
            raise IngestionError(f"{target!r} points outside the imported folder {base.root}.")
        return Source("disk", str(path), base.root)
    return Source("repo", normalize_repo_path(target, base.path))


def location_source(location: Location) -> Source:
    if location.type == LocationType.URL:
        return Source("url", location.target)
    if location.target.startswith("/"):
        path = Path(location.target)
        return Source("disk", str(path), str(path if path.is_dir() else path.parent))
    return Source("repo", normalize_repo_path(location.target))


class Reader:
    """Reads sources for one refresh: the snapshot (fetched once), allow-listed URLs, disk."""

    def __init__(self):
        self._snapshot = None
        self._client: httpx.Client | None = None

    @property
    def snapshot(self):
        if self._snapshot is None:
            self._snapshot = snapshot.current()
        return self._snapshot

    def expand(self, source: Source) -> list[Source]:
        """The files a source names: a glob's matches, a folder's YAML files, or itself."""
        if source.scheme == "repo" and any(ch in source.path for ch in "*?["):
            return [Source("repo", path) for path in snapshot.paths(source.path, self.snapshot)]
        if source.scheme == "disk" and Path(source.path).is_dir():
            files = sorted(p for p in Path(source.path).rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
            return [Source("disk", str(p), source.root) for p in files]
        return [source]

    def read_many(self, sources: list[Source]) -> dict[Source, bytes | IngestionError]:
        """Every source's content, or the error that stopped it; repository files in one query."""
        out: dict[Source, bytes | IngestionError] = {}
        repo = [s for s in sources if s.scheme == "repo"]
        if repo:
            found = snapshot.read_many([s.path for s in repo], self.snapshot)
            for source in repo:
                out[source] = found[source.path] if source.path in found else IngestionError(
                    f"{source.path} does not exist in the repository (commit {self.snapshot.commit_sha[:12] or 'none'})."
                )
        for source in sources:
            if source.scheme != "repo":
                out[source] = self._read_other(source)
        return out

    def read(self, source: Source) -> bytes:
        content = self.read_many([source])[source]
        if isinstance(content, IngestionError):
            raise content
        return content

    def _read_other(self, source: Source) -> bytes | IngestionError:
        if source.scheme == "disk":
            try:
                return Path(source.path).read_bytes()
            except OSError as exc:
                return IngestionError(f"Cannot read {source.path}: {exc.strerror}.")
        try:
            check_url(source.path)
            if self._client is None:
                self._client = httpx.Client(timeout=URL_TIMEOUT, follow_redirects=False)
            response = self._client.get(source.path)
        except IngestionError as exc:
            return exc
        except httpx.HTTPError as exc:
            return IngestionError(f"Fetching {source.path} failed: {exc.__class__.__name__}.")
        if response.status_code != 200:
            return IngestionError(f"Fetching {source.path} answered HTTP {response.status_code}.")
        return response.content

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


# --- Collecting ----------------------------------------------------------------------------------


@dataclass
class Emitted:
    document: dict
    source: str
    ref: str


@dataclass
class Collected:
    """What a location emits: valid entities, errors, and what could not be read."""

    entities: list[Emitted] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    #: Files that could not be read or parsed: their earlier entities are kept as they are.
    failed_sources: set[str] = field(default_factory=set)
    #: Errors of invalid documents, by the ref they name: shown on the stored entity.
    entity_errors: dict[str, list[dict]] = field(default_factory=dict)
    #: The path or URL the location starts from.
    start: str = ""


def collect(location_type: str, target: str, reader: Reader | None = None) -> Collected:
    """Read and validate everything a location reaches, writing nothing."""
    own_reader = reader is None
    reader = reader or Reader()
    result = Collected()
    try:
        if location_type == LocationType.URL:
            start = Source("url", check_url(target))
        else:
            start = location_source(Location(type=location_type, target=target))
    except IngestionError as exc:
        result.errors.append(_error(target, str(exc)))
        result.failed_sources.add(target)
        return result
    result.start = start.path
    try:
        _walk(reader, [(start, location_type, 0)], result)
    finally:
        if own_reader:
            reader.close()
    return result


def _walk(reader: Reader, pending: list[tuple[Source, str, int]], result: Collected) -> None:
    visited: set[Source] = set()
    seen_refs: dict[str, str] = {}
    while pending:
        level, pending = pending, []
        files: list[tuple[Source, str, int]] = []
        for source, location_type, depth in level:
            expanded = reader.expand(source)
            if not expanded and source.scheme == "disk":
                result.errors.append(_error(source.path, f"{source.path} holds no YAML files."))
            files.extend((item, location_type, depth) for item in expanded if item not in visited)
        contents = reader.read_many(list({item for item, _, _ in files}))
        for item, location_type, depth in files:
            if item in visited:
                continue
            visited.add(item)
            content = contents[item]
            if isinstance(content, IngestionError):
                result.errors.append(_error(item.path, str(content)))
                result.failed_sources.add(item.path)
                continue
            for child in _process_file(reader, item, content, location_type, depth, result, seen_refs):
                if child[2] > MAX_DEPTH:
                    result.errors.append(_error(item.path, f"Locations nest deeper than {MAX_DEPTH} levels: is there a loop?"))
                    continue
                pending.append(child)


def _process_file(
    reader: Reader, source: Source, content: bytes, location_type: str, depth: int, result: Collected, seen_refs: dict[str, str]
) -> Iterator[tuple[Source, str, int]]:
    """Emit the valid entities of one file; yield the targets of its Location entities."""
    try:
        documents = yamlsafe.load_all(content, source=source.path)
    except yamlsafe.YAMLError as exc:
        result.errors.append(_error(source.path, str(exc)))
        result.failed_sources.add(source.path)
        return
    for index, document in enumerate(documents, start=1):
        label = _describe(document, index)
        issues = []
        if isinstance(document, dict):
            document, placeholder_issues = _resolve_placeholders(reader, document, source)
            issues.extend(placeholder_issues)
        # A placeholder that failed has already said why its field is empty.
        unresolved = {issue["field"] for issue in issues}
        issues.extend(
            {"field": i.field, "message": f"{i.message} Expected: {i.rule}.", "rule": i.rule}
            for i in validate_entity(document)
            if i.field not in unresolved
        )
        ref = _ref_of(document)
        if issues:
            for issue in issues:
                result.errors.append({"path": source.path, "document": label, **issue})
            if ref:
                result.entity_errors.setdefault(ref, []).extend(
                    {"message": f"{source.path}, {label}: {i['message']}", "field": i["field"]} for i in issues
                )
            continue
        if ref in seen_refs:
            result.errors.append({
                "path": source.path, "document": label, "field": "metadata.name",
                "message": f"{ref} appears twice in this location (first in {seen_refs[ref]}); the first is kept.",
            })
            continue
        seen_refs[ref] = source.path
        result.entities.append(Emitted(document, source.path, ref))
        if document["kind"].lower() == "location":
            spec = document.get("spec") or {}
            child_type = spec.get("type") or location_type
            if child_type not in LocationType.values:
                result.errors.append({
                    "path": source.path, "document": label, "field": "spec.type",
                    "message": f"Unknown location type {child_type!r}: use file or url.",
                })
                continue
            targets = ([spec["target"]] if spec.get("target") else []) + list(spec.get("targets") or [])
            for target in targets:
                try:
                    yield resolve(target, source, child_type), child_type, depth + 1
                except IngestionError as exc:
                    result.errors.append({"path": source.path, "document": label, "field": "spec.targets", "message": str(exc)})


def _resolve_placeholders(reader: Reader, document: dict, source: Source) -> tuple[dict, list[dict]]:
    """Backstage's `$text`, `$json` and `$yaml`, read relative to the file that holds them."""
    issues: list[dict] = []

    def visit(value, path: str):
        if isinstance(value, dict):
            if len(value) == 1:
                (key, target), = value.items()
                if isinstance(key, str) and key.startswith("$"):
                    return placeholder(key, target, path)
            return {k: visit(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [visit(v, f"{path}[{i}]") for i, v in enumerate(value)]
        return value

    def placeholder(key: str, target, path: str):
        if key not in PLACEHOLDERS:
            issues.append({"field": path, "message": f"Unknown placeholder {key}.", "rule": "one of $text, $json, $yaml"})
            return None
        if not isinstance(target, str) or not target:
            issues.append({"field": path, "message": f"{key} needs a path or URL.", "rule": f"{key}: ./file relative to this file"})
            return None
        try:
            content = reader.read(resolve(target, source))
            if key == "$text":
                return content.decode("utf-8")
            if key == "$json":
                return json.loads(content)
            return yamlsafe.load(content, source=target)
        except IngestionError as exc:
            issues.append({"field": path, "message": f"{key} {target}: {exc}", "rule": "placeholders read files inside the repository or on allowed hosts"})
        except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError and YAMLError are ValueErrors
            issues.append({"field": path, "message": f"{key} {target}: {exc}", "rule": f"{key} reads a valid {key[1:]} file"})
        return None

    return visit(document, ""), issues


def _ref_of(document) -> str:
    if not isinstance(document, dict) or not isinstance(document.get("kind"), str):
        return ""
    metadata = document.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str) or not metadata["name"]:
        return ""
    namespace = metadata.get("namespace") if isinstance(metadata.get("namespace"), str) else DEFAULT_NAMESPACE
    return entity_ref(document["kind"], namespace or DEFAULT_NAMESPACE, metadata["name"])


def _describe(document, index: int) -> str:
    ref = _ref_of(document)
    return f"document {index} ({ref})" if ref else f"document {index}"


def _error(path: str, message: str, field_: str = "") -> dict:
    return {"path": path, "message": message, "field": field_}


# --- Applying ----------------------------------------------------------------------------------


def refresh_location(location: Location, *, finish: bool = True) -> RefreshReport:
    """Re-read a location and bring its entities in line with what it emits now."""
    collected = collect(location.type, location.target)
    with store.batch():
        report = _apply(location, collected)
    if finish:
        finish_batch()
    log.info(
        "location refreshed", location=location.ref, added=report.added, updated=report.updated,
        unchanged=report.unchanged, orphaned=report.orphaned, errors=len(report.errors),
    )
    return report


@transaction.atomic
def _apply(location: Location, collected: Collected) -> RefreshReport:
    report = RefreshReport(location=location.ref, errors=list(collected.errors))
    emitted_refs = [item.ref for item in collected.entities]
    existing = {
        row["ref"]: row
        for chunk in _chunks(emitted_refs + list(collected.entity_errors), 500)
        for row in Entity.objects.filter(ref__in=chunk).values("ref", "location_id", "status", "etag", "errors")
    }
    foreign = _foreign_locations(existing.values(), location)
    writes: list[store.Write] = []
    for item in collected.entities:
        current = existing.get(item.ref)
        if current and current["location_id"] in foreign and current["status"] == EntityStatus.ACTIVE:
            report.errors.append({
                "path": item.source, "document": item.ref, "field": "metadata.name",
                "message": (
                    f"{item.ref} is already provided by location {foreign[current['location_id']]}; "
                    "the first location keeps it. Rename this entity or remove it from one of the locations."
                ),
            })
            continue
        errors = collected.entity_errors.get(item.ref, [])
        if current and _unchanged(item.document, current, location, errors):
            report.unchanged += 1
            continue
        writes.append(store.Write(item.document, item.source, EntityStatus.ACTIVE, errors))
    for result in store.upsert_many(writes, location=location):
        if result.created:
            report.added += 1
        elif result.changed:
            report.updated += 1
        else:
            report.unchanged += 1

    emitted = set(emitted_refs)
    gone = [ref for ref in location.entities.values_list("ref", flat=True) if ref not in emitted]
    # When a file that named other locations could not be read, what lies behind it is
    # unknown: nothing is orphaned until it can be read again.
    incomplete = _incomplete(location, collected)
    for entity in (e for chunk in _chunks(gone, 500) for e in Entity.objects.filter(ref__in=chunk)):
        if entity.source in collected.failed_sources or entity.ref in collected.entity_errors:
            # The file could not be read, or its new version is invalid: keep the last good
            # version, with the reason on it, as Backstage does.
            reason = collected.entity_errors.get(entity.ref) or [
                {"message": error["message"], "field": ""} for error in collected.errors if error["path"] == entity.source
            ]
            store.upsert(entity.document, location=location, source=entity.source, status=entity.status, errors=reason)
            continue
        if entity.status == EntityStatus.ACTIVE and not incomplete:
            store.upsert(entity.document, location=location, source=entity.source, status=EntityStatus.ORPHANED)
            report.orphaned += 1
    Location.objects.filter(pk=location.pk).update(refreshed_at=timezone.now(), errors=report.errors)
    location.errors = report.errors
    return report


def _incomplete(location: Location, collected: Collected) -> bool:
    if not collected.failed_sources:
        return False
    if collected.start in collected.failed_sources or not collected.start:
        return True
    return location.entities.filter(kind__iexact="location", source__in=collected.failed_sources).exists()


def _foreign_locations(rows, location: Location) -> dict[int, str]:
    ids = {row["location_id"] for row in rows if row["location_id"] not in (None, location.pk)}
    return {pk: f"{type_}:{target}" for pk, type_, target in Location.objects.filter(pk__in=ids).values_list("pk", "type", "target")}


def _unchanged(document: dict, current: dict, location: Location, errors: list[dict]) -> bool:
    """True when an upsert would change nothing (saves its queries on a large re-import)."""
    relations, relation_errors = store.outgoing_relations(document)
    expected_errors = list(errors) + [{"message": message} for message in relation_errors]
    return (
        current["location_id"] == location.pk
        and current["status"] == EntityStatus.ACTIVE
        and current["errors"] == expected_errors
        and current["etag"] == store.compute_etag(document, relations, EntityStatus.ACTIVE)
    )


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def finish_batch() -> None:
    """After a batch of refreshes: inherited cost centres and memberships follow the groups."""
    fix_inherited_cost_centers()
    memberships.rebuild()


def fix_inherited_cost_centers() -> int:
    """Entities without their own `cost-center` label take their owner group's; returns how many changed."""
    groups = {
        ref: str(((doc.get("metadata") or {}).get("labels") or {}).get("cost-center", ""))[:63]
        for ref, doc in Entity.objects.filter(kind__iexact="group").values_list("ref", "document")
    }
    own_label = EntitySearch.objects.filter(key="metadata.labels.cost-center").values("entity_id")
    inheriting = Entity.objects.exclude(owner_ref="").exclude(pk__in=own_label)
    changed = 0
    for ref, cost_center in groups.items():
        if cost_center:
            changed += inheriting.filter(owner_ref=ref).exclude(cost_center=cost_center).update(cost_center=cost_center)
    with_cost_center = [ref for ref, cost_center in groups.items() if cost_center]
    changed += inheriting.exclude(owner_ref__in=with_cost_center).exclude(cost_center="").update(cost_center="")
    return changed


# --- Locations -----------------------------------------------------------------------------------


def ensure_root_location() -> Location:
    """The root location (PORTAL_CATALOG_ROOT_LOCATION), registered when absent."""
    target = normalize_repo_path(settings.PORTAL_CATALOG_ROOT_LOCATION.removeprefix("./"))
    location, _ = Location.objects.get_or_create(type=LocationType.FILE, target=target, defaults={"is_root": True})
    if not location.is_root:
        Location.objects.filter(pk=location.pk).update(is_root=True)
        location.is_root = True
    Location.objects.filter(is_root=True).exclude(pk=location.pk).update(is_root=False)
    return location


def is_disk_location(location: Location) -> bool:
    return location.type == LocationType.FILE and location.target.startswith("/")


def refresh_all() -> list[RefreshReport]:
    """Refresh every repository and URL location, oldest first (the first keeps a contested ref)."""
    ensure_root_location()
    reports = []
    for location in Location.objects.order_by("-is_root", "created_at", "pk"):
        if is_disk_location(location):
            continue  # imported from a local disk: only `catalog import` refreshes these
        reports.append(refresh_location(location, finish=False))
    finish_batch()
    return reports


def dry_run(type: str, target: str) -> tuple[list[dict], list[dict]]:  # noqa: A002 - Backstage's field name
    """What registering the location would import, and its errors, without writing anything."""
    try:
        _check_target(type, target)
    except IngestionError as exc:
        return [], [{"message": str(exc), "path": target, "field": "target"}]
    collected = collect(type, _normalize_target(type, target))
    errors = [{"message": e["message"], "path": e.get("path", ""), "field": e.get("field", "")} for e in collected.errors]
    return [item.document for item in collected.entities], errors


def _normalize_target(type_: str, target: str) -> str:
    return target if type_ == LocationType.URL else normalize_repo_path(target.removeprefix("./"))


def _check_target(type_: str, target: str) -> None:
    if type_ not in LocationType.values:
        raise IngestionError(f"Unknown location type {type_!r}: use file (a path or glob in the repository) or url.")
    if not isinstance(target, str) or not target.strip():
        raise IngestionError("The location needs a target: a path or glob in the repository, or a URL.")
    if type_ == LocationType.URL:
        check_url(target)
    elif _is_url(target):
        raise IngestionError(f"{target!r} is a URL: register it with type url.")
    else:
        normalize_repo_path(target.removeprefix("./"))


def register_location(type: str, target: str, user) -> Location:  # noqa: A002 - Backstage's field name
    """Register a location, audit it and import what it emits now."""
    _check_target(type, target)
    target = _normalize_target(type, target)
    with transaction.atomic():
        location, created = Location.objects.get_or_create(type=type, target=target, defaults={"created_by": user})
        if not created:
            raise LocationExists(f"The location {type}:{target} is already registered.")
        audit.record(user, "catalog.location.registered", location.ref, location=str(location.uuid))
    refresh_location(location)
    location.refresh_from_db()
    return location


def delete_location(location: Location, user) -> None:
    """Remove a location and the entities it provided; audited."""
    if location.is_root:
        raise IngestionError("The root location comes from PORTAL_CATALOG_ROOT_LOCATION and cannot be deleted.")
    with transaction.atomic():
        refs = []
        for entity in location.entities.all():
            refs.append(entity.ref)
            store.delete(entity)
        audit.record(user, "catalog.location.deleted", location.ref, location=str(location.uuid), entities=refs)
        location.delete()
    finish_batch()


def remove_orphan(entity: Entity, user) -> None:
    """Remove an orphaned entity: admins only, once they confirm; audited."""
    if not is_admin(user):
        raise PermissionDenied("Only platform admins may remove orphaned entities.")
    if entity.status != EntityStatus.ORPHANED:
        raise IngestionError(f"{entity.ref} is not orphaned: it is still provided by its location.")
    with transaction.atomic():
        store.delete(entity)
        audit.record(user, "catalog.entity.orphan_removed", entity.ref, uid=str(entity.uid))
    finish_batch()
