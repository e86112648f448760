"""Running a task: claim it, run its steps in order, record every step and log line.

A worker claims a task with one conditional UPDATE that takes an `open` task, or a
`processing` one whose heartbeat is older than PORTAL_TASK_STALE_SECONDS (its worker died).
`claimed_at` is the claim's token: every later write is conditional on it, so a worker that
lost its claim stops instead of racing the one that took over.

Each step's output and the workspace files after it are stored, so a retried or taken-over
task continues from the first step that did not complete, on any worker, in a fresh workspace
restored from the last completed step.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection
from django.db.models import F, Q
from django.utils import timezone

from catalog.models import Entity
from portal import crypto, identity
from portal.repository import TransientError
from scaffolder.actions import registry
from scaffolder.actions.context import ActionContext, TemplateInfo, UserInfo
from scaffolder.choices import EventType, StepStatus, TaskStatus
from scaffolder.expressions import TemplateError, _mask, render
from scaffolder.models import Task, TaskEvent, TaskStep
from scaffolder.workspace import restore, snapshot, temporary_workspace

log = structlog.get_logger(__name__)

#: A heartbeat from log lines is written at most this often (seconds).
LOG_HEARTBEAT_SECONDS = 2.0
#: Tasks the reaper re-queues per run; the rest wait for the next run.
REAP_BATCH = 100

#: Log levels of a task's log lines.
INFO, WARNING, ERROR = "info", "warning", "error"

Logger = Callable[..., None]


class LostClaim(Exception):
    """Another worker took the task over (this one was too slow to show signs of life)."""


# --- The step engine, shared by task runs and dry-runs -------------------------------------


@dataclass
class RunContext:
    """What expressions see: `parameters`, `steps`, `user` and `secrets`."""

    parameters: dict[str, Any]
    user: UserInfo
    secrets: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)

    def expression_context(self) -> dict[str, Any]:
        return {
            "parameters": self.parameters,
            "steps": self.steps,
            "user": self.user.as_context(),
            "secrets": self.secrets,
        }

    def mask(self, message: str) -> str:
        """The message with every secret value replaced by ***."""
        return _mask(message, {"secrets": self.secrets})


@dataclass(frozen=True)
class StepOutcome:
    status: str  # StepStatus.COMPLETED or StepStatus.SKIPPED
    output: dict[str, Any]


def step_id_of(step: Mapping[str, Any], index: int) -> str:
    return str(step.get("id") or f"step-{index + 1}")


def step_name_of(step: Mapping[str, Any], index: int) -> str:
    return str(step.get("name") or step.get("id") or step.get("action") or f"Step {index + 1}")


def execute_step(
    step: Mapping[str, Any],
    index: int,
    *,
    workspace: Path,
    context: RunContext,
    template_info: TemplateInfo,
    logger: Logger,
    dry_run: bool = False,
    task_id: str | None = None,
) -> StepOutcome:
    """Evaluate the step's `if` and `input`, then run its action. Raises on failure.

    `logger(message, level=...)` receives each log line; warnings from expressions arrive
    with level `warning`.
    """
    step_id = step_id_of(step, index)
    label = f"steps.{step_id}"
    if "if" in step:
        condition = _render(step["if"], context, f"{label}.if", logger)
        if not _truthy(condition):
            logger(f"Skipping step {step_id}: its condition is false")
            return StepOutcome(StepStatus.SKIPPED, {})
    action = registry.get(str(step.get("action") or ""))
    if dry_run and not action.supports_dry_run:
        logger(f"Skipping step {step_id}: {action.id} does not support dry-run")
        return StepOutcome(StepStatus.SKIPPED, {})
    action_input = _render(step.get("input") or {}, context, f"{label}.input", logger)
    if not isinstance(action_input, dict):
        raise registry.ActionError(f"The input of step {step_id} must be a mapping of fields")
    ctx = ActionContext(
        action_id=action.id,
        workspace=workspace,
        input=action_input,
        logger=lambda message, level=INFO: logger(str(message), level=level),
        template_info=template_info,
        secrets=context.secrets,
        user=context.user,
        dry_run=dry_run,
        task_id=task_id,
        step_id=step_id,
    )
    action.run(ctx)
    return StepOutcome(StepStatus.COMPLETED, ctx.outputs)


def render_output(output: Any, context: RunContext, logger: Logger) -> dict[str, Any]:
    """The template's `output` (links, text) rendered against the finished run."""
    rendered = _render(output or {}, context, "output", logger)
    return _mask_value(rendered, context) if isinstance(rendered, dict) else {}


