"""Scaffolder pages: the Create page, a template's form with its review and preview, task
pages with their live log, and the list of actions.

Pages read only the database; the form's values travel between its pages in an encrypted
draft field, never in the session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views import View

from catalog.models import Entity
from catalog.refs import entity_ref
from deployments.models import PullRequest
from scaffolder import forms, parameters, preview
from scaffolder.actions import registry
from scaffolder.choices import TASK_TERMINAL, StepStatus, TaskStatus
from scaffolder.filtersets import SCOPE_ALL, TaskFilterSet, TemplateFilterSet
from scaffolder.models import Task

#: The most log lines a task page shows at once (the API pages through the rest).
LOG_LIMIT = 1000
#: htmx stops polling when a response has this status.
HTMX_STOP_POLLING = 286


def _services():
    # Imported on use: the task services import the runner and the actions, which pages
    # other than the form never need.
    from scaffolder import services

    return services


# --- the Create page --------------------------------------------------------------------------


class TemplateListView(View):
    """Every template in the catalog, filtered by free text and tag."""

    def get(self, request: HttpRequest) -> HttpResponse:
        filterset = TemplateFilterSet(request.GET or None)
        templates = list(filterset.qs)
        all_tags = sorted({
            tag for tags in Entity.objects.filter(kind__iexact="template").values_list("document__metadata__tags", flat=True)
            if isinstance(tags, list) for tag in tags if isinstance(tag, str)
        })
        context = {
            "templates": templates,
            "tags": all_tags,
            "q": request.GET.get("q", ""),
            "tag": request.GET.get("tag", ""),
        }
        template = "scaffolder/partials/template_results.html" if request.htmx else "scaffolder/template_list.html"
        response = render(request, template, context)
        patch_vary_headers(response, ["HX-Request"])
        return response


# --- a template's form ----------------------------------------------------------------------------


def _template_or_404(namespace: str, name: str) -> Entity:
    template = Entity.objects.filter(ref=entity_ref("template", namespace, name)).first()
    if template is None:
        raise Http404(f"No template named {namespace}/{name} in the catalog.")
    return template


@dataclass(frozen=True)
class Step:
    number: int
    title: str
    state: str  # done, current, upcoming


@dataclass
class FormState:
    """Where the user is in a template's form, and what they have typed."""

    template: Entity
    pages: list[dict]
    page: int
    values: dict
    errors: list[parameters.FieldError]

    @property
    def is_review(self) -> bool:
        return self.page >= len(self.pages)


def _page_from(data: QueryDict, pages: list[dict]) -> int:
    try:
        return max(0, min(int(data.get("page", 0)), len(pages)))
    except (TypeError, ValueError):
        return 0


