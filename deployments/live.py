"""A model endpoint's live status as the pages and the API show it, read from the database only.

The poller (deployments.status) writes WorkloadStatus and StatusEvent rows; this module joins them
with the scaffolder task and the pull request that created the endpoint into one answer: the
Application's sync and health, the InferenceService's readiness and URL, the failures in words,
whether the cluster's last poll failed (stale, with the age of what is shown), and one timeline
from the request to Ready. A constant number of queries, whatever the number of endpoints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from deployments.models import (
    PullRequest,
    StatusEvent,
    StatusEventKind,
    WorkloadKind,
    WorkloadStatus,
)

READY, NOT_READY, UNKNOWN = "ready", "not-ready", "unknown"
STATES = (READY, NOT_READY, UNKNOWN)
#: Not ready with nothing failed: the controllers are still at work (a refinement of NOT_READY).
PROGRESSING = "progressing"
#: What the Deployments board shows: `state`, with not-ready split into progressing and failing.
PHASES = (READY, PROGRESSING, NOT_READY, UNKNOWN)


@dataclass
class Stage:
    """One step of an endpoint's timeline; `took` is the time since the step before it."""

    label: str
    at: datetime
    detail: str = ""
    tone: str = ""  # "", "good", "bad" or "warn"
    took: timedelta | None = None

    @property
    def took_words(self) -> str:
        """e.g. "4 s", "2 min 5 s", "1 h 3 min"."""
        if self.took is None:
            return ""
        seconds = max(0, int(self.took.total_seconds()))
        if seconds < 60:
            return f"{seconds} s"
        if seconds < 3600:
            return f"{seconds // 60} min {seconds % 60} s"
        if seconds < 86400:
            return f"{seconds // 3600} h {seconds % 3600 // 60} min"
        return f"{seconds // 86400} d {seconds % 86400 // 3600} h"


@dataclass
class LiveStatus:
    entity: object
    application: WorkloadStatus | None = None
    inference_service: WorkloadStatus | None = None
    stale: bool = False
    stale_reason: str = ""
    #: When what is shown was last confirmed by a successful poll.
    confirmed_at: datetime | None = None
    timeline: list[Stage] = field(default_factory=list)

    @property
    def seen(self) -> bool:
        return self.application is not None or self.inference_service is not None

    @property
    def state(self) -> str:
        if self.inference_service is not None:
            return READY if self.inference_service.ready == "True" else NOT_READY
        return NOT_READY if self.application is not None else UNKNOWN

    @property
    def phase(self) -> str:
        """READY, PROGRESSING (not ready, nothing failed), NOT_READY (failing) or UNKNOWN (never seen)."""
        state = self.state
        return PROGRESSING if state == NOT_READY and not self.failures else state

    @property
    def cluster(self) -> str:
        """The name of the cluster the endpoint runs on ('' before it is seen)."""
        workload = self.inference_service or self.application
        return workload.cluster.name if workload is not None else ""

    @property
    def moving(self) -> bool:
        """Seen, not settled and not failing: a page showing it should keep asking."""
        return self.seen and not self.settled and not self.failures

    @property
    def url(self) -> str:
        isvc = self.inference_service
        return isvc.url if isvc is not None and isvc.ready == "True" else ""

    @property
    def age(self) -> timedelta | None:
        return timezone.now() - self.confirmed_at if self.confirmed_at else None

    @property
    def failures(self) -> list[str]:
        """What is wrong, in words with the fix where known (the poller's stored summaries)."""
        found = []
        app, isvc = self.application, self.inference_service
        # The model server's failure first: it is usually why the Application is Degraded.
        if isvc is not None and isvc.ready == "False":
            found.append(isvc.summary)
        if app is not None and (
            app.operation_phase in ("Failed", "Error")
            or app.health_status in ("Degraded", "Missing")
            or app.sync_status == "Unknown"
            or any(c.get("type", "").endswith("Error") for c in app.conditions)
        ):
            found.append(app.summary)
        return [text for text in found if text]

    @property
    def settled(self) -> bool:
        """Ready and synced with nothing in flight: the page can stop asking."""
        app = self.application
        return (
            not self.stale
            and self.state == READY
            and app is not None
            and app.sync_status == "Synced"
            and app.health_status == "Healthy"
            and app.operation_phase not in ("Running", "Terminating")
        )


def condition_words(condition: dict) -> str:
    """One stored condition as a sentence, e.g. "PredictorReady False: ModelLoadFailed (…)"."""
    words = f"{condition.get('type', '')} {condition.get('status', '')}".strip()
    reason, message = condition.get("reason") or "", condition.get("message") or ""
    if reason:
        words += f": {reason}"
    if message:
        words += f" ({message})" if reason else f": {message}"
    return words


