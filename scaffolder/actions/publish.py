"""`publish:pull-request` (and Backstage's `publish:github:pull-request`): open a pull request.

The files come from the workspace (`sourcePath`) and land under `targetPath` in the GitOps
repository, in one commit on `branchName`, through the configured provider. The task's UUID
is the marker (a `Portal-Task:` commit trailer and a `<!-- portal-task:... -->` line in the
body), so running the step again reuses the branch and the pull request instead of opening
a second one; a branch that belongs to another task fails the step naming that task.
"""

from __future__ import annotations

import posixpath
import uuid
from typing import Any

from deployments import budgets, delta
from deployments.gitops.base import BranchConflict, body_marker
from portal.repository import PermanentError, get_provider
from scaffolder.actions.context import ActionContext
from scaffolder.actions.registry import ActionError, action
from scaffolder.models import Task
from scaffolder.workspace import UnsafePathError, list_files

PUBLISH_INPUT: dict[str, Any] = {
    "type": "object",
    "required": ["branchName", "title", "description"],
    "properties": {
        "repoUrl": {
            "title": "Repository Location",
            "description": "Accepts the format 'github.com?repo=reponame&owner=owner'. It must name the configured GitOps repository (the local provider maps any value onto its repository).",
            "type": "string",
        },
        "branchName": {"title": "Branch Name", "description": "The name for the branch", "type": "string"},
        "targetBranchName": {
            "title": "Target Branch Name",
            "description": "The target branch name of the pull request (default: the repository's default branch)",
            "type": "string",
        },
        "title": {"title": "Pull Request Name", "description": "The name for the pull request", "type": "string"},
        "description": {"title": "Pull Request Description", "description": "The description of the pull request", "type": "string"},
        "draft": {"title": "Create as Draft", "description": "Create a draft pull request", "type": "boolean"},
        "sourcePath": {
            "title": "Working Subdirectory",
            "description": "Subdirectory of the workspace to copy changes from",
            "type": "string",
        },
        "targetPath": {
            "title": "Repository Subdirectory",
            "description": "Subdirectory of the repository to apply changes to",
            "type": "string",
        },
        "filesToDelete": {
            "title": "Files to delete",
            "description": "Paths in the repository to delete in the same commit",
            "type": "array",
            "items": {"type": "string"},
        },
        "update": {
            "title": "Update",
            "description": "Update the pull request if it already exists. The pull request this task opened is always updated in place.",
            "type": "boolean",
        },
        "commitMessage": {
            "title": "Commit Message",
            "description": "The commit message (default: the pull request's title)",
            "type": "string",
        },
        "labels": {"title": "Labels", "description": "Labels for the pull request", "type": "array", "items": {"type": "string"}},
        "reviewers": {"title": "Pull Request Reviewers", "type": "array", "items": {"type": "string"}},
        "teamReviewers": {"title": "Pull Request Team Reviewers", "type": "array", "items": {"type": "string"}},
        "gitAuthorName": {"title": "Default Author Name", "type": "string"},
        "gitAuthorEmail": {"title": "Default Author Email", "type": "string"},
        "token": {"title": "Authentication Token", "description": "Not used: the portal publishes with its own credentials", "type": "string"},
    },
}
PUBLISH_OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "remoteUrl": {"title": "A URL to the pull request", "type": "string"},
        "pullRequestUrl": {"title": "A URL to the pull request", "type": "string"},
        "pullRequestNumber": {"title": "The pull request number", "type": "number"},
        "targetBranchName": {"title": "Target branch name of the pull request", "type": "string"},
        "commitHash": {"title": "The commit on the branch", "type": "string"},
    },
}

_EXAMPLE = """\
steps:
  - id: publish
    name: Open pull request
    action: publish:pull-request
    input:
      repoUrl: github.com?repo=neuroscale-platform&owner=sodiq-code
      branchName: model-${{ parameters.name }}
      title: Add model endpoint ${{ parameters.name }}
      description: Adds apps/${{ parameters.name }}/
"""

#: Backstage's unused inputs: accepted so templates run unchanged, with a line in the log.
_IGNORED = ("reviewers", "teamReviewers", "gitAuthorName", "gitAuthorEmail", "token")


