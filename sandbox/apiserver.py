"""The sandbox's Kubernetes-API-compatible HTTP server, an aiohttp application over a `Store`.

It answers the paths, verbs, query parameters and `Status` errors the official `kubernetes`
client uses. `create_app()` returns a plain aiohttp application, so simulated controllers
and other fake endpoints can add routes, startup hooks or cleanup contexts to it before it
runs. `/sandbox/requests` counts the API calls by verb and resource.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from sandbox import errors
from sandbox.errors import ApiError
from sandbox.resources import ResourceType, api_group, api_group_list, api_resource_list
from sandbox.selectors import both, field_selector, label_selector
from sandbox.store import Store

logger = logging.getLogger(__name__)

# The API server closes a watch without timeoutSeconds after a while, and clients reconnect
# from the last resourceVersion they saw; the real server picks 30 to 60 minutes.
DEFAULT_WATCH_TIMEOUT = 1800.0
# How often a quiet watch checks that its client is still connected.
_WATCH_LIVENESS_SECONDS = 1.0
VERSION = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0-sandbox",
    "gitCommit": "",
    "gitTreeState": "clean",
    "buildDate": "2024-08-13T00:00:00Z",
    "goVersion": "go1.22.5",
    "compiler": "gc",
    "platform": "linux/amd64",
}
_PATCH_TYPES = {
    "application/merge-patch+json": "merge",
    "application/json-patch+json": "json",
    "application/strategic-merge-patch+json": "strategic",
}


class RequestCounter:
    """API calls by (verb, resource), so tests and benchmarks can count a poller's calls."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()

    def record(self, verb: str, resource: str) -> None:
        with self._lock:
            self._counts[(verb, resource)] += 1

    def count(self, verb: str | None = None, resource: str | None = None) -> int:
        """Calls with this verb and resource (`inferenceservices.serving.kserve.io`); None = any."""
        with self._lock:
            return sum(
                n for (v, r), n in self._counts.items() if verb in (None, v) and resource in (None, r)
            )

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            by_verb: dict[str, dict[str, int]] = {}
            for (verb, resource), n in sorted(self._counts.items()):
                by_verb.setdefault(verb, {})[resource] = n
            return {"total": sum(self._counts.values()), "requests": by_verb}

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


STORE = web.AppKey("store", Store)
REQUESTS = web.AppKey("requests", RequestCounter)
WATCH_TIMEOUT = web.AppKey("watch_timeout", float)
WATCHES = web.AppKey("watches", set)


@dataclass(frozen=True)
class Target:
    """What an API path addresses."""

    resource: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None

    @property
    def label(self) -> str:
        return self.resource.qualified + (f"/{self.subresource}" if self.subresource else "")


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=_dumps(obj), status=status, content_type="application/json")


def _discovery(request: web.Request, document: dict | None) -> web.Response:
    request.app[REQUESTS].record("get", "discovery")
    if document is None:
        raise errors.no_such_path()
    if request.method != "GET":
        raise errors.method_not_allowed()
    return _json(document)


