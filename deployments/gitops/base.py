"""The GitOps provider interface (DESIGN §4.3), its value types and its errors.

Two back ends implement it: `local` (a git repository on disk, its pull requests branches
plus rows) and `github`. Callers get the configured one from `portal.repository.get_provider()`.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from portal.repository import PermanentError, TransientError

if TYPE_CHECKING:
    from deployments.models import PullRequest

__all__ = [
    "BODY_MARKER",
    "BranchConflict",
    "MergeConflict",
    "PermanentError",
    "PullRequestInfo",
    "RepoTarget",
    "TransientError",
    "GitOpsProvider",
    "body_marker",
    "commit_trailer",
    "marker_in_body",
    "marker_in_message",
]

TRAILER_KEY = "Portal-Task"
_TRAILER = re.compile(rf"^{TRAILER_KEY}:\s*(\S+)\s*$", re.MULTILINE)
#: The hidden marker a task leaves in a pull request's body (DESIGN §4.2).
BODY_MARKER = re.compile(r"<!--\s*portal-task:(\S+?)\s*-->")


class BranchConflict(PermanentError):
    """The branch already exists and belongs to another task (or to nobody the portal knows)."""

    def __init__(self, branch: str, other_task: str | None):
        self.branch = branch
        self.other_task = other_task
        owner = f"task {other_task}" if other_task else "someone outside the portal (no Portal-Task trailer)"
        super().__init__(f"The branch {branch!r} already exists and belongs to {owner}.")


class MergeConflict(PermanentError):
    """The branch cannot be merged into its base without a person resolving conflicts."""

    def __init__(self, branch: str, base: str, files: list[str]):
        self.branch = branch
        self.base = base
        self.files = files
        super().__init__(
            f"{branch!r} conflicts with {base!r} in {', '.join(files)}: "
            f"update the branch from {base!r} and resolve these files, then merge again."
        )


@dataclass(frozen=True)
class PullRequestInfo:
    """A pull request as a provider reports it."""

    number: int
    url: str
    branch: str
    base: str
    head_sha: str
    state: str  # open, closed or merged (deployments.choices.PullRequestState)
    title: str
    body: str
    merged_by: str = ""
    merged_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    labels: list[str] = field(default_factory=list)
    draft: bool = False


@dataclass(frozen=True)
class LastChange:
    """The newest commit on a branch that touched a path: what a roll back reverts."""

    commit: str
    parent: str | None  # its first parent; None for the repository's first commit
    summary: str  # the first line of its message


@dataclass(frozen=True)
class RepoTarget:
    """Where a template's `repoUrl` lands: the repository used, and whether it was remapped."""

    repository: str
    remapped: bool


class GitOpsProvider(Protocol):
    #: `local` or `github`: the `provider` column of PullRequest rows.
    name: str
    #: A stable name for the repository, e.g. `owner/name` or the local path.
    repository: str
    default_branch: str

    def resolve_repo_url(self, repo_url: str) -> RepoTarget:
        """The repository a template's `repoUrl` maps to; PermanentError when it may not push there."""
        ...

    def open_change(
        self,
        branch: str,
        base: str,
        files: dict[str, bytes | None],
        title: str,
        body: str,
        labels: list[str],
        draft: bool,
        marker: str,
        commit_message: str = "",
    ) -> PullRequestInfo:
        """One commit on `branch` (from `base`) with every file (None deletes) and a pull request.

        The commit's message is `commit_message` (the title when empty) plus the marker trailer.

        Idempotent through `marker` (the task's UUID): a branch or pull request carrying the
        same marker is reused; one carrying another raises BranchConflict.
        """
        ...

    def get_pull_request(self, number: int) -> PullRequestInfo: ...

    def list_pull_requests(self, state: str = "all", updated_since: datetime | None = None) -> list[PullRequestInfo]:
        """Pull requests, most recently updated first."""
        ...

    def upsert_comment(self, number: int, marker: str, body: str) -> None:
        """Create the comment carrying `marker`, or edit it when it exists."""
        ...

    def close(self, number: int, closed_by: str = "") -> None: ...

    def read_tree(self, ref: str) -> dict[str, str]: ...

    def read_blob(self, sha: str) -> bytes: ...

    def head(self, ref: str) -> str: ...

    def last_change(self, path: str, branch: str) -> LastChange | None:
        """The newest commit on `branch` touching `path` (a folder); None when none did."""
        ...

    def merge(self, number: int, merged_by: str = "") -> str:
        """Merge the pull request into its base; returns the new base commit (local provider only)."""
        ...


def commit_trailer(marker: str) -> str:
    return f"{TRAILER_KEY}: {marker}"


def body_marker(marker: str) -> str:
    return f"<!-- portal-task:{marker} -->"


def marker_in_message(message: str) -> str | None:
    """The Portal-Task trailer of a commit message (the last one wins, as with git trailers)."""
    found = _TRAILER.findall(message)
    return found[-1] if found else None


def marker_in_body(body: str) -> str | None:
    found = BODY_MARKER.findall(body or "")
    return found[-1] if found else None


def check_path(path: str) -> str:
    """A repository path from a template: relative, inside the repository, not under .git."""
    parts = path.split("/")
    if (
        not path
        or path.startswith("/")
        or any(part in ("", ".", "..") for part in parts)
        or parts[0] == ".git"
        or any(ord(ch) < 32 or ch == "\\" for ch in path)
    ):
        raise PermanentError(f"{path!r} is not a file path inside the repository.")
    return path


def pull_request_info(row: PullRequest) -> PullRequestInfo:
    """A stored PullRequest row as the provider interface returns it (both back ends)."""
    return PullRequestInfo(
        number=row.number, url=row.url, branch=row.branch, base=row.base, head_sha=row.head_sha,
        state=str(row.state), title=row.title, body=row.body, merged_by=row.merged_by, merged_at=row.merged_at,
        created_at=row.created_at, updated_at=row.updated_at, labels=list(row.labels), draft=row.draft,
    )


def task_uuid(marker: str) -> uuid.UUID | None:
    """The task UUID a publish marker names, or None for a marker that is not one."""
    try:
        return uuid.UUID(marker)
    except ValueError:
        return None
