from django.db import models


class TaskStatus(models.TextChoices):
    """Backstage's task statuses."""

    OPEN = "open", "Open"
    PROCESSING = "processing", "Processing"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


TASK_TERMINAL = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})


class StepStatus(models.TextChoices):
    OPEN = "open", "Waiting"
    PROCESSING = "processing", "Running"
    COMPLETED = "completed", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    SKIPPED = "skipped", "Skipped"


STEP_TERMINAL = frozenset({StepStatus.COMPLETED, StepStatus.FAILED, StepStatus.CANCELLED, StepStatus.SKIPPED})


class EventType(models.TextChoices):
    """Backstage's task event types."""

    LOG = "log", "Log"
    COMPLETION = "completion", "Completion"
    CANCELLED = "cancelled", "Cancelled"
    RECOVERED = "recovered", "Recovered"
