"""The `local` GitOps provider: a bare git repository on disk, the embedded default.

Seeded from `examples/gitops/` on first use. Its pull requests (the write side) are branches
plus rows, merged from the portal.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import git
import structlog
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from gitdb.base import IStream

from deployments.choices import PullRequestEventKind, PullRequestState
from deployments.gitops.base import (
    BranchConflict,
    LastChange,
    MergeConflict,
    PermanentError,
    PullRequestInfo,
    RepoTarget,
    TransientError,
    body_marker,
    check_path,
    commit_trailer,
    marker_in_body,
    marker_in_message,
    pull_request_info,
    task_uuid,
)
from deployments.gitops.diff import changed_files
from deployments.models import PullRequest, PullRequestComment, PullRequestEvent
from portal.tasks import refresh_snapshot

log = structlog.get_logger(__name__)

SEED_AUTHOR = git.Actor("NeuroScale Portal", "portal@neuroscale.local")
#: The actor of the portal's own timeline entries.
PORTAL_ACTOR = "portal"
ZERO_SHA = "0" * 40
#: A local git command that takes longer than this is stuck (a lock, a full disk).
GIT_TIMEOUT_SECONDS = 60


class LocalProvider:
    """A bare git repository at `path`; pull requests are its branches plus PullRequest rows."""

    name = "local"

    def __init__(self, path: Path, default_branch: str = "main"):
        self.path = Path(path)
        self.default_branch = default_branch
        self.repository = str(self.path)

    @classmethod
    def repository_from_settings(cls) -> str:
        return str(Path(settings.PORTAL_GITOPS_REPO_PATH))

    @classmethod
    def from_settings(cls) -> LocalProvider:
        provider = cls(settings.PORTAL_GITOPS_REPO_PATH, settings.PORTAL_GITOPS_DEFAULT_BRANCH)
        if not provider.path.exists():
            provider.seed(settings.PORTAL_GITOPS_SEED_PATH)
        return provider

    @property
    def repo(self) -> git.Repo:
        try:
            return git.Repo(self.path)
        except (git.NoSuchPathError, git.InvalidGitRepositoryError):
            raise PermanentError(
                f"No git repository at {self.path}: check PORTAL_GITOPS_REPO_PATH."
            ) from None

    def seed(self, source: Path) -> None:
        """Create the bare repository with one commit holding the files under `source`."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            work = git.Repo.init(tmp, initial_branch=self.default_branch)
            if Path(source).is_dir():
                shutil.copytree(source, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".git"))
            work.git.add(A=True)
            work.index.commit("Seed the GitOps repository", author=SEED_AUTHOR, committer=SEED_AUTHOR)
            git.Repo.init(self.path, bare=True, initial_branch=self.default_branch)
            work.git.push(str(self.path.resolve()), f"{self.default_branch}:{self.default_branch}")

    # Read side -----------------------------------------------------------------------

    def head(self, ref: str) -> str:
        try:
            return self.repo.commit(ref).hexsha
        except (git.BadName, ValueError):
            raise PermanentError(f"The GitOps repository has no branch {ref!r}.") from None

    def read_tree(self, ref: str) -> dict[str, str]:
        output = self.repo.git.ls_tree("-r", "-z", "--full-tree", ref)
        tree: dict[str, str] = {}
        for entry in filter(None, output.split("\0")):
            meta, path = entry.split("\t", 1)
            _mode, kind, sha = meta.split(" ")
            if kind == "blob":
                tree[path] = sha
        return tree

    def read_blob(self, sha: str) -> bytes:
        return self.read_blobs([sha])[sha]

    def read_blobs(self, shas: Iterable[str]) -> dict[str, bytes]:
        """Several blobs through one `git cat-file --batch` process."""
        # Hold the Repo while reading: when it is collected, its cat-file process closes
        # under the stream ("read of closed file").
        repo = self.repo
        try:
            return {sha: repo.odb.stream(bytes.fromhex(sha)).read() for sha in shas}
        finally:
            repo.close()

    def last_change(self, path: str, branch: str) -> LastChange | None:
        """The newest commit on the branch's first-parent line touching `path`: a merge commit, or
        the change's own commit when it was fast-forwarded."""
        self._check_branch_name(branch)
        commit = self._git("log", "--first-parent", "-n", "1", "--format=%H", f"refs/heads/{branch}", "--",
                           check_path(path.rstrip("/")))
        if not commit:
            return None
        parents = self._git("rev-list", "--parents", "-n", "1", commit).split()[1:]
        summary = self._git("log", "-n", "1", "--format=%s", commit)
        return LastChange(commit=commit, parent=parents[0] if parents else None, summary=summary)

    # Write side: pull requests as branches plus rows ------------------------------------

    def resolve_repo_url(self, repo_url: str) -> RepoTarget:
        """Any `repoUrl` lands on this repository, so Backstage templates run unchanged."""
        return RepoTarget(self.repository, remapped=bool(repo_url))

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
        """One commit with every file on `branch`, and its pull request; safe to run again."""
        files = {check_path(path): content for path, content in files.items()}
        self._check_branch_name(branch)
        head_sha = self.write_branch(branch, base, files, commit_message or title, marker)
        row = self.record_pull_request(
            branch=branch, base=base, head_sha=head_sha, title=title, body=body, labels=labels, draft=draft, marker=marker
        )
        return pull_request_info(row)

    def write_branch(self, branch: str, base: str, files: dict[str, bytes | None], message: str, marker: str) -> str:
        """Point `branch` at one commit carrying `files` and the marker; returns the branch head.

        A branch that already carries the marker gets no new commit when its tree is unchanged.
        Creating and moving the branch is a compare-and-swap, so concurrent callers cannot
        both win.
        """
        ref = f"refs/heads/{branch}"
        for _attempt in range(3):
            tip = self._resolve(ref)
            if tip is None:
                parent = self.head(base)
            else:
                owner = self.branch_marker(tip, base)
                if owner != marker:
                    raise BranchConflict(branch, owner)
                parent = tip
            tree = self.write_tree(parent, files)
            if tip is not None and tree == self._git("rev-parse", f"{tip}^{{tree}}"):
                return tip
            commit = self.write_commit(tree, parent, f"{message.rstrip()}\n\n{commit_trailer(marker)}\n")
            if self._update_ref(ref, commit, expected=tip or ZERO_SHA):
                log.info("branch written", branch=branch, commit=commit, files=len(files))
                return commit
        raise TransientError(f"The branch {branch!r} kept moving while the portal wrote to it; try again.")

    def branch_marker(self, tip: str, base: str) -> str | None:
        """The task that owns a branch: the newest Portal-Task trailer on commits not in `base`."""
        base_sha = self._resolve(f"refs/heads/{base}")
        span = f"{base_sha}..{tip}" if base_sha else tip
        messages = self._git("log", "-z", "--format=%B", "-n", "100", span).split("\0")
        if not any(messages):  # the branch is already merged: its tip speaks for it
            messages = [self._git("log", "-1", "--format=%B", tip)]
        for message in messages:
            found = marker_in_message(message)
            if found:
                return found
        return None

    def write_tree(self, parent: str, files: dict[str, bytes | None]) -> str:
        """The tree of `parent` with `files` written (None deletes), built in a private index."""
        lines = []
        for path, content in sorted(files.items()):
            if content is None:
                lines.append(f"0 {ZERO_SHA}\t{path}")
            else:
                blob = self.repo.odb.store(IStream("blob", len(content), io.BytesIO(content)))
                lines.append(f"100644 {blob.hexsha.decode()}\t{path}")
        with tempfile.TemporaryDirectory(prefix="portal-index-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            self._git("read-tree", parent, env=env)
            self._git("update-index", "--index-info", env=env, stdin="\n".join(lines) + "\n")
            return self._git("write-tree", env=env)

    def write_commit(self, tree: str, parent: str, message: str, *more_parents: str) -> str:
        parents = [arg for sha in (parent, *more_parents) for arg in ("-p", sha)]
        env = {
            "GIT_AUTHOR_NAME": SEED_AUTHOR.name,
            "GIT_AUTHOR_EMAIL": SEED_AUTHOR.email,
            "GIT_COMMITTER_NAME": SEED_AUTHOR.name,
            "GIT_COMMITTER_EMAIL": SEED_AUTHOR.email,
        }
        return self._git("commit-tree", tree, *parents, env=env, stdin=message)

    def record_pull_request(
        self, *, branch: str, base: str, head_sha: str, title: str, body: str, labels: list[str], draft: bool, marker: str
    ) -> PullRequest:
        """The branch's pull request carrying `marker`: found (and updated), or numbered and saved."""
        if marker_in_body(body) != marker:
            body = f"{body.rstrip()}\n\n{body_marker(marker)}".lstrip()
        files, omitted = changed_files(self.repo, self._merge_base(base, head_sha), head_sha)
        for _attempt in range(5):
            existing = self._pull_request_of(branch, marker)
            if existing is not None:
                return self._update_head(existing, head_sha, files, omitted)
            try:
                with transaction.atomic():
                    return self._create_row(branch, base, head_sha, title, body, labels, draft, marker, files, omitted)
            except IntegrityError:
                continue  # a concurrent caller took the number or opened this branch: look again
        raise TransientError(f"Could not number a pull request for {branch!r}; try again.")

    def _pull_request_of(self, branch: str, marker: str) -> PullRequest | None:
        rows = self._rows().filter(branch=branch).order_by("-number")
        for row in rows:
            if marker_in_body(row.body) == marker:
                return row
        other = next((row for row in rows if row.state == PullRequestState.OPEN), None)
        if other is not None:
            raise BranchConflict(branch, marker_in_body(other.body) or (str(other.task) if other.task else None))
        return None

    def _create_row(self, branch, base, head_sha, title, body, labels, draft, marker, files, omitted) -> PullRequest:
        number = (self._rows().aggregate(last=Max("number"))["last"] or 0) + 1
        row = PullRequest(
            provider=self.name, repository=self.repository, number=number, branch=branch, base=base,
            head_sha=head_sha, title=title, body=body, labels=list(labels), draft=draft,
            files=files, files_omitted=omitted, task=task_uuid(marker),
        )
        row.url = row.get_absolute_url()
        row.save()
        PullRequestEvent.objects.create(pull_request=row, kind=PullRequestEventKind.OPENED, actor=PORTAL_ACTOR,
                                        message=f"{branch} → {base}")
        log.info("pull request opened", number=number, branch=branch)
        return row

    def _update_head(self, row: PullRequest, head_sha: str, files: list[dict], omitted: int) -> PullRequest:
        if row.head_sha == head_sha or row.state != PullRequestState.OPEN:
            return row
        now = timezone.now()
        changed = PullRequest.objects.filter(pk=row.pk, state=PullRequestState.OPEN).exclude(head_sha=head_sha).update(
            head_sha=head_sha, files=files, files_omitted=omitted, updated_at=now
        )
        if changed:
            PullRequestEvent.objects.create(pull_request=row, kind=PullRequestEventKind.UPDATED, actor=PORTAL_ACTOR,
                                            message=f"New commit {head_sha[:8]}", created_at=now)
        row.refresh_from_db()
        return row

    def get_pull_request(self, number: int) -> PullRequestInfo:
        return pull_request_info(self._row(number))

    def list_pull_requests(self, state: str = "all", updated_since: datetime | None = None) -> list[PullRequestInfo]:
        """As GitHub's list: `open`, `closed` (merged included) or `all`, most recently updated first."""
        rows = self._rows().order_by("-updated_at", "-number")
        if state == "open":
            rows = rows.filter(state=PullRequestState.OPEN)
        elif state == "closed":
            rows = rows.filter(state__in=PullRequestState.TERMINAL)
        if updated_since is not None:
            rows = rows.filter(updated_at__gte=updated_since)
        return [pull_request_info(row) for row in rows]

    def upsert_comment(self, number: int, marker: str, body: str) -> None:
        row = self._row(number)
        PullRequestComment.objects.update_or_create(
            pull_request=row, marker=marker, defaults={"body": body, "updated_at": timezone.now()}
        )

    def close(self, number: int, closed_by: str = "") -> None:
        """Close an open pull request without merging; its branch stays, as on GitHub."""
        row = self._row(number)
        now = timezone.now()
        if not self._rows().filter(pk=row.pk, state=PullRequestState.OPEN).update(
            state=PullRequestState.CLOSED, closed_at=now, updated_at=now
        ):
            raise PermanentError(f"Pull request #{number} is already {self._row(number).state}.")
        PullRequestEvent.objects.create(pull_request=row, kind=PullRequestEventKind.CLOSED,
                                        actor=closed_by or PORTAL_ACTOR, created_at=now)

    def merge(self, number: int, merged_by: str = "") -> str:
        """Merge into the base (fast-forward when possible), record it, refresh the snapshot.

        A conflict raises MergeConflict naming the files and changes nothing.
        """
        row = self._row(number)
        if row.state != PullRequestState.OPEN:
            raise PermanentError(f"Pull request #{number} is already {row.state}.")
        base_ref = f"refs/heads/{row.base}"
        base_sha, tip = self.head(row.base), self.head(row.branch)
        new = self._merged_commit(row, base_sha, tip)
        if new != base_sha and not self._update_ref(base_ref, new, expected=base_sha):
            raise TransientError(f"{row.base!r} moved while merging #{number}; try again.")
        now = timezone.now()
        if not self._rows().filter(pk=row.pk, state=PullRequestState.OPEN).update(
            state=PullRequestState.MERGED, merged_by=merged_by, merged_at=now, merge_commit_sha=new,
            head_sha=tip, updated_at=now,
        ):
            raise PermanentError(f"Pull request #{number} is already {self._row(number).state}.")
        PullRequestEvent.objects.create(pull_request=row, kind=PullRequestEventKind.MERGED,
                                        actor=merged_by or PORTAL_ACTOR, message=f"into {row.base} as {new[:8]}",
                                        created_at=now)
        log.info("pull request merged", number=number, commit=new)
        _refresh_snapshot_after_merge()
        return new

    def _merged_commit(self, row: PullRequest, base_sha: str, tip: str) -> str:
        if self._is_ancestor(tip, base_sha):
            return base_sha  # nothing to bring in
        if self._is_ancestor(base_sha, tip):
            return tip  # fast-forward
        result = self._run("merge-tree", "--write-tree", "--name-only", "--no-messages", "-z", base_sha, tip)
        tree, *conflicted = [part for part in result.stdout.decode().split("\0") if part]
        if result.returncode == 1:
            raise MergeConflict(row.branch, row.base, sorted(set(conflicted)))
        if result.returncode != 0:
            raise PermanentError(f"git merge-tree failed: {result.stderr.decode().strip()}")
        message = f"Merge pull request #{row.number} from {row.branch}\n\n{row.title}\n"
        return self.write_commit(tree, base_sha, message, tip)

    # Plumbing ------------------------------------------------------------------------------

    def _rows(self):
        return PullRequest.objects.filter(provider=self.name, repository=self.repository)

    def _row(self, number: int) -> PullRequest:
        try:
            return self._rows().get(number=number)
        except PullRequest.DoesNotExist:
            raise PermanentError(f"The GitOps repository has no pull request #{number}.") from None

    def _check_branch_name(self, branch: str) -> None:
        if self._run("check-ref-format", "--branch", branch).returncode != 0 or branch.startswith("-"):
            raise PermanentError(f"{branch!r} is not a valid branch name.")

    def _resolve(self, ref: str) -> str | None:
        result = self._run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        return result.stdout.decode().strip() if result.returncode == 0 else None

    def _is_ancestor(self, ancestor: str, descendant: str) -> bool:
        return self._run("merge-base", "--is-ancestor", ancestor, descendant).returncode == 0

    def _merge_base(self, base: str, head_sha: str) -> str:
        base_sha = self._resolve(f"refs/heads/{base}")
        if base_sha is None:
            raise PermanentError(f"The GitOps repository has no branch {base!r}.")
        return self._git("merge-base", base_sha, head_sha)

    def _update_ref(self, ref: str, new: str, expected: str) -> bool:
        """Compare-and-swap: move `ref` to `new` only if it still points at `expected`."""
        return self._run("update-ref", ref, new, expected).returncode == 0

    def _git(self, *args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> str:
        result = self._run(*args, env=env, stdin=stdin)
        if result.returncode != 0:
            raise PermanentError(f"git {args[0]} failed: {result.stderr.decode(errors='replace').strip()}")
        return result.stdout.decode().strip()

    def _run(self, *args: str, env: dict[str, str] | None = None, stdin: str | None = None):
        # An argument list and no shell; every value is a SHA, a checked ref or a checked path.
        try:
            return subprocess.run(  # noqa: S603
                ["git", "--git-dir", str(self.path), *args],  # noqa: S607
                input=stdin.encode() if stdin is not None else None,
                capture_output=True,
                env={**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})},
                check=False,
                timeout=GIT_TIMEOUT_SECONDS,
            )
        except subprocess.TimeoutExpired:
            raise TransientError(f"git {args[0]} took longer than {GIT_TIMEOUT_SECONDS}s.") from None


def _refresh_snapshot_after_merge() -> None:
    """Run the refresh task's body now, so the merge's files are in the snapshot when the page reloads.

    The merge itself has happened: a refresh that fails for a passing reason is queued for a
    worker instead of failing the merge.
    """
    try:
        refresh_snapshot()
    except TransientError as exc:
        log.warning("snapshot refresh after merge deferred", error=str(exc))
        transaction.on_commit(refresh_snapshot.delay)
