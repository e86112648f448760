"""OpenCost's allocation API for the sandbox: what each running endpoint cost, computed.

The reference platform runs OpenCost next to Prometheus; the portal asks it what each workload
cost (`GET /allocation/compute` or `GET /allocation`). The sandbox answers the same requests,
in OpenCost's shapes, from the InferenceServices in its store, so the demo's cost pages show
real-looking figures:

- each InferenceService is one allocation (its predictor's `kserve-container` on one node),
  running since its `creationTimestamp`; its requests come from `deployments.resources` (the
  namespace's LimitRange defaults applied: the store's, else the repository's
  `infrastructure/namespaces/<namespace>/`) × replicas (`minReplicas`, default 1; a predictor
  that scales to zero runs nothing);
- cost = hours × requests × the unit prices given (CPU core-hour, GiB-hour, GPU-hour), as
  OpenCost prices allocations with its default custom pricing;
- usage stays below requests: a stable fraction between 0.35 and 0.85 per endpoint (from a
  hash of namespace/name), unless the InferenceService's annotations
  `sandbox.neuroscale.io/cpu-utilization` / `sandbox.neuroscale.io/memory-utilization` give it.

Windows (`24h`, `7d`, `today`, `lastmonth`, `<RFC3339>,<RFC3339>`, ...), `aggregate`, `step`
and `accumulate` follow OpenCost (`core/pkg/opencost/window.go`, `allocationprops.go`,
`allocation.go`); the differences are listed in sandbox/README.md.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aiohttp import web

from deployments.resources import QuantityError, workload_resources
from portal.yamlsafe import YAMLError, load_all
from sandbox.store import Store

logger = logging.getLogger(__name__)

CLUSTER = "sandbox"
NODE = "sandbox-node"
CONTAINER = "kserve-container"
UNALLOCATED = "__unallocated__"
CPU_ANNOTATION = "sandbox.neuroscale.io/cpu-utilization"
MEMORY_ANNOTATION = "sandbox.neuroscale.io/memory-utilization"
#: Usage as a share of requests when no annotation says otherwise.
USAGE_RANGE = (0.35, 0.85)
GIB = 1024**3
#: OpenCost rounds every figure of its JSON answers to this many decimals.
DECIMALS = 5
#: More steps than this in one answer is refused (a 5-year window at step=1h, say).
MAX_SETS = 2000
LIMIT_RANGE_FOLDER = "infrastructure/namespaces"


@dataclass(frozen=True)
class Prices:
    """Unit prices, as OpenCost's custom pricing (and the portal's PORTAL_PRICE_* defaults)."""

    cpu_hour: float = 0.031611  # per core-hour
    gib_hour: float = 0.004237  # per GiB of memory per hour
    gpu_hour: float = 0.95  # per GPU-hour


class BadRequest(ValueError):
    """A parameter OpenCost would refuse; the message names it."""


# --- Windows, as OpenCost parses them ------------------------------------------------------------

_DAY = timedelta(days=1)
_UNITS = {"s": timedelta(seconds=1), "m": timedelta(minutes=1), "h": timedelta(hours=1), "d": _DAY, "w": 7 * _DAY}
_DURATION = re.compile(r"^(\d+)(m|h|d|w)$")
_RFC3339 = r"\d\d\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ"
_RFC_PAIR = re.compile(rf"^({_RFC3339}),({_RFC3339})$")
_TIMESTAMP_PAIR = re.compile(r"^(\d+)[,|-](\d+)$")
_STEP = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d|w)$")


def _midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _truncate(moment: datetime, unit: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((moment - epoch) // unit) * unit


def parse_window(text: str, now: datetime) -> tuple[datetime, datetime]:
    """OpenCost's window (UTC): named intervals, durations, RFC3339 or Unix timestamp pairs."""
    today = _midnight(now)
    if text == "today":
        return today, today + _DAY
    if text == "yesterday":
        return today - _DAY, today
    sunday = today - _DAY * ((today.weekday() + 1) % 7)  # Go counts weekdays from Sunday
    if text == "week":
        return sunday, now
    if text == "lastweek":
        return sunday - 7 * _DAY, sunday
    first = today.replace(day=1)
    if text == "month":
        return first, now
    if text == "lastmonth":
        return (first - _DAY).replace(day=1), first
    if match := _DURATION.match(text):
        count, unit = int(match[1]), _UNITS[match[2]]
        if match[2] == "w":  # the week ends today
            return _midnight(now - count * unit) + _DAY, today + _DAY
        end = _truncate(now, unit) + unit  # "the past 7 days" = today and the 6 days before
        return end - count * unit, end
    if match := _RFC_PAIR.match(text):
        return (datetime.strptime(match[1], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC),
                datetime.strptime(match[2], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC))
    if match := _TIMESTAMP_PAIR.match(text):
        return datetime.fromtimestamp(int(match[1]), UTC), datetime.fromtimestamp(int(match[2]), UTC)
    raise BadRequest(
        f"Invalid 'window' parameter: illegal window: {text} (use e.g. 24h, 7d, today, yesterday, week, "
        "month, lastweek, lastmonth or 2026-05-01T00:00:00Z,2026-05-02T00:00:00Z)"
    )


