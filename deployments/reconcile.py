"""Reconciliation between the catalog and the clusters, both ways, from the database only.

- Unregistered: Applications and InferenceServices the poller saw that no catalog entity
  claims. An InferenceService is paired with the Application that applied it (ArgoCD's
  tracking label `app.kubernetes.io/instance`, or the same name).
- Missing: catalog model endpoints whose Application or InferenceService went from the
  cluster, or never appeared although their pull request merged (or they entered the catalog)
  more than MISSING_AFTER before the cluster's last successful poll.
- Label disagreements: a live InferenceService whose `owner` / `cost-center` labels differ
  from the catalog's owner and cost centre (the labels OpenCost bills by).

`register` turns an unregistered workload into a catalog entry. The entry has no location,
like the scaffolder's pending entries: a location refresh only orphans what that location
emitted, so the entry survives every refresh, and once the same entity appears in the GitOps
repository the repository's location takes it over (no conflict: it was nobody's). Its
annotations link it to the workloads, which are linked at once and again by every poll.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Exists, Max, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from catalog import store
from catalog.choices import EntityStatus
from catalog.models import Entity
from catalog.validation import validate_entity
from deployments.costs.fetch import group_name
from deployments.models import ClusterPoll, PullRequest, StatusEvent, WorkloadKind, WorkloadStatus
from portal import audit, identity

#: How long after a merge (or after entering the catalog) an endpoint may take to appear.
MISSING_AFTER = timedelta(minutes=10)
INSTANCE_LABEL = "app.kubernetes.io/instance"
NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


class RegisterError(Exception):
    """The workload cannot be registered; the message says why and what to do."""


# --- Unregistered ----------------------------------------------------------------------------------


@dataclass
class Unregistered:
    """An endpoint running on a cluster with no catalog entry: its Application and/or InferenceService."""

    cluster: str
    application: WorkloadStatus | None = None
    inference_service: WorkloadStatus | None = None

    @property
    def name(self) -> str:
        return (self.inference_service or self.application).name

    @property
    def labels(self) -> dict:
        isvc, app = self.inference_service, self.application
        return {**(app.labels if app else {}), **(isvc.labels if isvc else {})}

    @property
    def owner(self) -> str:
        return str(self.labels.get("owner", ""))

    @property
    def cost_center(self) -> str:
        return str(self.labels.get("cost-center", ""))

    @property
    def isvc_key(self) -> str:
        isvc = self.inference_service
        return f"{isvc.namespace}/{isvc.name}" if isvc else ""

    @property
    def app_name(self) -> str:
        return self.application.name if self.application else ""

    @property
    def summary(self) -> str:
        workload = self.inference_service or self.application
        return workload.summary


def unregistered(owner_names: list[str] | None = None, cluster: str = "") -> list[Unregistered]:
    """Unclaimed workloads grouped into endpoints (one query); optionally only those labelled
    with one of `owner_names`, or on one cluster."""
    rows = WorkloadStatus.objects.filter(entity__isnull=True, gone_at__isnull=True).select_related("cluster")
    if cluster:
        rows = rows.filter(cluster__name=cluster)
    rows = list(rows.order_by("cluster__name", "kind", "namespace", "name"))
    apps = {(row.cluster.name, row.name): row for row in rows if row.kind == WorkloadKind.APPLICATION}
    found: dict[tuple[str, str], Unregistered] = {}
    for row in rows:
        if row.kind != WorkloadKind.INFERENCE_SERVICE:
            continue
        app_name = (row.labels or {}).get(INSTANCE_LABEL) or row.name
        app = apps.pop((row.cluster.name, app_name), None)
        found[(row.cluster.name, f"isvc:{row.namespace}/{row.name}")] = Unregistered(row.cluster.name, app, row)
    for (cluster_name, name), app in apps.items():
        found[(cluster_name, f"app:{name}")] = Unregistered(cluster_name, app, None)
    items = sorted(found.values(), key=lambda item: (item.cluster, item.name))
    if owner_names is not None:
        wanted = {name.lower() for name in owner_names}
        items = [item for item in items if item.owner.lower() in wanted]
    return items


def can_register(user, owner_label: str) -> bool:
    """Admins, and members of the group the workload's `owner` label names."""
    # can_change lets admins through first, whether or not the workload names an owner.
    return identity.can_change(user, f"group:default/{owner_label.lower()}" if owner_label else None)


# --- Registering ------------------------------------------------------------------------------------


def document_for(item: Unregistered) -> dict:
    """The catalog entry for an unregistered endpoint: owner and cost centre from its labels."""
    labels = item.labels
    owner = str(labels.get("owner") or settings.PORTAL_ADMIN_GROUP).lower()
    annotations = {"neuroscale.io/cluster": item.cluster}
    if item.inference_service:
        annotations["neuroscale.io/inference-service"] = item.isvc_key
        annotations["backstage.io/kubernetes-namespace"] = item.inference_service.namespace
    if item.application:
        annotations["argocd/app-name"] = item.application.name
        path = item.application.source_path
        if path.startswith("apps/") and path.count("/") == 1:
            annotations["neuroscale.io/gitops-path"] = path
    metadata = {
        "name": item.name,
        "description": f"Registered from what runs on the cluster {item.cluster}.",
        "annotations": annotations,
    }
    if labels.get("cost-center"):
        metadata["labels"] = {"cost-center": str(labels["cost-center"])}
    return {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": metadata,
        "spec": {"type": "model-endpoint", "lifecycle": "production", "owner": owner},
    }


