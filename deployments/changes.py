"""Changes to an existing model endpoint: change resources, decommission, roll back.

Each flow is a Backstage v1beta3 template built here for one endpoint and run through the
scaffolder's task machinery (a task with steps, a preview, the guardrails step, a pull request).
This module decides which flows an endpoint offers to whom and refuses a change while another
one to the same app is still open.

The scaffolder is imported on use: it registers the actions these flows run, and they read the
rules from here.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied
from django.urls import reverse

from catalog.models import Entity
from deployments.choices import PullRequestState
from deployments.models import PullRequest
from portal import identity, yamlsafe
from portal import snapshot as repository_snapshot

GITOPS_PATH_ANNOTATION = "neuroscale.io/gitops-path"
_APP_PATH = re.compile(r"^apps/([a-z0-9]([-a-z0-9]*[a-z0-9])?)/?$")
MANIFEST = "inference-service.yaml"
GPU_KEY = "nvidia.com/gpu"
_RESOURCES = ["spec", "predictor", "model", "resources"]


class ChangeRefused(Exception):
    """A change that cannot start; `url` links to what is in the way (the open change), if anything."""

    def __init__(self, message: str, url: str = ""):
        self.url = url
        super().__init__(message)


@dataclass(frozen=True)
class Flow:
    key: str
    title: str
    description: str
    button: str


FLOWS: dict[str, Flow] = {
    flow.key: flow
    for flow in (
        Flow("resources", "Change resources and replicas",
             "Replicas, CPU, memory and GPUs of the endpoint, as a pull request.", "Change resources"),
        Flow("rollback", "Roll back",
             "Put the endpoint's files back as they were before its last merged change.", "Roll back"),
        Flow("decommission", "Decommission",
             "Remove the endpoint's folder; once merged, ArgoCD removes the endpoint from the cluster.",
             "Decommission"),
    )
}


# --- Which endpoint, which flows, who ------------------------------------------------------------


def app_name(entity: Entity) -> str | None:
    """The folder under apps/ that deploys this entity (its `neuroscale.io/gitops-path`), or None."""
    annotations = ((entity.document or {}).get("metadata") or {}).get("annotations") or {}
    match = _APP_PATH.match(str(annotations.get(GITOPS_PATH_ANNOTATION) or ""))
    return match.group(1) if match and entity.kind.lower() == "component" else None


def offered_flows(entity: Entity, user) -> list[Flow]:
    """The flows the user may start on this entity: none unless it is an endpoint they may change."""
    if app_name(entity) is None or not identity.can_change(user, entity.owner_ref):
        return []
    return list(FLOWS.values())


def flow_or_404(key: str) -> Flow:
    from django.http import Http404

    try:
        return FLOWS[key]
    except KeyError:
        raise Http404(f"No change named {key!r}; the changes are {', '.join(FLOWS)}.") from None


def open_change(entity: Entity, *, running=None) -> tuple[str, str] | None:
    """(what, url) of the change to this endpoint that is still open, or None.

    Open means an open pull request linked to the entity or touching apps/<name>/, or a task
    for this entity that has not finished yet (it has not opened its pull request). For the
    `running` task itself, only what started before it counts: of two changes started at once,
    the first one goes ahead.
    """
    from scaffolder.choices import TaskStatus
    from scaffolder.models import Task

    name = app_name(entity)
    prefix = f"apps/{name}/" if name else None
    rows = PullRequest.objects.filter(state=PullRequestState.OPEN).order_by("created_at").values_list(
        "uuid", "number", "title", "entity_ref", "files"
    )
    tasks = Task.objects.filter(status__in=[TaskStatus.OPEN, TaskStatus.PROCESSING], values__entityRef=entity.ref)
    if running is not None:
        rows = rows.exclude(task=running.uuid)
        tasks = tasks.filter(pk__lt=running.pk)
    for pr_uuid, number, title, ref, files in rows:
        touches = prefix and any(str(item.get("path", "")).startswith(prefix) for item in files or [] if isinstance(item, dict))
        if ref == entity.ref or touches:
            return f"pull request #{number} ({title})", reverse("deployments:pullrequest_detail", kwargs={"pr_uuid": pr_uuid})
    task = tasks.order_by("pk").values_list("uuid", "template_title").first()
    if task is not None:
        return f"the task {task[1]} (still running)", reverse("scaffolder:task_detail", kwargs={"task_uuid": task[0]})
    return None


def check_can_start(entity: Entity, user) -> str:
    """The endpoint's app name when the user may start a change now; PermissionDenied or ChangeRefused if not."""
    name = app_name(entity)
    if name is None:
        raise ChangeRefused(f"{entity.ref} is not a model endpoint deployed from apps/ (no {GITOPS_PATH_ANNOTATION} annotation).")
    if not identity.can_change(user, entity.owner_ref):
        raise PermissionDenied(f"Only members of {entity.owner_ref or 'the owning group'} and admins may change {entity.name}.")
    current = open_change(entity)
    if current is not None:
        what, url = current
        raise ChangeRefused(
            f"{entity.name} already has an open change: {what}. Merge or close it before starting another.", url
        )
    return name


