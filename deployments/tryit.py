""""Try it": an inference request to a model endpoint, sent from the portal's server.

The developer types a KServe V1 (`POST /v1/models/<name>:predict`) or Open Inference Protocol V2
(`POST /v2/models/<name>/infer`) body; the portal sends it to the endpoint's InferenceService and
shows the HTTP status, the latency and the response. The target is always the URL the poller
stored for the InferenceService (`status.address.url`, else `status.url`) and the
InferenceService's own name: nothing in the request decides where it goes, so the form cannot
be used to reach any other host. Every call has PORTAL_TRY_IT_TIMEOUT, and the response is read
as a stream and cut at PORTAL_TRY_IT_MAX_BYTES, so a huge answer cannot fill the server's memory.

The same sender times an endpoint's first response: once an InferenceService first becomes
Ready, a worker sends the saved example (or a `GET /v1/models/<name>` health probe) once and
records the latency on the timeline (`probe_first_responses`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import timedelta
from http import HTTPStatus
from urllib.parse import urlsplit

import httpx
import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from deployments.models import (
    EndpointExample,
    InferenceProtocol,
    StatusEvent,
    StatusEventKind,
    WorkloadKind,
    WorkloadStatus,
)

log = structlog.get_logger(__name__)

#: The iris rows of KServe's sklearn example (and the reference platform's smoke test):
#: the iris model answers {"predictions": [1, 1]}.
IRIS_ROWS = [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]
DEFAULT_PAYLOADS = {
    InferenceProtocol.V1: {"instances": IRIS_ROWS},
    InferenceProtocol.V2: {
        # The Open Inference Protocol's tensor data is flat, row-major; `shape` gives the rows.
        "inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP32", "data": [v for row in IRIS_ROWS for v in row]}],
    },
}
#: A first response is timed only this soon after the first Ready: later, the number would say
#: nothing about the endpoint's start (e.g. when the portal starts watching an old cluster).
FIRST_RESPONSE_WINDOW = timedelta(hours=1)
#: Endpoints probed per run at most; the next poll cycle enqueues the rest.
FIRST_RESPONSE_BATCH = 20
_CHUNK = 64 * 1024


def size_words(count: int) -> str:
    """1048576 → "1 MiB", 2048 → "2 KiB", 700 → "700 bytes"."""
    for unit, size in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if count >= size:
            value = count / size
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{count} bytes"


def pretty_json(value) -> str:
    """Indented JSON with lists of numbers or strings kept on one line, as people write tensors:
    `"instances": [[6.8, 2.8, 4.8, 1.4], ...]` rather than one number per line."""
    try:
        return _pretty(value, "")
    except RecursionError:
        return json.dumps(value, indent=2, ensure_ascii=False)


def _pretty(value, indent: str) -> str:
    inner = indent + "  "
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(key, ensure_ascii=False)}: {_pretty(item, inner)}" for key, item in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list) and value:
        if all(not isinstance(item, dict | list) for item in value):
            return json.dumps(value, ensure_ascii=False)
        return "[\n" + ",\n".join(inner + _pretty(item, inner) for item in value) + "\n" + indent + "]"
    return json.dumps(value, ensure_ascii=False)


def default_payload(protocol: str) -> str:
    """The example body for a protocol, as the form shows it."""
    return pretty_json(DEFAULT_PAYLOADS.get(protocol, DEFAULT_PAYLOADS[InferenceProtocol.V1]))


# --- The target ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where a request to an endpoint goes: read from the poller's row, never from a form."""

    workload: WorkloadStatus  # or a listed kserve.InferenceService: a name, a namespace
    base_url: str

    @property
    def model(self) -> str:
        return self.workload.name

    def url(self, protocol: str) -> str:
        # Reference: https://kserve.github.io/website/latest/modelserving/data_plane/v1_protocol/
        # (POST /v1/models/<name>:predict) and .../data_plane/v2_protocol/ (POST /v2/models/<name>/infer)
        if protocol == InferenceProtocol.V2:
            return f"{self.base_url}/v2/models/{self.model}/infer"
        return f"{self.base_url}/v1/models/{self.model}:predict"

    def health_url(self) -> str:
        # Reference: the V1 protocol's model readiness, GET /v1/models/<name> → {"name": ..., "ready": true}
        return f"{self.base_url}/v1/models/{self.model}"


def base_url(workload) -> str:
    """The InferenceService's in-cluster address (`status.address.url`), else its `status.url`;
    empty when neither is an http(s) URL. `workload` is the poller's WorkloadStatus row, or an
    InferenceService just listed (`platform verify`)."""
    for candidate in (workload.address, workload.url):
        parts = urlsplit(candidate or "")
        if parts.scheme in ("http", "https") and parts.netloc:
            return candidate.rstrip("/")
    return ""


def ready_inference_service(entity) -> WorkloadStatus | None:
    """The entity's Ready InferenceService (the default cluster's first), one query."""
    return (
        WorkloadStatus.objects.filter(
            entity=entity, kind=WorkloadKind.INFERENCE_SERVICE, ready="True", gone_at__isnull=True
        )
        .select_related("cluster")
        .order_by("-cluster__is_default", "-last_seen_at", "pk")
        .first()
    )


