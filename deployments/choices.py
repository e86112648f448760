"""Choices of the deployments app: pull-request states and timeline events."""

from django.db import models


class GitOpsProviderName(models.TextChoices):
    LOCAL = "local", "Local repository"
    GITHUB = "github", "GitHub"


class PullRequestState(models.TextChoices):
    OPEN = "open", "Open"
    MERGED = "merged", "Merged"
    CLOSED = "closed", "Closed"


#: States a pull request never leaves.
PullRequestState.TERMINAL = frozenset({PullRequestState.MERGED, PullRequestState.CLOSED})


class PullRequestEventKind(models.TextChoices):
    OPENED = "opened", "Opened"
    UPDATED = "updated", "Updated"
    COMMENTED = "commented", "Commented"
    MERGED = "merged", "Merged"
    CLOSED = "closed", "Closed"


class FileStatus(models.TextChoices):
    ADDED = "added", "Added"
    MODIFIED = "modified", "Modified"
    DELETED = "deleted", "Deleted"


class GuardrailScanStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


#: Scan states a scan never leaves.
GuardrailScanStatus.TERMINAL = frozenset({GuardrailScanStatus.DONE, GuardrailScanStatus.FAILED})
