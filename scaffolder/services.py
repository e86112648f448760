"""Task services: create, cancel, retry, dry-run, and who may see or change a task.

Views and the API call these; the work itself runs in `scaffolder.runner` on a worker.
"""

from __future__ import annotations

import copy
import posixpath
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.models import Entity
from portal import audit, crypto, identity
from scaffolder import parameters as template_parameters
from scaffolder.actions.context import TemplateInfo
from scaffolder.choices import TASK_TERMINAL, EventType, StepStatus, TaskStatus
from scaffolder.models import IdempotencyKey, Task, TaskEvent, TaskStep
from scaffolder.runner import (
    ERROR,
    WARNING,
    RunContext,
    execute_step,
    get_path,
    render_output,
    set_path,
    step_id_of,
    step_name_of,
    user_info,
)
from scaffolder.workspace import snapshot, temporary_workspace

#: How long an Idempotency-Key answers with the same task.
IDEMPOTENCY_WINDOW = timedelta(hours=24)
#: What a secret value shows as, wherever the task's values are shown.
MASK = "***"


class ParameterError(ValueError):
    """Values that do not fit the template's parameters; `errors` names each field."""

    def __init__(self, errors: list[template_parameters.FieldError]):
        self.errors = errors
        super().__init__("; ".join(f"{error.field}: {error.message}" for error in errors))


class IdempotencyConflict(ValueError):
    """The Idempotency-Key was used (within 24 hours) with another request body."""

    def __init__(self, key: str, task: Task):
        self.key = key
        self.task = task
        super().__init__(
            f"The Idempotency-Key {key!r} was already used for another request (task {task.uuid}); "
            "send the same body to get that task, or use a new key for a new request."
        )


class TaskStateError(ValueError):
    """The task is not in a state that allows the request (e.g. retrying a completed task)."""


# --- Creating a task ----------------------------------------------------------------------------


def create_task(
    template: Entity,
    values: dict,
    *,
    user,
    secrets: dict | None = None,
    idempotency_key: str | None = None,
    body_hash: str | None = None,
) -> Task:
    """Validate `values`, save the task with a step row per template step, enqueue it on commit.

    Values of `ui:widget: password` fields are kept encrypted with the secrets and shown as
    ***. An Idempotency-Key already used by this user within 24 hours answers its task (or
    IdempotencyConflict when the body differs).
    """
    if idempotency_key:
        existing = _idempotent_task(user, idempotency_key, body_hash or "")
        if existing is not None:
            return existing
    document = template.document
    values = template_parameters.with_defaults(document, values if isinstance(values, dict) else {})
    errors = template_parameters.validate_values(document, values)
    if errors:
        raise ParameterError(errors)
    shown, hidden = split_secret_values(document, values)
    steps = (document.get("spec") or {}).get("steps") or []
    try:
        with transaction.atomic():
            task = Task.objects.create(
                template_ref=template.ref,
                template_title=(document.get("metadata") or {}).get("title") or template.name,
                spec=task_spec(template),
                values=shown,
                secrets_encrypted=crypto.encrypt_json(_stored_secrets(hidden, secrets)),
                created_by=user,
            )
            TaskStep.objects.bulk_create(
                TaskStep(task=task, index=index, step_id=step_id_of(step, index), name=step_name_of(step, index),
                         action=str(step.get("action") or ""))
                for index, step in enumerate(s if isinstance(s, dict) else {} for s in steps)
            )
            if idempotency_key:
                _store_key(user, idempotency_key, body_hash or "", task)
            audit.record(user, "task.created", _target(task), template=template.ref)
            transaction.on_commit(lambda: _enqueue(task.pk))
    except IntegrityError:
        # The same key arrived twice at once: the first request's task answers both.
        existing = _idempotent_task(user, idempotency_key, body_hash or "") if idempotency_key else None
        if existing is None:
            raise
        return existing
    return task


def task_spec(template: Entity) -> dict:
    """The template document as the task keeps it, plus where its files are (`templateInfo`)."""
    spec = copy.deepcopy(template.document)
    spec["templateInfo"] = {"entityRef": template.ref, "basePath": template_base_path(template)}
    return spec


def template_base_path(template: Entity) -> str:
    """The folder of the template's file in the repository, e.g. `templates/model-endpoint/`."""
    folder = posixpath.dirname(posixpath.normpath(template.source or "").lstrip("/")) if template.source else ""
    folder = "" if folder in ("", ".") else folder
    return f"{folder}/" if folder else ""


def split_secret_values(document: dict, values: dict) -> tuple[dict, dict]:
    """(values with password fields shown as ***, {field: real value}) for the template's password fields."""
    shown = copy.deepcopy(values)
    hidden: dict[str, Any] = {}
    for path in sorted(template_parameters.secret_fields(document)):
        found, value = get_path(values, path)
        if found and value not in (None, ""):
            hidden[path] = value
            set_path(shown, path, MASK)
    return shown, hidden


