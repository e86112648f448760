"""Request and response shapes of the Backstage-compatible scaffolder API.

Responses are built from the models in Backstage's shapes (camelCase keys, task ids as UUID
strings, event ids as integers); request serializers validate what clients send.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from rest_framework import serializers

from portal import identity
from scaffolder.choices import TaskStatus
from scaffolder.models import Task, TaskStep

# --- requests ----------------------------------------------------------------------------------


class TaskCreateSerializer(serializers.Serializer):
    templateRef = serializers.CharField(help_text="The template's entity ref, e.g. template:default/model-endpoint")
    values = serializers.DictField(required=False, default=dict, help_text="The form values (the template's parameters)")
    secrets = serializers.DictField(
        child=serializers.CharField(allow_blank=True), required=False, default=dict,
        help_text="Secret values for ${{ secrets.* }}; kept encrypted and wiped when the task ends",
    )


class RetrySerializer(serializers.Serializer):
    secrets = serializers.DictField(
        child=serializers.CharField(allow_blank=True), required=False, default=dict,
        help_text="The task's secrets again (they are wiped when a task ends), password fields by name",
    )


class DirectoryEntrySerializer(serializers.Serializer):
    path = serializers.CharField(help_text="Relative to the template's folder, e.g. skeleton/apps/x.yaml")
    base64Content = serializers.CharField(allow_blank=True, trim_whitespace=False)

    def validate(self, data: dict) -> dict:
        try:
            data["content"] = base64.b64decode(data["base64Content"], validate=True)
        except (binascii.Error, ValueError):
            raise serializers.ValidationError({"base64Content": f"{data['path']}: not valid base64."}) from None
        return data


class DryRunRequestSerializer(serializers.Serializer):
    template = serializers.DictField(help_text="The whole template entity (apiVersion, kind, metadata, spec)")
    values = serializers.DictField(required=False, default=dict)
    secrets = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False, default=dict)
    directoryContents = DirectoryEntrySerializer(many=True, required=False, default=list)

    def validate_template(self, template: dict) -> dict:
        spec = template.get("spec")
        if (
            template.get("apiVersion") != "scaffolder.backstage.io/v1beta3"
            or template.get("kind") != "Template"
            or not isinstance(spec, dict)
            or not isinstance(spec.get("steps", []), list)
        ):
            raise serializers.ValidationError(
                "Input template is not a template: it needs apiVersion scaffolder.backstage.io/v1beta3, "
                "kind Template and a spec with steps."
            )
        return template


# --- responses ---------------------------------------------------------------------------------


class TaskCreatedSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="The task id, for GET tasks/{id}")


class TaskStepStateSerializer(serializers.Serializer):
    id = serializers.CharField(source="step_id")
    name = serializers.CharField()
    action = serializers.CharField()
    status = serializers.CharField()
    startedAt = serializers.DateTimeField(source="started_at", allow_null=True)
    endedAt = serializers.DateTimeField(source="finished_at", allow_null=True)


class TaskSerializer(serializers.Serializer):
    """Backstage's SerializedTask (id, spec, status, createdAt, lastHeartbeatAt, createdBy), plus
    the step states, rendered output and error a script polling the task wants. Secrets are
    never included; password values read as ***."""

    id = serializers.UUIDField(source="uuid")
    spec = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=TaskStatus.choices)
    createdAt = serializers.DateTimeField(source="created_at")
    lastHeartbeatAt = serializers.DateTimeField(source="heartbeat_at", allow_null=True)
    createdBy = serializers.SerializerMethodField()
    templateRef = serializers.CharField(source="template_ref")
    entityRef = serializers.CharField(source="entity_ref", help_text="The catalog entity the task creates, when known")
    steps = TaskStepStateSerializer(many=True)
    output = serializers.JSONField(help_text="The template's output (links, text), rendered when the task completes")
    error = serializers.CharField()

    def get_spec(self, task: Task) -> dict[str, Any]:
        return task_spec(task)

    def get_createdBy(self, task: Task) -> str:  # noqa: N802 - Backstage's field name
        return identity.user_ref(task.created_by) if task.created_by else ""


class TaskListSerializer(serializers.Serializer):
    tasks = TaskSerializer(many=True)
    totalTasks = serializers.IntegerField()


class CancelResponseSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=TaskStatus.choices, help_text="cancelled, or processing until the running step ends"
    )


class TaskEventSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The cursor for events?after=")
    taskId = serializers.UUIDField()
    type = serializers.CharField(help_text="log, completion, cancelled or recovered")
    body = serializers.DictField(help_text="{message, stepId, status, level, output}")
    createdAt = serializers.DateTimeField()


class DryRunFileSerializer(serializers.Serializer):
    path = serializers.CharField()
    base64Content = serializers.CharField()
    executable = serializers.BooleanField()


class DryRunResponseSerializer(serializers.Serializer):
    log = serializers.ListField(child=serializers.DictField(), help_text="[{body: {message, stepId, status}}]")
    directoryContents = DryRunFileSerializer(many=True)
    output = serializers.DictField()
    steps = serializers.ListField(child=serializers.DictField())


class ParameterStepSerializer(serializers.Serializer):
    title = serializers.CharField()
    description = serializers.CharField(required=False)
    schema = serializers.DictField()


class ParameterSchemaSerializer(serializers.Serializer):
    title = serializers.CharField()
    description = serializers.CharField(required=False)
    steps = ParameterStepSerializer(many=True)


class ActionSerializer(serializers.Serializer):
    id = serializers.CharField()
    description = serializers.CharField()
    schema = serializers.DictField(help_text="{input, output}: JSON Schemas")
    examples = serializers.ListField(child=serializers.DictField())


# --- helpers -----------------------------------------------------------------------------------


def template_document(task: Task) -> dict[str, Any]:
    """The template document a task was created from (its stored spec, whole or spec-only)."""
    spec = task.spec or {}
    return spec if "spec" in spec else {"spec": spec}


def task_spec(task: Task) -> dict[str, Any]:
    """Backstage's TaskSpec: apiVersion, steps (ids and names filled in), output, parameters,
    the user and templateInfo."""
    document = template_document(task)
    spec = document.get("spec") or {}
    steps = task_steps(document)
    template_info = (task.spec or {}).get("templateInfo") or {"entityRef": task.template_ref}
    return {
        "apiVersion": document.get("apiVersion", "scaffolder.backstage.io/v1beta3"),
        "steps": steps,
        "output": spec.get("output") or {},
        # Password-widget values were stored as *** (their real values sit with the secrets).
        "parameters": task.values,
        "user": {"ref": identity.user_ref(task.created_by) if task.created_by else ""},
        "templateInfo": template_info,
    }


def task_steps(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The template's steps with Backstage's defaults: id `step-<n>`, name = the action."""
    steps = (document.get("spec") or {}).get("steps") or []
    return [
        {**step, "id": step.get("id") or f"step-{index + 1}", "name": step.get("name") or step.get("action", "")}
        for index, step in enumerate(steps)
    ]


def steps_queryset():
    """Step states without their stored workspace files and outputs (large, and not API data)."""
    return TaskStep.objects.only("task_id", "index", "step_id", "name", "action", "status", "started_at", "finished_at")