def publish_pull_request(ctx: ActionContext) -> None:
    data = ctx.input
    provider = get_provider()
    repo_url = data.get("repoUrl") or ""
    try:
        target = provider.resolve_repo_url(repo_url)
    except PermanentError as error:
        raise ActionError(f"{ctx.action_id}: {error}") from None
    if target.remapped:
        ctx.logger(f"repoUrl {repo_url} is mapped onto the local repository")
    for name in _IGNORED:
        if data.get(name):
            ctx.logger(f"{name} is not used by the portal's {provider.name} provider")
    branch = data["branchName"]
    base = data.get("targetBranchName") or provider.default_branch
    files = _files(ctx)
    if not files:
        raise ActionError(
            f"{ctx.action_id}: there are no files to publish under sourcePath {data.get('sourcePath') or '.'!r}; "
            "render them in an earlier step"
        )
    title, draft, labels = data["title"], bool(data.get("draft")), list(data.get("labels") or [])
    if ctx.dry_run:
        _dry_run(ctx, branch, base, files, draft)
        return
    if not ctx.task_id:
        raise ActionError(f"{ctx.action_id}: only a task can open a pull request (it needs the task's marker)")
    marker = str(ctx.task_id)
    try:
        # Before anything is written: a change over a cost centre's budget stops here when the
        # portal is set to (PORTAL_BUDGET_HARD_STOP), whoever or whatever created the task.
        checked = budgets.enforce(files, task_id=marker, logger=ctx.logger)
    except budgets.OverBudget as refusal:
        raise ActionError(f"{ctx.action_id}: {refusal}") from None
    body = f"{data['description'].rstrip()}\n\n{body_marker(marker)}\n"
    ctx.logger(f"Opening a pull request from {branch} into {base} with {len(files)} change(s)")
    try:
        info = provider.open_change(
            branch=branch, base=base, files=files, title=title, body=body, labels=labels, draft=draft,
            marker=marker, commit_message=data.get("commitMessage") or "",
        )
    except BranchConflict as conflict:
        raise ActionError(_conflict_message(conflict)) from None
    except PermanentError as error:
        raise ActionError(f"{ctx.action_id}: {error}") from None
    ctx.logger(f"Pull request #{info.number} is open: {info.url}")
    ctx.logger(f"Resources and cost: {delta.comment(provider, info.number, files, change=checked).headline()}")
    ctx.output("remoteUrl", info.url)
    ctx.output("pullRequestUrl", info.url)
    ctx.output("pullRequestNumber", info.number)
    ctx.output("targetBranchName", info.base)
    ctx.output("commitHash", info.head_sha)


for _action_id in ("publish:pull-request", "publish:github:pull-request"):
    action(
        _action_id,
        input_schema=PUBLISH_INPUT,
        output_schema=PUBLISH_OUTPUT,
        supports_dry_run=True,
        description=(
            "Opens a pull request on the GitOps repository with the workspace's files, in one commit, "
            "through the configured provider (local or GitHub)."
            + (" Backstage's GitHub action name, accepted as an alias." if "github" in _action_id else "")
        ),
        examples=[{"description": "Open a pull request with the rendered files", "example": _EXAMPLE}],
    )(publish_pull_request)


def _files(ctx: ActionContext) -> dict[str, bytes | None]:
    """{repository path: content} for the files under sourcePath, placed under targetPath; None deletes."""
    source = ctx.input.get("sourcePath") or "."
    target = (ctx.input.get("targetPath") or "").strip("/")
    try:
        folder = ctx.path(source)
    except UnsafePathError as error:
        raise ActionError(f"{ctx.action_id}: sourcePath {error}") from None
    files: dict[str, bytes | None] = {}
    if folder.is_dir():
        for relative in list_files(folder):
            path = posixpath.normpath(posixpath.join(target, relative)) if target else relative
            files[path] = (folder / relative).read_bytes()
    for path in ctx.input.get("filesToDelete") or []:
        files[posixpath.normpath(str(path).lstrip("/"))] = None
    return files


def _dry_run(ctx: ActionContext, branch: str, base: str, files: dict[str, bytes | None], draft: bool) -> None:
    kind = "a draft pull request" if draft else "a pull request"
    ctx.logger(f"Would open {kind} from {branch} into {base}:")
    for path, content in sorted(files.items()):
        ctx.logger(f"  {'delete' if content is None else 'write'} {path}")
    ctx.output("remoteUrl", "")
    ctx.output("pullRequestUrl", "")
    ctx.output("pullRequestNumber", 0)
    ctx.output("targetBranchName", base)


def _conflict_message(conflict: BranchConflict) -> str:
    if not conflict.other_task:
        return f"{conflict}. Choose another name, or delete that branch."
    other = Task.objects.filter(uuid=conflict.other_task).first() if _is_uuid(conflict.other_task) else None
    if other is None:
        return f"The branch {conflict.branch!r} already belongs to task {conflict.other_task}. Choose another name."
    name = (other.values or {}).get("name")
    what = f"{other.template_title or other.template_ref}" + (f" for {name!r}" if name else "")
    by = f" by {other.created_by.get_username()}" if other.created_by else ""
    return (
        f"The branch {conflict.branch!r} already belongs to task {other.uuid} ({what}, {other.status}, "
        f"created{by}) at {_task_url(other)}. Choose another name, or close that task's pull request first."
    )


def _task_url(task: Task) -> str:
    return f"/create/tasks/{task.uuid}"


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
