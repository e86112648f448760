"""Actions that change an existing app's files in the GitOps repository.

`neuroscale:edit-manifest` copies one manifest from the repository snapshot into the workspace
with some fields set; `neuroscale:remove-app` lists an app's files for publish's
`filesToDelete`; `neuroscale:revert-app` puts back the app's files as they were before its
last merged change; `neuroscale:check-open-change` stops a change while another one to the
same app is open; `neuroscale:link-entity` records which catalog entity the task's pull
request concerns.
"""

from __future__ import annotations

import posixpath
from typing import Any

import yaml

from deployments import changes
from deployments.pullrequests import link_entity
from portal import snapshot as repository_snapshot
from portal import yamlsafe
from portal.repository import PermanentError, get_provider
from scaffolder.actions.context import ActionContext
from scaffolder.actions.registry import ActionError, action

_APP_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

EDIT_INPUT: dict[str, Any] = {
    "type": "object",
    "required": ["path", "set"],
    "properties": {
        "path": {"title": "Path", "description": "The manifest's path in the repository, e.g. apps/fraud-scorer/inference-service.yaml", "type": "string"},
        "set": {
            "title": "Fields to set",
            "description": "Each {field, value}: field is a list of keys from the document's root; a null value removes the key.",
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field"],
                "properties": {
                    "field": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                    "value": {},
                },
            },
        },
    },
}
APP_INPUT: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"title": "App", "description": "The folder under apps/", "type": "string", "pattern": _APP_NAME}},
}
FILES_OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "filesToDelete": {"type": "array", "title": "Repository paths for publish's filesToDelete"},
        "commit": {"type": "string", "title": "The commit whose change is reverted"},
    },
}


def _set(document: dict, field: list[str], value: Any) -> None:
    node = document
    for key in field[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            if value is None:
                return
            child = node[key] = {}
        node = child
    if value is None:
        node.pop(field[-1], None)
    else:
        node[field[-1]] = value


def _prune_empty(document: dict, field: list[str]) -> None:
    """Drop mappings left empty by a removal (e.g. `resources: {}` after the last key went)."""
    for depth in range(len(field) - 1, 0, -1):
        node = document
        for key in field[: depth - 1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and node.get(field[depth - 1]) == {}:
            node.pop(field[depth - 1])


def _write(ctx: ActionContext, path: str, content: bytes) -> None:
    target = ctx.path(path, for_write=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)


@action(
    "neuroscale:edit-manifest",
    input_schema=EDIT_INPUT,
    supports_dry_run=True,
    description="Copies a YAML manifest from the GitOps repository into the workspace with the given fields set or removed.",
)
def edit_manifest(ctx: ActionContext) -> None:
    path = posixpath.normpath(ctx.input["path"]).lstrip("/")
    content = repository_snapshot.read(path)
    if content is None:
        raise ActionError(f"The GitOps repository has no file {path}; the app may have been removed or renamed.")
    try:
        document = yamlsafe.load(content, source=path)
    except Exception as error:
        raise ActionError(f"{path} is not valid YAML ({error}); fix the file in the repository first.") from None
    if not isinstance(document, dict):
        raise ActionError(f"{path} does not hold one YAML mapping; only single-document manifests can be edited.")
    for item in ctx.input["set"]:
        field, value = [str(key) for key in item["field"]], item.get("value")
        _set(document, field, value)
        if value is None:
            _prune_empty(document, field)
        ctx.logger(f"{'.'.join(field)}: {'removed' if value is None else value}")
    _write(ctx, path, yaml.safe_dump(document, sort_keys=False, default_flow_style=False, allow_unicode=True).encode())
    ctx.output("path", path)


@action(
    "neuroscale:remove-app",
    input_schema=APP_INPUT,
    output_schema=FILES_OUTPUT,
    supports_dry_run=True,
    description="Lists every file of apps/<name>/ for publish's filesToDelete; ArgoCD's prune then removes the app.",
)
def remove_app(ctx: ActionContext) -> None:
    name = ctx.input["name"]
    files = repository_snapshot.paths(f"apps/{name}/**")
    if not files:
        raise ActionError(f"The GitOps repository has no folder apps/{name}/; there is nothing to remove.")
    for path in files:
        ctx.logger(f"delete {path}")
    ctx.output("filesToDelete", files)


@action(
    "neuroscale:revert-app",
    input_schema=APP_INPUT,
    output_schema=FILES_OUTPUT,
    supports_dry_run=True,
    description=(
        "Writes the files of apps/<name>/ as they were before the last merged change to them into the workspace, "
        "and lists the files that change added for filesToDelete."
    ),
)
def revert_app(ctx: ActionContext) -> None:
    name = ctx.input["name"]
    try:
        plan = changes.rollback_plan(get_provider(), name)
    except (changes.ChangeRefused, PermanentError) as error:
        raise ActionError(str(error)) from None
    ctx.logger(f"Reverting {plan.commit[:8]} ({plan.summary}): apps/{name}/ as it was at {plan.parent[:8]}")
    for path, content in sorted(plan.files.items()):
        _write(ctx, path, content)
        ctx.logger(f"restore {path}")
    for path in plan.files_to_delete:
        ctx.logger(f"delete {path}")
    ctx.output("filesToDelete", plan.files_to_delete)
    ctx.output("commit", plan.commit)


@action(
    "neuroscale:check-open-change",
    input_schema={"type": "object", "required": ["entityRef"], "properties": {"entityRef": {"type": "string"}}},
    supports_dry_run=True,
    description="Fails when another change to the entity's app is open (a pull request, or a task started before this one).",
)
def check_open_change(ctx: ActionContext) -> None:
    from catalog.models import Entity
    from scaffolder.models import Task

    entity = Entity.objects.filter(ref=ctx.input["entityRef"].lower()).first()
    if entity is None:
        raise ActionError(f"{ctx.input['entityRef']} is no longer in the catalog; there is nothing to change.")
    running = Task.objects.filter(uuid=ctx.task_id).first() if ctx.task_id and not ctx.dry_run else None
    current = changes.open_change(entity, running=running)
    if current is not None:
        what, url = current
        raise ActionError(f"{entity.name} already has an open change: {what} at {url}. Merge or close it, then retry this task.")
    ctx.logger(f"No other change to {entity.name} is open")


@action(
    "neuroscale:link-entity",
    input_schema={
        "type": "object",
        "required": ["entityRef"],
        "properties": {"entityRef": {"type": "string", "pattern": r"^[a-z]+:[a-z0-9._-]+/[A-Za-z0-9._-]+$"}},
    },
    supports_dry_run=True,
    description="Records that the task's pull request changes the given catalog entity (shown on its page).",
)
def link(ctx: ActionContext) -> None:
    if ctx.dry_run or not ctx.task_id:
        ctx.logger(f"Would link the pull request to {ctx.input['entityRef']}")
        return
    rows = link_entity(ctx.task_id, ctx.input["entityRef"])
    ctx.logger(f"Linked {rows} pull request{'s' if rows != 1 else ''} to {ctx.input['entityRef']}")


__all__ = ["edit_manifest", "link", "remove_app", "revert_app"]