def find(cluster: str, application: str = "", inference_service: str = "") -> Unregistered:
    """The unregistered endpoint a Register button names; RegisterError when it is not (or no longer) one."""
    if not application and not inference_service:
        raise RegisterError("Name the Application or the InferenceService to register.")
    for item in unregistered(cluster=cluster):
        if (inference_service and item.isvc_key == inference_service) or (
            not inference_service and item.app_name == application and item.inference_service is None
        ):
            return item
    what = inference_service or application
    raise RegisterError(f"{what} on {cluster or 'the cluster'} is not an unregistered workload (any more): reload the board.")


def register(user, item: Unregistered) -> Entity:
    """Create the catalog entry for `item`, link its workloads, audit it. PermissionDenied for
    someone who neither administers the platform nor belongs to the owning group."""
    if not can_register(user, item.owner):
        owner = f"the group {item.owner}" if item.owner else "a platform admin (it has no owner label)"
        raise PermissionDenied(f"Only {owner} may register {item.name}.")
    if not NAME.match(item.name):
        raise RegisterError(f"{item.name} is not a valid catalog name: register it from the GitOps repository instead.")
    document = document_for(item)
    issues = validate_entity(document)
    if issues:
        raise RegisterError(f"The catalog entry would be invalid: {issues[0].field}: {issues[0].message}")
    ref = store.document_ref(document)
    with transaction.atomic():
        if Entity.objects.filter(ref=ref).exists():
            raise RegisterError(
                f"The catalog already has {ref}: add the annotation neuroscale.io/inference-service: "
                f"{item.isvc_key or item.name} to it instead, and the next poll links them."
            )
        entity = store.upsert(document, status=EntityStatus.ACTIVE).entity
        workloads = [w.pk for w in (item.application, item.inference_service) if w is not None]
        WorkloadStatus.objects.filter(pk__in=workloads, entity__isnull=True).update(entity=entity)
        # Their events so far join the new entry's timeline.
        StatusEvent.objects.filter(workload_id__in=workloads, entity__isnull=True).update(entity=entity)
        audit.record(
            user, "deployments.workload.registered", ref, cluster=item.cluster,
            application=item.app_name, inference_service=item.isvc_key, uid=str(entity.uid),
        )
    return entity


# --- Missing ------------------------------------------------------------------------------------------


@dataclass
class Missing:
    entity: Entity
    reason: str
    since: datetime | None = None
    gone: list[str] = field(default_factory=list)


def missing(entities: QuerySet, now: datetime | None = None) -> list[Missing]:
    """Endpoints among `entities` that should run but do not (two queries)."""
    now = now or timezone.now()
    last_poll = ClusterPoll.objects.filter(last_success_at__isnull=False).aggregate(at=Max("last_success_at"))["at"]
    live = WorkloadStatus.objects.filter(entity=OuterRef("pk"), gone_at__isnull=True)
    gone = WorkloadStatus.objects.filter(entity=OuterRef("pk"), gone_at__isnull=False).order_by("-gone_at")
    merged = PullRequest.objects.filter(entity_ref=OuterRef("ref"), merged_at__isnull=False).order_by("-merged_at")
    rows = (
        entities.filter(status=EntityStatus.ACTIVE)
        .annotate(
            has_live_app=Exists(live.filter(kind=WorkloadKind.APPLICATION)),
            has_live_isvc=Exists(live.filter(kind=WorkloadKind.INFERENCE_SERVICE)),
            gone_app=Exists(gone.filter(kind=WorkloadKind.APPLICATION)),
            gone_isvc=Exists(gone.filter(kind=WorkloadKind.INFERENCE_SERVICE)),
            gone_at=Subquery(gone.values("gone_at")[:1]),
            merged_at=Subquery(merged.values("merged_at")[:1]),
        )
        .filter(Q(has_live_app=False) | Q(has_live_isvc=False))
        .order_by("ref")
    )
    found = []
    for entity in rows:
        what = [kind for kind, gone, live in (("Application", entity.gone_app, entity.has_live_app),
                                               ("InferenceService", entity.gone_isvc, entity.has_live_isvc))
                if gone and not live]
        if what:
            verb = "is" if len(what) == 1 else "are"
            found.append(Missing(entity, f"Its {' and '.join(what)} {verb} gone from the cluster.", entity.gone_at))
        elif not entity.has_live_app and not entity.has_live_isvc and last_poll is not None:
            expected = (entity.merged_at or entity.created_at) + MISSING_AFTER
            if last_poll >= expected:
                since = entity.merged_at or entity.created_at
                why = "its pull request merged" if entity.merged_at else "it entered the catalog"
                found.append(Missing(entity, f"Never appeared on a cluster, although {why} {_ago(now - since)} ago.", since))
    return found


def _ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // 1440} days"


# --- Label disagreements --------------------------------------------------------------------------------


@dataclass
class Disagreement:
    entity: Entity
    workload: WorkloadStatus
    #: (label, on the cluster, in the catalog) for each label that differs.
    differences: list[tuple[str, str, str]]


def disagreements(entities: QuerySet) -> list[Disagreement]:
    """Live InferenceServices of `entities` whose owner or cost-center labels differ from the catalog (one query)."""
    rows = (
        WorkloadStatus.objects.filter(
            kind=WorkloadKind.INFERENCE_SERVICE, gone_at__isnull=True, entity__in=entities.order_by().values("pk")
        )
        .select_related("entity", "cluster")
        .order_by("entity__ref", "cluster__name")
    )
    found = []
    for workload in rows:
        labels = workload.labels or {}
        entity = workload.entity
        differences = []
        pairs = (("owner", group_name(entity.owner_ref)), ("cost-center", entity.cost_center))
        for label, catalog_value in pairs:
            live_value = str(labels.get(label, ""))
            if live_value.lower() != (catalog_value or "").lower():
                differences.append((label, live_value, catalog_value))
        if differences:
            found.append(Disagreement(entity, workload, differences))
    return found