def _route(request: web.Request) -> Target | web.Response:
    """Resolve an `/api` or `/apis` path to a resource, or answer it as discovery."""
    store = request.app[STORE]
    parts = [part for part in request.path.split("/") if part]
    if parts[0] == "api":
        if len(parts) == 1:
            return _discovery(request, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
        group, version, rest = "", parts[1], parts[2:]
    else:
        if len(parts) == 1:
            return _discovery(request, api_group_list(store.resources))
        if len(parts) == 2:
            return _discovery(request, api_group(parts[1], store.resources))
        group, version, rest = parts[1], parts[2], parts[3:]
    if not rest:
        document = api_resource_list(group, version, store.resources)
        return _discovery(request, document if document["resources"] else None)
    namespace = None
    # /api/v1/namespaces/<name>/status is the namespace's own subresource, not a collection.
    if len(rest) >= 3 and rest[0] == "namespaces" and not (group == "" and len(rest) == 3 and rest[2] == "status"):
        namespace, rest = rest[1], rest[2:]
    resource = store.resource(group, version, rest[0])
    if resource is None or len(rest) > 3 or (namespace is not None and not resource.namespaced):
        raise errors.no_such_path()
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    if subresource is not None and (subresource != "status" or not resource.status):
        raise errors.no_such_path()
    if name is not None and resource.namespaced and namespace is None:
        raise errors.no_such_path()
    return Target(resource, namespace, name, subresource)


def _verb(request: web.Request, target: Target) -> str:
    method = request.method
    if target.name is None:
        if method == "GET":
            return "watch" if request.query.get("watch") in ("true", "1") else "list"
        if method == "POST" and (target.namespace is not None or not target.resource.namespaced):
            return "create"
        if method == "DELETE":
            return "deletecollection"
    else:
        verbs = {"GET": "get", "PUT": "update", "PATCH": "patch"}
        if target.subresource is None:
            verbs["DELETE"] = "delete"
        if method in verbs:
            return verbs[method]
    raise errors.method_not_allowed()


async def _body(request: web.Request, *, optional: bool = False) -> Any:
    raw = await request.read()
    if not raw.strip():
        if optional:
            return None
        raise errors.bad_request("the request body is empty")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise errors.bad_request(f"the body of the request could not be decoded as JSON: {exc}") from None


def _integer(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except ValueError:
        raise errors.bad_request(f"invalid value for {name}: {value!r}") from None
    if number < 0:
        raise errors.bad_request(f"invalid value for {name}: {value!r}")
    return number


def _dry_run(request: web.Request, options: dict | None = None) -> bool:
    values = request.query.getall("dryRun", []) + list((options or {}).get("dryRun") or [])
    for value in values:
        if value != "All":
            raise errors.bad_request(f'unsupported dry run value "{value}": only "All" is supported')
    return bool(values)


async def api_handler(request: web.Request) -> web.StreamResponse:
    routed = _route(request)
    if isinstance(routed, web.StreamResponse):
        return routed
    target = routed
    verb = _verb(request, target)
    request.app[REQUESTS].record(verb, target.label)
    return await _HANDLERS[verb](request, target)


async def _list(request: web.Request, target: Target) -> web.Response:
    resource = target.resource
    match = both(label_selector(request.query.get("labelSelector")), field_selector(request.query.get("fieldSelector")))
    page = request.app[STORE].list(
        resource, target.namespace, match, limit=_integer(request, "limit"), continue_token=request.query.get("continue")
    )
    metadata: dict[str, Any] = {"resourceVersion": page.resource_version}
    if page.continue_token:
        metadata.update({"continue": page.continue_token, "remainingItemCount": page.remaining})
    # The real server leaves kind and apiVersion off the items of built-in lists.
    items = (
        [{k: v for k, v in obj.items() if k not in ("apiVersion", "kind")} for obj in page.items]
        if resource.builtin
        else page.items
    )
    return _json({"kind": f"{resource.kind}List", "apiVersion": resource.api_version, "metadata": metadata, "items": items})


async def _watch(request: web.Request, target: Target) -> web.StreamResponse:
    """Stream newline-delimited watch events until timeoutSeconds, the client leaves or the server stops."""
    store = request.app[STORE]
    match = both(label_selector(request.query.get("labelSelector")), field_selector(request.query.get("fieldSelector")))
    since = _integer(request, "resourceVersion")
    timeout = _integer(request, "timeoutSeconds") or request.app[WATCH_TIMEOUT]
    bookmarks = request.query.get("allowWatchBookmarks") in ("true", "1")
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, dict] | None] = asyncio.Queue()
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    try:
        started = store.watch(
            target.resource, target.namespace, match, since, lambda item: loop.call_soon_threadsafe(queue.put_nowait, item)
        )
    except ApiError as exc:
        # An expired resourceVersion is reported inside the stream, as the real server does.
        await response.prepare(request)
        await response.write(_dumps({"type": "ERROR", "object": exc.status()}) + b"\n")
        await response.write_eof()
        return response
    request.app[WATCHES].add(queue)
    revision = max(started.revision, since or 0)
    stopping = False
    try:
        await response.prepare(request)
        for event_type, obj in started.initial:
            await response.write(_dumps({"type": event_type, "object": obj}) + b"\n")
        deadline = loop.time() + timeout
        while (remaining := deadline - loop.time()) > 0:
            try:
                item = await asyncio.wait_for(queue.get(), min(remaining, _WATCH_LIVENESS_SECONDS))
            except TimeoutError:
                if request.transport is None or request.transport.is_closing():
                    return response
                continue
            if item is None:
                stopping = True
                break
            event_type, obj = item
            await response.write(_dumps({"type": event_type, "object": obj}) + b"\n")
            revision = int(obj["metadata"]["resourceVersion"])
        if bookmarks and not stopping:
            bookmark = {"kind": target.resource.kind, "apiVersion": target.resource.api_version,
                        "metadata": {"resourceVersion": str(revision)}}
            await response.write(_dumps({"type": "BOOKMARK", "object": bookmark}) + b"\n")
        await response.write_eof()
    except ConnectionError:
        pass  # the client went away
    finally:
        started.cancel()
        request.app[WATCHES].discard(queue)
    return response


async def _get(request: web.Request, target: Target) -> web.Response:
    return _json(request.app[STORE].get(target.resource, target.namespace, target.name))


async def _create(request: web.Request, target: Target) -> web.Response:
    body = await _body(request)
    obj = request.app[STORE].create(target.resource, target.namespace, body, dry_run=_dry_run(request))
    return _json(obj, 201)


