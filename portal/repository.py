"""Reading the GitOps repository: the provider's read side, as the portal core sees it.

The providers live in `deployments.gitops`; the portal loads the configured one by its
import path (settings.PORTAL_GITOPS_PROVIDERS), so this app imports no other app.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string


class TransientError(Exception):
    """A failure worth retrying later: a timeout, a 5xx, a rate limit (with its wait)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(Exception):
    """A failure that retrying will not fix: bad credentials, a missing repository."""


class RepositoryReader(Protocol):
    #: A stable name for the repository, e.g. `owner/name` or the local path.
    repository: str

    def head(self, ref: str) -> str:
        """The commit SHA that `ref` (a branch name) points at."""
        ...

    def read_tree(self, ref: str) -> dict[str, str]:
        """Every file path at `ref`, mapped to its blob SHA."""
        ...

    def read_blob(self, sha: str) -> bytes:
        """The content of one blob."""
        ...

    def read_blobs(self, shas: Iterable[str]) -> dict[str, bytes]:
        """Several blobs, in as few round trips as the back end allows."""
        ...


@cache
def _provider_class(name: str):
    return import_string(settings.PORTAL_GITOPS_PROVIDERS[name])


def get_provider():
    """The configured GitOps provider (local or github)."""
    return _provider_class(settings.PORTAL_GITOPS_PROVIDER).from_settings()


def configured_repository() -> str:
    """The configured repository's name (what `provider.repository` says), without building a
    provider: no client, no credentials read, no seeding — snapshot reads need only the name."""
    return _provider_class(settings.PORTAL_GITOPS_PROVIDER).repository_from_settings()