class TemplateFormView(View):
    """A template's form: one page per `parameters` entry, then a review step with a preview.

    Every button posts the page's fields plus the draft of the other pages, so going back and
    forth loses nothing.
    """

    def get(self, request: HttpRequest, namespace: str, name: str) -> HttpResponse:
        template = _template_or_404(namespace, name)
        pages = parameters.parameter_pages(template.document)
        state = FormState(template, pages, 0, forms.defaults(pages), [])
        return self.render_form(request, state)

    def post(self, request: HttpRequest, namespace: str, name: str) -> HttpResponse:
        template = _template_or_404(namespace, name)
        pages = parameters.parameter_pages(template.document)
        values = forms.load_draft(request.POST.get("draft", ""), request.user) or forms.defaults(pages)
        page = _page_from(request.POST, pages)
        if page < len(pages):
            values = forms.read_page(pages[page], request.POST, values)
        action = request.POST.get("action", "next")
        state = FormState(template, pages, page, values, [])

        if action == "back":
            state.page = max(0, page - 1)
        elif action.startswith("goto-"):
            target = action.removeprefix("goto-")
            state.page = min(int(target), len(pages)) if target.isdigit() else page
            if state.page > page:  # forward jumps only past checked pages
                state.page = page
        elif action == "next":
            state.errors = parameters.validate_values(template.document, values, page=page)
            if not state.errors:
                state.page = page + 1
        elif action in ("review", "preview", "create"):
            state.errors = parameters.validate_values(template.document, values)
            if state.errors:
                state.page = state.errors[0].page
            elif action == "create":
                return self.create(request, state)
            else:
                state.page = len(pages)
                if action == "preview":
                    return self.render_preview(request, state)
        return self.render_form(request, state, status=400 if state.errors else 200)

    def create(self, request: HttpRequest, state: FormState) -> HttpResponse:
        from deployments import budgets

        services = _services()
        # An admin's "Override the budget" (ticked in the preview) travels with the values; the
        # publish step honours it only for admins and refuses an over-budget change otherwise.
        # Said here first, with the preview, before any task exists.
        values = budgets.with_override(state.values, request)
        refusal = budgets.form_refusal(state.template, values, request.user)
        if refusal:
            messages.error(request, refusal)
            sections = preview.build_preview(state.template, state.values, request.user)
            return self.render_form(request, state, sections=sections, status=409)
        try:
            task = services.create_task(state.template, values, user=request.user)
        except services.ParameterError as error:
            state.errors = list(error.errors)
            state.page = state.errors[0].page if state.errors else 0
            return self.render_form(request, state, status=400)
        return redirect("scaffolder:task_detail", task_uuid=task.uuid)

    def render_preview(self, request: HttpRequest, state: FormState) -> HttpResponse:
        services = _services()
        try:
            sections = preview.build_preview(state.template, state.values, request.user)
        except services.ParameterError as error:
            state.errors = list(error.errors)
            state.page = state.errors[0].page if state.errors else 0
            return self.render_form(request, state, status=400)
        if request.htmx:
            response = render(request, "scaffolder/partials/preview.html", {"sections": sections})
            response["Cache-Control"] = "no-store"
            return response
        return self.render_form(request, state, sections=sections)

    def render_form(self, request: HttpRequest, state: FormState, *, status: int = 200, sections=None) -> HttpResponse:
        document = state.template.document
        secrets = parameters.secret_fields(document)
        titles = [page.get("title") or f"Step {index + 1}" for index, page in enumerate(state.pages)] + ["Review"]
        steps = [
            Step(index + 1, title, "current" if index == state.page else "done" if index < state.page else "upcoming")
            for index, title in enumerate(titles)
        ]
        context = {
            "template": state.template,
            "state": state,
            "steps": steps,
            "page_title": titles[state.page],
            "page_description": "" if state.is_review else state.pages[state.page].get("description", ""),
            "draft": forms.dump_draft(state.values, request.user),
            "error_count": len(state.errors),
            "sections": sections,
            "form_url": request.path,
        }
        if state.is_review:
            context["rows"] = forms.review_rows(state.pages, state.values, secrets)
        else:
            page_errors = [error for error in state.errors if error.page == state.page]
            context["fields"] = forms.build_fields(
                state.pages[state.page], state.values, page_errors, user=request.user,
                secrets_kept={name for name in secrets if state.values.get(name)},
            )
            context["page_errors"] = page_errors
            labels = {f.name: f.label for f in _flatten(context["fields"])}
            context["error_items"] = [
                {"id": forms.FormField(error.field, "", "text").id, "label": labels.get(error.field, error.field), "message": error.message}
                for error in page_errors
            ]
        response = render(request, "scaffolder/template_form.html", context, status=status)
        # The draft carries what the user typed: keep it out of every cache.
        response["Cache-Control"] = "no-store"
        return response


def _flatten(fields: list[forms.FormField]) -> list[forms.FormField]:
    flat = []
    for field in fields:
        flat.append(field)
        flat.extend(field.dependents or [])
    return flat


def _posted_page(request: HttpRequest, template: Entity) -> tuple[list[dict], int, dict]:
    pages = parameters.parameter_pages(template.document)
    page = _page_from(request.POST, pages)
    if page >= len(pages):
        raise Http404("The review step has no fields.")
    values = forms.load_draft(request.POST.get("draft", ""), request.user) or forms.defaults(pages)
    return pages, page, forms.read_page(pages[page], request.POST, values)


