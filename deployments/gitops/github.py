"""The `github` GitOps provider: the GitOps repository on GitHub, through PyGithub (DESIGN §4.3).

PyGithub is built with `retry=None` and an explicit timeout, so a failure reaches the caller
at once, classified: `PermanentError` for what a person must fix (a bad token, a repository
that does not exist), `TransientError` for what passes (5xx, timeouts, rate limits, with the
wait GitHub asked for). Celery owns retries and backoff.

Authentication is a personal or fine-grained token (`PORTAL_GITHUB_TOKEN` or `_FILE`) with
contents and pull-request write access, or, as the alternative, a GitHub App installation
(`PORTAL_GITHUB_APP_ID`, `PORTAL_GITHUB_APP_PRIVATE_KEY_FILE`, `PORTAL_GITHUB_APP_INSTALLATION_ID`):
PyGithub signs a short-lived JWT with the private key and exchanges it for an installation
token, renewed before it expires.

Neither the token nor the private key is ever put into a log line, an exception message, an
event or a page: the messages here are written by the portal, never copied from a request.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import difflib
import hashlib
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import requests
import structlog
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from github import Auth, Github, GithubException, InputGitTreeElement
from github.GitCommit import GitCommit
from github.GitRef import GitRef
from github.GitTree import GitTree

from deployments.choices import FileStatus, PullRequestEventKind, PullRequestState
from deployments.gitops.base import (
    BranchConflict,
    LastChange,
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
from deployments.gitops.diff import MAX_FILES, MAX_PATCH_CHARS
from deployments.models import PullRequest, PullRequestComment, PullRequestEvent

log = structlog.get_logger(__name__)

#: Seconds PyGithub waits for GitHub to answer one request.
TIMEOUT_SECONDS = 10
#: Items per page of a list call (GitHub's maximum).
PER_PAGE = 100
#: The longest wait a rate limit may impose on a retry: GitHub's primary limit resets hourly.
MAX_RETRY_AFTER = 3600
#: The wait before retrying after a 5xx or a timeout, when GitHub named none.
DEFAULT_RETRY_AFTER = 5
#: The actor of the portal's own timeline entries.
PORTAL_ACTOR = "portal"
#: The settings to check when GitHub rejects the credentials, by how the portal authenticates.
TOKEN_SETTINGS = "PORTAL_GITHUB_TOKEN (or PORTAL_GITHUB_TOKEN_FILE)"
APP_SETTINGS = "PORTAL_GITHUB_APP_ID, PORTAL_GITHUB_APP_PRIVATE_KEY_FILE and PORTAL_GITHUB_APP_INSTALLATION_ID"


class GitHubProvider:
    """One repository on GitHub (or GitHub Enterprise); pull requests mirrored into PullRequest rows."""

    name = "github"

    def __init__(self, repository: str, token: str = "", api_url: str = "https://api.github.com",
                 default_branch: str = "main", timeout: int = TIMEOUT_SECONDS, *, auth: Auth.Auth | None = None):
        owner, _, repo_name = repository.partition("/")
        if not owner or not repo_name or "/" in repo_name:
            raise PermanentError(f"PORTAL_GITHUB_REPOSITORY={repository!r} is not owner/name.")
        self.repository = repository
        self.owner = owner
        self.default_branch = default_branch
        self.api_url = api_url.rstrip("/")
        #: Whether a call has succeeded, so a 404 cannot mean the repository is missing.
        self._repository_seen = False
        #: What a person checks when GitHub rejects the credentials.
        self.credentials = APP_SETTINGS if isinstance(auth, Auth.AppInstallationAuth) else TOKEN_SETTINGS
        self._github = Github(
            # An App installation's token is fetched through the same base_url, retry and timeout.
            auth=auth or Auth.Token(token),
            base_url=self.api_url,
            # Celery owns retries: PyGithub's default retry sleeps through 5xx and rate limits.
            retry=None,
            timeout=timeout,
            per_page=PER_PAGE,
            seconds_between_requests=0,
            seconds_between_writes=0,
            # Objects are built without a request until an attribute needs one.
            lazy=True,
        )
        self._repo = self._github.get_repo(repository)

    @classmethod
    def repository_from_settings(cls) -> str:
        return settings.PORTAL_GITHUB_REPOSITORY

    @classmethod
    def from_settings(cls) -> GitHubProvider:
        if not settings.PORTAL_GITHUB_REPOSITORY:
            raise PermanentError("Set PORTAL_GITHUB_REPOSITORY (owner/name) to use the GitHub provider.")
        auth = None
        if not settings.PORTAL_GITHUB_TOKEN:
            auth = app_auth_from_settings()
            if auth is None:
                raise PermanentError(
                    f"Set PORTAL_GITHUB_TOKEN (or PORTAL_GITHUB_TOKEN_FILE), or the GitHub App's {APP_SETTINGS}, "
                    "to use the GitHub provider."
                )
        return cls(
            settings.PORTAL_GITHUB_REPOSITORY,
            settings.PORTAL_GITHUB_TOKEN,
            settings.PORTAL_GITHUB_API_URL,
            settings.PORTAL_GITOPS_DEFAULT_BRANCH,
            auth=auth,
        )

    # Read side -----------------------------------------------------------------------------

    def head(self, ref: str) -> str:
        """The commit a branch points at."""
        sha = self._branch_sha(ref)
        if sha is None:
            raise PermanentError(f"The GitHub repository {self.repository} has no branch {ref!r}.")
        return sha

    def read_tree(self, ref: str) -> dict[str, str]:
        """Every file at `ref` (a branch, commit or tree SHA) mapped to its blob SHA."""
        return self._tree_files(ref)

    def read_blob(self, sha: str) -> bytes:
        # Reference: https://docs.github.com/en/rest/git/blobs#get-a-blob
        with self._call(f"blob {sha[:12]}"):
            blob = self._repo.get_git_blob(sha)
            content = blob.content or ""
            return base64.b64decode(content) if blob.encoding == "base64" else content.encode()

    def read_blobs(self, shas: Iterable[str]) -> dict[str, bytes]:
        """One GET per blob: REST has no batch read. The snapshot only asks for changed SHAs."""
        return {sha: self.read_blob(sha) for sha in shas}

    def last_change(self, path: str, branch: str) -> LastChange | None:
        """The newest commit on `branch` touching `path`, from GitHub's history of that path.

        GitHub simplifies the history as `git log -- path` does: for a pull request merged with
        a merge commit this is the pull request's own commit, whose first parent holds the
        folder as it was before, since only one change to an app is open at a time.
        """
        path = check_path(path.rstrip("/"))
        # Reference: https://docs.github.com/en/rest/commits/commits#list-commits
        with self._call(f"the history of {path}"):
            _headers, commits = self._repo.requester.requestJsonAndCheck(
                "GET", f"{self._repo.url}/commits", parameters={"path": path, "sha": branch, "per_page": 1})
        if not commits:
            return None
        newest = commits[0]
        parents = [parent["sha"] for parent in newest.get("parents") or []]
        message = ((newest.get("commit") or {}).get("message") or "").strip()
        return LastChange(commit=newest["sha"], parent=parents[0] if parents else None,
                          summary=message.splitlines()[0] if message else "")

    def resolve_repo_url(self, repo_url: str) -> RepoTarget:
        """A template may only publish to the configured repository."""
        if not repo_url:
            return RepoTarget(self.repository, remapped=False)
        named = _repository_of(repo_url)
        if named is None or named.lower() != self.repository.lower():
            raise PermanentError(
                f"repoUrl {repo_url!r} names {named or 'no repository'}: "
                f"templates can only publish to {self.repository}."
            )
        return RepoTarget(self.repository, remapped=False)

    # Write side ----------------------------------------------------------------------------

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
        if marker_in_body(body) != marker:
            body = f"{body.rstrip()}\n\n{body_marker(marker)}".lstrip()
        head_sha, base_files = self.write_branch(branch, base, files, commit_message or title, marker)
        entries, omitted = self._file_entries(base_files, files)
        pull = self._find_pull(branch, marker)
        if pull is None:
            pull = self._create_pull(branch, base, title, body, draft, marker)
        # The branch head just written: a listing may not have caught up with it yet.
        pull = dataclasses.replace(pull, head_sha=head_sha)
        row = self._record(pull, marker=marker, files=entries, omitted=omitted)
        missing = [label for label in labels if label not in pull.labels]
        if missing:
            # Reference: https://docs.github.com/en/rest/issues/labels#add-labels-to-an-issue
            with self._call(f"labels of pull request #{pull.number}"):
                self._repo.get_issue(pull.number).add_to_labels(*missing)
            PullRequest.objects.filter(pk=row.pk).update(labels=[*pull.labels, *missing])
        log.info("pull request ready", number=pull.number, branch=branch, head=head_sha)
        row.refresh_from_db()
        return pull_request_info(row)

    def write_branch(self, branch: str, base: str, files: dict[str, bytes | None], message: str,
                     marker: str) -> tuple[str, dict[str, str]]:
        """Point `branch` at one commit carrying `files` and the marker: (branch head, base's files).

        A branch that already carries the marker gets no new commit when its tree already holds
        the files. Moving an existing branch is a fast-forward only, so concurrent writers
        cannot overwrite each other.
        """
        tip_ref = self._branch_ref(branch)
        tip = tip_ref.object.sha if tip_ref is not None else None
        base_sha = self.head(base)
        if tip is not None:
            owner = self._commit_marker(tip)
            if owner != marker:
                raise BranchConflict(branch, owner)
        parent = tip or base_sha
        parent_tree, parent_files = self._tree(parent)
        base_files = parent_files if parent == base_sha else self._tree(base_sha)[1]
        changes = {
            path: content
            for path, content in files.items()
            if (path in parent_files if content is None else parent_files.get(path) != git_blob_sha(content))
        }
        if not changes:
            if tip is not None:
                return tip, base_files
            raise PermanentError(f"Every file of this change is already on {base!r}: there is nothing to propose.")
        with self._call(f"commit on {branch!r}"):
            elements = []
            for path, content in sorted(changes.items()):
                if content is None:
                    elements.append(InputGitTreeElement(path, "100644", "blob", sha=None))
                    continue
                # Reference: https://docs.github.com/en/rest/git/blobs#create-a-blob
                blob = self._repo.create_git_blob(base64.b64encode(content).decode(), "base64")
                elements.append(InputGitTreeElement(path, "100644", "blob", sha=blob.sha))
            # Reference: https://docs.github.com/en/rest/git/trees#create-a-tree
            tree = self._repo.create_git_tree(elements, base_tree=parent_tree)
            # Reference: https://docs.github.com/en/rest/git/commits#create-a-commit
            parent_commit = GitCommit(self._repo.requester, {}, {"sha": parent}, completed=True)
            commit = self._repo.create_git_commit(
                f"{message.rstrip()}\n\n{commit_trailer(marker)}\n", tree, [parent_commit]
            )
        self._move_branch(branch, commit.sha, tip_ref)
        log.info("branch written", branch=branch, commit=commit.sha, files=len(changes))
        return commit.sha, base_files

    def get_pull_request(self, number: int) -> PullRequestInfo:
        # Reference: https://docs.github.com/en/rest/pulls/pulls#get-a-pull-request
        with self._call(f"pull request #{number}", missing=f"The GitHub repository {self.repository} has no pull request #{number}."):
            return info_from_github(_raw(self._repo.get_pull(number).complete()))

    def list_pull_requests(self, state: str = "all", updated_since: datetime | None = None) -> list[PullRequestInfo]:
        """One paginated list, most recently updated first, stopping at `updated_since`.

        List items lack `merged` and `merged_by`: `merged_at` tells a merge apart, and
        `get_pull_request` gives the rest.
        """
        found: list[PullRequestInfo] = []
        # Reference: https://docs.github.com/en/rest/pulls/pulls#list-pull-requests
        with self._call("the pull-request list"):
            for pull in self._repo.get_pulls(state=state, sort="updated", direction="desc"):
                info = info_from_github(_raw(pull))
                if updated_since is not None and info.updated_at is not None and info.updated_at < updated_since:
                    break
                found.append(info)
        return found

    def check_runs(self, sha: str) -> dict:
        """The check runs of a commit, as PullRequest.checks_summary stores them."""
        # Reference: https://docs.github.com/en/rest/checks/runs#list-check-runs-for-a-git-reference
        with self._call(f"check runs of {sha[:12]}"):
            runs = [_raw(run) for run in self._repo.get_commit(sha).get_check_runs()]
        return checks_summary(sha, runs)

    def upsert_comment(self, number: int, marker: str, body: str) -> None:
        """Edit the portal's comment carrying `<!-- marker -->`, or create it; mirrored on the row."""
        tag = f"<!-- {marker} -->"
        text = body if tag in body else f"{tag}\n{body}"
        with self._call(f"comments of pull request #{number}",
                        missing=f"The GitHub repository {self.repository} has no pull request #{number}."):
            issue = self._repo.get_issue(number)  # lazy: no request of its own
            # Reference: https://docs.github.com/en/rest/issues/comments#list-issue-comments
            existing = next((c for c in issue.get_comments() if tag in (c.body or "")), None)
            if existing is None:
                # Reference: https://docs.github.com/en/rest/issues/comments#create-an-issue-comment
                issue.create_comment(text)
            elif existing.body != text:
                # Reference: https://docs.github.com/en/rest/issues/comments#update-an-issue-comment
                existing.edit(text)
        row = self._rows().filter(number=number).first()
        if row is not None:
            PullRequestComment.objects.update_or_create(
                pull_request=row, marker=marker, defaults={"body": body, "updated_at": timezone.now()}
            )

    def close(self, number: int, closed_by: str = "") -> None:
        """Close on GitHub; the row follows through the webhook or the poller."""
        # Reference: https://docs.github.com/en/rest/pulls/pulls#update-a-pull-request
        with self._call(f"pull request #{number}"):
            self._repo.get_pull(number).edit(state="closed")

    def merge(self, number: int, merged_by: str = "") -> str:
        raise PermanentError("Pull requests on GitHub are merged on GitHub.")

    # Pull-request rows -----------------------------------------------------------------------

    def _rows(self):
        return PullRequest.objects.filter(provider=self.name, repository=self.repository)

    def _record(self, info: PullRequestInfo, *, marker: str, files: list[dict], omitted: int) -> PullRequest:
        """Save the pull request the moment GitHub numbered it; later calls update its head and files."""
        for _attempt in range(3):
            row = self._rows().filter(number=info.number).first()
            if row is not None:
                break
            try:
                with transaction.atomic():
                    # GitHub allows one open pull request per branch: an older open row was missed closing.
                    self._rows().filter(branch=info.branch, state=PullRequestState.OPEN).exclude(
                        number=info.number).update(state=PullRequestState.CLOSED, closed_at=timezone.now())
                    row = PullRequest.objects.create(
                        provider=self.name, repository=self.repository, number=info.number, url=info.url,
                        branch=info.branch, base=info.base, head_sha=info.head_sha, title=info.title, body=info.body,
                        labels=list(info.labels), draft=info.draft, files=files, files_omitted=omitted,
                        task=task_uuid(marker), created_at=info.created_at or timezone.now(),
                        updated_at=info.updated_at or timezone.now(),
                    )
                    PullRequestEvent.objects.create(pull_request=row, kind=PullRequestEventKind.OPENED,
                                                    actor=PORTAL_ACTOR, message=f"{info.branch} → {info.base}")
                return row
            except IntegrityError:
                continue  # the webhook or the poller saved it first: update that row
        else:
            raise TransientError(f"Could not save pull request #{info.number}; try again.")
        now = timezone.now()
        fields = {"files": files, "files_omitted": omitted, "url": info.url, "task": row.task or task_uuid(marker)}
        if row.head_sha != info.head_sha and row.state == PullRequestState.OPEN:
            changed = self._rows().filter(pk=row.pk, state=PullRequestState.OPEN).exclude(
                head_sha=info.head_sha).update(head_sha=info.head_sha, updated_at=now, **fields)
            if changed:
                PullRequestEvent.objects.create(pull_request=row, kind=PullRequestEventKind.UPDATED, actor=PORTAL_ACTOR,
                                                message=f"New commit {info.head_sha[:8]}", created_at=now)
        else:
            self._rows().filter(pk=row.pk).update(**fields)
        row.refresh_from_db()
        return row

    # GitHub calls --------------------------------------------------------------------------------

    def _branch_sha(self, branch: str) -> str | None:
        """The branch's commit, or None when the repository has no such branch."""
        ref = self._branch_ref(branch)
        return ref.object.sha if ref is not None else None

    def _branch_ref(self, branch: str) -> GitRef | None:
        # Reference: https://docs.github.com/en/rest/git/refs#get-a-reference
        try:
            with self._call(f"branch {branch!r}"):
                return self._repo.get_git_ref(f"heads/{branch}").complete()
        except _NotFound:
            return None

    def _commit_marker(self, sha: str) -> str | None:
        # Reference: https://docs.github.com/en/rest/git/commits#get-a-commit-object
        with self._call(f"commit {sha[:12]}"):
            return marker_in_message(self._repo.get_git_commit(sha).message or "")

    def _tree(self, ref: str) -> tuple[GitTree, dict[str, str]]:
        """(the tree, {path: blob SHA}) of a commit, branch or tree."""
        # Reference: https://docs.github.com/en/rest/git/trees#get-a-tree
        with self._call(f"tree of {ref[:40]!r}"):
            tree = self._repo.get_git_tree(ref, recursive=True)
            raw = _raw(tree)
            if not raw.get("truncated"):
                return tree, {e["path"]: e["sha"] for e in raw.get("tree", []) if e.get("type") == "blob"}
            # Too large for one answer: walk the folders one level at a time.
            files: dict[str, str] = {}
            self._walk(tree.sha, "", files)
            return tree, files

    def _walk(self, tree_sha: str, prefix: str, files: dict[str, str]) -> None:
        for entry in _raw(self._repo.get_git_tree(tree_sha)).get("tree", []):
            path = f"{prefix}{entry['path']}"
            if entry.get("type") == "blob":
                files[path] = entry["sha"]
            elif entry.get("type") == "tree":
                self._walk(entry["sha"], f"{path}/", files)

    def _tree_files(self, ref: str) -> dict[str, str]:
        return self._tree(ref)[1]

    def _move_branch(self, branch: str, sha: str, tip: GitRef | None) -> None:
        moved = f"The branch {branch!r} moved while the portal wrote to it; trying again."
        with self._call(f"branch {branch!r}", conflict=moved):
            if tip is None:
                # Reference: https://docs.github.com/en/rest/git/refs#create-a-reference
                self._repo.create_git_ref(f"refs/heads/{branch}", sha)
            else:
                # Reference: https://docs.github.com/en/rest/git/refs#update-a-reference
                tip.edit(sha, force=False)

    def _find_pull(self, branch: str, marker: str) -> PullRequestInfo | None:
        """The open pull request of `branch` carrying `marker`; BranchConflict when it carries another."""
        # Reference: https://docs.github.com/en/rest/pulls/pulls#list-pull-requests
        with self._call(f"pull requests of {branch!r}"):
            pulls = [info_from_github(_raw(p)) for p in
                     self._repo.get_pulls(state="open", head=f"{self.owner}:{branch}")]
        for info in pulls:
            if marker_in_body(info.body) == marker:
                return info
        if pulls:
            raise BranchConflict(branch, marker_in_body(pulls[0].body))
        return None

    def _create_pull(self, branch: str, base: str, title: str, body: str, draft: bool, marker: str) -> PullRequestInfo:
        # Reference: https://docs.github.com/en/rest/pulls/pulls#create-a-pull-request
        try:
            with self._call(f"a pull request from {branch!r}"):
                return info_from_github(_raw(self._repo.create_pull(base=base, head=branch, title=title, body=body,
                                                                     draft=draft)))
        except _AlreadyExists:
            # Opened by an earlier try whose answer was lost: find it.
            found = self._find_pull(branch, marker)
            if found is None:
                raise TransientError(f"GitHub says a pull request for {branch!r} exists but does not list it yet.",
                                     retry_after=DEFAULT_RETRY_AFTER) from None
            return found

    def _repository_exists(self) -> bool:
        # Reference: https://docs.github.com/en/rest/repos/repos#get-a-repository
        try:
            self._github.get_repo(self.repository).complete()
        except GithubException as error:
            return error.status != 404
        except requests.RequestException:
            return True  # cannot tell: report what was asked for
        return True

    def _file_entries(self, base_files: dict[str, str], files: dict[str, bytes | None]) -> tuple[list[dict], int]:
        """The change as the pull-request page shows it: unified diffs against the base branch."""
        entries = []
        olds = self.read_blobs(sorted({base_files[p] for p, c in files.items()
                                      if p in base_files and (c is None or git_blob_sha(c) != base_files[p])}))
        for path, content in sorted(files.items()):
            old_sha = base_files.get(path)
            if content is None and old_sha is None:
                continue
            if content is not None and old_sha == git_blob_sha(content):
                continue
            old = olds[old_sha] if old_sha else None
            entries.append(file_entry(path, old, content))
        return entries[:MAX_FILES], max(0, len(entries) - MAX_FILES)

    @contextlib.contextmanager
    def _call(self, what: str, *, missing: str | None = None, conflict: str | None = None) -> Iterator[None]:
        """Translate what GitHub answered into the portal's errors."""
        try:
            yield
            self._repository_seen = True
        except GithubException as error:
            raise self._classify(error, what, missing=missing, conflict=conflict) from None
        except requests.Timeout:
            raise TransientError(f"GitHub did not answer within {TIMEOUT_SECONDS}s while reading {what}.",
                                 retry_after=DEFAULT_RETRY_AFTER) from None
        except requests.ConnectionError:
            raise TransientError(f"Could not connect to GitHub at {self.api_url} (PORTAL_GITHUB_API_URL).",
                                 retry_after=DEFAULT_RETRY_AFTER) from None

    def _classify(self, error: GithubException, what: str, *, missing: str | None, conflict: str | None) -> Exception:
        status = error.status
        message = _message(error)
        headers = {key.lower(): value for key, value in (error.headers or {}).items()}
        if status in (403, 429):
            wait = _rate_limit_wait(headers, message)
            if wait is not None:
                return TransientError(f"GitHub's rate limit was reached; retrying in {wait}s.", retry_after=wait)
        app = self.credentials == APP_SETTINGS
        if status == 401 or (status == 403 and "bad credentials" in message.lower()):
            if app:
                return PermanentError(f"GitHub rejected the GitHub App's credentials: check {APP_SETTINGS}.")
            return PermanentError(f"GitHub rejected the token: check {TOKEN_SETTINGS}.")
        if status == 403:
            who = "the GitHub App installation" if app else "the token in PORTAL_GITHUB_TOKEN"
            return PermanentError(
                f"GitHub refused access to {what} ({message or 'forbidden'}): {who} needs "
                f"contents and pull-request write access to {self.repository}."
            )
        if status == 404:
            if not self._repository_seen and not self._repository_exists():
                who = ("the GitHub App installation (PORTAL_GITHUB_APP_INSTALLATION_ID) does not exist or cannot see it"
                       if app else "the token cannot see it")
                return PermanentError(
                    f"The GitHub repository {self.repository} does not exist or {who}: "
                    "check PORTAL_GITHUB_REPOSITORY and the credentials' access."
                )
            return PermanentError(missing) if missing else _NotFound(f"GitHub has no {what}.")
        if status == 422 and any("already exists" in text for text in _validation_messages(error)):
            if "pull request" in " ".join(_validation_messages(error)).lower():
                return _AlreadyExists(what)
            if conflict:
                return TransientError(conflict, retry_after=1)
        if status == 422 and conflict and "fast forward" in message.lower():
            return TransientError(conflict, retry_after=1)
        if status >= 500:
            return TransientError(f"GitHub answered {status} for {what}; trying again later.",
                                  retry_after=DEFAULT_RETRY_AFTER)
        details = "; ".join(_validation_messages(error)) or message
        return PermanentError(f"GitHub refused {what} ({status}): {details}")


def app_auth_from_settings() -> Auth.AppInstallationAuth | None:
    """The GitHub App installation's credentials from the settings; None when no App is configured.

    The private key is checked here, so a wrong file fails with the setting to fix rather than
    on the first request; no message carries the key's content.
    """
    app_id = str(getattr(settings, "PORTAL_GITHUB_APP_ID", "") or "").strip()
    key_file = str(getattr(settings, "PORTAL_GITHUB_APP_PRIVATE_KEY_FILE", "") or "").strip()
    installation = str(getattr(settings, "PORTAL_GITHUB_APP_INSTALLATION_ID", "") or "").strip()
    if not (app_id or key_file or installation):
        return None
    missing = [name for name, value in (("PORTAL_GITHUB_APP_ID", app_id), ("PORTAL_GITHUB_APP_PRIVATE_KEY_FILE", key_file),
                                        ("PORTAL_GITHUB_APP_INSTALLATION_ID", installation)) if not value]
    if missing:
        raise PermanentError(f"The GitHub App is configured only in part: set {' and '.join(missing)} too.")
    if not installation.isdigit():
        raise PermanentError(f"PORTAL_GITHUB_APP_INSTALLATION_ID={installation!r} is not a number: "
                             "copy it from the App installation's settings URL.")
    try:
        pem = Path(key_file).read_bytes()
    except OSError as error:
        raise PermanentError(f"PORTAL_GITHUB_APP_PRIVATE_KEY_FILE={key_file!r} cannot be read "
                             f"({error.strerror or type(error).__name__}).") from None
    try:
        serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise PermanentError(f"PORTAL_GITHUB_APP_PRIVATE_KEY_FILE={key_file!r} does not hold an unencrypted PEM "
                             "private key: download a new key from the GitHub App's settings.") from None
    return Auth.AppAuth(app_id, pem.decode()).get_installation_auth(int(installation))


class _NotFound(PermanentError):
    """GitHub answered 404 for something inside an existing repository."""


class _AlreadyExists(PermanentError):
    """GitHub's 422 "A pull request already exists"."""


# Values from GitHub ------------------------------------------------------------------------------


def info_from_github(data: dict) -> PullRequestInfo:
    """A pull request from GitHub's JSON (an API answer, a list item or a webhook payload)."""
    merged = bool(data.get("merged") or data.get("merged_at"))
    state = PullRequestState.MERGED if merged else (
        PullRequestState.OPEN if data.get("state") == "open" else PullRequestState.CLOSED)
    return PullRequestInfo(
        number=int(data["number"]),
        url=data.get("html_url") or "",
        branch=(data.get("head") or {}).get("ref", ""),
        base=(data.get("base") or {}).get("ref", ""),
        head_sha=(data.get("head") or {}).get("sha", ""),
        state=str(state),
        title=data.get("title") or "",
        body=data.get("body") or "",
        merged_by=((data.get("merged_by") or {}).get("login") or ""),
        merged_at=_when(data.get("merged_at")),
        created_at=_when(data.get("created_at")),
        updated_at=_when(data.get("updated_at")),
        labels=[label["name"] for label in data.get("labels") or []],
        draft=bool(data.get("draft")),
    )


#: Check-run conclusions that let a pull request through, and those that hold it back.
PASSED_CONCLUSIONS = {"success", "neutral", "skipped"}
FAILED_CONCLUSIONS = {"failure", "timed_out", "cancelled", "action_required", "startup_failure", "stale"}


def checks_summary(sha: str, runs: list[dict]) -> dict:
    """Counts and runs of a commit's checks; `sha` says which head they belong to."""
    rows = [{"name": run.get("name") or "", "status": run.get("status") or "", "conclusion": run.get("conclusion") or "",
             "url": run.get("html_url") or run.get("details_url") or ""} for run in runs]
    rows.sort(key=lambda run: run["name"].lower())
    return {
        "sha": sha,
        "total": len(rows),
        "passed": sum(1 for run in rows if run["status"] == "completed" and run["conclusion"] in PASSED_CONCLUSIONS),
        "failed": sum(1 for run in rows if run["status"] == "completed" and run["conclusion"] in FAILED_CONCLUSIONS),
        "pending": sum(1 for run in rows if run["status"] != "completed"),
        "runs": rows,
    }


def closed_at_of(data: dict) -> datetime | None:
    return _when(data.get("closed_at"))


def git_blob_sha(content: bytes) -> str:
    """The SHA git (and GitHub) gives a blob with this content."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()


def file_entry(path: str, old: bytes | None, new: bytes | None) -> dict:
    """One changed file as PullRequest.files stores it (the local provider's shape)."""
    status = FileStatus.ADDED if old is None else FileStatus.DELETED if new is None else FileStatus.MODIFIED
    binary = b"\0" in (old or b"") or b"\0" in (new or b"")
    patch = "" if binary else _hunks(old or b"", new or b"")
    additions = sum(1 for line in patch.splitlines() if line.startswith("+"))
    deletions = sum(1 for line in patch.splitlines() if line.startswith("-"))
    return {
        "path": path, "status": str(status), "additions": additions, "deletions": deletions,
        "patch": patch[:MAX_PATCH_CHARS], "binary": binary, "truncated": len(patch) > MAX_PATCH_CHARS,
    }


def _hunks(old: bytes, new: bytes) -> str:
    lines = difflib.unified_diff(old.decode(errors="replace").splitlines(), new.decode(errors="replace").splitlines(),
                                 lineterm="", n=3)
    return "\n".join(list(lines)[2:]) + "\n"  # without the ---/+++ header, as git's patch text


def _repository_of(repo_url: str) -> str | None:
    """`owner/name` from Backstage's `github.com?owner=o&repo=r` or a https://github.com/o/r URL."""
    text = repo_url.strip()
    parsed = urlparse(text if "://" in text else f"https://{text}")
    query = parse_qs(parsed.query)
    if query.get("owner") and query.get("repo"):
        return f"{query['owner'][0]}/{query['repo'][0]}"
    parts = [part for part in parsed.path.split("/") if part]
    if len(parts) >= 2:
        return f"{parts[0]}/{parts[1].removesuffix('.git')}"
    return None


def _rate_limit_wait(headers: dict[str, str], message: str) -> int | None:
    """Seconds GitHub asked us to wait, bounded; None when the answer is not a rate limit."""
    if headers.get("retry-after", "").strip().isdigit():
        return max(1, min(MAX_RETRY_AFTER, int(headers["retry-after"])))
    if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset", "").strip().isdigit():
        return max(1, min(MAX_RETRY_AFTER, int(headers["x-ratelimit-reset"]) - int(time.time()) + 1))
    if "rate limit" in message.lower():
        return 60  # a secondary limit without a header: GitHub's documentation says wait a minute
    return None


def _message(error: GithubException) -> str:
    data = error.data
    return str(data.get("message") or "") if isinstance(data, dict) else ""


def _validation_messages(error: GithubException) -> list[str]:
    data = error.data if isinstance(error.data, dict) else {}
    return [str(item.get("message") or item.get("code") or "") for item in data.get("errors") or []
            if isinstance(item, dict)]


def _raw(obj) -> dict:
    """The attributes as GitHub sent them (`raw_data` would fetch a listed object again)."""
    return obj._rawData


def _when(value) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    return parse_datetime(value)