def _stored_secrets(hidden: dict, secrets: dict | None) -> dict:
    stored: dict[str, Any] = {}
    if hidden:
        stored["parameters"] = hidden
    if secrets:
        stored["secrets"] = {str(key): value for key, value in secrets.items()}
    return stored


def _enqueue(task_pk: int) -> None:
    from scaffolder.tasks import run_task

    run_task.delay(task_pk)


# --- Idempotency ---------------------------------------------------------------------------------


def _idempotent_task(user, key: str, body_hash: str) -> Task | None:
    row = (
        IdempotencyKey.objects.select_related("task")
        .filter(user=user, key=key, created_at__gte=timezone.now() - IDEMPOTENCY_WINDOW)
        .first()
    )
    if row is None:
        return None
    if row.body_hash != body_hash:
        raise IdempotencyConflict(key, row.task)
    return row.task


def _store_key(user, key: str, body_hash: str, task: Task) -> None:
    IdempotencyKey.objects.filter(created_at__lt=timezone.now() - IDEMPOTENCY_WINDOW).delete()
    IdempotencyKey.objects.create(user=user, key=key, body_hash=body_hash, task=task)


# --- Cancel and retry -------------------------------------------------------------------------------


def cancel_task(task: Task, user) -> Task:
    """Stop the task before its next step (at once when no worker has started it)."""
    _check_change(task, user, "cancel")
    now = timezone.now()
    if Task.objects.filter(pk=task.pk, status=TaskStatus.OPEN).update(
        status=TaskStatus.CANCELLED, cancel_requested_at=now, finished_at=now, secrets_encrypted=b""
    ):
        task.steps.filter(status=StepStatus.OPEN).update(status=StepStatus.CANCELLED)
        TaskEvent.objects.create(task=task, type=EventType.CANCELLED,
                                 body={"message": f"Cancelled by {user.get_username()} before it started"})
    elif Task.objects.filter(pk=task.pk, status=TaskStatus.PROCESSING, cancel_requested_at__isnull=True).update(
        cancel_requested_at=now
    ):
        TaskEvent.objects.create(task=task, type=EventType.LOG, body={
            "message": f"Cancel requested by {user.get_username()}: the task stops before its next step",
            "level": WARNING,
        })
    else:
        task.refresh_from_db()
        if task.status in TASK_TERMINAL:
            raise TaskStateError(f"The task is already {task.status}; there is nothing to cancel.")
        return task  # a cancel was already requested
    audit.record(user, "task.cancelled", _target(task))
    task.refresh_from_db()
    return task


def retry_task(task: Task, user, *, secrets: dict | None = None) -> Task:
    """Run a failed or cancelled task again from the step that did not complete.

    The steps that completed keep their output and files; the run resumes on any worker.
    Secrets were wiped when the task ended: a template that needs them gets them again in
    `secrets` (password fields by their field name).
    """
    _check_change(task, user, "retry")
    hidden = _secret_parameters_for_retry(task, secrets or {})
    with transaction.atomic():
        if not Task.objects.filter(pk=task.pk, status__in=[TaskStatus.FAILED, TaskStatus.CANCELLED]).update(
            status=TaskStatus.OPEN, error="", finished_at=None, cancel_requested_at=None, heartbeat_at=None,
            claimed_at=None, output={}, secrets_encrypted=crypto.encrypt_json(_stored_secrets(hidden, secrets)),
        ):
            task.refresh_from_db()
            raise TaskStateError(
                f"Only a failed or cancelled task can be retried; this one is {task.status}."
            )
        task.steps.exclude(status__in=[StepStatus.COMPLETED, StepStatus.SKIPPED]).update(
            status=StepStatus.OPEN, started_at=None, finished_at=None, output={}, files={}
        )
        first = task.steps.filter(status=StepStatus.OPEN).order_by("index").first()
        where = f"step {first.name or first.step_id}" if first else "the end"
        TaskEvent.objects.create(task=task, type=EventType.LOG, body={
            "message": f"Retry requested by {user.get_username()}: resuming from {where}", "level": "info",
        })
        audit.record(user, "task.retried", _target(task), step=first.step_id if first else "")
        transaction.on_commit(lambda: _enqueue(task.pk))
    task.refresh_from_db()
    return task


def _secret_parameters_for_retry(task: Task, secrets: dict) -> dict:
    hidden: dict[str, Any] = {}
    missing = []
    for path in sorted(template_parameters.secret_fields(task.spec)):
        found, value = get_path(task.values or {}, path)
        if not found or value in (None, ""):
            continue
        if path in secrets:
            hidden[path] = secrets[path]
        else:
            missing.append(path)
    if missing:
        raise TaskStateError(
            "The task's secrets were wiped when it ended; give them again to retry: " + ", ".join(missing)
        )
    return hidden


