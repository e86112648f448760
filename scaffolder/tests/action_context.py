"""Helpers for action tests: a context with a workspace and a log, template files, a real repository."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import git

from scaffolder.actions import registry
from scaffolder.actions.context import ActionContext, TemplateInfo, UserInfo

REFERENCE_TEMPLATE = Path(__file__).resolve().parents[3] / "shared/fixtures/neuroscale/backstage/templates/model-endpoint"
AUTHOR = git.Actor("Test Author", "author@neuroscale.test")


@dataclass
class Log:
    lines: list[str] = field(default_factory=list)

    def __call__(self, line: str, level: str = "info") -> None:
        self.lines.append(line)

    def text(self) -> str:
        return "\n".join(self.lines)


def folder_files(folder: Path) -> dict[str, bytes]:
    """Every file under `folder`, keyed by its relative path (as a dry-run request sends them)."""
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def make_context(
    workspace: Path,
    action_id: str,
    action_input: dict[str, Any],
    *,
    files: dict[str, bytes] | None = None,
    base_path: str = "",
) -> ActionContext:
    """A context for `action_id` reading template files inline (`files`) or from the snapshot."""
    return ActionContext(
        action_id=action_id,
        workspace=workspace,
        input=action_input,
        logger=Log(),
        template_info=TemplateInfo("template:default/test", base_path=base_path, files=files),
        user=UserInfo("user:default/dana"),
    )


def run(workspace: Path, action_id: str, action_input: dict[str, Any], **options: Any) -> ActionContext:
    """Run an action through the registry (input validated first); returns its context."""
    ctx = make_context(workspace, action_id, action_input, **options)
    registry.get(action_id).run(ctx)
    return ctx


def commit_to_repository(repo_path: Path, files: dict[str, bytes], branch: str = "main") -> None:
    """Commit `files` to the bare repository at `repo_path` through a clone."""
    with tempfile.TemporaryDirectory() as tmp:
        clone = git.Repo.clone_from(str(repo_path), tmp, branch=branch)
        for path, content in files.items():
            target = Path(tmp) / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        clone.git.add(A=True)
        clone.index.commit("Add a template", author=AUTHOR, committer=AUTHOR)
        clone.remote().push(f"{branch}:{branch}")
