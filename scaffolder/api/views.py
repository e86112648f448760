"""The scaffolder REST API, answering Backstage's scaffolder endpoints with Backstage's shapes.

Reference: Backstage's scaffolder-backend router (`/v2/...` paths) and ScaffolderClient.
Every signed-in user may read the tasks they may see (their own, their team's, all for
admins) and dry-run any template; creating, cancelling and retrying need a write-scope token
or a session with its CSRF token. Errors use Backstage's error body (portal.api.exceptions).

`POST tasks` honours `Idempotency-Key` (DESIGN §4.2): the same key with the same body, from
the same user within 24 hours, answers the same task id again with 201 and the header
`Idempotent-Replayed: true` (the response the first request got, as Stripe and the IETF
idempotency-key draft do); the same key with another body answers 422.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid

from django.db.models import Prefetch
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, permissions, renderers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.models import Entity
from catalog.refs import RefError, entity_ref, ref_string
from portal import identity
from portal.api.exceptions import error_body
from scaffolder import parameters, services
from scaffolder.actions import registry
from scaffolder.api import serializers
from scaffolder.choices import TASK_TERMINAL, EventType, TaskStatus
from scaffolder.models import Task, TaskEvent

#: How long one event stream stays open; clients reconnect with Last-Event-ID (DESIGN §6).
STREAM_SECONDS = 30.0
#: How often an open stream looks for new events.
STREAM_POLL_SECONDS = 0.5
#: A comment line after this much silence keeps proxies from closing the stream.
STREAM_KEEPALIVE_SECONDS = 10.0
#: Events read per query, in the stream and in `events`.
EVENT_BATCH = 500
#: The longest page of `GET tasks`.
MAX_LIMIT = 500

ERRORS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="InputError: a malformed parameter or body"),
    401: OpenApiResponse(OpenApiTypes.OBJECT, description="AuthenticationError: no or bad credentials"),
}
NOT_FOUND = {404: OpenApiResponse(OpenApiTypes.OBJECT, description="NotFoundError: no such task, or not yours to see")}
FORBIDDEN = {403: OpenApiResponse(OpenApiTypes.OBJECT, description="NotAllowedError: a read-scope token, or not yours to change")}
CONFLICT = {409: OpenApiResponse(OpenApiTypes.OBJECT, description="ConflictError: the task's state does not allow it")}
AFTER = OpenApiParameter("after", int, description="Only events with a greater id (the last event id seen)")


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The task's state does not allow that."


def _visible_task(request, task_id: str, queryset=None) -> Task:
    """The task, when the user may see it; otherwise 404, so ids of others' tasks leak nothing."""
    try:
        task_uuid = uuid.UUID(str(task_id))
    except ValueError:
        task_uuid = None
    if queryset is None:
        queryset = Task.objects.select_related("created_by")
    task = queryset.filter(uuid=task_uuid).first() if task_uuid else None
    if task is None or not services.can_view(task, request.user):
        raise exceptions.NotFound(f"Task with id {task_id} does not exist")
    return task


def _template(kind: str, namespace: str, name: str) -> Entity:
    ref = entity_ref(kind, namespace, name)
    template = Entity.objects.filter(ref=ref, kind__iexact="template").first()
    if template is None:
        raise exceptions.NotFound(f"No template named {name!r} found in namespace {namespace!r} ({ref})")
    return template


def _integer(params, name: str, *, minimum: int, maximum: int | None = None) -> int | None:
    text = params.get(name)
    if text in (None, ""):
        return None
    try:
        value = int(text)
    except ValueError:
        raise exceptions.ParseError(f"Invalid {name} {text!r}: it must be a whole number.") from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"{minimum} or greater"
        raise exceptions.ParseError(f"Invalid {name} {value}: it must be {bound}.")
    return value