def target_for(entity) -> Target | None:
    workload = ready_inference_service(entity)
    base = base_url(workload) if workload is not None else ""
    return Target(workload, base) if base else None


# --- The payload -----------------------------------------------------------------------------------


class PayloadError(ValueError):
    """A body that cannot be sent: the message names the field and the fix."""


def check_payload(text: str, protocol: str) -> str:
    """The payload as it will be sent (the text as typed), or PayloadError in words."""
    if protocol not in InferenceProtocol.values:
        raise PayloadError(f"Protocol: choose {' or '.join(InferenceProtocol.labels)}.")
    limit = settings.PORTAL_TRY_IT_MAX_BYTES
    size = len(text.encode("utf-8"))
    if size > limit:
        raise PayloadError(
            f"Payload: {size_words(size)} is more than the {size_words(limit)} a request may carry "
            f"(PORTAL_TRY_IT_MAX_BYTES); send fewer rows."
        )
    if not text.strip():
        raise PayloadError("Payload: enter a JSON request body, e.g. the example.")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PayloadError(
            f"Payload: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
            "check the quotes, commas and brackets there."
        ) from None
    if not isinstance(document, dict):
        key = '"inputs"' if protocol == InferenceProtocol.V2 else '"instances"'
        raise PayloadError(f"Payload: must be a JSON object, e.g. {{{key}: [...]}}.")
    return text


# --- Sending ---------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What came back, in words: the page shows it as it is."""

    url: str
    method: str = "POST"
    status_code: int | None = None
    reason: str = ""
    latency_ms: int | None = None
    content_type: str = ""
    body: str = ""
    pretty: str = ""  # the body as indented JSON, when it is JSON and whole
    truncated: bool = False
    error: str = ""  # the request got no HTTP answer: why, in words
    note: str = ""  # an HTTP answer that is not what a model server sends: why, in words

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def summary(self) -> str:
        """e.g. "HTTP 200 in 42 ms", "timed out after 10 s"."""
        if self.status_code is None:
            return self.error
        return f"HTTP {self.status_code} in {self.latency_ms} ms"


def _client(timeout: float) -> httpx.Client:
    # No proxy from the environment: the address is the cluster's own. No redirects: the
    # endpoint's answer is shown as it is, and a redirect would lead to a host the row never named.
    return httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False)


def send(url: str, payload: str | None, *, timeout: float | None = None, max_bytes: int | None = None) -> Outcome:
    """POST `payload` (or GET without one) to `url`; the answer read up to `max_bytes`.

    Never raises for what the network or the model server does: the outcome says it in words.
    """
    timeout = float(timeout if timeout is not None else settings.PORTAL_TRY_IT_TIMEOUT)
    max_bytes = max_bytes if max_bytes is not None else settings.PORTAL_TRY_IT_MAX_BYTES
    outcome = Outcome(url=url, method="POST" if payload is not None else "GET")
    started = time.perf_counter()
    try:
        with _client(timeout) as client:
            # The clock starts at the request: making the client (its TLS context) is not latency.
            started = time.perf_counter()
            # Uncompressed: the size cap then counts what the server sent, and a small gzip
            # body cannot unpack into a huge one in memory before the cap is checked.
            headers = {"Accept": "application/json", "Accept-Encoding": "identity"}
            if payload is not None:
                headers["Content-Type"] = "application/json"
            content = payload.encode("utf-8") if payload is not None else None
            with client.stream(outcome.method, url, content=content, headers=headers) as response:
                chunks, size = [], 0
                for chunk in response.iter_bytes(_CHUNK):
                    # httpx's timeout is per read: a server dripping bytes would never trip it.
                    if time.perf_counter() - started > timeout:
                        raise httpx.ReadTimeout("the whole response took too long", request=response.request)
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > max_bytes:
                        outcome.truncated = True
                        break
                outcome.latency_ms = round((time.perf_counter() - started) * 1000)
                outcome.status_code = response.status_code
                outcome.reason = _phrase(response.status_code) or response.reason_phrase
                outcome.content_type = response.headers.get("content-type", "")
                raw = b"".join(chunks)[:max_bytes]
    except httpx.TimeoutException:
        outcome.error = (
            f"Timed out after {timeout:g} s (PORTAL_TRY_IT_TIMEOUT) waiting for {url}: the model server "
            "may still be loading the model, or be overloaded."
        )
        return outcome
    except httpx.ConnectError as exc:
        refused = "refused" in str(exc).lower()
        outcome.error = (
            f"Connection refused by {urlsplit(url).netloc}: nothing listens there; check the InferenceService's pods."
            if refused else f"Cannot connect to {urlsplit(url).netloc}: {_reason(exc)}."
        )
        return outcome
    except httpx.HTTPError as exc:
        outcome.error = f"The request to {urlsplit(url).netloc} failed: {_reason(exc)}."
        return outcome

    outcome.body = raw.decode("utf-8", errors="replace")
    if outcome.truncated:
        outcome.note = (
            f"The response is larger than {size_words(max_bytes)} (PORTAL_TRY_IT_MAX_BYTES): "
            f"only the first {size_words(max_bytes)} is shown."
        )
    else:
        try:
            outcome.pretty = pretty_json(json.loads(raw)) if raw else ""
        except ValueError:
            kind = outcome.content_type.split(";")[0] or "no content type"
            outcome.note = f"The response is not JSON ({kind})."
    if not outcome.ok and not outcome.note:
        outcome.note = f"The model server answered {outcome.status_code} {outcome.reason}".rstrip() + "."
    elif not outcome.ok:
        outcome.note = f"The model server answered {outcome.status_code} {outcome.reason}".rstrip() + ". " + outcome.note
    return outcome