def _render(value: Any, context: RunContext, label: str, logger: Logger) -> Any:
    result = render(value, context.expression_context(), label=label)
    for warning in result.warnings:
        logger(warning, level=WARNING)
    return result.value


def _truthy(value: Any) -> bool:
    """Backstage's rule for `if`: a list must be non-empty, anything else as JavaScript sees it."""
    if isinstance(value, dict):
        return True
    return bool(value)


def _mask_value(value: Any, context: RunContext) -> Any:
    if isinstance(value, str):
        return context.mask(value)
    if isinstance(value, dict):
        return {key: _mask_value(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask_value(item, context) for item in value]
    return value


def describe_error(error: BaseException) -> str:
    """An error in words for the task log: no traceback, no Python class names for known errors."""
    if isinstance(error, SoftTimeLimitExceeded):
        return "The task took longer than its time limit and was stopped."
    message = str(error).strip()
    if isinstance(error, (registry.ActionError, TemplateError, TransientError, ValueError, LookupError)):
        return message or type(error).__name__
    known = getattr(error, "__module__", "").split(".")[0] in {"portal", "catalog", "deployments", "scaffolder"}
    if known:
        return message or type(error).__name__
    return f"Unexpected error ({type(error).__name__}): {message}" if message else f"Unexpected error ({type(error).__name__})"


# --- Files and secrets as stored on the rows -----------------------------------------------


def encode_files(files: Mapping[str, bytes]) -> dict[str, str]:
    return {path: base64.b64encode(content).decode() for path, content in files.items()}


def decode_files(files: Mapping[str, str]) -> dict[str, bytes]:
    return {path: base64.b64decode(content) for path, content in (files or {}).items()}


def task_secrets(task: Task) -> tuple[dict[str, Any], dict[str, Any]]:
    """The task's (parameters with secret values restored, secrets as expressions see them)."""
    stored = crypto.decrypt_json(task.secrets_encrypted, {}) or {}
    hidden = stored.get("parameters") or {}
    parameters = dict(task.values or {})
    for path, value in hidden.items():
        set_path(parameters, path, value)
    return parameters, {**hidden, **(stored.get("secrets") or {})}


def get_path(values: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    current: Any = values
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return False, None
        current = current[part]
    return True, current


def set_path(values: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    current = values
    for part in parents:
        current = current.setdefault(part, {})
    current[last] = value


def user_info(user_ref: str) -> UserInfo:
    """Backstage's `user`: the ref and the catalog entity of the user the task runs for."""
    document = Entity.objects.filter(ref=user_ref.lower()).values_list("document", flat=True).first()
    return UserInfo(user_ref, document or {})


def template_info(task: Task) -> TemplateInfo:
    info = task.spec.get("templateInfo") or {}
    return TemplateInfo(info.get("entityRef") or task.template_ref, base_path=info.get("basePath") or "")


# --- Claiming -------------------------------------------------------------------------------


def stale_before() -> Any:
    return timezone.now() - timedelta(seconds=settings.PORTAL_TASK_STALE_SECONDS)


def claim(task_pk: int) -> Task | None:
    """Take the task (open, or processing with a stale heartbeat) in one conditional UPDATE.

    Returns the claimed row, or None when another worker has it, it ended, or it is gone.
    """
    now = timezone.now()
    claimable = Q(status=TaskStatus.OPEN) | Q(status=TaskStatus.PROCESSING, heartbeat_at__lt=stale_before())
    changed = Task.objects.filter(claimable, pk=task_pk).update(
        status=TaskStatus.PROCESSING, claimed_at=now, heartbeat_at=now, attempts=F("attempts") + 1
    )
    if not changed:
        return None
    return Task.objects.get(pk=task_pk)


def stale_task_pks(limit: int = REAP_BATCH) -> list[int]:
    """Tasks to enqueue again: processing ones whose worker stopped showing signs of life, and
    open ones never claimed (their message was lost, e.g. the broker was down at commit).

    Enqueueing a task twice is harmless: only one claim succeeds.
    """
    cutoff = stale_before()
    rows = Task.objects.filter(
        Q(status=TaskStatus.PROCESSING, heartbeat_at__lt=cutoff)
        | Q(status=TaskStatus.OPEN, claimed_at__isnull=True, created_at__lt=cutoff)
    )
    return list(rows.order_by("created_at").values_list("pk", flat=True)[:limit])


def run(task_pk: int) -> str | None:
    """Claim the task and run it to the end (or to a cancel); returns its status, or None if not claimed."""
    task = claim(task_pk)
    if task is None:
        return None
    return TaskRun(task).run()


def give_up(task_pk: int, message: str) -> bool:
    """Fail a task that is not running (e.g. after a temporary error outlived its retries)."""
    now = timezone.now()
    changed = Task.objects.filter(pk=task_pk, status=TaskStatus.OPEN).update(
        status=TaskStatus.FAILED, error=message, finished_at=now, secrets_encrypted=b""
    )
    if changed:
        TaskEvent.objects.create(task_id=task_pk, type=EventType.LOG,
                                 body={"message": message, "status": TaskStatus.FAILED, "level": ERROR})
        TaskEvent.objects.create(task_id=task_pk, type=EventType.COMPLETION,
                                 body={"message": "Run completed with status: failed", "error": {"message": message}})
    return bool(changed)


# --- One run of a claimed task -----------------------------------------------------------------


class TaskRun:
    """A claimed task, run from its first unfinished step."""

    def __init__(self, task: Task):
        self.task = task
        self.token = task.claimed_at
        self._last_beat = timezone.now()
        self._context: RunContext | None = None

    # Rows written only while the claim holds ------------------------------------------

    def _mine(self):
        return Task.objects.filter(pk=self.task.pk, status=TaskStatus.PROCESSING, claimed_at=self.token)

    def beat(self) -> None:
        """Show a sign of life; raises LostClaim when another worker took the task over."""
        now = timezone.now()
        if not self._mine().update(heartbeat_at=now):
            raise LostClaim(f"task {self.task.uuid} was taken over by another worker")
        self._last_beat = now

    def _beat_if_due(self) -> None:
        if (timezone.now() - self._last_beat).total_seconds() >= LOG_HEARTBEAT_SECONDS:
            self.beat()

    def event(self, message: str, *, step: TaskStep | None = None, status: str | None = None,
              level: str = INFO, type: str = EventType.LOG, **extra: Any) -> None:  # noqa: A002 - Backstage's name
        body: dict[str, Any] = {"message": self._mask(message)}
        if step is not None:
            body["stepId"] = step.step_id
        if status:
            body["status"] = status
        if type == EventType.LOG:
            body["level"] = level
        body.update(extra)
        TaskEvent.objects.create(task=self.task, type=type, body=body)

    def _mask(self, message: str) -> str:
        return self._context.mask(message) if self._context else message

    # The run ------------------------------------------------------------------------------

    def run(self) -> str:
        try:
            parameters, secrets = task_secrets(self.task)
        except crypto.DecryptionError as error:
            return self._fail(None, str(error))
        creator = self.task.created_by
        ref = identity.user_ref(creator) if creator else "user:default/guest"
        steps = list(self.task.steps.order_by("index"))
        start = next((i for i, step in enumerate(steps) if step.status not in _DONE), len(steps))
        self._context = RunContext(
            parameters=parameters,
            user=user_info(ref),
            secrets=secrets,
            steps={step.step_id: {"output": step.output} for step in steps[:start]},
        )
        interrupted = [step for step in steps if step.status == StepStatus.PROCESSING]
        if interrupted:
            self.event(
                f"Resuming at step {interrupted[0].name or interrupted[0].step_id}: the worker running it "
                "stopped responding", step=interrupted[0], type=EventType.RECOVERED,
            )
        with temporary_workspace(self.task.uuid) as workspace, Heartbeat(self):
            restore(workspace, decode_files(steps[start - 1].files) if start else {})
            for step in steps[start:]:
                if self._cancel_requested():
                    return self._cancel(step)
                status = self._run_step(step, workspace)
                if status != StepStatus.COMPLETED and status != StepStatus.SKIPPED:
                    return status
        return self._complete()

    def _run_step(self, step: TaskStep, workspace: Path) -> str:
        assert self._context is not None
        definition = _step_definition(self.task, step)
        self.beat()
        now = timezone.now()
        TaskStep.objects.filter(pk=step.pk).update(status=StepStatus.PROCESSING, started_at=now, finished_at=None)
        self.event(f"Beginning step {step.name or step.step_id}", step=step, status=StepStatus.PROCESSING)

        def logger(message: str, level: str = INFO) -> None:
            self.event(message, step=step, level=level)
            self._beat_if_due()

        try:
            outcome = execute_step(
                definition, step.index, workspace=workspace, context=self._context,
                template_info=template_info(self.task), logger=logger, task_id=str(self.task.uuid),
            )
        except LostClaim:
            raise  # the step belongs to the worker that took over: leave it alone
        except TransientError:
            self._release(step)
            raise
        except Exception as error:
            log.info("task step failed", task=str(self.task.uuid), step=step.step_id, error=self._mask(str(error)),
                     error_type=type(error).__name__)
            return self._fail(step, describe_error(error))
        self.beat()
        output = _mask_value(outcome.output, self._context)
        TaskStep.objects.filter(pk=step.pk).update(
            status=outcome.status, output=output, files=encode_files(snapshot(workspace)), finished_at=timezone.now()
        )
        self._context.steps[step.step_id] = {"output": outcome.output}
        verb = "Skipped" if outcome.status == StepStatus.SKIPPED else "Finished"
        self.event(f"{verb} step {step.name or step.step_id}", step=step, status=outcome.status)
        return outcome.status

    def _cancel_requested(self) -> bool:
        return Task.objects.filter(pk=self.task.pk, cancel_requested_at__isnull=False).exists()

    def _finish(self, status: str, **fields: Any) -> bool:
        now = timezone.now()
        return bool(self._mine().update(status=status, finished_at=now, heartbeat_at=now, secrets_encrypted=b"", **fields))

    def _complete(self) -> str:
        assert self._context is not None
        try:
            output = render_output((self.task.spec.get("spec") or {}).get("output"), self._context,
                                   lambda message, level=INFO: self.event(message, level=level))
        except TemplateError as error:
            return self._fail(None, f"The template's output could not be rendered: {error}")
        if not self._finish(TaskStatus.COMPLETED, output=output):
            raise LostClaim(f"task {self.task.uuid} was taken over by another worker")
        self.event("Run completed with status: completed", type=EventType.COMPLETION, output=output)
        log.info("task completed", task=str(self.task.uuid))
        return TaskStatus.COMPLETED

    def _fail(self, step: TaskStep | None, message: str) -> str:
        message = self._mask(message)
        if step is not None:
            TaskStep.objects.filter(pk=step.pk).update(status=StepStatus.FAILED, finished_at=timezone.now())
        if not self._finish(TaskStatus.FAILED, error=message):
            raise LostClaim(f"task {self.task.uuid} was taken over by another worker")
        self.event(message, step=step, status=StepStatus.FAILED, level=ERROR)
        self.event("Run completed with status: failed", type=EventType.COMPLETION, error={"message": message})
        log.info("task failed", task=str(self.task.uuid), step=step.step_id if step else None)
        return TaskStatus.FAILED

    def _cancel(self, next_step: TaskStep) -> str:
        if not self._finish(TaskStatus.CANCELLED):
            raise LostClaim(f"task {self.task.uuid} was taken over by another worker")
        self.task.steps.filter(index__gte=next_step.index, status=StepStatus.OPEN).update(status=StepStatus.CANCELLED)
        self.event(f"Cancelled before step {next_step.name or next_step.step_id}", step=next_step,
                   status=StepStatus.CANCELLED, type=EventType.CANCELLED)
        log.info("task cancelled", task=str(self.task.uuid))
        return TaskStatus.CANCELLED

    def _release(self, step: TaskStep) -> None:
        """Give the task back (open) after a temporary error, so a retry can claim it."""
        if self._mine().update(status=TaskStatus.OPEN, heartbeat_at=None):
            TaskStep.objects.filter(pk=step.pk).update(status=StepStatus.OPEN, started_at=None)
            self.event(f"Step {step.name or step.step_id} will be tried again after a temporary error",
                       step=step, level=WARNING)


_DONE = frozenset({StepStatus.COMPLETED, StepStatus.SKIPPED})


def _step_definition(task: Task, step: TaskStep) -> dict[str, Any]:
    steps = (task.spec.get("spec") or {}).get("steps") or []
    if step.index < len(steps) and isinstance(steps[step.index], dict):
        return steps[step.index]
    return {"id": step.step_id, "name": step.name, "action": step.action}


class Heartbeat:
    """Writes the task's heartbeat from a background thread while a long step runs.

    The thread uses its own database connection, so it runs only when the run is not inside
    a transaction of its caller (a worker's run never is); otherwise the run's own beats
    (between steps and with each log line) are the only ones.
    """

    def __init__(self, task_run: TaskRun):
        self.task_run = task_run
        self.interval = max(1.0, settings.PORTAL_TASK_STALE_SECONDS / 4)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        if not connection.in_atomic_block:
            self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{self.task_run.task.pk}", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    self.task_run.beat()
                except LostClaim:
                    return
                except Exception as error:  # a passing database hiccup: the next beat may work
                    log.warning("task heartbeat failed", task=str(self.task_run.task.uuid), error=str(error))
        finally:
            connection.close()
