"""Pull requests on the GitOps repository, their comments and their timeline.

Defined once for both providers: with `local` the rows *are* the pull requests (the branch
holds the commits); with `github` they are what the workers last saw on GitHub.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.urls import reverse
from django.utils import timezone

from deployments.choices import (
    GitOpsProviderName,
    GuardrailScanStatus,
    PullRequestEventKind,
    PullRequestState,
)
from deployments.gitops.base import BODY_MARKER


class PullRequest(models.Model):
    """A pull request (branch → base) on the GitOps repository, usually opened by a scaffolder task.

    `files` holds the change as the page shows it (path, status, additions, deletions, patch
    text, capped in size), written when the change is opened or updated, so the page never
    reads the repository.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    provider = models.CharField(max_length=16, choices=GitOpsProviderName.choices)
    repository = models.CharField(max_length=500, help_text="owner/name on GitHub, the path of a local repository")
    number = models.PositiveIntegerField(help_text="Numbered per repository, as on GitHub")
    url = models.CharField(max_length=500, blank=True)
    branch = models.CharField(max_length=255)
    base = models.CharField(max_length=255)
    head_sha = models.CharField(max_length=40, blank=True)
    title = models.CharField(max_length=500)
    body = models.TextField(blank=True)
    state = models.CharField(max_length=8, choices=PullRequestState.choices, default=PullRequestState.OPEN)
    labels = models.JSONField(default=list, blank=True)
    draft = models.BooleanField(default=False)
    merged_by = models.CharField(max_length=150, blank=True, help_text="A username, kept as text")
    merged_at = models.DateTimeField(null=True, blank=True)
    merge_commit_sha = models.CharField(max_length=40, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    #: Check runs as last seen: {"state": "success|failure|pending", "total": n, "failed": [names]}.
    checks_summary = models.JSONField(default=dict, blank=True)
    #: [{"path", "status", "additions", "deletions", "patch", "binary", "truncated"}], by path.
    files = models.JSONField(default=list, blank=True)
    #: Files left out of `files` because the change was too large to show.
    files_omitted = models.PositiveIntegerField(default=0)
    #: The scaffolder task that opened it (a plain UUID: this app does not import the scaffolder).
    task = models.UUIDField(null=True, blank=True)
    #: The catalog Component it concerns, e.g. component:default/fraud-model.
    entity_ref = models.CharField(max_length=400, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-updated_at", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "repository", "number"], name="pullrequest_number_unique"),
            # As on GitHub: one open pull request per head branch.
            models.UniqueConstraint(
                fields=["provider", "repository", "branch"],
                condition=models.Q(state=PullRequestState.OPEN),
                name="pullrequest_open_branch_unique",
            ),
        ]
        indexes = [
            # the pull-request list, filtered by state, newest first
            models.Index(fields=["state", "-updated_at"], name="pullrequest_state_updated"),
            # open_change: the pull requests of a branch, whatever their state
            models.Index(fields=["provider", "repository", "branch"], name="pullrequest_branch"),
            # list_pull_requests(updated_since=...) and the GitHub poller
            models.Index(fields=["provider", "repository", "updated_at"], name="pullrequest_repo_updated"),
            # a task's pull request, on the task page
            models.Index(fields=["task"], name="pullrequest_task"),
            # an entity's pull requests, on the entity page
            models.Index(fields=["entity_ref", "-updated_at"], name="pullrequest_entity_updated"),
        ]

    def __str__(self) -> str:
        return f"#{self.number} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("deployments:pullrequest_detail", kwargs={"pr_uuid": self.uuid})

    @property
    def is_terminal(self) -> bool:
        return self.state in PullRequestState.TERMINAL

    @property
    def description(self) -> str:
        """The body without the portal's hidden task marker."""
        return BODY_MARKER.sub("", self.body).strip()

    @property
    def additions(self) -> int:
        return sum(f.get("additions", 0) for f in self.files)

    @property
    def deletions(self) -> int:
        return sum(f.get("deletions", 0) for f in self.files)


class PullRequestComment(models.Model):
    """A comment the portal keeps on a pull request, found again (and edited) by its marker."""

    pull_request = models.ForeignKey(PullRequest, on_delete=models.CASCADE, related_name="comments")
    marker = models.CharField(max_length=200, help_text="e.g. portal-cost-delta; one comment per marker")
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # upsert_comment's lookup; also serves the comments of one pull request
            models.UniqueConstraint(fields=["pull_request", "marker"], name="pullrequestcomment_marker_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.pull_request} · {self.marker}"


class PullRequestEvent(models.Model):
    """One entry of a pull request's timeline: opened, updated, commented, merged, closed."""

    pull_request = models.ForeignKey(PullRequest, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=PullRequestEventKind.choices)
    actor = models.CharField(max_length=150, help_text="A username, or `portal` for the portal itself")
    message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # the timeline of one pull request, oldest first
            models.Index(fields=["pull_request", "created_at"], name="pullrequestevent_timeline"),
        ]

    def __str__(self) -> str:
        return f"{self.pull_request} {self.kind}"


class Cluster(models.Model):
    """A Kubernetes cluster the portal deploys to and watches.

    Reached through a kubeconfig context, or the service account of the pod the portal runs in.
    One default row (`default`, in-cluster off, no context: the sandbox in development) is
    created by a data migration; guardrails and status polling use it when nothing else is named.
    """

    DEFAULT_NAME = "default"

    name = models.SlugField(max_length=63, unique=True)
    context = models.CharField(
        max_length=253, blank=True, help_text="kubeconfig context; empty for the current context"
    )
    in_cluster = models.BooleanField(
        default=False, help_text="Use the pod's service account instead of a kubeconfig"
    )
    argocd_namespace = models.CharField(max_length=63, default="argocd")
    #: Namespaces whose InferenceServices, Applications and quotas are polled.
    watched_namespaces = models.JSONField(default=list, blank=True)
    opencost_url = models.URLField(blank=True, help_text="OpenCost's API; empty when the cluster has none")
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            # Cluster.default(): at most one default cluster
            models.UniqueConstraint(
                fields=["is_default"], condition=models.Q(is_default=True), name="cluster_one_default"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def default(cls) -> Cluster | None:
        return cls.objects.filter(is_default=True).first() or cls.objects.order_by("pk").first()


class QuotaUsage(models.Model):
    """A namespace ResourceQuota's `status.used` and `status.hard` as last polled on a cluster.

    Guardrails add a change to `used` when a row exists, instead of estimating usage from the
    repository; `observed_at` tells the developer how fresh that is. Quantities are kept as the
    API returns them (strings such as "1500m", "6Gi").
    """

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="quota_usages")
    namespace = models.CharField(max_length=63)
    quota_name = models.CharField(max_length=253)
    used = models.JSONField(default=dict)
    hard = models.JSONField(default=dict)
    observed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["cluster", "namespace", "quota_name"]
        constraints = [
            # the poller's upsert; also serves guardrails' lookup by (cluster, namespace)
            models.UniqueConstraint(fields=["cluster", "namespace", "quota_name"], name="quotausage_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.cluster} {self.namespace}/{self.quota_name}"


class GuardrailScan(models.Model):
    """One check of every app on the repository snapshot against the guardrails, run by a worker
    after the snapshot moves or when an admin asks; the Guardrails page shows the latest."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    status = models.CharField(max_length=8, choices=GuardrailScanStatus.choices, default=GuardrailScanStatus.QUEUED)
    #: Why it ran: `snapshot` (the default branch moved) or `manual` (Scan now).
    reason = models.CharField(max_length=16, default="snapshot")
    requested_by = models.CharField(max_length=150, blank=True, help_text="A username, kept as text; empty for the system")
    #: The snapshot commit the scan read.
    commit_sha = models.CharField(max_length=40, blank=True)
    #: Rows per result over every app: {"pass": n, "fail": n, "warn": n, "error": n, "skip": n}.
    summary = models.JSONField(default=dict, blank=True)
    files_checked = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # the page's latest finished scan, and the queued scan that "Scan now" reuses
            models.Index(fields=["status", "-finished_at"], name="guardrailscan_status_finished"),
        ]

    def __str__(self) -> str:
        return f"guardrail scan {self.uuid} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in GuardrailScanStatus.TERMINAL


class GuardrailFinding(models.Model):
    """A rule that an app on the snapshot does not pass (fail, error or warning), as a scan saw it."""

    scan = models.ForeignKey(GuardrailScan, on_delete=models.CASCADE, related_name="findings")
    #: The app's folder, e.g. apps/fraud-scorer; empty for a namespace-wide row.
    app_path = models.CharField(max_length=500, blank=True)
    file_path = models.CharField(max_length=500, blank=True)
    policy = models.CharField(max_length=253)
    rule = models.CharField(max_length=253)
    kind = models.CharField(max_length=100, blank=True)
    namespace = models.CharField(max_length=253, blank=True)
    name = models.CharField(max_length=253, blank=True)
    result = models.CharField(max_length=8)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["app_path", "policy", "rule", "kind", "namespace", "name"]
        indexes = [
            # the findings of one scan, by app, on the Guardrails page
            models.Index(fields=["scan", "app_path"], name="guardrailfinding_scan_app"),
        ]

    def __str__(self) -> str:
        return f"{self.app_path} {self.policy}/{self.rule}: {self.result}"


class WebhookDelivery(models.Model):
    """A GitHub webhook delivery the portal processed, known by GitHub's delivery id.

    GitHub's redelivery reuses the id, so a delivery recorded here is answered without effect.
    The row is written in the same transaction as the delivery's effects: a delivery that
    failed half-way leaves no row and is processed again when GitHub redelivers it.
    """

    delivery_id = models.CharField(max_length=64, unique=True, help_text="X-GitHub-Delivery")
    event = models.CharField(max_length=64, help_text="X-GitHub-Event, e.g. pull_request or push")
    action = models.CharField(max_length=64, blank=True)
    #: What the portal did with it, in words (e.g. "pull request #12 merged").
    outcome = models.CharField(max_length=500, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            # pruning deliveries older than the retention period
            models.Index(fields=["received_at"], name="webhookdelivery_received"),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.delivery_id}"


class PullRequestPoll(models.Model):
    """Where the pull-request poller got to in one repository, for installations without webhooks.

    `cursor` is the newest `updated_at` GitHub reported (GitHub's clock, not ours), so the next
    poll lists only what changed since; `next_poll_at` holds a rate limit's wait.
    """

    provider = models.CharField(max_length=16, choices=GitOpsProviderName.choices)
    repository = models.CharField(max_length=500)
    cursor = models.DateTimeField(null=True, blank=True)
    polled_at = models.DateTimeField(null=True, blank=True)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # the poller's get_or_create per repository
            models.UniqueConstraint(fields=["provider", "repository"], name="pullrequestpoll_repository_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.repository}"


# --- Live status ------------------------------------------------------------------------------


class WorkloadKind(models.TextChoices):
    APPLICATION = "Application", "ArgoCD Application"
    INFERENCE_SERVICE = "InferenceService", "KServe InferenceService"


class StatusEventKind(models.TextChoices):
    APPEARED = "appeared", "Appeared in the cluster"
    SYNC = "sync", "Sync status changed"
    SYNCED = "synced", "Synced to a new revision"
    DRIFT = "drift", "Drifted from Git"
    SELF_HEALED = "self_healed", "Self-healed"
    HEALTH = "health", "Health changed"
    SYNC_FAILED = "sync_failed", "Sync failed"
    READY = "ready", "Ready"
    NOT_READY = "not_ready", "Not ready"
    URL = "url", "URL changed"
    GONE = "gone", "Gone from the cluster"
    FIRST_RESPONSE = "first_response", "First response"


class ClusterPoll(models.Model):
    """How the status poller last got on with one cluster: the connection's health.

    A row is `stale` when the last attempt failed: its WorkloadStatus rows are then the last
    known state, as old as `last_success_at`.
    """

    cluster = models.OneToOneField(Cluster, on_delete=models.CASCADE, related_name="poll")
    polled_at = models.DateTimeField(null=True, blank=True, help_text="The last attempt, successful or not")
    last_success_at = models.DateTimeField(null=True, blank=True)
    #: The last failure in words (e.g. "cannot reach the cluster: connection refused"); empty after a success.
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    #: List calls made by the last cycle (constant per cluster, whatever the number of endpoints).
    list_calls = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.cluster} polled {self.polled_at}"

    @property
    def stale(self) -> bool:
        return bool(self.last_error)


class WorkloadStatus(models.Model):
    """The last polled state of one ArgoCD Application or KServe InferenceService on a cluster.

    Keyed on (cluster, kind, namespace, name) with a nullable link to the catalog entity, so
    unregistered workloads and several clusters fit. Written only when the object's
    resourceVersion (or its catalog link) changes; `last_seen_at` is the time of that write,
    and the cluster's `ClusterPoll.last_success_at` says when it was last confirmed.
    """

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="workloads")
    kind = models.CharField(max_length=32, choices=WorkloadKind.choices)
    namespace = models.CharField(max_length=253)
    name = models.CharField(max_length=253)
    entity = models.ForeignKey(
        "catalog.Entity", null=True, blank=True, on_delete=models.SET_NULL, related_name="workloads"
    )
    uid = models.CharField(max_length=64, blank=True)
    resource_version = models.CharField(max_length=64, blank=True)
    labels = models.JSONField(default=dict, blank=True)
    # Application
    source_path = models.CharField(max_length=500, blank=True, help_text="spec.source.path, e.g. apps/fraud-scorer")
    sync_status = models.CharField(max_length=16, blank=True)
    revision = models.CharField(max_length=64, blank=True)
    health_status = models.CharField(max_length=16, blank=True)
    health_message = models.TextField(blank=True)
    operation_phase = models.CharField(max_length=16, blank=True)
    operation_message = models.TextField(blank=True)
    reconciled_at = models.CharField(max_length=32, blank=True, help_text="status.reconciledAt as ArgoCD wrote it")
    # InferenceService
    ready = models.CharField(max_length=8, blank=True, help_text="The Ready condition: True, False or Unknown")
    url = models.CharField(max_length=500, blank=True)
    address = models.CharField(max_length=500, blank=True)
    latest_ready_revision = models.CharField(max_length=253, blank=True)
    traffic = models.JSONField(default=list, blank=True)
    model_status = models.JSONField(default=dict, blank=True)
    storage_uri = models.CharField(max_length=1000, blank=True)
    # Both
    conditions = models.JSONField(default=list, blank=True)
    #: The state in words, with the fix where known (deployments.argocd/kserve.in_words).
    summary = models.TextField(blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    #: When a successful poll no longer found it; null while it exists.
    gone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["cluster", "kind", "namespace", "name"]
        constraints = [
            # one row per object; the poller's lookup by key
            models.UniqueConstraint(fields=["cluster", "kind", "namespace", "name"], name="workloadstatus_key"),
        ]
        indexes = [
            # an entity page's live status
            models.Index(fields=["entity", "kind"], name="workloadstatus_entity"),
        ]

    def __str__(self) -> str:
        return f"{self.cluster} {self.kind} {self.namespace}/{self.name}"


class StatusEvent(models.Model):
    """A transition of a workload's status (sync, health, ready, drift, ...), never one per poll."""

    workload = models.ForeignKey(WorkloadStatus, on_delete=models.CASCADE, related_name="events")
    #: Copied from the workload when the event is made: an entity's timeline is one indexed query.
    entity = models.ForeignKey(
        "catalog.Entity", null=True, blank=True, on_delete=models.SET_NULL, related_name="status_events"
    )
    kind = models.CharField(max_length=16, choices=StatusEventKind.choices)
    from_value = models.CharField(max_length=64, blank=True)
    to_value = models.CharField(max_length=64, blank=True)
    revision = models.CharField(max_length=64, blank=True)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # a workload's timeline, oldest first
            models.Index(fields=["workload", "created_at"], name="statusevent_workload"),
            # an entity's timeline, oldest first
            models.Index(fields=["entity", "created_at"], name="statusevent_entity"),
            # pruning events older than PORTAL_RETENTION_DAYS
            models.Index(fields=["created_at"], name="statusevent_created"),
        ]

    def __str__(self) -> str:
        return f"{self.workload} {self.kind} {self.from_value}→{self.to_value}"


class CostScope(models.TextChoices):
    """What one cost row is the cost of: an endpoint (namespace/controller), an owner, a cost centre."""

    ENDPOINT = "endpoint", "Endpoint"
    OWNER = "owner", "Owner"
    COST_CENTER = "cost-center", "Cost centre"


class CostFigures(models.Model):
    """The figures OpenCost gives for one allocation, in the cluster's currency.

    Costs are stored as decimals to the millionth; efficiencies as fractions (0.25 = 25 %),
    null when OpenCost gave none (no request to compare with).
    """

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="+")
    scope = models.CharField(max_length=16, choices=CostScope.choices)
    #: The allocation's name as aggregated: `namespace/controller` for an endpoint, the owner
    #: group or the cost-centre code otherwise.
    key = models.CharField(max_length=500)
    entity = models.ForeignKey(
        "catalog.Entity", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    #: The entity's ref when it was matched, kept as text so the figures survive a re-ingestion.
    entity_ref = models.CharField(max_length=400, blank=True)
    namespace = models.CharField(max_length=253, blank=True)
    name = models.CharField(max_length=253, blank=True)
    owner = models.CharField(max_length=253, blank=True)
    cost_center = models.CharField(max_length=253, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    cpu_cost = models.DecimalField(max_digits=16, decimal_places=6, default=0)
    gpu_cost = models.DecimalField(max_digits=16, decimal_places=6, default=0)
    ram_cost = models.DecimalField(max_digits=16, decimal_places=6, default=0)
    network_cost = models.DecimalField(max_digits=16, decimal_places=6, default=0)
    pv_cost = models.DecimalField(max_digits=16, decimal_places=6, default=0)
    total_cost = models.DecimalField(max_digits=16, decimal_places=6, default=0)
    cpu_core_request_average = models.FloatField(null=True, blank=True)
    cpu_core_usage_average = models.FloatField(null=True, blank=True)
    ram_byte_request_average = models.FloatField(null=True, blank=True)
    ram_byte_usage_average = models.FloatField(null=True, blank=True)
    cpu_efficiency = models.FloatField(null=True, blank=True)
    ram_efficiency = models.FloatField(null=True, blank=True)
    total_efficiency = models.FloatField(null=True, blank=True)
    minutes = models.FloatField(default=0)
    fetched_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True


class CostSnapshot(CostFigures):
    """One day's cost of an endpoint, an owner or a cost centre on a cluster (UTC days).

    The cost beat job stores yesterday and today; re-running a day replaces its rows. Rows
    older than PORTAL_RETENTION_DAYS are rolled up into CostMonth, then deleted.
    """

    day = models.DateField()

    class Meta:
        ordering = ["day", "scope", "key"]
        constraints = [
            # re-running a day replaces its rows
            models.UniqueConstraint(fields=["cluster", "day", "scope", "key"], name="costsnapshot_key"),
        ]
        indexes = [
            # the Costs page: a window of days for one scope
            models.Index(fields=["scope", "day"], name="costsnapshot_scope_day"),
            # a group page's cost, a cost centre's spend against its budget
            models.Index(fields=["owner", "day"], name="costsnapshot_owner_day"),
            models.Index(fields=["cost_center", "day"], name="costsnapshot_cc_day"),
            # an endpoint page's cost
            models.Index(fields=["entity_ref", "day"], name="costsnapshot_entity_day"),
            # pruning past retention
            models.Index(fields=["day"], name="costsnapshot_day"),
        ]

    def __str__(self) -> str:
        return f"{self.cluster} {self.day} {self.scope} {self.key}: {self.total_cost} {self.currency}"


class CostMonth(CostFigures):
    """A month's cost of an endpoint, an owner or a cost centre: daily snapshots rolled up."""

    month = models.DateField(help_text="The first day of the month")
    days = models.PositiveSmallIntegerField(default=0, help_text="Daily snapshots rolled into it")

    class Meta:
        ordering = ["month", "scope", "key"]
        constraints = [
            models.UniqueConstraint(fields=["cluster", "month", "scope", "key"], name="costmonth_key"),
        ]
        indexes = [
            models.Index(fields=["scope", "month"], name="costmonth_scope_month"),
        ]

    def __str__(self) -> str:
        return f"{self.cluster} {self.month:%Y-%m} {self.scope} {self.key}: {self.total_cost} {self.currency}"


class CostPoll(models.Model):
    """How the cost job last got on with a cluster's OpenCost: figures older than
    `last_success_at` are shown with their age, never as zero."""

    cluster = models.OneToOneField(Cluster, on_delete=models.CASCADE, related_name="cost_poll")
    polled_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.cluster} costs polled {self.polled_at}"

    @property
    def stale(self) -> bool:
        return bool(self.last_error)


class Budget(models.Model):
    """A monthly budget for one cost centre, set by a platform admin."""

    cost_center = models.CharField(max_length=253, unique=True)
    amount = models.DecimalField(max_digits=14, decimal_places=2, help_text="Per calendar month")
    currency = models.CharField(max_length=3, default="USD")
    note = models.CharField(max_length=500, blank=True)
    updated_by = models.CharField(max_length=150, blank=True, help_text="A username, kept as text")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["cost_center"]

    def __str__(self) -> str:
        return f"{self.cost_center}: {self.amount} {self.currency}/month"


class InferenceProtocol(models.TextChoices):
    V1 = "v1", "KServe V1 (predict)"
    V2 = "v2", "Open Inference Protocol V2 (infer)"


class EndpointExample(models.Model):
    """The example request saved on a model endpoint: "try it" starts from it, and a worker
    sends it once after the endpoint first becomes Ready to time the first response."""

    entity_ref = models.CharField(max_length=400, unique=True, help_text="The endpoint's entity ref")
    protocol = models.CharField(max_length=2, choices=InferenceProtocol.choices, default=InferenceProtocol.V1)
    #: The request body as typed (JSON text), at most PORTAL_TRY_IT_MAX_BYTES.
    payload = models.TextField()
    updated_by = models.CharField(max_length=150, blank=True, help_text="A username, kept as text")
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.entity_ref} ({self.protocol})"