def _phrase(code: int) -> str:
    """The standard reason phrase ("Service Unavailable"): servers spell theirs in any case."""
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return ""


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text[:200] if text else type(exc).__name__


def try_endpoint(target: Target, protocol: str, payload: str) -> Outcome:
    outcome = send(target.url(protocol), payload)
    log.info("try it", endpoint=f"{target.workload.namespace}/{target.model}", protocol=protocol,
             status=outcome.status_code, latency_ms=outcome.latency_ms, error=bool(outcome.error))
    return outcome


# --- The saved example -----------------------------------------------------------------------------


def example_for(entity) -> EndpointExample | None:
    return EndpointExample.objects.filter(entity_ref=entity.ref.lower()).first()


def save_example(entity, protocol: str, payload: str, user) -> EndpointExample:
    example, _ = EndpointExample.objects.update_or_create(
        entity_ref=entity.ref.lower(),
        defaults={"protocol": protocol, "payload": payload, "updated_by": user.get_username(),
                  "updated_at": timezone.now()},
    )
    return example


# --- The first response ----------------------------------------------------------------------------


#: The demo's saved example: the reference platform's iris request on its demo endpoint.
DEMO_EXAMPLES = {"component:default/demo-iris-2": InferenceProtocol.V1}


def seed_demo_examples() -> int:
    """Save the demo's examples once (an example saved since is never replaced); the number saved."""
    saved = 0
    for ref, protocol in DEMO_EXAMPLES.items():
        _, created = EndpointExample.objects.get_or_create(
            entity_ref=ref, defaults={"protocol": protocol, "payload": default_payload(protocol), "updated_by": "demo"}
        )
        saved += created
    return saved


def pending_first_responses(now=None):
    """Linked, Ready InferenceServices whose first Ready is recent and that have no first response yet."""
    now = now or timezone.now()
    events = StatusEvent.objects.filter(workload=OuterRef("pk"))
    return (
        WorkloadStatus.objects.filter(
            kind=WorkloadKind.INFERENCE_SERVICE, ready="True", gone_at__isnull=True, entity__isnull=False
        )
        .filter(Exists(events.filter(kind=StatusEventKind.READY, created_at__gte=now - FIRST_RESPONSE_WINDOW)))
        .exclude(Exists(events.filter(kind=StatusEventKind.FIRST_RESPONSE)))
        .select_related("entity")
        .order_by("last_seen_at", "pk")
    )


def first_response(workload: WorkloadStatus) -> tuple[Outcome, str]:
    """Send the saved example (or the health probe) once; (outcome, what was sent in words)."""
    base = base_url(workload)
    if not base:
        return Outcome(url="", error="The InferenceService has no http(s) URL to send to."), "nothing"
    target = Target(workload, base)
    example = example_for(workload.entity)
    if example is not None:
        protocol = InferenceProtocol(example.protocol) if example.protocol in InferenceProtocol.values else InferenceProtocol.V1
        return send(target.url(protocol), example.payload), "the saved example"
    return send(target.health_url(), None), "a health probe"


def first_response_words(outcome: Outcome, sent: str) -> str:
    if outcome.status_code is None:
        return f"No first response to {sent}: {outcome.error}"
    return f"First response in {outcome.latency_ms} ms (HTTP {outcome.status_code}) to {sent}"


def probe_first_responses(now=None) -> int:
    """Time the first response of each endpoint that just became Ready; the number recorded.

    The request goes out before any lock is taken; the event is written under a lock on the
    workload row after checking again, so two workers racing record it once.
    """
    recorded = 0
    for workload in list(pending_first_responses(now)[:FIRST_RESPONSE_BATCH]):
        outcome, sent = first_response(workload)
        with transaction.atomic():
            locked = WorkloadStatus.objects.select_for_update().filter(pk=workload.pk).first()
            if locked is None or locked.events.filter(kind=StatusEventKind.FIRST_RESPONSE).exists():
                continue
            StatusEvent.objects.create(
                workload=locked, entity_id=locked.entity_id, kind=StatusEventKind.FIRST_RESPONSE,
                to_value=str(outcome.status_code or "error"), revision=locked.latest_ready_revision[:64],
                message=first_response_words(outcome, sent),
            )
        recorded += 1
        log.info("first response", workload=str(workload), status=outcome.status_code, latency_ms=outcome.latency_ms)
    return recorded