async def _update(request: web.Request, target: Target) -> web.Response:
    body = await _body(request)
    obj = request.app[STORE].update(
        target.resource, target.namespace, target.name, body, subresource=target.subresource, dry_run=_dry_run(request)
    )
    return _json(obj)


async def _patch(request: web.Request, target: Target) -> web.Response:
    patch_type = _PATCH_TYPES.get(request.content_type)
    if patch_type is None:
        raise errors.unsupported_media_type(request.content_type)
    body = await _body(request)
    obj = request.app[STORE].patch(
        target.resource, target.namespace, target.name, patch_type, body,
        subresource=target.subresource, dry_run=_dry_run(request),
    )
    return _json(obj)


async def _delete(request: web.Request, target: Target) -> web.Response:
    options = await _body(request, optional=True) or {}
    obj, gone = request.app[STORE].delete(
        target.resource, target.namespace, target.name,
        preconditions=options.get("preconditions"), dry_run=_dry_run(request, options),
    )
    if not gone:
        return _json(obj, 202)  # finalizers pending: the object stays, marked for deletion
    details = {"name": target.name, "kind": target.resource.plural, "uid": obj["metadata"]["uid"]}
    if target.resource.group:
        details["group"] = target.resource.group
    return _json({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})


async def _delete_collection(request: web.Request, target: Target) -> web.Response:
    options = await _body(request, optional=True) or {}
    match = both(label_selector(request.query.get("labelSelector")), field_selector(request.query.get("fieldSelector")))
    deleted = request.app[STORE].delete_collection(
        target.resource, target.namespace, match, dry_run=_dry_run(request, options)
    )
    resource = target.resource
    return _json({"kind": f"{resource.kind}List", "apiVersion": resource.api_version,
                  "metadata": {"resourceVersion": str(request.app[STORE].revision)}, "items": deleted})


_HANDLERS: dict[str, Callable[[web.Request, Target], Awaitable[web.StreamResponse]]] = {
    "list": _list,
    "watch": _watch,
    "get": _get,
    "create": _create,
    "update": _update,
    "patch": _patch,
    "delete": _delete,
    "deletecollection": _delete_collection,
}


async def version_handler(request: web.Request) -> web.Response:
    return _discovery(request, VERSION)


async def health_handler(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def requests_handler(request: web.Request) -> web.Response:
    """GET: API calls so far by verb and resource."""
    return _json(request.app[REQUESTS].snapshot())


async def requests_reset_handler(request: web.Request) -> web.Response:
    """POST: start counting from zero."""
    request.app[REQUESTS].reset()
    return _json(request.app[REQUESTS].snapshot())


@web.middleware
async def status_errors(request: web.Request, handler) -> web.StreamResponse:
    """Every failure answers with a Kubernetes `Status` body."""
    try:
        return await handler(request)
    except ApiError as exc:
        return _json(exc.status(), exc.code)
    except web.HTTPNotFound:
        error = errors.no_such_path()
        return _json(error.status(), error.code)
    except web.HTTPMethodNotAllowed:
        error = errors.method_not_allowed()
        return _json(error.status(), error.code)
    except web.HTTPException:
        raise
    except Exception as exc:
        logger.exception("sandbox API server failed on %s %s", request.method, request.path)
        error = ApiError(500, "InternalError", f"an error on the server has prevented the request from succeeding: {exc}")
        return _json(error.status(), error.code)


async def _end_watches(app: web.Application) -> None:
    for queue in list(app[WATCHES]):
        queue.put_nowait(None)


def create_app(
    store: Store | None = None,
    requests: RequestCounter | None = None,
    *,
    watch_timeout: float = DEFAULT_WATCH_TIMEOUT,
) -> web.Application:
    """The API server as an aiohttp application (not yet running)."""
    app = web.Application(middlewares=[status_errors])
    app[STORE] = store if store is not None else Store()
    app[REQUESTS] = requests if requests is not None else RequestCounter()
    app[WATCH_TIMEOUT] = float(watch_timeout)
    app[WATCHES] = set()
    app.on_shutdown.append(_end_watches)
    app.router.add_route("*", "/api", api_handler)
    app.router.add_route("*", "/api/{tail:.*}", api_handler)
    app.router.add_route("*", "/apis", api_handler)
    app.router.add_route("*", "/apis/{tail:.*}", api_handler)
    app.router.add_get("/version", version_handler)
    app.router.add_get("/version/", version_handler)
    for path in ("/healthz", "/livez", "/readyz"):
        app.router.add_get(path, health_handler)
    app.router.add_get("/sandbox/requests", requests_handler)
    app.router.add_post("/sandbox/requests/reset", requests_reset_handler)
    return app