def _event_stage(event: StatusEvent, kind_of_workload: str) -> Stage | None:
    application = kind_of_workload == WorkloadKind.APPLICATION
    match event.kind:
        case StatusEventKind.APPEARED:
            return Stage("Application created" if application else "InferenceService created", event.created_at)
        case StatusEventKind.SYNCED:
            revision = f" to {event.to_value}" if event.from_value else ""
            return Stage(f"Synced{revision}", event.created_at, tone="good")
        case StatusEventKind.SYNC:
            return Stage(f"Sync {event.from_value or '—'} → {event.to_value}", event.created_at, event.message, "warn")
        case StatusEventKind.DRIFT:
            return Stage("Drifted from Git (OutOfSync)", event.created_at, event.message, "warn")
        case StatusEventKind.SELF_HEALED:
            return Stage("Self-healed", event.created_at, event.message, "good")
        case StatusEventKind.HEALTH:
            tone = {"Healthy": "good", "Degraded": "bad", "Missing": "bad"}.get(event.to_value, "warn")
            return Stage(event.to_value or "Health unknown", event.created_at, event.message if tone != "good" else "", tone)
        case StatusEventKind.SYNC_FAILED:
            return Stage("Sync failed", event.created_at, event.message, "bad")
        case StatusEventKind.READY:
            return Stage("Ready", event.created_at, event.message, "good")
        case StatusEventKind.NOT_READY:
            return Stage("Not ready", event.created_at, event.message, "bad")
        case StatusEventKind.URL:
            return Stage("URL changed", event.created_at, event.message)
        case StatusEventKind.GONE:
            return Stage(f"{kind_of_workload} gone from the cluster", event.created_at, event.message, "warn")
        case StatusEventKind.FIRST_RESPONSE:
            return Stage("First response", event.created_at, event.message, "good" if event.to_value.startswith("2") else "warn")
    return None


def _request_stages(entity, tasks, pull_requests) -> list[Stage]:
    stages = []
    pull_request = pull_requests[0] if pull_requests else None
    task = None
    if pull_request is not None and pull_request.task:
        task = next((t for t in tasks if t.uuid == pull_request.task), None)
    task = task or (tasks[0] if tasks else None)
    if task is not None:
        who = f" by {task.created_by.get_username()}" if task.created_by_id and task.created_by else ""
        stages.append(Stage(f"Requested{who}", task.created_at))
    if pull_request is not None:
        stages.append(Stage(f"Pull request #{pull_request.number} opened", pull_request.created_at, pull_request.title))
        if pull_request.merged_at:
            who = f" by {pull_request.merged_by}" if pull_request.merged_by else ""
            stages.append(Stage(f"Merged{who}", pull_request.merged_at, tone="good"))
        elif pull_request.closed_at:
            stages.append(Stage("Pull request closed without merging", pull_request.closed_at, tone="warn"))
    return stages


def live_statuses(entities, *, timeline: bool = False) -> dict[int, LiveStatus]:
    """The live status of each entity, by primary key: 1 query, or 4 with the timelines."""
    from scaffolder.models import Task

    entities = list(entities)
    found = {entity.pk: LiveStatus(entity) for entity in entities}
    if not entities:
        return found
    workloads = (
        WorkloadStatus.objects.filter(entity__in=[e.pk for e in entities], gone_at__isnull=True)
        .select_related("cluster__poll")
        .order_by("cluster__is_default", "last_seen_at", "pk")
    )
    kinds = {}
    for workload in workloads:
        live = found[workload.entity_id]
        kinds[workload.pk] = workload.kind
        # Several clusters: the default cluster's object wins, then the most recently seen.
        if workload.kind == WorkloadKind.APPLICATION:
            live.application = workload
        else:
            live.inference_service = workload
        poll = getattr(workload.cluster, "poll", None)
        if poll is None or poll.last_success_at is None:
            live.stale, live.stale_reason = True, "The cluster has not been polled successfully yet."
        elif poll.stale:
            live.stale = True
            live.stale_reason = f"The last poll of {workload.cluster.name} failed: {poll.last_error}"
        confirmed = poll.last_success_at if poll is not None and poll.last_success_at else workload.last_seen_at
        if live.confirmed_at is None or confirmed < live.confirmed_at:
            live.confirmed_at = confirmed
    if not timeline:
        return found

    refs = {entity.ref.lower(): entity.pk for entity in entities} | {entity.ref: entity.pk for entity in entities}
    tasks: dict[int, list] = {}
    for task in Task.objects.filter(entity_ref__in=list(refs)).select_related("created_by").order_by("created_at", "pk"):
        tasks.setdefault(refs[task.entity_ref], []).append(task)
    pull_requests: dict[int, list] = {}
    for pr in PullRequest.objects.filter(entity_ref__in=list(refs)).order_by("created_at", "pk"):
        pull_requests.setdefault(refs[pr.entity_ref], []).append(pr)
    events: dict[int, list[Stage]] = {}
    for event in StatusEvent.objects.filter(entity__in=list(found)).select_related("workload").order_by("created_at", "pk"):
        stage = _event_stage(event, event.workload.kind)
        if stage is not None:
            events.setdefault(event.entity_id, []).append(stage)
    for pk, live in found.items():
        stages = _request_stages(live.entity, tasks.get(pk, []), pull_requests.get(pk, []))
        stages += events.get(pk, [])
        stages.sort(key=lambda stage: stage.at)
        for before, stage in zip(stages, stages[1:], strict=False):
            stage.took = stage.at - before.at
        live.timeline = stages
    return found


def live_status(entity, *, timeline: bool = True) -> LiveStatus:
    return live_statuses([entity], timeline=timeline)[entity.pk]