def parse_step(text: str) -> timedelta:
    match = _STEP.match(text)
    if not match or float(match[1]) <= 0:
        raise BadRequest(f"Invalid 'step' parameter: {text} (use e.g. 1d, 24h or 1w)")
    return float(match[1]) * _UNITS[match[2]]


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _timestamp(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


# --- Workloads and allocations --------------------------------------------------------------------


def prometheus_name(name: str) -> str:
    """A Kubernetes label name as OpenCost shows it (through Prometheus): `cost-center` → `cost_center`."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def usage_fraction(namespace: str, name: str, resource: str, annotation: str | None) -> float:
    """The share of its requests an endpoint uses: the annotation's, else a stable hash's."""
    if annotation is not None:
        try:
            value = float(annotation)
        except ValueError:
            value = -1.0
        if 0.0 <= value <= 1.0:
            return value
        logger.warning("opencost: %s/%s: %r is not a fraction between 0 and 1; using a computed usage",
                       namespace, name, annotation)
    digest = hashlib.sha256(f"{namespace}/{name}/{resource}".encode()).digest()
    share = int.from_bytes(digest[:8], "big") / 2**64
    low, high = USAGE_RANGE
    return low + (high - low) * share


@dataclass(frozen=True)
class Workload:
    """One endpoint's predictor as OpenCost sees it: requests of every replica, usage, lifetime."""

    properties: dict
    created: datetime
    cpu_cores: float
    ram_bytes: float
    gpus: float
    cpu_usage: float  # fraction of the CPU request in use
    ram_usage: float


@dataclass
class Allocation:
    """OpenCost's Allocation: totals over [start, end] within `window`, merged as OpenCost adds them."""

    name: str
    properties: dict
    window: tuple[datetime, datetime]
    start: datetime
    end: datetime
    cpu_core_hours: float = 0.0
    cpu_request_core_minutes: float = 0.0
    cpu_usage_core_minutes: float = 0.0
    ram_byte_hours: float = 0.0
    ram_request_byte_minutes: float = 0.0
    ram_usage_byte_minutes: float = 0.0
    gpu_hours: float = 0.0
    gpu_request_minutes: float = 0.0
    members: int = 1
    metadata: bool = field(default=False, repr=False)

    @property
    def minutes(self) -> float:
        return (self.end - self.start).total_seconds() / 60

    def add(self, other: Allocation) -> None:
        """Merge another allocation in: sums, the span of both, common properties (as OpenCost)."""
        for name in ("cpu_core_hours", "cpu_request_core_minutes", "cpu_usage_core_minutes", "ram_byte_hours",
                     "ram_request_byte_minutes", "ram_usage_byte_minutes", "gpu_hours", "gpu_request_minutes"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.start, self.end = min(self.start, other.start), max(self.end, other.end)
        self.window = (min(self.window[0], other.window[0]), max(self.window[1], other.window[1]))
        self.properties = intersection(self.properties, other.properties, metadata=self.metadata)
        self.members += other.members

    def as_json(self, prices: Prices) -> dict:
        minutes = self.minutes
        hours = minutes / 60
        cpu_cost = self.cpu_core_hours * prices.cpu_hour
        gpu_cost = self.gpu_hours * prices.gpu_hour
        ram_cost = self.ram_byte_hours / GIB * prices.gib_hour
        cpu_request = self.cpu_request_core_minutes / minutes if minutes else 0.0
        cpu_usage = self.cpu_usage_core_minutes / minutes if minutes else 0.0
        ram_request = self.ram_request_byte_minutes / minutes if minutes else 0.0
        ram_usage = self.ram_usage_byte_minutes / minutes if minutes else 0.0
        cpu_efficiency = _efficiency(cpu_usage, cpu_request)
        ram_efficiency = _efficiency(ram_usage, ram_request)
        total_cost = cpu_cost + gpu_cost + ram_cost
        compute_cost = cpu_cost + ram_cost
        total_efficiency = (
            (cpu_efficiency * cpu_cost + ram_efficiency * ram_cost) / compute_cost if compute_cost > 0 else 0.0
        )
        r = _round
        return {
            "name": self.name,
            "properties": self.properties,
            "window": {"start": rfc3339(self.window[0]), "end": rfc3339(self.window[1])},
            "start": rfc3339(self.start),
            "end": rfc3339(self.end),
            "minutes": r(minutes),
            "cpuCores": r(self.cpu_core_hours / hours if hours else 0.0),
            "cpuCoreRequestAverage": r(cpu_request),
            "cpuCoreUsageAverage": r(cpu_usage),
            "cpuCoreHours": r(self.cpu_core_hours),
            "cpuCost": r(cpu_cost),
            "cpuCostAdjustment": 0,
            "cpuCostIdle": 0,
            "cpuEfficiency": r(cpu_efficiency),
            "gpuCount": r(self.gpu_hours / hours if hours else 0.0),
            "gpuRequestAverage": r(self.gpu_request_minutes / minutes if minutes else 0.0),
            "gpuUsageAverage": 0,  # no GPU metrics exporter in the sandbox
            "gpuHours": r(self.gpu_hours),
            "gpuCost": r(gpu_cost),
            "gpuCostAdjustment": 0,
            "gpuCostIdle": 0,
            "gpuEfficiency": 0,
            "networkTransferBytes": 0,
            "networkReceiveBytes": 0,
            "networkCost": 0,
            "networkCrossZoneCost": 0,
            "networkCrossRegionCost": 0,
            "networkInternetCost": 0,
            "networkCostAdjustment": 0,
            "loadBalancerCost": 0,
            "loadBalancerCostAdjustment": 0,
            "pvBytes": 0,
            "pvByteHours": 0,
            "pvCost": 0,
            "pvs": None,
            "pvCostAdjustment": 0,
            "ramBytes": r(self.ram_byte_hours / hours if hours else 0.0),
            "ramByteRequestAverage": r(ram_request),
            "ramByteUsageAverage": r(ram_usage),
            "ramByteHours": r(self.ram_byte_hours),
            "ramCost": r(ram_cost),
            "ramCostAdjustment": 0,
            "ramCostIdle": 0,
            "ramEfficiency": r(ram_efficiency),
            "externalCost": 0,
            "sharedCost": 0,
            "totalCost": r(total_cost),
            "totalEfficiency": r(total_efficiency),
            "proportionalAssetResourceCosts": {},
            "lbAllocations": None,
            "sharedCostBreakdown": {},
        }


def _round(value: float) -> float:
    return round(value, DECIMALS) + 0.0  # + 0.0: never -0.0


def _efficiency(usage: float, request: float) -> float:
    """OpenCost's: usage over request; 1 when something is used with nothing requested."""
    if request > 0:
        return usage / request
    return 1.0 if usage > 0 else 0.0


def intersection(a: dict, b: dict, *, metadata: bool = False) -> dict:
    """The properties two merged allocations share (labels only with includeAggregatedMetadata)."""
    common = {key: a[key] for key in ("cluster", "node", "container", "controller", "controllerKind", "pod",
                                      "providerID") if key in a and a.get(key) == b.get(key)}
    if "namespace" in a and a.get("namespace") == b.get("namespace"):
        common["namespace"] = a["namespace"]
        if "namespaceLabels" in a:
            common["namespaceLabels"] = dict(a["namespaceLabels"])
        if metadata:
            for key in ("labels", "annotations"):
                shared = {k: v for k, v in (a.get(key) or {}).items() if (b.get(key) or {}).get(k) == v}
                if shared:
                    common[key] = shared
    order = ("cluster", "node", "container", "controller", "controllerKind", "namespace", "pod", "providerID",
             "labels", "annotations", "namespaceLabels")
    return {key: common[key] for key in order if key in common}


# --- Aggregation keys, as OpenCost generates them -------------------------------------------------

_SIMPLE_PROPERTIES = ("cluster", "node", "namespace", "controllerkind", "controller", "pod", "container")


def parse_aggregate(text: str) -> list[str]:
    """`namespace,controller` or `label:cost-center` → properties (label names as OpenCost keeps them)."""
    properties: list[str] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part.startswith("label:") and part.removeprefix("label:").strip():
            prop = "label:" + prometheus_name(part.removeprefix("label:").strip())
        elif part.lower() in _SIMPLE_PROPERTIES:
            prop = part.lower()
        else:
            raise BadRequest(
                f"Invalid 'aggregate' parameter: invalid allocation property: {part} (use e.g. namespace, "
                "controller, namespace,controller or label:cost-center)"
            )
        if prop not in properties:
            properties.append(prop)
    return properties


def aggregation_key(properties: Mapping, aggregate: list[str]) -> str:
    if not aggregate:  # OpenCost's default: one allocation per container
        return "/".join(str(properties.get(k, "")) for k in ("cluster", "node", "namespace", "pod", "container"))
    names = []
    for prop in aggregate:
        if prop.startswith("label:"):
            names.append(str((properties.get("labels") or {}).get(prop.removeprefix("label:"), UNALLOCATED)))
        elif prop == "controller":
            controller, kind = properties.get("controller"), properties.get("controllerKind")
            names.append(f"{kind}:{controller}" if controller and kind else controller or UNALLOCATED)
        elif prop == "controllerkind":
            names.append(str(properties.get("controllerKind") or UNALLOCATED))
        else:
            names.append(str(properties.get(prop, "")))
    return "/".join(names)


# --- The computation --------------------------------------------------------------------------------


class OpenCost:
    """The allocation API over one store; `prices`, `clock` and `source` may be changed any time."""

    def __init__(self, store: Store, *, prices: Prices = Prices(), clock: Callable[[], datetime] | None = None,
                 source=None, cluster: str = CLUSTER):
        self.store = store
        self.prices = prices
        self.clock = clock or (lambda: datetime.now(UTC))
        #: The repository's default branch (a controllers RepositorySource): LimitRanges of
        #: namespaces the store has none for.
        self.source = source
        self.cluster = cluster
        self._repository_limit_ranges: tuple[str | None, dict[str, list[dict]]] = (None, {})
        self._lock = threading.Lock()

    # -- What runs --

    def workloads(self) -> list[Workload]:
        isvcs = self.store.resource_for("serving.kserve.io/v1beta1", "InferenceService")
        limit_range_resource = self.store.resource_for("v1", "LimitRange")
        limit_ranges: dict[str, list[dict]] = {}
        for item in self.store.list(limit_range_resource).items:
            limit_ranges.setdefault(item["metadata"]["namespace"], []).append(item)
        namespace_labels = {
            ns["metadata"]["name"]: ns["metadata"].get("labels") or {}
            for ns in self.store.list(self.store.namespaces).items
        }
        found = []
        repository_ranges: dict[str, list[dict]] | None = None
        for isvc in self.store.list(isvcs).items:
            metadata = isvc["metadata"]
            namespace, name = metadata["namespace"], metadata["name"]
            ranges = limit_ranges.get(namespace)
            if ranges is None:
                if repository_ranges is None:
                    repository_ranges = self._repository_ranges()
                ranges = repository_ranges.get(namespace, [])
            try:
                resources = workload_resources(isvc, ranges)
            except (QuantityError, ValueError) as exc:
                logger.warning("opencost: %s/%s left out: %s", namespace, name, exc)
                continue
            if resources.replicas == 0:
                continue  # scaled to zero: no pod, no allocation
            created = _timestamp(metadata.get("creationTimestamp") or "")
            if created is None:
                continue
            requests = resources.requests
            annotations = metadata.get("annotations") or {}
            found.append(Workload(
                properties=self._properties(isvc, namespace_labels.get(namespace, {})),
                created=created,
                cpu_cores=float(requests.get("cpu", 0)),
                ram_bytes=float(requests.get("memory", 0)),
                gpus=float(requests.get("gpu", 0)),
                cpu_usage=usage_fraction(namespace, name, "cpu", annotations.get(CPU_ANNOTATION)),
                ram_usage=usage_fraction(namespace, name, "memory", annotations.get(MEMORY_ANNOTATION)),
            ))
        return found

    def _properties(self, isvc: dict, namespace_labels: Mapping) -> dict:
        """Where the predictor's container runs, as OpenCost labels it. The controller is the
        Deployment KServe creates in RawDeployment mode, `<name>-predictor`."""
        metadata = isvc["metadata"]
        namespace, name = metadata["namespace"], metadata["name"]
        controller = f"{name}-predictor"
        digest = hashlib.sha256(str(metadata.get("uid") or f"{namespace}/{name}").encode()).hexdigest()
        labels = {prometheus_name(k): str(v) for k, v in (metadata.get("labels") or {}).items()}
        labels.update({"app": controller, "component": "predictor",
                       "serving_kserve_io_inferenceservice": name})
        return {
            "cluster": self.cluster,
            "node": NODE,
            "container": CONTAINER,
            "controller": controller,
            "controllerKind": "deployment",
            "namespace": namespace,
            "pod": f"{controller}-{digest[:10]}-{digest[10:15]}",
            "labels": dict(sorted(labels.items())),
            "namespaceLabels": {"kubernetes_io_metadata_name": namespace,
                                **{prometheus_name(k): str(v) for k, v in namespace_labels.items()}},
        }

    def _repository_ranges(self) -> dict[str, list[dict]]:
        """LimitRanges under infrastructure/namespaces/ of the repository, by namespace (cached per commit)."""
        if self.source is None:
            return {}
        revision, files = self.source()
        with self._lock:
            if self._repository_limit_ranges[0] == revision:
                return self._repository_limit_ranges[1]
            found: dict[str, list[dict]] = {}
            for path in sorted(p for p in files if p.startswith(LIMIT_RANGE_FOLDER + "/") and p.endswith((".yaml", ".yml"))):
                try:
                    documents = load_all(files[path], max_bytes=1_000_000, source=path)
                except YAMLError as exc:
                    logger.warning("opencost: %s", exc)
                    continue
                for document in documents:
                    if isinstance(document, dict) and document.get("kind") == "LimitRange":
                        namespace = str((document.get("metadata") or {}).get("namespace") or "default")
                        found.setdefault(namespace, []).append(document)
            self._repository_limit_ranges = (revision, found)
            return found

    # -- The answer --

    def allocation(self, params: Mapping[str, str]) -> list[dict]:
        """`data` of OpenCost's answer: one allocation set per step (a map of key → allocation)."""
        now = self.clock().astimezone(UTC)
        if not params.get("window"):
            raise BadRequest("Missing 'window' parameter (e.g. window=24h, 7d, today or <RFC3339>,<RFC3339>)")
        start, end = parse_window(params["window"].strip(), now)
        end = min(end, now)  # nothing is known about the future
        if end <= start:
            raise BadRequest(f"Invalid 'window' parameter: {params['window']} has not started yet")
        aggregate = parse_aggregate(params.get("aggregate", ""))
        accumulate = _boolean(params.get("accumulate", ""), "accumulate")
        metadata = _boolean(params.get("includeAggregatedMetadata", ""), "includeAggregatedMetadata")
        step = parse_step(params["step"]) if params.get("step") else end - start
        windows = []
        cursor = start
        while cursor < end:
            windows.append((cursor, min(cursor + step, end)))
            cursor += step
            if len(windows) > MAX_SETS:
                raise BadRequest(f"Invalid 'step' parameter: {params['step']} makes more than {MAX_SETS} sets "
                                 "of this window; use a longer step")
        workloads = self.workloads()
        sets = [self._set(workloads, window, now, aggregate, metadata) for window in windows]
        if accumulate and len(sets) > 1:
            merged: dict[str, Allocation] = {}
            for allocation_set in sets:
                for key, allocation in allocation_set.items():
                    if key in merged:
                        merged[key].add(allocation)
                    else:
                        merged[key] = allocation
            for allocation in merged.values():
                allocation.window = (start, end)
            sets = [merged]
        return [{key: allocation.as_json(self.prices) for key, allocation in sorted(s.items())} for s in sets]

    def _set(self, workloads: list[Workload], window: tuple[datetime, datetime], now: datetime,
             aggregate: list[str], metadata: bool) -> dict[str, Allocation]:
        found: dict[str, Allocation] = {}
        for workload in workloads:
            start, end = max(window[0], workload.created), min(window[1], now)
            if end <= start:
                continue
            minutes = (end - start).total_seconds() / 60
            hours = minutes / 60
            key = aggregation_key(workload.properties, aggregate)
            allocation = Allocation(
                name=key, properties=dict(workload.properties), window=window, start=start, end=end,
                cpu_core_hours=workload.cpu_cores * hours,
                cpu_request_core_minutes=workload.cpu_cores * minutes,
                cpu_usage_core_minutes=workload.cpu_cores * workload.cpu_usage * minutes,
                ram_byte_hours=workload.ram_bytes * hours,
                ram_request_byte_minutes=workload.ram_bytes * minutes,
                ram_usage_byte_minutes=workload.ram_bytes * workload.ram_usage * minutes,
                gpu_hours=workload.gpus * hours,
                gpu_request_minutes=workload.gpus * minutes,
                metadata=metadata,
            )
            if key in found:
                found[key].add(allocation)
            else:
                found[key] = allocation
        return found


def _boolean(text: str, name: str) -> bool:
    value = text.strip().lower()
    if value in ("", "false", "0", "f"):
        return False
    if value in ("true", "1", "t"):
        return True
    raise BadRequest(f"Invalid '{name}' parameter: {text} (use true or false)")


# --- HTTP ---------------------------------------------------------------------------------------------

OPENCOST = web.AppKey("opencost", OpenCost)


async def allocation_handler(request: web.Request) -> web.Response:
    opencost = request.app[OPENCOST]
    loop = asyncio.get_running_loop()
    try:
        # Off the event loop: a repository snapshot read may touch the portal's database.
        data = await loop.run_in_executor(None, opencost.allocation, dict(request.query))
    except BadRequest as exc:
        return web.json_response({"code": 400, "status": "error", "data": None, "message": str(exc)}, status=400)
    return web.json_response({"code": 200, "status": "success", "data": data})


def install(app: web.Application, store: Store, **options) -> OpenCost:
    """Serve OpenCost's allocation API (`/allocation/compute` and `/allocation`) on `app`."""
    opencost = OpenCost(store, **options)
    app[OPENCOST] = opencost
    app.router.add_get("/allocation/compute", allocation_handler)
    app.router.add_get("/allocation", allocation_handler)
    return opencost