# --- The flows' templates --------------------------------------------------------------------------


def current_resources(name: str) -> dict[str, Any]:
    """The resources form's starting values, read from the app's manifest in the snapshot."""
    values: dict[str, Any] = {"minReplicas": 1, "maxReplicas": 1, "cpuRequest": "", "cpuLimit": "",
                              "memoryRequest": "", "memoryLimit": "", "gpu": 0}
    content = repository_snapshot.read(f"apps/{name}/{MANIFEST}")
    try:
        document = yamlsafe.load(content, source=f"apps/{name}/{MANIFEST}") if content else {}
    except Exception:
        document = {}
    predictor = ((document or {}).get("spec") or {}).get("predictor") or {}
    resources = (predictor.get("model") or {}).get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    for key, source in (("minReplicas", predictor), ("maxReplicas", predictor)):
        if isinstance(source.get(key), int):
            values[key] = source[key]
    values["maxReplicas"] = max(values["maxReplicas"], values["minReplicas"], 1)
    values.update({
        "cpuRequest": str(requests.get("cpu", "")), "cpuLimit": str(limits.get("cpu", "")),
        "memoryRequest": str(requests.get("memory", "")), "memoryLimit": str(limits.get("memory", "")),
    })
    try:
        values["gpu"] = int(limits.get(GPU_KEY) or requests.get(GPU_KEY) or 0)
    except (TypeError, ValueError):
        values["gpu"] = 0
    return {key: value for key, value in values.items() if value != ""}


def initial_values(entity: Entity, key: str) -> dict[str, Any]:
    name = app_name(entity) or ""
    return current_resources(name) if key == "resources" else {}


_CPU = {"type": "string", "pattern": r"^([1-9][0-9]*m|[0-9]+(\.[0-9]{1,3})?)$", "ui:help": "Cores (1, 0.5) or millicores (500m)"}
_MEMORY = {"type": "string", "pattern": r"^[1-9][0-9]*(\.[0-9]+)?(Ki|Mi|Gi|Ti)$", "ui:help": "A number with Mi or Gi, e.g. 512Mi or 2Gi"}

RESOURCES_PAGE = {
    "title": "Resources",
    "description": "How many copies run and how much each may use.",
    "required": ["minReplicas", "maxReplicas", "cpuRequest", "cpuLimit", "memoryRequest", "memoryLimit"],
    "properties": {
        "minReplicas": {"title": "Minimum replicas", "type": "integer", "minimum": 0, "maximum": 10,
                        "description": "0 lets the endpoint scale to zero when idle (the first request then waits for a cold start)."},
        "maxReplicas": {"title": "Maximum replicas", "type": "integer", "minimum": 1, "maximum": 10,
                        "description": "The most copies KServe scales out to under load; at least the minimum."},
        "cpuRequest": {"title": "CPU request", "description": "CPU reserved for each replica.", **_CPU},
        "cpuLimit": {"title": "CPU limit", "description": "The most CPU a replica may use.", **_CPU},
        "memoryRequest": {"title": "Memory request", "description": "Memory reserved for each replica.", **_MEMORY},
        "memoryLimit": {"title": "Memory limit", "description": "The most memory a replica may use before it is restarted.", **_MEMORY},
        "gpu": {"title": "GPUs", "type": "integer", "minimum": 0, "maximum": 8, "default": 0,
                "description": "NVIDIA GPUs per replica; 0 for CPU-only serving."},
    },
}

CONFIRM_FIELD = "confirm"


def _publish(name: str, key: str, title: str, description: str, **more) -> dict:
    return {
        "id": "publish", "name": "Open pull request", "action": "publish:pull-request",
        "input": {
            "branchName": f"change/{name}/{key}",
            "title": title, "description": description, "targetPath": ".", **more,
        },
    }