def validate_field(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    """htmx: one field's error (or none) as the user types; only the error element is swapped,
    so the input keeps its focus and caret."""
    if request.method != "POST":
        return HttpResponse(status=405)
    template = _template_or_404(namespace, name)
    pages, page, values = _posted_page(request, template)
    field_name = request.GET.get("field", "")
    errors = parameters.validate_values(template.document, values, page=page)
    message = next((error.message for error in errors if error.field.split(".", 1)[0] == field_name), "")
    form_field = forms.FormField(name=field_name, label="", widget="text", error=message)
    response = render(request, "scaffolder/partials/field_error.html", {"field": form_field})
    response["Cache-Control"] = "no-store"
    return response


def field_dependents(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    """htmx: the fields a controlling field's new value shows, rendered in place."""
    if request.method != "POST":
        return HttpResponse(status=405)
    template = _template_or_404(namespace, name)
    pages, page, values = _posted_page(request, template)
    field_name = request.GET.get("field", "")
    fields = forms.build_fields(pages[page], values, [], user=request.user)
    controller = next((f for f in fields if f.name == field_name and f.dependents is not None), None)
    if controller is None:
        raise Http404("That field shows no other fields.")
    return render(request, "scaffolder/partials/field_dependents.html", {
        "field": controller, "validate_url": reverse("scaffolder:template_validate", args=[namespace, name]),
        "dependents_url": reverse("scaffolder:template_dependents", args=[namespace, name]),
    })


# --- tasks ------------------------------------------------------------------------------------------


def _task_or_404(request: HttpRequest, task_uuid) -> Task:
    task = get_object_or_404(Task.objects.select_related("created_by"), uuid=task_uuid)
    if not _services().can_view(task, request.user):
        raise Http404("No such task.")
    return task


@dataclass(frozen=True)
class OutputLink:
    title: str
    url: str
    internal: bool


def _duration(started, finished) -> str:
    if not started:
        return ""
    span: timedelta = (finished or timezone.now()) - started
    seconds = span.total_seconds()
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s"


def _task_context(request: HttpRequest, task: Task, after: int) -> dict:
    from catalog.templatetags.catalog_tags import entity_url, safe_link

    steps = list(task.steps.all())
    events = list(task.events.filter(id__gt=after).order_by("id")[:LOG_LIMIT])
    pull_request = PullRequest.objects.filter(task=task.uuid).order_by("-created_at").first()
    links: list[OutputLink] = []
    if pull_request:
        links.append(OutputLink(
            f"Pull request #{pull_request.number}: {pull_request.title}",
            reverse("deployments:pullrequest_detail", args=[pull_request.uuid]), True,
        ))
    for link in (task.output or {}).get("links") or []:
        if not isinstance(link, dict):
            continue
        url = link.get("url") or ""
        if pull_request and url and url in (pull_request.url,):
            continue  # already linked to its page in the portal
        if link.get("entityRef"):
            target = entity_url(str(link["entityRef"]))
            if target:
                links.append(OutputLink(str(link.get("title") or link["entityRef"]), target, True))
            continue
        if safe_link(url):
            if pull_request and "pull" in str(link.get("title", "")).lower():
                continue
            links.append(OutputLink(str(link.get("title") or url), url, False))
    texts = [
        {"title": str(text.get("title") or ""), "content": str(text.get("content") or "")}
        for text in (task.output or {}).get("text") or [] if isinstance(text, dict)
    ]
    services = _services()
    allowed = services.can_change(task, request.user)
    return {
        "task": task,
        "steps": [
            {"step": step, "duration": _duration(step.started_at, step.finished_at) if step.started_at else ""}
            for step in steps
        ],
        "events": events,
        # The "no log yet" placeholder exists on the page only until the first lines arrive.
        "first_lines": bool(events) and after == 0,
        "last_event_id": events[-1].id if events else after,
        "links": links,
        "texts": texts,
        "pull_request": pull_request,
        "can_cancel": allowed and task.status in (TaskStatus.OPEN, TaskStatus.PROCESSING) and not task.cancel_requested_at,
        "can_retry": allowed and task.status == TaskStatus.FAILED,
        "is_terminal": task.status in TASK_TERMINAL,
        "duration": _duration(task.claimed_at or task.created_at, task.finished_at) if task.claimed_at else "",
        "StepStatus": StepStatus,
    }


class TaskDetailView(View):
    """A task: its steps, live log, outputs and, for those allowed, Cancel and Retry.

    For htmx the same URL answers the log lines after `after` plus the refreshed steps and
    result; once the task is terminal the answer is HTTP 286, which stops the polling.
    """

    def get(self, request: HttpRequest, task_uuid) -> HttpResponse:
        task = _task_or_404(request, task_uuid)
        if request.htmx and not request.htmx.history_restore_request:
            try:
                after = int(request.GET.get("after", 0))
            except ValueError:
                after = 0
            context = _task_context(request, task, after)
            response = render(request, "scaffolder/partials/task_update.html", context)
            if context["is_terminal"]:
                response.status_code = HTMX_STOP_POLLING
        else:
            response = render(request, "scaffolder/task_detail.html", _task_context(request, task, 0))
        patch_vary_headers(response, ["HX-Request"])
        return response


def _task_action(request: HttpRequest, task_uuid, operation: str) -> HttpResponse:
    if request.method != "POST":
        return HttpResponse(status=405)
    task = _task_or_404(request, task_uuid)
    services = _services()
    try:
        getattr(services, f"{operation}_task")(task, request.user)
    except PermissionDenied:
        raise
    except services.TaskStateError as error:
        messages.error(request, str(error))
    else:
        if operation == "cancel":
            messages.success(request, "Cancel requested: the task stops before its next step.")
        else:
            messages.success(request, "The task restarts from the step that failed.")
    return redirect("scaffolder:task_detail", task_uuid=task.uuid)


def cancel_task(request: HttpRequest, task_uuid) -> HttpResponse:
    return _task_action(request, task_uuid, "cancel")


def retry_task(request: HttpRequest, task_uuid) -> HttpResponse:
    return _task_action(request, task_uuid, "retry")


class TaskListView(View):
    """My tasks, newest first; admins may show every task and filter by status, template, creator."""

    page_size = 25

    def get(self, request: HttpRequest) -> HttpResponse:
        filterset = TaskFilterSet(request.GET or None, request=request)
        page = Paginator(filterset.qs, self.page_size).get_page(request.GET.get("page"))
        query = request.GET.copy()
        query.pop("page", None)
        context = {
            "filterset": filterset,
            "page": page,
            "tasks": list(page.object_list),
            "is_admin": filterset.is_admin,
            "scope": filterset.scope,
            "show_all": filterset.scope == SCOPE_ALL,
            "query": query.urlencode(),
            "statuses": TaskStatus.choices,
            "values": {key: request.GET.get(key, "") for key in ("status", "template", "creator")},
            "template_refs": (
                list(Task.objects.order_by("template_ref").values_list("template_ref", flat=True).distinct())
                if filterset.is_admin else []
            ),
        }
        template = "scaffolder/partials/task_results.html" if request.htmx else "scaffolder/task_list.html"
        response = render(request, template, context)
        patch_vary_headers(response, ["HX-Request"])
        return response


class ActionListView(View):
    """The registered actions with their input and output schemas."""

    def get(self, request: HttpRequest) -> HttpResponse:
        actions = []
        for action in registry.all():
            actions.append({
                "id": action.id,
                "description": action.description,
                "supports_dry_run": action.supports_dry_run,
                "input": _schema_rows(action.input_schema),
                "output": _schema_rows(action.output_schema),
                "examples": action.examples,
            })
        return render(request, "scaffolder/action_list.html", {"actions": actions})


def _schema_rows(schema: dict) -> list[dict]:
    required = set(schema.get("required") or [])
    rows = []
    for name, prop in (schema.get("properties") or {}).items():
        prop = prop if isinstance(prop, dict) else {}
        kind = prop.get("type", "")
        if isinstance(kind, list):
            kind = " or ".join(kind)
        if kind == "array" and isinstance(prop.get("items"), dict) and prop["items"].get("type"):
            kind = f"array of {prop['items']['type']}"
        rows.append({
            "name": name, "type": kind or "any", "required": name in required,
            "description": prop.get("description") or prop.get("title") or "",
            "enum": prop.get("enum"),
        })
    return rows