def _parameter_error(request, error: services.ParameterError) -> Response:
    """400 naming each field, what is wrong and on which form page (Backstage's `errors` too)."""
    details = [{"field": e.field, "message": e.message, "page": e.page} for e in error.errors]
    message = "; ".join(f"{e.field}: {e.message}" for e in error.errors) or "The values do not fit the template."
    errors = [{"name": "InputError", "property": e.field, "message": f"{e.field} {e.message}"} for e in error.errors]
    body = error_body(request, 400, message, details=details)
    return Response({**body, "errors": errors}, status=status.HTTP_400_BAD_REQUEST)


def body_hash(data) -> str:
    """SHA-256 of the canonical JSON of a request body: key order and spacing do not count."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _tasks_with_steps():
    return Task.objects.select_related("created_by").prefetch_related(
        Prefetch("steps", queryset=serializers.steps_queryset())
    )


# --- tasks ---------------------------------------------------------------------------------------


class TaskListView(APIView):
    @extend_schema(
        operation_id="listTasks",
        summary="List tasks, newest first: your own, or everyone's for admins",
        parameters=[
            OpenApiParameter("createdBy", str, many=True, description="User refs, e.g. user:default/dana"),
            OpenApiParameter("status", str, many=True, enum=TaskStatus.values),
            OpenApiParameter("limit", int, description=f"Page size (at most {MAX_LIMIT})"),
            OpenApiParameter("offset", int, description="Tasks to skip"),
        ],
        responses={200: serializers.TaskListSerializer, **ERRORS},
    )
    def get(self, request):
        params = request.query_params
        tasks = _tasks_with_steps()
        if not identity.is_admin(request.user):
            tasks = tasks.filter(created_by=request.user)
        created_by = [value for value in params.getlist("createdBy") if value]
        if created_by:
            try:
                names = {ref_string(ref, default_kind="user").split("/", 1)[1] for ref in created_by}
            except RefError as error:
                raise exceptions.ParseError(f"Invalid createdBy: {error}") from None
            tasks = tasks.filter(created_by__username__in=names)
        statuses = [value for value in params.getlist("status") if value]
        unknown = sorted(set(statuses) - set(TaskStatus.values))
        if unknown:
            raise exceptions.ParseError(
                f"Invalid status {', '.join(unknown)}: it must be one of {', '.join(TaskStatus.values)}."
            )
        if statuses:
            tasks = tasks.filter(status__in=statuses)
        limit = _integer(params, "limit", minimum=1, maximum=MAX_LIMIT) or MAX_LIMIT
        offset = _integer(params, "offset", minimum=0) or 0
        tasks = tasks.order_by("-created_at", "-id")
        page = list(tasks[offset : offset + limit])
        # A short page (that is not past the end) tells the total without counting.
        total = offset + len(page) if len(page) < limit and (page or not offset) else tasks.count()
        data = {"tasks": serializers.TaskSerializer(page, many=True).data, "totalTasks": total}
        return Response(data)

    @extend_schema(
        operation_id="scaffold",
        summary="Create a task from a template (honours Idempotency-Key)",
        request=serializers.TaskCreateSerializer,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key", str, OpenApiParameter.HEADER,
                description="Retrying with the same key and body within 24 hours answers the same task "
                "(header Idempotent-Replayed: true); another body with the same key answers 422.",
            )
        ],
        responses={
            201: serializers.TaskCreatedSerializer,
            404: OpenApiResponse(OpenApiTypes.OBJECT, description="NotFoundError: no such template"),
            422: OpenApiResponse(OpenApiTypes.OBJECT, description="InputError: the Idempotency-Key was used with another body"),
            **ERRORS, **FORBIDDEN,
        },
    )
    def post(self, request):
        started = timezone.now()
        key = request.headers.get("Idempotency-Key")
        if key is not None and not (0 < len(key) <= 255):
            raise exceptions.ParseError("Idempotency-Key must be 1 to 255 characters long.")
        body = serializers.TaskCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            parsed = ref_string(data["templateRef"], default_kind="template")
        except RefError as error:
            raise exceptions.ParseError(f"templateRef: {error}") from None
        kind, rest = parsed.split(":", 1)
        namespace, name = rest.split("/", 1)
        template = _template(kind, namespace, name)
        try:
            task = services.create_task(
                template,
                data["values"],
                user=request.user,
                secrets=data["secrets"] or None,
                idempotency_key=key,
                body_hash=body_hash(request.data) if key else None,
            )
        except services.ParameterError as error:
            return _parameter_error(request, error)
        except services.IdempotencyConflict:
            message = (
                f"The Idempotency-Key {key!r} was already used with a different request body. "
                "Send the same body to get the same task, or a new key for a new task."
            )
            return Response(error_body(request, 422, message, name="InputError"), status=422)
        headers = {"Location": f"{request.path.rstrip('/')}/{task.uuid}"}
        if task.created_at < started:
            headers["Idempotent-Replayed"] = "true"
        return Response({"id": str(task.uuid)}, status=status.HTTP_201_CREATED, headers=headers)


class TaskDetailView(APIView):
    @extend_schema(
        operation_id="getTask",
        summary="A task: its spec (password values masked, secrets never), status and steps",
        responses={200: serializers.TaskSerializer, **ERRORS, **NOT_FOUND},
    )
    def get(self, request, task_id: str):
        task = _visible_task(request, task_id, _tasks_with_steps())
        return Response(serializers.TaskSerializer(task).data)


class TaskEventsView(APIView):
    @extend_schema(
        operation_id="getTaskEvents",
        summary="The task's events after a cursor, oldest first",
        parameters=[AFTER],
        responses={200: serializers.TaskEventSerializer(many=True), **ERRORS, **NOT_FOUND},
    )
    def get(self, request, task_id: str):
        task = _visible_task(request, task_id)
        after = _integer(request.query_params, "after", minimum=0) or 0
        events = TaskEvent.objects.filter(task=task, id__gt=after).order_by("id")[:EVENT_BATCH]
        return Response([event.as_backstage(str(task.uuid)) for event in events])


class EventStreamRenderer(renderers.BaseRenderer):
    """Lets content negotiation accept `text/event-stream`; errors are still JSON."""

    media_type = "text/event-stream"
    format = "event-stream"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode()


class TaskEventStreamView(APIView):
    renderer_classes = [renderers.JSONRenderer, EventStreamRenderer]

    @extend_schema(
        operation_id="streamTaskEvents",
        summary="Server-sent events: `event: log` and `event: completion`, closing after 30 s",
        description="Each message carries `id: <event id>`; reconnect with Last-Event-ID (or ?after=) "
        "to continue. The stream ends at the completion event, when the task is over, or after 30 seconds.",
        parameters=[AFTER, OpenApiParameter("Last-Event-ID", int, OpenApiParameter.HEADER)],
        responses={(200, "text/event-stream"): OpenApiTypes.STR, **ERRORS, **NOT_FOUND},
    )
    def get(self, request, task_id: str):
        task = _visible_task(request, task_id)
        last_seen = request.headers.get("Last-Event-ID") or request.query_params.get("after")
        after = _integer({"after": last_seen}, "after", minimum=0) or 0
        response = StreamingHttpResponse(
            event_stream(task.pk, str(task.uuid), after), content_type="text/event-stream"
        )
        response["Cache-Control"] = "no-cache"
        # nginx and similar proxies would otherwise buffer the whole stream.
        response["X-Accel-Buffering"] = "no"
        return response


def event_stream(task_pk: int, task_uuid: str, after: int):
    """Yield the task's events as server-sent events until it completes, or for STREAM_SECONDS.

    The task's status is read before its events, so a task that was over before the read has
    sent everything it ever will once the read comes back short.
    """
    deadline = time.monotonic() + STREAM_SECONDS
    quiet_since = time.monotonic()
    yield "retry: 1000\n\n"
    while True:
        finished = Task.objects.filter(pk=task_pk).values_list("status", flat=True).first() in TASK_TERMINAL
        events = list(TaskEvent.objects.filter(task_id=task_pk, id__gt=after).order_by("id")[:EVENT_BATCH])
        for event in events:
            after = event.id
            data = json.dumps(event.as_backstage(task_uuid), separators=(",", ":"))
            yield f"id: {event.id}\nevent: {event.type}\ndata: {data}\n\n"
            if event.type == EventType.COMPLETION:
                return
        if len(events) == EVENT_BATCH:
            continue
        now = time.monotonic()
        if finished or now >= deadline:
            return
        if events:
            quiet_since = now
        elif now - quiet_since >= STREAM_KEEPALIVE_SECONDS:
            quiet_since = now
            yield ": keep-alive\n\n"
        time.sleep(min(STREAM_POLL_SECONDS, max(deadline - now, 0)))


class TaskCancelView(APIView):
    @extend_schema(
        operation_id="cancelTask",
        summary="Cancel a task: at once when it waits, between steps when it runs",
        request=None,
        responses={200: serializers.CancelResponseSerializer, **ERRORS, **FORBIDDEN, **NOT_FOUND, **CONFLICT},
    )
    def post(self, request, task_id: str):
        task = _visible_task(request, task_id)
        try:
            services.cancel_task(task, request.user)
        except services.TaskStateError as error:
            raise Conflict(str(error)) from None
        task.refresh_from_db(fields=["status"])
        return Response({"status": task.status})


class TaskRetryView(APIView):
    @extend_schema(
        operation_id="retryTask",
        summary="Run a failed or cancelled task again from the step that did not complete",
        request=serializers.RetrySerializer,
        responses={201: serializers.TaskCreatedSerializer, **ERRORS, **FORBIDDEN, **NOT_FOUND, **CONFLICT},
    )
    def post(self, request, task_id: str):
        task = _visible_task(request, task_id)
        body = serializers.RetrySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            services.retry_task(task, request.user, secrets=body.validated_data["secrets"] or None)
        except services.TaskStateError as error:
            raise Conflict(str(error)) from None
        return Response({"id": str(task.uuid)}, status=status.HTTP_201_CREATED)


# --- dry run, templates, actions -----------------------------------------------------------------


class DryRunView(APIView):
    # A dry run writes nothing, so a read-scope token may ask for one (sessions still need CSRF).
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        operation_id="dryRun",
        summary="Run a template given inline, with its files, without any side effect",
        request=serializers.DryRunRequestSerializer,
        responses={200: serializers.DryRunResponseSerializer, **ERRORS},
    )
    def post(self, request):
        body = serializers.DryRunRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        errors = parameters.validate_values(data["template"], data["values"])
        if errors:
            return _parameter_error(request, services.ParameterError(errors))
        files = {entry["path"]: entry["content"] for entry in data["directoryContents"]}
        result = services.dry_run(
            data["template"], data["values"], user=request.user, secrets=data["secrets"] or None, files=files
        )
        return Response({
            "log": result.log,
            "directoryContents": [
                {"path": path, "base64Content": _base64(content), "executable": False}
                for path, content in sorted(result.files.items())
            ],
            "output": result.output,
            "steps": result.steps,
        })


def _base64(content: bytes) -> str:
    return base64.b64encode(content).decode()


class ParameterSchemaView(APIView):
    @extend_schema(
        operation_id="getTemplateParameterSchema",
        summary="The template's form pages as JSON Schemas",
        responses={200: serializers.ParameterSchemaSerializer, **ERRORS, **NOT_FOUND},
    )
    def get(self, request, namespace: str, kind: str, name: str):
        template = _template(kind, namespace, name)
        return Response(parameters.parameter_schema(template.document))


class ActionListView(APIView):
    @extend_schema(
        operation_id="listActions",
        summary="Every action templates may use, with its input and output schemas",
        responses={200: serializers.ActionSerializer(many=True), **ERRORS},
    )
    def get(self, request):
        return Response([action.describe() for action in registry.all()])
