"""Scaffolder tasks: a template run with its steps, events and stored results.

A task is saved before it is enqueued and claimed atomically by a worker. Each step's output
and the files in the workspace after it are stored, so a retry or a resumed task continues on
any worker from the first step that did not complete.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from scaffolder.choices import TASK_TERMINAL, EventType, StepStatus, TaskStatus


class Task(models.Model):
    """One run of a template (Backstage's task)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    #: The template's entity ref, e.g. template:default/model-endpoint (lower-cased).
    template_ref = models.CharField(max_length=400)
    template_title = models.CharField(max_length=255, blank=True)
    #: The template document as it was when the task was created (steps, output, parameters),
    #: plus `templateInfo` ({entityRef, basePath: the template's folder in the repository}).
    spec = models.JSONField()
    #: The form values (`parameters`); values of password widgets are kept in `secrets` instead.
    values = models.JSONField(default=dict)
    #: Fernet-encrypted JSON of the task's secrets; emptied when the task is terminal.
    secrets_encrypted = models.BinaryField(default=b"", blank=True)
    status = models.CharField(max_length=16, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    #: When a worker last claimed it, and its last sign of life (stale = taken over).
    claimed_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    #: Set by a cancel request; the runner stops before the next step.
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    #: The template's `output` (links, text), rendered when the task completes.
    output = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    #: The catalog entity the task creates or changes, when known (e.g. component:default/x).
    entity_ref = models.CharField(max_length=400, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # "my tasks", newest first
            models.Index(fields=["created_by", "-created_at"], name="task_creator_created"),
            # the admin list filtered by status, and the reaper's scan of processing tasks
            models.Index(fields=["status", "heartbeat_at"], name="task_status_heartbeat"),
            # the admin list filtered by template
            models.Index(fields=["template_ref", "-created_at"], name="task_template_created"),
        ]

    def __str__(self) -> str:
        return f"{self.template_ref} ({self.uuid})"

    @property
    def is_terminal(self) -> bool:
        return self.status in TASK_TERMINAL

    def is_stale(self, now=None) -> bool:
        now = now or timezone.now()
        if self.status != TaskStatus.PROCESSING or self.heartbeat_at is None:
            return False
        return self.heartbeat_at < now - timedelta(seconds=settings.PORTAL_TASK_STALE_SECONDS)


class TaskStep(models.Model):
    """One step of a task, with its state, output and the workspace files after it ran."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="steps")
    index = models.PositiveIntegerField()
    step_id = models.CharField(max_length=255)
    name = models.CharField(max_length=255, blank=True)
    action = models.CharField(max_length=255)
    status = models.CharField(max_length=16, choices=StepStatus.choices, default=StepStatus.OPEN)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    output = models.JSONField(default=dict, blank=True)
    #: The workspace after this step: {path: base64 content}; restored to resume after it.
    files = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["task", "index"]
        constraints = [
            # also serves "the steps of a task, in order"
            models.UniqueConstraint(fields=["task", "index"], name="taskstep_unique_index"),
        ]

    def __str__(self) -> str:
        return f"{self.task_id}:{self.step_id}"

    @property
    def duration(self) -> timedelta | None:
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class TaskEvent(models.Model):
    """A log line or a step/task transition, in Backstage's event shape.

    The integer id is the cursor of `GET tasks/{id}/events?after=` (as in Backstage).
    """

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=16, choices=EventType.choices, default=EventType.LOG)
    #: {"message": ..., "stepId": ..., "status": ..., "level": "info|warning|error"}
    body = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [
            # events?after=<id> and the live log
            models.Index(fields=["task", "id"], name="taskevent_task_id"),
            # the retention pruning job
            models.Index(fields=["created_at"], name="taskevent_created"),
        ]

    def __str__(self) -> str:
        return f"{self.type}: {self.body.get('message', '')[:60]}"

    def as_backstage(self, task_uuid: str) -> dict:
        return {
            "id": self.id,
            "taskId": task_uuid,
            "type": self.type,
            "body": self.body,
            "createdAt": self.created_at.isoformat(),
        }


class IdempotencyKey(models.Model):
    """An `Idempotency-Key` seen from a user: the same key answers the same task for 24 hours."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    #: SHA-256 of the request body; the same key with another body answers 422.
    body_hash = models.CharField(max_length=64)
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # one task per (user, key); expired keys are deleted before a new one is stored
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_user_key"),
        ]
        indexes = [
            # expiry of keys older than 24 hours
            models.Index(fields=["created_at"], name="idempotency_created"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"
