"""What an action handler receives: its input, the workspace, and the template's own files."""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portal import snapshot as repository_snapshot
from scaffolder.workspace import safe_path

#: `logger(message, level="info")`: one line of the task's log (levels: info, warning, error).
Logger = Callable[..., None]


class TemplateFileError(ValueError):
    """A template file path that is missing or leaves the repository."""


@dataclass(frozen=True)
class UserInfo:
    """The user a task runs for: Backstage's `user.ref` and `user.entity` (the profile)."""

    ref: str
    entity: dict[str, Any] = field(default_factory=dict)

    def as_context(self) -> dict[str, Any]:
        return {"ref": self.ref, "entity": self.entity}


@dataclass(frozen=True)
class TemplateInfo:
    """Where a template's files come from.

    Either the repository snapshot, relative to the folder of the template's `template.yaml`
    (`base_path`, e.g. `templates/model-endpoint/`), or the inline `files` a dry-run request
    sent (Backstage's `directoryContents`, keyed by path relative to the template's folder).
    """

    entity_ref: str
    base_path: str = ""
    files: Mapping[str, bytes] | None = None
    #: A specific snapshot row to read; the configured repository's current one when None.
    snapshot: Any = None

    def resolve(self, relative: str) -> str:
        """The repository path of `relative`; refuses URLs and paths above the repository."""
        if "://" in relative or relative.startswith("/"):
            raise TemplateFileError(
                f"{relative!r} is not a path relative to the template; templates read only their own repository"
            )
        path = posixpath.normpath(posixpath.join(self.base_path, relative))
        if path == ".." or path.startswith("../"):
            raise TemplateFileError(f"{relative!r} leads outside the repository")
        return "" if path == "." else path

    def read(self, relative: str) -> bytes:
        path = self.resolve(relative)
        content = self._read_inline(path) if self.files is not None else repository_snapshot.read(path, self.snapshot)
        if content is None:
            raise TemplateFileError(f"The template has no file {relative!r} (looked for {path})")
        return content

    def list_files(self, relative_dir: str) -> list[str]:
        """The files under `relative_dir`, relative to that folder, sorted."""
        prefix = self._prefix(relative_dir)
        if self.files is not None:
            found = [path for path in self._inline() if path.startswith(prefix)]
        else:
            found = repository_snapshot.paths(_glob_escape(prefix) + "**", self.snapshot)
        return sorted(path[len(prefix) :] for path in found)

    def tree(self, relative_dir: str) -> dict[str, bytes]:
        """Every file under `relative_dir` with its content, keyed relative to that folder."""
        prefix = self._prefix(relative_dir)
        if self.files is not None:
            found = {path: data for path, data in self._inline().items() if path.startswith(prefix)}
        else:
            paths = [prefix + path for path in self.list_files(relative_dir)]
            found = repository_snapshot.read_many(paths, self.snapshot)
        return {path[len(prefix) :]: found[path] for path in sorted(found)}

    def _prefix(self, relative_dir: str) -> str:
        folder = self.resolve(relative_dir)
        return f"{folder}/" if folder else ""

    def _inline(self) -> dict[str, bytes]:
        return {posixpath.normpath(path): data for path, data in (self.files or {}).items()}

    def _read_inline(self, path: str) -> bytes | None:
        return self._inline().get(path)


def _glob_escape(text: str) -> str:
    return "".join(f"[{char}]" if char in "*?[" else char for char in text)


@dataclass
class ActionContext:
    """Everything a handler may use; it writes files only through `path()` or the workspace helpers."""

    action_id: str
    workspace: Path
    input: dict[str, Any]
    logger: Logger
    template_info: TemplateInfo
    secrets: dict[str, str] = field(default_factory=dict)
    user: UserInfo | None = None
    dry_run: bool = False
    task_id: str | None = None
    step_id: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)

    def output(self, name: str, value: Any) -> None:
        """Record a step output, available to later steps as `steps.<id>.output.<name>`."""
        self.outputs[name] = value

    def path(self, relative: str, *, for_write: bool = False) -> Path:
        """A path inside the workspace; raises UnsafePathError for anything that leaves it."""
        return safe_path(self.workspace, relative, for_write=for_write)

    def read_template_file(self, relative: str) -> bytes:
        """One of the template's own files, relative to the template's folder."""
        return self.template_info.read(relative)

    def list_template_files(self, relative_dir: str = ".") -> list[str]:
        """The template's files under `relative_dir`, relative to it, sorted."""
        return self.template_info.list_files(relative_dir)

    def read_template_tree(self, relative_dir: str = ".") -> dict[str, bytes]:
        """The template's files under `relative_dir` with their content, in one read."""
        return self.template_info.tree(relative_dir)
