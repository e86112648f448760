"""The repository snapshot: the default branch of the GitOps repository, kept in the database.

Everything that reads the GitOps repository (catalog locations, template skeletons, policies,
quotas) reads this snapshot, so every web replica and worker sees the same files and no page
touches the repository itself.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from portal.models import RepositorySnapshot, SnapshotFile
from portal.repository import RepositoryReader, configured_repository, get_provider

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RefreshResult:
    commit_sha: str
    added: int
    changed: int
    removed: int

    @property
    def changed_anything(self) -> bool:
        return bool(self.added or self.changed or self.removed)


def current(provider: RepositoryReader | None = None) -> RepositorySnapshot:
    """The snapshot row of the configured repository (created empty when absent)."""
    snapshot, _ = RepositorySnapshot.objects.get_or_create(
        provider=settings.PORTAL_GITOPS_PROVIDER,
        repository=provider.repository if provider else configured_repository(),
        branch=settings.PORTAL_GITOPS_DEFAULT_BRANCH,
    )
    return snapshot


def refresh(provider: RepositoryReader | None = None) -> RefreshResult:
    """Bring the snapshot up to the branch head, reading only blobs whose SHA changed."""
    provider = provider or get_provider()
    snapshot = current(provider)
    branch = snapshot.branch
    head = provider.head(branch)
    if head == snapshot.commit_sha:
        RepositorySnapshot.objects.filter(pk=snapshot.pk).update(refreshed_at=timezone.now(), last_error="")
        return RefreshResult(head, 0, 0, 0)

    tree = provider.read_tree(head)
    known = dict(snapshot.files.values_list("path", "blob_sha"))
    to_fetch = {path: sha for path, sha in tree.items() if known.get(path) != sha}
    removed = [path for path in known if path not in tree]
    # Read blobs before the transaction: a slow provider must not hold database locks.
    blobs = provider.read_blobs(sorted(set(to_fetch.values())))

    with transaction.atomic():
        if removed:
            snapshot.files.filter(path__in=removed).delete()
        if to_fetch:
            snapshot.files.filter(path__in=list(to_fetch)).delete()
            SnapshotFile.objects.bulk_create(
                [
                    SnapshotFile(snapshot=snapshot, path=path, blob_sha=sha, size=len(blobs[sha]), content=blobs[sha])
                    for path, sha in to_fetch.items()
                ],
                batch_size=500,
            )
        RepositorySnapshot.objects.filter(pk=snapshot.pk).update(
            commit_sha=head, refreshed_at=timezone.now(), last_error="", last_error_at=None
        )
    added = sum(1 for path in to_fetch if path not in known)
    result = RefreshResult(head, added, len(to_fetch) - added, len(removed))
    log.info("snapshot refreshed", commit=head, added=result.added, changed=result.changed, removed=result.removed)
    return result


def record_error(message: str) -> None:
    snapshot = current()
    RepositorySnapshot.objects.filter(pk=snapshot.pk).update(last_error=message, last_error_at=timezone.now())


def read(path: str, snapshot: RepositorySnapshot | None = None) -> bytes | None:
    """One file's content from the snapshot, or None when the path does not exist."""
    snapshot = snapshot or current()
    row = snapshot.files.filter(path=path.lstrip("/")).values_list("content", flat=True).first()
    return None if row is None else bytes(row)


def paths(pattern: str = "*", snapshot: RepositorySnapshot | None = None) -> list[str]:
    """Paths matching a glob (`*` stays within one folder, `**` crosses folders), sorted."""
    snapshot = snapshot or current()
    prefix = pattern.split("*", 1)[0].split("?", 1)[0].split("[", 1)[0]
    candidates = snapshot.files.filter(path__startswith=prefix).values_list("path", flat=True)
    return sorted(path for path in candidates if glob_match(path, pattern))


def read_many(paths_: list[str], snapshot: RepositorySnapshot | None = None) -> dict[str, bytes]:
    """Several files in one query."""
    snapshot = snapshot or current()
    return {path: bytes(content) for path, content in snapshot.files.filter(path__in=paths_).values_list("path", "content")}


def glob_match(path: str, pattern: str) -> bool:
    """Glob matching where `*` does not cross `/` and `**` does."""
    path_parts = path.split("/")
    pattern_parts = pattern.split("/")
    return _match_parts(path_parts, pattern_parts)


def _match_parts(path: list[str], pattern: list[str]) -> bool:
    if not pattern:
        return not path
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_match_parts(path[i:], rest) for i in range(len(path) + 1))
    if not path:
        return False
    return fnmatch.fnmatchcase(path[0], head) and _match_parts(path[1:], rest)
