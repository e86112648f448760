"""The sandbox cluster's objects: an in-memory, thread-safe store with etcd's versioning.

Every write takes the next value of one global revision counter, which becomes the object's
`metadata.resourceVersion` (as etcd's revision does), and is recorded in a bounded history
that watches replay from. Stored objects are never mutated after they are stored: readers
get the stored dictionaries themselves and must treat them as read-only (copy before
changing), which keeps a list of thousands of objects cheap.

Simulated controllers build on two hooks: `subscribe()` sees every change as it is made,
and `admission` hooks may reject a write (as an admission webhook would) by raising an
`ApiError`.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import logging
import re
import secrets
import threading
import uuid
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jsonpatch
import jsonpointer

from sandbox import errors
from sandbox.errors import ApiError
from sandbox.resources import RESOURCES, ResourceType
from sandbox.selectors import Matcher
from sandbox.watches import ADDED, DELETED, MODIFIED, WatchEvent, WatchStart, project

logger = logging.getLogger(__name__)

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")

# Metadata the server owns: a write can never set or change these.
_SERVER_METADATA = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_GENERATED_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet of generateName suffixes


@dataclass(frozen=True)
class AdmissionRequest:
    """What an admission hook sees before a write is stored."""

    operation: str  # CREATE, UPDATE or DELETE
    resource: ResourceType
    subresource: str | None
    object: dict | None
    old_object: dict | None
    dry_run: bool


AdmissionHook = Callable[[AdmissionRequest], None]


@dataclass(frozen=True)
class Page:
    """One page of a list call."""

    items: list[dict]
    resource_version: str
    continue_token: str | None
    remaining: int | None


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge key by key, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _key(obj: dict) -> tuple[str, str]:
    metadata = obj["metadata"]
    return metadata.get("namespace", ""), metadata["name"]


def _content(obj: dict, resource: ResourceType) -> dict:
    """What a generation counts: everything but metadata (and status, when it is a subresource)."""
    skipped = {"metadata", "apiVersion", "kind"} | ({"status"} if resource.status else set())
    return {key: value for key, value in obj.items() if key not in skipped}


class Store:
    """The objects of one sandbox cluster, safe to use from any thread."""

    def __init__(
        self,
        resources: Iterable[ResourceType] = RESOURCES,
        *,
        history: int = 10_000,
        namespaces: Iterable[str] = DEFAULT_NAMESPACES,
    ):
        self.resources = tuple(resources)
        self.admission: list[AdmissionHook] = []
        self._by_path = {(r.group, r.version, r.plural): r for r in self.resources}
        self._by_kind = {(r.api_version, r.kind): r for r in self.resources}
        self._lock = threading.RLock()
        self._objects: dict[ResourceType, dict[tuple[str, str], dict]] = {r: {} for r in self.resources}
        self._revision = 0
        self._history: deque[WatchEvent] = deque(maxlen=history)
        self._compacted = 0  # watches from a revision below this one are too old
        self._subscribers: list[Callable[[WatchEvent], None]] = []
        for name in namespaces:
            self.create(self.namespaces, None, {"metadata": {"name": name}})

    # --- Lookup ------------------------------------------------------------------------------

    @property
    def namespaces(self) -> ResourceType:
        return self._by_kind[("v1", "Namespace")]

    @property
    def revision(self) -> int:
        """The newest resourceVersion handed out."""
        return self._revision

    def resource(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    def resource_for(self, api_version: str, kind: str) -> ResourceType:
        try:
            return self._by_kind[(api_version, kind)]
        except KeyError:
            raise errors.bad_request(f'no matches for kind "{kind}" in version "{api_version}"') from None

    # --- Reads -------------------------------------------------------------------------------

    def get(self, resource: ResourceType, namespace: str | None, name: str) -> dict:
        obj = self._objects[resource].get((namespace or "", name))
        if obj is None:
            raise errors.not_found(resource, name)
        return obj

    def list(
        self,
        resource: ResourceType,
        namespace: str | None = None,
        match: Matcher | None = None,
        *,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> Page:
        """Objects in key order (namespace, then name); `limit` and `continue_token` page.

        A continued list reports the first page's resourceVersion but reads the objects as
        they are now (the real server serves one consistent snapshot across pages).
        """
        with self._lock:
            revision = self._revision
            objects = self._objects[resource]
            keys = sorted(k for k in objects if namespace is None or k[0] == namespace)
            if continue_token:
                revision, after = self._decode_continue(continue_token)
                keys = keys[bisect_right(keys, after):]
            matching = [objects[k] for k in keys if match is None or match(objects[k])]
        if limit and len(matching) > limit:
            last = matching[limit - 1]
            token = self._encode_continue(revision, _key(last))
            return Page(matching[:limit], str(revision), token, len(matching) - limit)
        return Page(matching, str(revision), None, None)

    @staticmethod
    def _encode_continue(revision: int, after: tuple[str, str]) -> str:
        raw = json.dumps({"rv": revision, "start": list(after)}).encode()
        return base64.urlsafe_b64encode(raw).decode()

    @staticmethod
    def _decode_continue(token: str) -> tuple[int, tuple[str, str]]:
        try:
            data = json.loads(base64.urlsafe_b64decode(token.encode()))
            return int(data["rv"]), (str(data["start"][0]), str(data["start"][1]))
        except (ValueError, KeyError, IndexError, TypeError, binascii.Error):
            raise errors.bad_request("continue key is not valid: invalid continue token") from None

    # --- Writes ------------------------------------------------------------------------------

    def create(
        self,
        resource: ResourceType,
        namespace: str | None,
        body: dict,
        *,
        dry_run: bool = False,
        keep_status: bool = False,
        seed: bool = False,
        created: str | None = None,
    ) -> dict:
        """POST: store a new object (409 AlreadyExists when the name is taken).

        With a status subresource the status in the body is dropped, as the API server does;
        `keep_status` keeps it, for seeding a cluster from recorded objects. `seed` (see
        `put`) skips admission and keeps a given `creationTimestamp`; `created` sets it (a
        controller rebuilding objects that were there long before the sandbox started).
        """
        given_creation = created or ((body.get("metadata") or {}).get("creationTimestamp") if seed else None)
        obj = self._prepare(resource, namespace, body)
        metadata = obj["metadata"]
        if not metadata.get("name"):
            if not metadata.get("generateName"):
                raise errors.invalid(resource, "", "metadata.name", "Required value: name or generateName is required")
            suffix = "".join(secrets.choice(_GENERATED_CHARS) for _ in range(5))
            metadata["name"] = metadata["generateName"] + suffix
        self._validate_name(resource, metadata["name"])
        with self._lock:
            if resource.namespaced and ("", metadata["namespace"]) not in self._objects[self.namespaces]:
                raise errors.not_found(self.namespaces, metadata["namespace"])
            if _key(obj) in self._objects[resource]:
                raise errors.already_exists(resource, metadata["name"])
            for field in (*_SERVER_METADATA, "resourceVersion", "selfLink", "managedFields"):
                metadata.pop(field, None)
            metadata.update(uid=str(uuid.uuid4()), creationTimestamp=given_creation or now(), generation=1)
            if resource.status and not keep_status:
                obj.pop("status", None)
            if resource is self.namespaces:
                obj.setdefault("status", {"phase": "Active"})
            if not seed:
                self._admit("CREATE", resource, None, obj, None, dry_run)
            if dry_run:
                return obj
            return self._store(ADDED, resource, obj, None)

    def update(
        self,
        resource: ResourceType,
        namespace: str | None,
        name: str,
        body: dict,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> dict:
        """PUT: replace an object (or only its status), guarded by metadata.resourceVersion."""
        candidate = self._prepare(resource, namespace, body, name=name)
        metadata = candidate["metadata"]
        with self._lock:
            old = self.get(resource, namespace, name)
            version = metadata.get("resourceVersion")
            if version:
                if version != old["metadata"]["resourceVersion"]:
                    raise errors.modified(resource, name)
            elif not resource.unconditional_update:
                raise errors.invalid(
                    resource, name, "metadata.resourceVersion", "Invalid value: 0x0: must be specified for an update"
                )
            uid = metadata.get("uid")
            if uid and uid != old["metadata"]["uid"]:
                raise errors.conflict(
                    resource, name, f"Precondition failed: UID in precondition: {uid}, UID in object meta: {old['metadata']['uid']}"
                )
            return self._replace(resource, old, candidate, subresource, dry_run)

    def patch(
        self,
        resource: ResourceType,
        namespace: str | None,
        name: str,
        patch_type: str,
        patch: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> dict:
        """PATCH with `merge` (RFC 7386), `json` (RFC 6902) or `strategic` merge patch.

        Strategic merge patch is served for built-in types only and, here, merges like a
        JSON merge patch (lists are replaced, not merged by key).
        """
        if patch_type == "strategic" and not resource.builtin:
            raise errors.unsupported_media_type("application/strategic-merge-patch+json")
        with self._lock:
            old = self.get(resource, namespace, name)
            if patch_type == "json":
                if not isinstance(patch, list):
                    raise errors.bad_request("a JSON patch must be a list of operations")
                try:
                    patched = jsonpatch.apply_patch(old, patch)
                except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError) as exc:
                    raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: {exc}") from None
            elif patch_type in ("merge", "strategic"):
                if not isinstance(patch, dict):
                    raise errors.bad_request("a merge patch must be a JSON object")
                patched = merge_patch(old, patch)
            else:
                raise errors.unsupported_media_type(patch_type)
            if not isinstance(patched, dict) or not isinstance(patched.get("metadata"), dict):
                raise errors.invalid(resource, name, "metadata", "Required value: the patched object has no metadata")
            if patched["metadata"].get("resourceVersion") != old["metadata"]["resourceVersion"]:
                raise errors.modified(resource, name)
            candidate = self._prepare(resource, namespace, patched, name=name)
            return self._replace(resource, old, candidate, subresource, dry_run)

    def delete(
        self,
        resource: ResourceType,
        namespace: str | None,
        name: str,
        *,
        preconditions: dict | None = None,
        dry_run: bool = False,
    ) -> tuple[dict, bool]:
        """DELETE: returns the object and whether it is gone.

        An object with finalizers is only marked (deletionTimestamp set) and goes once an
        update empties its finalizers. Deleting a namespace deletes what it holds at once.
        """
        with self._lock:
            old = self.get(resource, namespace, name)
            metadata = old["metadata"]
            for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
                expected = (preconditions or {}).get(field)
                if expected and expected != metadata.get(field):
                    why = f"Precondition failed: {label} in precondition: {expected}, {label} in object meta: {metadata.get(field)}"
                    raise errors.conflict(resource, name, why)
            self._admit("DELETE", resource, None, None, old, dry_run)
            if dry_run:
                return old, True
            if metadata.get("finalizers"):
                if metadata.get("deletionTimestamp"):
                    return old, False
                marked = {**old, "metadata": {**metadata, "deletionTimestamp": now(), "deletionGracePeriodSeconds": 0}}
                return self._store(MODIFIED, resource, marked, old), False
            if resource is self.namespaces:
                for other in self.resources:
                    if other.namespaced:
                        for key in [k for k in self._objects[other] if k[0] == name]:
                            self._remove(other, self._objects[other][key])
            return self._remove(resource, old), True

    def delete_collection(
        self, resource: ResourceType, namespace: str | None, match: Matcher | None = None, *, dry_run: bool = False
    ) -> list[dict]:
        with self._lock:
            page = self.list(resource, namespace, match)
            return [
                self.delete(resource, obj["metadata"].get("namespace"), obj["metadata"]["name"], dry_run=dry_run)[0]
                for obj in page.items
            ]

    def put(self, obj: dict) -> dict:
        """Create or replace an object as given, status included, creating its namespace.

        For seeding a cluster from recorded manifests (tests, benchmarks, the demo); it skips
        admission and preconditions, which API clients cannot, and a new object keeps a
        `creationTimestamp` it carries (an endpoint running for a month, say).
        """
        resource = self.resource_for(obj.get("apiVersion", ""), obj.get("kind", ""))
        metadata = obj.get("metadata") or {}
        namespace = (metadata.get("namespace") or "default") if resource.namespaced else None
        with self._lock:
            if namespace and ("", namespace) not in self._objects[self.namespaces]:
                self.create(self.namespaces, None, {"metadata": {"name": namespace}})
            old = self._objects[resource].get((namespace or "", metadata.get("name", "")))
            if old is None:
                return self.create(resource, namespace, obj, keep_status=True, seed=True)
            candidate = self._prepare(resource, namespace, obj, name=old["metadata"]["name"])
            return self._replace(resource, old, candidate, None, False, keep_status=True, seed=True)

    # --- Watch -------------------------------------------------------------------------------

    def subscribe(self, callback: Callable[[WatchEvent], None]) -> Callable[[], None]:
        """Call `callback` with every change, under the store's lock; returns an unsubscribe.

        The callback must be quick and must not block: hand the event to a queue or a loop.
        """
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def watch(
        self,
        resource: ResourceType,
        namespace: str | None,
        match: Matcher,
        since: int | None,
        sink: Callable[[tuple[str, dict]], None],
    ) -> WatchStart:
        """Start a watch: the events to send first, and an unsubscribe for the live ones.

        Without a resourceVersion (or with "0") the first events are ADDED for every current
        object; with one, they are the recorded changes after it, or 410 Expired when the
        history no longer reaches back that far.
        """

        def deliver(event: WatchEvent) -> None:
            if (projected := project(event, resource, namespace, match)) is not None:
                sink(projected)

        with self._lock:
            if not since:
                objects = self._objects[resource]
                initial = [
                    (ADDED, objects[key])
                    for key in sorted(objects)
                    if (namespace is None or key[0] == namespace) and match(objects[key])
                ]
            elif since < self._compacted:
                raise errors.expired(f"too old resource version: {since} ({self._compacted})")
            else:
                initial = [
                    projected
                    for event in self._history
                    if event.revision > since and (projected := project(event, resource, namespace, match))
                ]
            return WatchStart(initial, self._revision, self.subscribe(deliver))

    def compact(self) -> None:
        """Forget the change history, as etcd's compaction does: older watches get 410."""
        with self._lock:
            self._history.clear()
            self._compacted = self._revision

    # --- Internals -----------------------------------------------------------------------------

    def _prepare(self, resource: ResourceType, namespace: str | None, body: Any, *, name: str | None = None) -> dict:
        """A private copy of a request body, checked against the URL it was sent to."""
        if not isinstance(body, dict):
            raise errors.bad_request("the request body must be a JSON object")
        obj = copy.deepcopy(body)
        api_version = obj.setdefault("apiVersion", resource.api_version)
        kind = obj.setdefault("kind", resource.kind)
        if api_version != resource.api_version:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version ({resource.api_version})"
            )
        if kind != resource.kind:
            raise errors.bad_request(f"the kind in the data ({kind}) does not match the expected kind ({resource.kind})")
        metadata = obj.setdefault("metadata", {})
        if not isinstance(metadata, dict):
            raise errors.bad_request("metadata must be an object")
        if resource.namespaced:
            namespace = namespace or metadata.get("namespace") or "default"
            if metadata.get("namespace") not in (None, "", namespace):
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            metadata["namespace"] = namespace
        else:
            metadata.pop("namespace", None)
        if name is not None:
            if metadata.get("name") not in (None, "", name):
                raise errors.bad_request(
                    f"the name of the object ({metadata['name']}) does not match the name on the URL ({name})"
                )
            metadata["name"] = name
        return obj

    def _validate_name(self, resource: ResourceType, name: str) -> None:
        pattern, limit, what = (
            (_LABEL, 63, "RFC 1123 label") if resource is self.namespaces else (_SUBDOMAIN, 253, "RFC 1123 subdomain")
        )
        if len(name) > limit or not pattern.match(name):
            problem = (
                f'Invalid value: "{name}": a lowercase {what} must consist of lower case alphanumeric '
                "characters, '-' or '.', and must start and end with an alphanumeric character"
            )
            raise errors.invalid(resource, name, "metadata.name", problem)

    def _replace(
        self,
        resource: ResourceType,
        old: dict,
        candidate: dict,
        subresource: str | None,
        dry_run: bool,
        *,
        keep_status: bool = False,
        seed: bool = False,
    ) -> dict:
        """Store `candidate` over `old`: status writes take only the status, other writes keep it."""
        if subresource == "status":
            new = {key: value for key, value in old.items() if key != "status"}
            if "status" in candidate:
                new["status"] = candidate["status"]
            new["metadata"] = dict(old["metadata"])
        else:
            new = candidate
            metadata = new["metadata"]
            for field in _SERVER_METADATA:
                metadata.pop(field, None)
                if field in old["metadata"]:
                    metadata[field] = old["metadata"][field]
            metadata["resourceVersion"] = old["metadata"]["resourceVersion"]
            if resource.status and not keep_status:
                new.pop("status", None)
                if "status" in old:
                    new["status"] = old["status"]
            if _content(new, resource) != _content(old, resource):
                metadata["generation"] = old["metadata"].get("generation", 0) + 1
        if new == old:
            return old  # nothing changed: no new resourceVersion and no event, as etcd
        if not seed:
            self._admit("UPDATE", resource, subresource, new, old, dry_run)
        if dry_run:
            return new
        metadata = new["metadata"]
        if metadata.get("deletionTimestamp") and not metadata.get("finalizers"):
            return self._remove(resource, new, previous=old)
        return self._store(MODIFIED, resource, new, old)

    def _admit(self, operation, resource, subresource, obj, old, dry_run) -> None:
        request = AdmissionRequest(operation, resource, subresource, obj, old, dry_run)
        for hook in self.admission:
            hook(request)

    def _store(self, event_type: str, resource: ResourceType, obj: dict, previous: dict | None) -> dict:
        self._revision += 1
        obj["metadata"]["resourceVersion"] = str(self._revision)
        self._objects[resource][_key(obj)] = obj
        self._record(WatchEvent(event_type, resource, obj, previous, self._revision))
        return obj

    def _remove(self, resource: ResourceType, obj: dict, previous: dict | None = None) -> dict:
        self._revision += 1
        gone = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self._revision)}}
        del self._objects[resource][_key(obj)]
        self._record(WatchEvent(DELETED, resource, gone, previous or obj, self._revision))
        return gone

    def _record(self, event: WatchEvent) -> None:
        if self._history.maxlen is not None and len(self._history) == self._history.maxlen:
            self._compacted = self._history[0].revision
        self._history.append(event)
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:  # a broken watcher must not fail the write
                logger.exception("sandbox watch subscriber failed")