# --- Who may see or change a task ------------------------------------------------------------------


def owner_ref(task: Task) -> str | None:
    """The owning Group of the entity the task concerns, when the catalog knows it."""
    if not task.entity_ref:
        return None
    return Entity.objects.filter(ref=task.entity_ref.lower()).values_list("owner_ref", flat=True).first() or None


def can_view(task: Task, user) -> bool:
    """The creator, members of the owning group of the task's entity, and admins."""
    if not getattr(user, "is_authenticated", False):
        return False
    if task.created_by_id == user.pk or identity.is_admin(user):
        return True
    owner = owner_ref(task)
    return bool(owner) and (owner in identity.member_refs(user) or owner in identity.managed_refs(user))


def can_change(task: Task, user) -> bool:
    """The creator, members of the owning group (and its ancestors), and admins."""
    if not getattr(user, "is_authenticated", False):
        return False
    return task.created_by_id == user.pk or identity.can_change(user, owner_ref(task))


def _check_change(task: Task, user, verb: str) -> None:
    if not can_change(task, user):
        raise PermissionDenied(f"Only the task's creator, its owning team and platform admins can {verb} it.")


def _target(task: Task) -> str:
    return f"task:{task.uuid}"


# --- Dry-run -----------------------------------------------------------------------------------------


@dataclass
class DryRunResult:
    """What a run would do: its log, the files it would write, its output and its steps."""

    log: list[dict] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    output: dict = field(default_factory=dict)
    steps: list[dict] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(step["status"] == StepStatus.FAILED for step in self.steps)


def dry_run(
    template_document: dict,
    values: dict,
    *,
    user,
    secrets: dict | None = None,
    files: dict[str, bytes] | None = None,
    template_entity: Entity | None = None,
) -> DryRunResult:
    """Run every step that supports dry-run, with no side effect; nothing is saved.

    The template's files come from the given inline `files` (keyed relative to the template's
    folder) or, with `template_entity`, from the repository snapshot. A failing step ends the
    run; its error is in the log and in `steps`.
    """
    from scaffolder.runner import describe_error

    values = values if isinstance(values, dict) else {}
    _shown, hidden = split_secret_values(template_document, values)
    context = RunContext(
        parameters=copy.deepcopy(values),
        user=user_info(identity.user_ref(user)),
        secrets={**hidden, **{str(k): v for k, v in (secrets or {}).items()}},
    )
    if files is not None:
        info = TemplateInfo(template_entity.ref if template_entity else "template:default/dry-run", files=files)
    elif template_entity is not None:
        info = TemplateInfo(template_entity.ref, base_path=template_base_path(template_entity))
    else:
        info = TemplateInfo("template:default/dry-run", files={})
    result = DryRunResult()
    steps = [s for s in (template_document.get("spec") or {}).get("steps") or [] if isinstance(s, dict)]
    result.steps = [
        {"id": step_id_of(step, i), "name": step_name_of(step, i), "action": str(step.get("action") or ""),
         "status": StepStatus.OPEN}
        for i, step in enumerate(steps)
    ]

    def logger_for(step_id: str | None):
        def logger(message: str, level: str = "info") -> None:
            body = {"message": context.mask(str(message)), "level": level}
            if step_id:
                body["stepId"] = step_id
            result.log.append({"type": EventType.LOG, "body": body})

        return logger

    with temporary_workspace("dry-run") as workspace:
        for index, step in enumerate(steps):
            entry = result.steps[index]
            logger = logger_for(entry["id"])
            logger(f"Beginning step {entry['name']}")
            try:
                outcome = execute_step(step, index, workspace=workspace, context=context, template_info=info,
                                       logger=logger, dry_run=True)
            except Exception as error:
                entry["status"] = StepStatus.FAILED
                logger(describe_error(error), level=ERROR)
                break
            entry["status"] = outcome.status
            context.steps[entry["id"]] = {"output": outcome.output}
            logger(f"{'Skipped' if outcome.status == StepStatus.SKIPPED else 'Finished'} step {entry['name']}")
        result.files = snapshot(workspace)
        if not result.failed:
            try:
                result.output = render_output((template_document.get("spec") or {}).get("output"), context,
                                              logger_for(None))
            except Exception as error:
                logger_for(None)(f"The template's output could not be rendered: {describe_error(error)}", level=ERROR)
    return result


__all__ = [
    "DryRunResult",
    "IdempotencyConflict",
    "ParameterError",
    "TaskStateError",
    "can_change",
    "can_view",
    "cancel_task",
    "create_task",
    "dry_run",
    "retry_task",
]