def flow_document(entity: Entity, key: str, token: str = "preview") -> dict:  # noqa: S107 - a branch suffix
    """The Template document of one flow for this endpoint; `token` makes the task's branch its own."""
    name = app_name(entity) or ""
    flow = FLOWS[key]
    steps: list[dict]
    parameters: list[dict]
    entity_page = {"title": "Endpoint", "properties": {"entityRef": {"title": "Endpoint", "type": "string",
                                                                    "const": entity.ref, "ui:readonly": True}}}
    link = {"id": "link", "name": "Link to the endpoint", "action": "neuroscale:link-entity", "input": {"entityRef": entity.ref}}
    if key == "resources":
        parameters = [RESOURCES_PAGE]
        p = "${{ parameters.%s }}"
        steps = [
            {"id": "edit", "name": "Edit the manifest", "action": "neuroscale:edit-manifest", "input": {
                "path": f"apps/{name}/{MANIFEST}",
                "set": [
                    {"field": ["spec", "predictor", "minReplicas"], "value": p % "minReplicas"},
                    {"field": ["spec", "predictor", "maxReplicas"], "value": p % "maxReplicas"},
                    {"field": [*_RESOURCES, "requests", "cpu"], "value": p % "cpuRequest"},
                    {"field": [*_RESOURCES, "limits", "cpu"], "value": p % "cpuLimit"},
                    {"field": [*_RESOURCES, "requests", "memory"], "value": p % "memoryRequest"},
                    {"field": [*_RESOURCES, "limits", "memory"], "value": p % "memoryLimit"},
                    {"field": [*_RESOURCES, "requests", GPU_KEY], "value": "${{ (parameters.gpu | string) if parameters.gpu else none }}"},
                    {"field": [*_RESOURCES, "limits", GPU_KEY], "value": "${{ (parameters.gpu | string) if parameters.gpu else none }}"},
                ],
            }},
            {"id": "guardrails", "name": "Check guardrails", "action": "neuroscale:guardrails", "input": {"files": [f"apps/{name}/**"]}},
            _publish(name, key, f"Change resources of {name}",
                     f"Changes the resources of the model endpoint **{name}**: replicas ${{{{ parameters.minReplicas }}}} to "
                     f"${{{{ parameters.maxReplicas }}}}, CPU ${{{{ parameters.cpuRequest }}}} / ${{{{ parameters.cpuLimit }}}}, "
                     f"memory ${{{{ parameters.memoryRequest }}}} / ${{{{ parameters.memoryLimit }}}}, "
                     f"GPUs ${{{{ parameters.gpu or 0 }}}}.\n\n### Guardrails\n\n${{{{ steps['guardrails'].output.table }}}}"),
        ]
    elif key == "decommission":
        parameters = [{
            "title": "Confirm", "description": f"Decommissioning removes apps/{name}/; once merged, ArgoCD deletes the endpoint.",
            "required": [CONFIRM_FIELD],
            "properties": {CONFIRM_FIELD: {"title": "Endpoint name", "type": "string", "maxLength": 63,
                                           "description": f"Type {name} to confirm.", "ui:help": f"Type {name} to confirm"}},
        }]
        steps = [
            {"id": "remove", "name": "List the app's files", "action": "neuroscale:remove-app", "input": {"name": name}},
            {"id": "guardrails", "name": "Check guardrails", "action": "neuroscale:guardrails", "input": {}},
            _publish(name, key, f"Decommission model endpoint {name}",
                     f"Removes `apps/{name}/`. Once merged, ArgoCD's prune deletes the endpoint from the cluster "
                     f"and the catalog entry is orphaned.",
                     filesToDelete="${{ steps['remove'].output.filesToDelete }}"),
        ]
    else:
        parameters = [{"title": "Roll back", "description": f"Puts apps/{name}/ back as it was before its last merged change.",
                       "properties": {}}]
        steps = [
            {"id": "revert", "name": "Restore the previous version", "action": "neuroscale:revert-app", "input": {"name": name}},
            {"id": "guardrails", "name": "Check guardrails", "action": "neuroscale:guardrails", "input": {}},
            _publish(name, key, f"Roll back model endpoint {name}",
                     f"Reverts the last merged change to `apps/{name}/` (commit `${{{{ steps['revert'].output.commit }}}}`)."
                     "\n\n### Guardrails\n\n${{ steps['guardrails'].output.table }}",
                     filesToDelete="${{ steps['revert'].output.filesToDelete }}"),
        ]
    guard = {"id": "check", "name": "Check no other change is open", "action": "neuroscale:check-open-change",
             "input": {"entityRef": entity.ref}}
    steps = [guard, *steps, link]
    for step in steps:
        if step["id"] == "publish":
            # One branch per task: the open-change rule, not the branch name, keeps changes apart.
            step["input"]["branchName"] = f"change/{name}/{key}-{token}"
    return {
        "apiVersion": "scaffolder.backstage.io/v1beta3",
        "kind": "Template",
        "metadata": {"name": f"endpoint-{key}", "title": f"{flow.title}: {name}", "description": flow.description},
        "spec": {
            "owner": entity.owner_ref, "type": "endpoint-change",
            "parameters": [*parameters, entity_page],
            "steps": steps,
            "output": {"links": [{"title": "Pull request", "url": "${{ steps['publish'].output.pullRequestUrl }}"},
                                 {"title": "Open in catalog", "entityRef": entity.ref}]},
        },
    }


