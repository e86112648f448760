"""The lifecycle of Components the scaffolder registered (DESIGN §4.1).

A Component registered by a task is `pending` while its pull request is open. When the pull
request merges, the snapshot refresh re-reads the locations and the Component arrives from
the default branch as `active` (catalog ingestion does that). When the pull request is
closed without merging, the pending Components of its task are removed here.
"""

from __future__ import annotations

import structlog
from django.dispatch import receiver

from catalog import store
from catalog.choices import EntityStatus
from catalog.models import Entity
from deployments.models import PullRequest
from deployments.pullrequests import pull_request_closed
from scaffolder.choices import StepStatus
from scaffolder.models import Task, TaskStep

log = structlog.get_logger(__name__)

REGISTER_ACTION = "catalog:register"


def registered_refs(task_uuid) -> set[str]:
    """The entity refs a task registered (its catalog:register outputs and its entity_ref)."""
    refs = {ref for ref in Task.objects.filter(uuid=task_uuid).values_list("entity_ref", flat=True) if ref}
    outputs = TaskStep.objects.filter(
        task__uuid=task_uuid, action=REGISTER_ACTION, status=StepStatus.COMPLETED
    ).values_list("output", flat=True)
    for output in outputs:
        refs.update(ref for ref in [output.get("entityRef"), *(output.get("entityRefs") or [])] if ref)
    return {ref.lower() for ref in refs}


def remove_pending(pull_request: PullRequest) -> list[str]:
    """Delete the still-pending Components of the pull request's task; returns their refs."""
    refs = set()
    if pull_request.task:
        refs |= registered_refs(pull_request.task)
    if pull_request.entity_ref:
        refs.add(pull_request.entity_ref.lower())
    removed = []
    for entity in Entity.objects.filter(ref__in=refs, status=EntityStatus.PENDING):
        store.delete(entity)
        removed.append(entity.ref)
    if removed:
        log.info("pending entities removed", pull_request=pull_request.number, refs=sorted(removed))
    return sorted(removed)


@receiver(pull_request_closed, dispatch_uid="scaffolder.remove_pending_on_close")
def remove_pending_on_close(sender, pull_request: PullRequest, **kwargs) -> None:
    """A pull request closed unmerged: what it would have added to the catalog goes away."""
    remove_pending(pull_request)
