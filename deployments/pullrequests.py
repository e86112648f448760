"""Pull-request services: who may merge or close, merging and closing from the portal.

The provider does the git work and the conditional state transition; these functions add the
permission check, the audit record and the signals other apps listen to (the scaffolder
activates or removes the Components a pull request registered).
"""

from __future__ import annotations

import uuid

from django.core.exceptions import PermissionDenied
from django.dispatch import Signal

from catalog.models import Entity
from deployments.choices import PullRequestState
from deployments.gitops.base import PermanentError
from deployments.models import PullRequest
from portal import audit, identity
from portal.repository import get_provider

#: Sent after a pull request merged from the portal (the snapshot is already refreshed).
pull_request_merged = Signal()
#: Sent after a pull request was closed without merging.
pull_request_closed = Signal()


def owner_of(pull_request: PullRequest) -> str | None:
    """The owning Group of the Component the pull request concerns, when the catalog knows it."""
    if not pull_request.entity_ref:
        return None
    owner = Entity.objects.filter(ref=pull_request.entity_ref.lower()).values_list("owner_ref", flat=True).first()
    return owner or None


def can_merge(user, pull_request: PullRequest, owner_ref: str | None = None) -> bool:
    """Admins and members of the owning group may merge or close an open pull request."""
    if pull_request.is_terminal:
        return False
    return identity.can_change(user, owner_ref if owner_ref is not None else owner_of(pull_request))


def merge(pull_request: PullRequest, user) -> str:
    """Merge on the local repository; returns the base's new commit. Errors say what to do."""
    _check_allowed(user, pull_request, "merge")
    provider = _provider_of(pull_request)
    commit = provider.merge(pull_request.number, merged_by=user.get_username())
    audit.record(user, "pullrequest.merged", _target(pull_request), number=pull_request.number,
                 branch=pull_request.branch, base=pull_request.base, commit=commit)
    pull_request.refresh_from_db()
    pull_request_merged.send(sender=PullRequest, pull_request=pull_request)
    return commit


def close(pull_request: PullRequest, user) -> None:
    """Close without merging; the branch is kept, as on GitHub."""
    _check_allowed(user, pull_request, "close")
    _provider_of(pull_request).close(pull_request.number, closed_by=user.get_username())
    audit.record(user, "pullrequest.closed", _target(pull_request), number=pull_request.number,
                 branch=pull_request.branch)
    pull_request.refresh_from_db()
    pull_request_closed.send(sender=PullRequest, pull_request=pull_request)


def link_entity(task: uuid.UUID | str, entity_ref: str) -> int:
    """Record which catalog entity a task's pull requests concern; returns the rows changed."""
    return PullRequest.objects.filter(task=task).update(entity_ref=entity_ref.lower())


def _check_allowed(user, pull_request: PullRequest, verb: str) -> None:
    if pull_request.state in PullRequestState.TERMINAL:
        raise PermanentError(f"Pull request #{pull_request.number} is already {pull_request.state}.")
    owner = owner_of(pull_request)
    if not identity.can_change(user, owner):
        who = f"members of {owner} and platform admins" if owner else "platform admins"
        raise PermissionDenied(f"Only {who} can {verb} pull request #{pull_request.number}.")


def _provider_of(pull_request: PullRequest):
    provider = get_provider()
    if provider.name != "local":
        raise PermanentError("Pull requests on GitHub are merged and closed on GitHub.")
    if (pull_request.provider, pull_request.repository) != (provider.name, provider.repository):
        raise PermanentError(
            f"Pull request #{pull_request.number} belongs to {pull_request.repository}, "
            f"not to the configured repository {provider.repository}."
        )
    return provider


def _target(pull_request: PullRequest) -> str:
    return f"pullrequest:{pull_request.uuid}"