def flow_template(entity: Entity, key: str, token: str = "preview") -> Entity:  # noqa: S107 - a branch suffix
    """An unsaved Template entity carrying the flow's document: flows are not on the Create page."""
    document = flow_document(entity, key, token)
    name = document["metadata"]["name"]
    return Entity(ref=f"template:default/{name}", kind="Template", namespace="default", name=name,
                  api_version=document["apiVersion"], document=document, source="")


def _values(entity: Entity, key: str, values: dict) -> dict:
    values = copy.deepcopy(values if isinstance(values, dict) else {})
    from deployments.budgets import BUDGET_OVERRIDE

    # The budget override rides along (the publish step honours it for admins only).
    values = {k: v for k, v in values.items() if k in _field_names(entity, key) or k == BUDGET_OVERRIDE}
    values["entityRef"] = entity.ref
    return values


def _field_names(entity: Entity, key: str) -> set[str]:
    pages = flow_document(entity, key)["spec"]["parameters"]
    return {name for page in pages for name in page.get("properties", {})}


def _check_confirmation(name: str, key: str, values: dict) -> None:
    from scaffolder.parameters import FieldError
    from scaffolder.services import ParameterError

    if key == "decommission" and str(values.get(CONFIRM_FIELD) or "").strip() != name:
        raise ParameterError([FieldError(CONFIRM_FIELD, f"type the endpoint's name, {name}, exactly to confirm", 0)])


def preview_change(entity: Entity, key: str, values: dict, user):
    """The preview sections of the change, as the Create form shows them; nothing is written."""
    from scaffolder import preview

    name = check_can_start(entity, user)
    values = _values(entity, key, values)
    _check_confirmation(name, key, values)
    return preview.build_preview(flow_template(entity, key), values, user)


def start_change(entity: Entity, key: str, values: dict, user):
    """Start the change as a scaffolder task; PermissionDenied, ChangeRefused or ParameterError if it cannot."""
    import uuid

    from portal import audit
    from scaffolder import services

    name = check_can_start(entity, user)
    values = _values(entity, key, values)
    _check_confirmation(name, key, values)
    task = services.create_task(flow_template(entity, key, uuid.uuid4().hex[:8]), values, user=user)
    audit.record(user, f"endpoint.{key}.started", entity.ref, task=str(task.uuid))
    return task


# --- Roll back: the app's files before its last merged change -----------------------------------------


@dataclass
class RollbackPlan:
    commit: str
    parent: str
    summary: str
    files: dict[str, bytes] = field(default_factory=dict)
    files_to_delete: list[str] = field(default_factory=list)


def rollback_plan(provider, name: str) -> RollbackPlan:
    """What reverting the last merged change to apps/<name>/ writes and deletes, on either back end.

    The provider names the last change to the folder on the default branch (`last_change`); the
    files come from its first parent, and files the folder has now but did not have then are
    deleted.
    """
    folder = f"apps/{name}/"
    branch = provider.default_branch
    change = provider.last_change(folder, branch)
    if change is None:
        raise ChangeRefused(f"No change to {folder} has been merged into {branch}; there is nothing to roll back.")
    if not change.parent:
        raise ChangeRefused(f"{folder} has had no change since the repository began; there is nothing to roll back.")
    before = {path: sha for path, sha in provider.read_tree(change.parent).items() if path.startswith(folder)}
    if not before:
        raise ChangeRefused(
            f"The last merged change to {folder} ({change.summary}) created the endpoint; "
            "decommission it instead of rolling back."
        )
    now = {path for path in provider.read_tree(provider.head(branch)) if path.startswith(folder)}
    blobs = provider.read_blobs(set(before.values()))
    return RollbackPlan(
        commit=change.commit, parent=change.parent, summary=change.summary,
        files={path: blobs[sha] for path, sha in before.items()},
        files_to_delete=sorted(now - set(before)),
    )
