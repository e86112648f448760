"""OpenCost's allocation API, read with httpx: what each workload cost over a window.

A small typed client. `allocation()` asks `/allocation/compute` (OpenCost's own API) and falls back
to `/allocation` (the path of OpenCost's UI proxy and of older releases) when that answers 404.
Responses are parsed into `AllocationSet`s of `Allocation`s; money is `Decimal` straight from the
JSON text, so a total adds up to the cent the way OpenCost printed it.

Failures are `OpenCostError`s in words, naming the URL without credentials or query:
`Unavailable` (no answer, a timeout, a 5xx: try again at the next beat) and `Refused` (a 4xx or
a body that is not an allocation response: retrying will not help).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit

import httpx
import structlog

log = structlog.get_logger(__name__)

#: Seconds OpenCost may take to answer one allocation query (it computes from Prometheus).
READ_TIMEOUT = 10.0
CONNECT_TIMEOUT = 5.0
#: Connection failures and 5xx answers are tried again this many times, after BACKOFF × attempt seconds.
RETRIES = 2
BACKOFF = 0.5
#: OpenCost's allocation names for what no label or controller claims.
UNALLOCATED = "__unallocated__"
IDLE = "__idle__"
ZERO = Decimal(0)
_MAX_MESSAGE = 200


class OpenCostError(Exception):
    """OpenCost could not be asked, in words a page can show."""


class Unavailable(OpenCostError):
    """No answer, a timeout or a server error: the next beat may succeed."""


class Refused(OpenCostError):
    """A 4xx, or an answer that is not an allocation response."""


@dataclass(frozen=True)
class Allocation:
    """One row of an allocation set: the cost of what shares `name` over its window.

    Each resource's cost includes OpenCost's adjustment for it (as OpenCost's own totals do).
    Efficiencies are fractions (0.25 = 25 %), None when there is no request to compare with.
    """

    name: str
    properties: dict = field(default_factory=dict)
    window_start: datetime | None = None
    window_end: datetime | None = None
    start: datetime | None = None
    end: datetime | None = None
    minutes: float = 0.0
    cpu_cost: Decimal = ZERO
    gpu_cost: Decimal = ZERO
    ram_cost: Decimal = ZERO
    network_cost: Decimal = ZERO
    pv_cost: Decimal = ZERO
    total_cost: Decimal = ZERO
    cpu_core_request_average: float | None = None
    cpu_core_usage_average: float | None = None
    ram_byte_request_average: float | None = None
    ram_byte_usage_average: float | None = None
    cpu_efficiency: float | None = None
    ram_efficiency: float | None = None
    total_efficiency: float | None = None

    @property
    def cluster(self) -> str:
        return str(self.properties.get("cluster") or "")

    @property
    def namespace(self) -> str:
        return str(self.properties.get("namespace") or "")

    @property
    def controller(self) -> str:
        return str(self.properties.get("controller") or "")

    @property
    def controller_kind(self) -> str:
        return str(self.properties.get("controllerKind") or "")

    @property
    def labels(self) -> dict:
        return dict(self.properties.get("labels") or {})

    @property
    def unallocated(self) -> bool:
        return self.name in (UNALLOCATED, IDLE) or self.name.endswith(f"/{UNALLOCATED}")


@dataclass(frozen=True)
class AllocationSet:
    """The allocations of one step of the window (one per day with step=1d)."""

    window_start: datetime | None
    window_end: datetime | None
    allocations: tuple[Allocation, ...] = ()

    @property
    def total_cost(self) -> Decimal:
        return sum((a.total_cost for a in self.allocations), ZERO)

    def by_name(self) -> dict[str, Allocation]:
        return {a.name: a for a in self.allocations}


# --- Parsing -------------------------------------------------------------------------------------


def _time(value) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _money(value) -> Decimal:
    if value is None or isinstance(value, bool):
        return ZERO
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return ZERO


def _float(value) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _pv_cost(raw: dict) -> Decimal:
    """`pvCost` when OpenCost gives it, else the sum of `pvs` (a map of volume → {cost, ...})."""
    if raw.get("pvCost") is not None:
        return _money(raw["pvCost"]) + _money(raw.get("pvCostAdjustment"))
    volumes = raw.get("pvs") or {}
    items = volumes.values() if isinstance(volumes, dict) else volumes
    return sum((_money(v.get("cost")) for v in items if isinstance(v, dict)), ZERO) + _money(raw.get("pvCostAdjustment"))


def _efficiency(raw: dict, key: str, request_key: str | None) -> float | None:
    """OpenCost writes 0 (or 1) when nothing was requested: that is "no figure", not 0 %."""
    value = _float(raw.get(key))
    if value is None:
        return None
    if request_key is not None and not _float(raw.get(request_key)):
        return None
    return value


def parse_allocation(name: str, raw: dict) -> Allocation:
    window = raw.get("window") or {}
    cpu = _money(raw.get("cpuCost")) + _money(raw.get("cpuCostAdjustment"))
    gpu = _money(raw.get("gpuCost")) + _money(raw.get("gpuCostAdjustment"))
    ram = _money(raw.get("ramCost")) + _money(raw.get("ramCostAdjustment"))
    network = _money(raw.get("networkCost")) + _money(raw.get("networkCostAdjustment"))
    pv = _pv_cost(raw)
    if raw.get("totalCost") is not None:
        total = _money(raw["totalCost"])
    else:
        total = cpu + gpu + ram + network + pv + sum(
            (_money(raw.get(k)) for k in ("loadBalancerCost", "loadBalancerCostAdjustment", "sharedCost", "externalCost")),
            ZERO,
        )
    cpu_eff = _efficiency(raw, "cpuEfficiency", "cpuCoreRequestAverage")
    ram_eff = _efficiency(raw, "ramEfficiency", "ramByteRequestAverage")
    total_eff = _efficiency(raw, "totalEfficiency", None) if (cpu_eff is not None or ram_eff is not None) else None
    return Allocation(
        name=str(raw.get("name") or name),
        properties=dict(raw.get("properties") or {}),
        window_start=_time(window.get("start")),
        window_end=_time(window.get("end")),
        start=_time(raw.get("start")),
        end=_time(raw.get("end")),
        minutes=_float(raw.get("minutes")) or 0.0,
        cpu_cost=cpu,
        gpu_cost=gpu,
        ram_cost=ram,
        network_cost=network,
        pv_cost=pv,
        total_cost=total,
        cpu_core_request_average=_float(raw.get("cpuCoreRequestAverage")),
        cpu_core_usage_average=_float(raw.get("cpuCoreUsageAverage")),
        ram_byte_request_average=_float(raw.get("ramByteRequestAverage")),
        ram_byte_usage_average=_float(raw.get("ramByteUsageAverage")),
        cpu_efficiency=cpu_eff,
        ram_efficiency=ram_eff,
        total_efficiency=total_eff,
    )


def _parse_set(raw) -> AllocationSet:
    if raw is None:
        return AllocationSet(None, None)
    if not isinstance(raw, dict) or not all(isinstance(v, dict) or v is None for v in raw.values()):
        raise Refused("its allocation set is not a map of names to allocations")
    allocations = tuple(parse_allocation(name, value) for name, value in raw.items() if value is not None)
    first = allocations[0] if allocations else None
    return AllocationSet(first.window_start if first else None, first.window_end if first else None, allocations)


def parse_response(payload) -> list[AllocationSet]:
    """Every shape OpenCost answers with: `data` as a list of sets (one per step), a single set,
    or `{"sets": [...]}`; the envelope (`code`, `status`) optional. Raises Refused on anything else."""
    if isinstance(payload, dict) and "data" in payload:
        code = payload.get("code")
        if isinstance(code, int | Decimal) and int(code) >= 400:
            raise Refused(f"answered code {int(code)}: {_short(payload.get('message') or payload.get('status'))}")
        data = payload["data"]
    else:
        data = payload
    if data is None:
        return []
    if isinstance(data, dict) and isinstance(data.get("sets"), list):
        data = data["sets"]
    if isinstance(data, list):
        return [_parse_set(item) for item in data]
    if isinstance(data, dict):
        return [_parse_set(data)]
    raise Refused("its `data` is neither a list of allocation sets nor a set")


# --- Windows -------------------------------------------------------------------------------------


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def day_window(day: date, now: datetime | None = None) -> str:
    """`<start>,<end>` of one UTC day, ending at `now` when the day is not over yet."""
    return days_window(day, day, now)


def days_window(first: date, last: date, now: datetime | None = None) -> str:
    """`<start>,<end>` from the start of `first` to the end of `last` (UTC days), ending at `now`
    (to the minute) when `last` is not over yet: OpenCost has nothing after now."""
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    end = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    if now is not None and now < end:
        end = max(start + timedelta(minutes=1), now.replace(second=0, microsecond=0))
    return f"{rfc3339(start)},{rfc3339(end)}"


# --- The client ----------------------------------------------------------------------------------


def _short(value) -> str:
    text = " ".join(str(value or "").split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def public_url(url: str) -> str:
    """The URL as a message may show it: no user, password, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


class OpenCostClient:
    """Asks one OpenCost for allocations. Use as a context manager, or call `close()`."""

    PATHS = ("/allocation/compute", "/allocation")

    def __init__(self, base_url: str, *, timeout: float = READ_TIMEOUT, retries: int = RETRIES,
                 backoff: float = BACKOFF, transport: httpx.BaseTransport | None = None):
        self.base_url = base_url.rstrip("/")
        self.shown_url = public_url(self.base_url)
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.calls = 0
        self._path: str | None = None
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout)),
            transport=transport,
            headers={"Accept": "application/json"},
            follow_redirects=False,
        )

    def __enter__(self) -> OpenCostClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def allocation(self, window: str, aggregate: str | Iterable[str] = "namespace", *, step: str | None = None,
                   accumulate: bool | None = None, resolution: str | None = None) -> list[AllocationSet]:
        """The allocation sets of `window`, aggregated by `aggregate` (e.g. "namespace,controller",
        "label:cost-center"), one set per `step` unless `accumulate`."""
        # Reference: https://www.opencost.io/docs/integrations/api#allocation-api
        params = {"window": window, "aggregate": aggregate if isinstance(aggregate, str) else ",".join(aggregate)}
        if step:
            params["step"] = step
        if accumulate is not None:
            params["accumulate"] = "true" if accumulate else "false"
        if resolution:
            params["resolution"] = resolution
        paths = (self._path,) if self._path else self.PATHS
        for path in paths:
            response = self._get(path, params)
            if response.status_code == 404 and path != paths[-1]:
                continue
            self._path = path
            return self._parse(response)
        raise AssertionError("unreachable")  # pragma: no cover

    def _get(self, path: str, params: dict) -> httpx.Response:
        url = f"{self.base_url}{path}"
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            self.calls += 1
            try:
                response = self._http.get(url, params=params)
            except httpx.TimeoutException as exc:
                if isinstance(exc, httpx.ConnectTimeout) and not last:
                    self._wait(attempt)
                    continue
                raise Unavailable(f"OpenCost at {self.shown_url} did not answer within {self.timeout:g} s") from None
            except httpx.TransportError as exc:
                if not last:
                    self._wait(attempt)
                    continue
                raise Unavailable(f"OpenCost at {self.shown_url} cannot be reached: {_transport_words(exc)}") from None
            if response.status_code >= 500 and not last:
                log.info("opencost answered a server error; trying again", url=self.shown_url, status=response.status_code)
                self._wait(attempt)
                continue
            if response.status_code >= 500:
                raise Unavailable(f"OpenCost at {self.shown_url} answered {response.status_code}: {_error_text(response)}")
            if response.status_code >= 400 and response.status_code != 404:
                raise Refused(f"OpenCost at {self.shown_url} answered {response.status_code}: {_error_text(response)}")
            if response.status_code == 404 and path == self.PATHS[-1]:
                raise Refused(f"OpenCost at {self.shown_url} has no allocation API (404 on /allocation/compute "
                              "and /allocation): check the URL")
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, attempt: int) -> None:
        time.sleep(self.backoff * (attempt + 1))

    def _parse(self, response: httpx.Response) -> list[AllocationSet]:
        try:
            payload = json.loads(response.content, parse_float=Decimal)
        except ValueError:
            raise Refused(f"OpenCost at {self.shown_url} answered {response.status_code} with something that "
                          "is not JSON") from None
        try:
            return parse_response(payload)
        except Refused as exc:
            raise Refused(f"OpenCost at {self.shown_url} {exc}") from None


def _error_text(response: httpx.Response) -> str:
    """OpenCost's own message when it sent JSON (`{"message": ...}`), else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return _short(response.text) or response.reason_phrase
    if isinstance(body, dict):
        return _short(body.get("message") or body.get("status") or body) or response.reason_phrase
    return _short(body) or response.reason_phrase


def _transport_words(exc: httpx.TransportError) -> str:
    text = str(exc).lower()
    if isinstance(exc, httpx.ConnectError) and ("refused" in text or "errno 111" in text):
        return "connection refused"
    if isinstance(exc, httpx.ConnectError) and ("name" in text and ("resolution" in text or "known" in text)):
        return "unknown host"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the connection closed before an answer"
    return type(exc).__name__
