"""`catalog:write` and `catalog:register`: write an entity file, register what a task creates.

`catalog:register` takes Backstage's inputs. Where Backstage registers a URL location, the
portal registers the entity documents themselves, read from the task's workspace (the file
the pull request adds), as `pending`: they appear in the catalog at once, linked to the
task's pull request, and become `active` when the merge lands on the default branch.
"""

from __future__ import annotations

import posixpath
from typing import Any
from urllib.parse import urlsplit

import yaml

from catalog import store
from catalog.choices import EntityStatus
from catalog.models import Entity
from catalog.refs import RefError
from catalog.validation import validate_entity
from deployments import pullrequests
from portal import yamlsafe
from scaffolder.actions.context import ActionContext
from scaffolder.actions.registry import ActionError, action
from scaffolder.models import Task
from scaffolder.workspace import UnsafePathError, write_file

DEFAULT_CATALOG_FILE = "catalog-info.yaml"

CATALOG_REGISTER_INPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "catalogInfoUrl": {
            "title": "Catalog Info URL",
            "description": "URL of the catalog-info.yaml the pull request adds; its path names the file in the workspace.",
            "type": "string",
        },
        "repoContentsUrl": {
            "title": "Repository Contents URL",
            "description": "The repository the file is published to (with catalogInfoPath).",
            "type": "string",
        },
        "catalogInfoPath": {
            "title": "Fetch URL",
            "description": "Path of the catalog file in the workspace (and the repository), e.g. /apps/fraud-model/catalog-info.yaml. Defaults to /catalog-info.yaml.",
            "type": "string",
        },
        "entity": {
            "title": "Entity",
            "description": "An entity document to register instead of a file.",
            "type": "object",
        },
        "optional": {
            "title": "Optional",
            "description": "Succeed without registering anything when the file does not exist.",
            "type": "boolean",
        },
    },
}
CATALOG_REGISTER_OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "entityRef": {"title": "The registered entity (the first Component, or the first entity)", "type": "string"},
        "entityRefs": {"title": "Every registered entity", "type": "array", "items": {"type": "string"}},
        "catalogInfoUrl": {"title": "Where the entity file will live", "type": "string"},
    },
}

CATALOG_WRITE_INPUT: dict[str, Any] = {
    "type": "object",
    "required": ["entity"],
    "properties": {
        "filePath": {
            "title": "Catalog file path",
            "description": "Where to write the file in the workspace. Defaults to catalog-info.yaml.",
            "type": "string",
        },
        "entity": {
            "title": "Entity info to write catalog-info.yaml",
            "description": "The entity document (apiVersion, kind, metadata, spec).",
            "type": "object",
        },
    },
}

_REGISTER_EXAMPLE = """\
steps:
  - id: register
    name: Register in the catalog
    action: catalog:register
    input:
      repoContentsUrl: ${{ steps['publish'].output.repoContentsUrl }}
      catalogInfoPath: /apps/${{ parameters.name }}/catalog-info.yaml
"""


@action(
    "catalog:write",
    input_schema=CATALOG_WRITE_INPUT,
    supports_dry_run=True,
    description="Writes the catalog-info.yaml for an entity into the workspace.",
    examples=[{"description": "Write a Component", "example": (
        "action: catalog:write\ninput:\n  entity:\n    apiVersion: backstage.io/v1alpha1\n    kind: Component\n"
        "    metadata:\n      name: ${{ parameters.name }}\n    spec:\n      type: service\n"
        "      lifecycle: experimental\n      owner: ${{ parameters.owner }}\n"
    )}],
)
def catalog_write(ctx: ActionContext) -> None:
    path = ctx.input.get("filePath") or DEFAULT_CATALOG_FILE
    content = yaml.safe_dump(ctx.input["entity"], sort_keys=False, allow_unicode=True)
    try:
        write_file(ctx.workspace, path, content.encode())
    except UnsafePathError as error:
        raise ActionError(f"catalog:write: refused to write {path!r}: {error}") from None
    ctx.logger(f"Writing catalog-info.yaml to {path}")


