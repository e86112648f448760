"""`fs:delete` and `fs:rename`: tidy the workspace between steps (Backstage's inputs)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

from portal.snapshot import glob_match
from scaffolder.actions.context import ActionContext
from scaffolder.actions.registry import ActionError, action
from scaffolder.workspace import UnsafePathError, entry_path, list_entries

FS_DELETE_INPUT: dict[str, Any] = {
    "type": "object",
    "required": ["files"],
    "properties": {
        "files": {
            "title": "Files",
            "description": "Paths or glob patterns (`*`, `**`) of files and folders to delete, relative to the workspace.",
            "type": "array",
            "minItems": 1,
            "items": {"type": "string"},
        }
    },
}

FS_RENAME_INPUT: dict[str, Any] = {
    "type": "object",
    "required": ["files"],
    "properties": {
        "files": {
            "title": "Files",
            "description": "Files or folders to move, each {from, to, overwrite}, relative to the workspace.",
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["from", "to"],
                "properties": {
                    "from": {"type": "string", "title": "The source location of the file to be renamed"},
                    "to": {"type": "string", "title": "The destination of the new file"},
                    "overwrite": {
                        "type": "boolean",
                        "title": "Overwrite existing file or directory, default is false",
                    },
                },
            },
        }
    },
}


@action(
    "fs:delete",
    input_schema=FS_DELETE_INPUT,
    supports_dry_run=True,
    description="Deletes files and folders from the workspace; `files` accepts glob patterns.",
    examples=[{"description": "Delete the skeleton's README", "example": "action: fs:delete\ninput:\n  files: [README.md, 'docs/**']\n"}],
)
def fs_delete(ctx: ActionContext) -> None:
    for pattern in ctx.input["files"]:
        matches = _matching(ctx, pattern)
        if not matches:
            ctx.logger(f"Nothing matches {pattern}")
        for relative in matches:
            target = ctx.workspace.resolve() / relative
            if not os.path.lexists(target):
                continue  # inside a folder deleted a moment ago
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink()  # a symlink is removed itself, never what it points at
            ctx.logger(f"Deleted {relative}")


@action(
    "fs:rename",
    input_schema=FS_RENAME_INPUT,
    supports_dry_run=True,
    description="Moves files or folders inside the workspace.",
    examples=[{"description": "Rename a file", "example": "action: fs:rename\ninput:\n  files:\n    - from: a.txt\n      to: b.txt\n"}],
)
def fs_rename(ctx: ActionContext) -> None:
    for item in ctx.input["files"]:
        source, destination = _workspace_path(ctx, item["from"]), _workspace_path(ctx, item["to"])
        if not source.exists():
            raise ActionError(f"fs:rename: {item['from']} does not exist")
        if os.path.lexists(destination):
            if not item.get("overwrite"):
                raise ActionError(f"fs:rename: {item['to']} already exists (set overwrite: true to replace it)")
            _remove(destination)
        destination.parent.mkdir(parents=True, exist_ok=True)
        _workspace_path(ctx, item["to"])  # a folder created just now must not be a link
        shutil.move(source, destination)
        ctx.logger(f"Renamed {item['from']} to {item['to']}")


def _matching(ctx: ActionContext, pattern: str) -> list[str]:
    """Workspace entries matching a path or glob; the pattern itself must stay inside."""
    cleaned = pattern.removeprefix("./").rstrip("/")
    if PurePosixPath(cleaned).is_absolute() or ".." in PurePosixPath(cleaned).parts:
        raise ActionError(f"fs:delete: {pattern!r} leads outside the workspace")
    if not any(char in cleaned for char in "*?["):
        try:
            target = entry_path(ctx.workspace, cleaned)
        except UnsafePathError as error:
            raise ActionError(f"fs:delete: {error}") from None
        return [cleaned] if os.path.lexists(target) else []
    return [entry for entry in list_entries(ctx.workspace) if glob_match(entry, cleaned)]


def _workspace_path(ctx: ActionContext, relative: str) -> Path:
    try:
        return ctx.path(relative, for_write=True)
    except UnsafePathError as error:
        raise ActionError(f"{ctx.action_id}: {error}") from None


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