@action(
    "catalog:register",
    input_schema=CATALOG_REGISTER_INPUT,
    output_schema=CATALOG_REGISTER_OUTPUT,
    supports_dry_run=True,
    description=(
        "Registers the entities of a catalog-info.yaml in the workspace (or the given entity) as "
        "pending: they show in the catalog with their pull request, and become active when it merges."
    ),
    examples=[{"description": "Register the Component the pull request adds", "example": _REGISTER_EXAMPLE}],
)
def catalog_register(ctx: ActionContext) -> None:
    path, documents = _documents(ctx)
    if not documents:
        return
    refs = [_check(document, path) for document in documents]
    primary = next((ref for ref, doc in zip(refs, documents, strict=True) if doc.get("kind", "").lower() == "component"), refs[0])
    ctx.output("entityRef", primary)
    ctx.output("entityRefs", refs)
    if path:
        ctx.output("catalogInfoUrl", path)
    if ctx.dry_run:
        for ref in refs:
            ctx.logger(f"Would register {ref} in the catalog as pending until its pull request merges")
        return
    existing = dict(Entity.objects.filter(ref__in=refs).values_list("ref", "status"))
    for ref, document in zip(refs, documents, strict=True):
        status = existing.get(ref)
        if status not in (None, EntityStatus.PENDING):
            ctx.logger(f"{ref} is already in the catalog ({status}); its file updates it when the pull request merges")
            continue
        store.upsert(document, source=path, status=EntityStatus.PENDING)
        ctx.logger(f"Registered {ref} in the catalog as pending until its pull request merges")
    if ctx.task_id:
        Task.objects.filter(uuid=ctx.task_id).update(entity_ref=primary)
        if pullrequests.link_entity(ctx.task_id, primary):
            ctx.logger(f"Linked the task's pull request to {primary}")


def _documents(ctx: ActionContext) -> tuple[str, list[dict]]:
    """(the file's path in the workspace, or "" for an entity given inline; its documents)."""
    if isinstance(ctx.input.get("entity"), dict):
        return "", [ctx.input["entity"]]
    path = _catalog_path(ctx)
    if path is None:
        return "", []
    try:
        content = ctx.path(path).read_bytes()
        documents = yamlsafe.load_all(content, source=path)
    except UnsafePathError as error:
        raise ActionError(f"catalog:register: {error}") from None
    except yamlsafe.YAMLError as error:
        raise ActionError(f"catalog:register: {error}") from None
    if not documents:
        raise ActionError(f"catalog:register: {path} holds no entity")
    return path, documents


def _catalog_path(ctx: ActionContext) -> str | None:
    """The catalog file in the workspace that catalogInfoPath or catalogInfoUrl names."""
    data = ctx.input
    if data.get("catalogInfoPath") or not data.get("catalogInfoUrl"):
        wanted = (data.get("catalogInfoPath") or DEFAULT_CATALOG_FILE).lstrip("/")
        candidates = [posixpath.normpath(wanted)]
    else:
        # A URL such as https://github.com/o/r/blob/main/apps/x/catalog-info.yaml: the file is the
        # longest tail of its path that exists in the workspace.
        parts = [part for part in urlsplit(data["catalogInfoUrl"]).path.split("/") if part]
        candidates = ["/".join(parts[start:]) for start in range(len(parts))]
    for candidate in candidates:
        try:
            if ctx.path(candidate).is_file():
                return candidate
        except UnsafePathError as error:
            raise ActionError(f"catalog:register: {error}") from None
    if data.get("optional"):
        ctx.logger(f"No catalog file at {candidates[-1] if candidates else DEFAULT_CATALOG_FILE}: nothing to register (optional)")
        return None
    named = data.get("catalogInfoPath") or data.get("catalogInfoUrl") or f"/{DEFAULT_CATALOG_FILE}"
    raise ActionError(
        f"catalog:register: the workspace has no catalog file at {named}; render it in an earlier step "
        "(fetch:template or catalog:write) or set optional: true"
    )


def _check(document: Any, path: str) -> str:
    where = path or "the entity input"
    issues = validate_entity(document)
    if issues:
        problems = "; ".join(f"{issue.field or 'document'}: {issue.message}" for issue in issues)
        raise ActionError(f"catalog:register: {where} is not a valid entity: {problems}")
    try:
        return store.document_ref(document)
    except (KeyError, RefError) as error:
        raise ActionError(f"catalog:register: {where} has no usable name: {error}") from None
