"""The live-status poll: one cycle per cluster brings WorkloadStatus, StatusEvent and QuotaUsage
up to the cluster's state.

A cycle makes a constant number of list calls (Applications in ArgoCD's namespace, then
InferenceServices and ResourceQuotas per watched namespace, or across all namespaces when
none is named), whatever the number of endpoints, and a constant number of queries. A row is
written only when its object's resourceVersion (or its catalog link) changed; an event is
recorded on each transition, never on each poll. When the cluster cannot be reached, the
error is recorded on its ClusterPoll and the rows keep their last state: stale, not lost.
"""

from __future__ import annotations

import gc
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import structlog
import urllib3
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, OuterRef, Subquery
from django.utils import timezone
from kubernetes import client, config
from kubernetes.client import rest

from catalog.models import Entity, EntitySearch
from deployments import argocd, kserve
from deployments.clusters import sync_clusters
from deployments.models import (
    Cluster,
    ClusterPoll,
    QuotaUsage,
    StatusEvent,
    StatusEventKind,
    WorkloadKind,
    WorkloadStatus,
)

log = structlog.get_logger(__name__)

#: Catalog annotations that link an entity to its workloads (DESIGN §4.1), as EntitySearch keys.
ANNOTATION_KEYS = {
    "argocd/app-name": "metadata.annotations.argocd/app-name",
    "inference-service": "metadata.annotations.neuroscale.io/inference-service",
    "kubernetes-id": "metadata.annotations.backstage.io/kubernetes-id",
    "kubernetes-namespace": "metadata.annotations.backstage.io/kubernetes-namespace",
    "gitops-path": "metadata.annotations.neuroscale.io/gitops-path",
    "cluster": "metadata.annotations.neuroscale.io/cluster",
}
UNREACHABLE = (client.ApiException, urllib3.exceptions.HTTPError, OSError, socket.timeout, config.ConfigException)


@dataclass
class PollResult:
    """What one cycle did on one cluster."""

    cluster: str
    list_calls: int = 0
    seen: int = 0
    written: int = 0
    events: int = 0
    gone: int = 0
    error: str = ""
    event_kinds: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Observed:
    """One polled object with the columns its row should hold."""

    kind: str
    namespace: str
    name: str
    resource_version: str
    columns: dict


# --- Cluster access ------------------------------------------------------------------------------


def without_retries(api_client: client.ApiClient) -> client.ApiClient:
    """The same client, failing at once: urllib3 otherwise retries a refused or timed-out
    connection three times with backoff, which turns one dead cluster into a long wait (the
    next poll is the retry)."""
    api_client.configuration.retries = False
    api_client.rest_client = rest.RESTClientObject(api_client.configuration)
    return api_client


def api_client_for(cluster: Cluster) -> client.ApiClient:
    """A `kubernetes` client for the cluster: the pod's service account, or PORTAL_KUBECONFIG's
    context; without urllib3's retries."""
    if cluster.in_cluster:
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)
        return without_retries(client.ApiClient(configuration))
    if not settings.PORTAL_KUBECONFIG:
        raise config.ConfigException(
            "no cluster configured: set PORTAL_KUBECONFIG to a kubeconfig file (in development, "
            "the sandbox writes one: python -m sandbox --kubeconfig var/sandbox.kubeconfig)"
        )
    if not Path(settings.PORTAL_KUBECONFIG).is_file():
        raise config.ConfigException(
            f"no kubeconfig at {settings.PORTAL_KUBECONFIG} (yet): in development, `make run` starts the "
            "sandbox cluster, which writes it; otherwise set PORTAL_KUBECONFIG"
        )
    return without_retries(
        config.new_client_from_config(config_file=settings.PORTAL_KUBECONFIG, context=cluster.context or None)
    )


def describe_error(exc: BaseException) -> str:
    """A connection failure in words, without anything secret (no headers, no bodies)."""
    if isinstance(exc, client.ApiException):
        return f"the cluster answered {exc.status} {exc.reason}"
    if isinstance(exc, config.ConfigException):
        return f"cannot configure the cluster client: {exc}"
    text = str(exc)
    if "Connection refused" in text or "NewConnectionError" in type(exc).__name__ or "Max retries" in text:
        return "cannot reach the cluster: connection refused"
    if "timed out" in text.lower():
        return "cannot reach the cluster: timed out"
    return f"cannot reach the cluster: {type(exc).__name__}"


# --- Observing -----------------------------------------------------------------------------------


def _application(app: argocd.Application) -> Observed:
    return Observed(WorkloadKind.APPLICATION, app.namespace, app.name, app.resource_version, {
        "uid": app.uid,
        "labels": app.labels,
        "source_path": app.source_path,
        "sync_status": app.sync_status,
        "revision": app.revision,
        "health_status": app.health_status,
        "health_message": app.health_message,
        "operation_phase": app.operation_phase,
        "operation_message": app.operation_message,
        "reconciled_at": app.reconciled_at,
        "conditions": app.as_dict()["conditions"],
        "summary": argocd.in_words(app),
    })


def _inference_service(isvc: kserve.InferenceService) -> Observed:
    return Observed(WorkloadKind.INFERENCE_SERVICE, isvc.namespace, isvc.name, isvc.resource_version, {
        "uid": isvc.uid,
        "labels": isvc.labels,
        "ready": isvc.ready,
        "url": isvc.url,
        "address": isvc.address,
        "latest_ready_revision": isvc.latest_ready_revision,
        "traffic": list(isvc.traffic),
        "model_status": isvc.model_status,
        "storage_uri": isvc.storage_uri,
        "conditions": isvc.conditions_as_list(),
        "summary": kserve.in_words(isvc),
    })


@dataclass(frozen=True)
class Listed:
    """One listed object, kept as the API returned it: parsed into an Observed only when its
    resourceVersion differs from its row's, so a cycle with no change parses nothing."""

    kind: str
    namespace: str
    name: str
    resource_version: str
    raw: dict

    @classmethod
    def of(cls, kind: str, raw: dict) -> Listed:
        metadata = raw.get("metadata") or {}
        return cls(kind, str(metadata.get("namespace") or ""), str(metadata.get("name") or ""),
                   str(metadata.get("resourceVersion") or ""), raw)

    @property
    def labels(self) -> dict:
        return (self.raw.get("metadata") or {}).get("labels") or {}

    @property
    def source_path(self) -> str:
        return str(((self.raw.get("spec") or {}).get("source") or {}).get("path") or "")

    def observe(self) -> Observed:
        if self.kind == WorkloadKind.APPLICATION:
            return _application(argocd.parse(self.raw))
        return _inference_service(kserve.parse(self.raw))


def _list_cluster(cluster: Cluster, api_client: client.ApiClient) -> tuple[list[Listed], list[dict], int]:
    """Every Application, InferenceService and ResourceQuota to poll; (objects, quotas, list calls)."""
    custom = client.CustomObjectsApi(api_client)
    calls = 1
    # Reference: https://kubernetes.io/docs/reference/using-api/api-concepts/#collections
    # (the same calls as argocd.list_applications and kserve.list_inference_services, kept unparsed)
    response = custom.list_namespaced_custom_object(
        argocd.GROUP, argocd.VERSION, cluster.argocd_namespace, argocd.PLURAL, _request_timeout=argocd.REQUEST_TIMEOUT
    )
    listed = [Listed.of(WorkloadKind.APPLICATION, item) for item in response.get("items") or []]
    namespaces = list(cluster.watched_namespaces) or [None]
    core = client.CoreV1Api(api_client)
    quotas: list[dict] = []
    for namespace in namespaces:
        calls += 2
        if namespace:
            response = custom.list_namespaced_custom_object(
                kserve.GROUP, kserve.VERSION, namespace, kserve.PLURAL, _request_timeout=kserve.REQUEST_TIMEOUT
            )
        else:
            response = custom.list_cluster_custom_object(
                kserve.GROUP, kserve.VERSION, kserve.PLURAL, _request_timeout=kserve.REQUEST_TIMEOUT
            )
        listed += [Listed.of(WorkloadKind.INFERENCE_SERVICE, item) for item in response.get("items") or []]
        # Reference: https://kubernetes.io/docs/reference/kubernetes-api/policy-resources/resource-quota-v1/#list-list-or-watch-objects-of-kind-resourcequota
        if namespace:
            response = core.list_namespaced_resource_quota(namespace, _request_timeout=kserve.REQUEST_TIMEOUT)
        else:
            response = core.list_resource_quota_for_all_namespaces(_request_timeout=kserve.REQUEST_TIMEOUT)
        quotas += [
            {
                "namespace": quota.metadata.namespace,
                "name": quota.metadata.name,
                "used": dict((quota.status.used if quota.status else None) or {}),
                "hard": dict((quota.status.hard if quota.status else None) or (quota.spec.hard if quota.spec else None) or {}),
            }
            for quota in response.items
        ]
    return listed, quotas, calls


# --- Matching with the catalog ---------------------------------------------------------------------


class EntityIndex:
    """The catalog's annotation links, read in one query, for matching workloads to entities."""

    def __init__(self, cluster: Cluster):
        rows = EntitySearch.objects.filter(key__in=ANNOTATION_KEYS.values()).values_list("entity_id", "key", "value")
        by_entity: dict[int, dict[str, str]] = {}
        for entity_id, key, value in rows:
            if value is not None:
                by_entity.setdefault(entity_id, {})[key] = value
        self.apps: dict[str, int] = {}
        self.isvcs: dict[tuple[str, str], int] = {}
        # Later passes never replace an earlier match: the explicit annotations win.
        for entity_id, values in sorted(by_entity.items()):
            named = values.get(ANNOTATION_KEYS["cluster"])
            if named and named != cluster.name.lower():
                continue
            if app := values.get(ANNOTATION_KEYS["argocd/app-name"]):
                self.apps.setdefault(app, entity_id)
            if target := values.get(ANNOTATION_KEYS["inference-service"]):
                namespace, _, name = target.rpartition("/")
                self.isvcs.setdefault((namespace or "default", name), entity_id)
        for entity_id, values in sorted(by_entity.items()):
            named = values.get(ANNOTATION_KEYS["cluster"])
            if named and named != cluster.name.lower():
                continue
            path = values.get(ANNOTATION_KEYS["gitops-path"], "")
            if path.startswith("apps/") and path.count("/") == 1:
                self.apps.setdefault(path.removeprefix("apps/"), entity_id)
            if kubernetes_id := values.get(ANNOTATION_KEYS["kubernetes-id"]):
                namespace = values.get(ANNOTATION_KEYS["kubernetes-namespace"]) or "default"
                self.isvcs.setdefault((namespace, kubernetes_id), entity_id)
                self.apps.setdefault(kubernetes_id, entity_id)

    def match_object(self, kind: str, namespace: str, name: str, source_path: str, labels: dict) -> int | None:
        if kind == WorkloadKind.APPLICATION:
            entity = self.apps.get(name)
            if entity is None and source_path.startswith("apps/"):
                entity = self.apps.get(source_path.removeprefix("apps/"))
            return entity
        kubernetes_id = labels.get("backstage.io/kubernetes-id")
        return self.isvcs.get((namespace, name)) or (self.isvcs.get((namespace, kubernetes_id)) if kubernetes_id else None)


# --- Transitions ---------------------------------------------------------------------------------


def transitions(row: WorkloadStatus | None, new: Observed) -> list[tuple[str, str, str, str]]:
    """(kind, from, to, message) for each transition from `row` to `new`; drift and self-heal named."""
    columns = new.columns
    if row is None or row.gone_at is not None:
        events = [(StatusEventKind.APPEARED, "", new.kind, columns["summary"])]
        if new.kind == WorkloadKind.INFERENCE_SERVICE and columns["ready"] == "True":
            events.append((StatusEventKind.READY, "", "True", columns["url"]))
        elif new.kind == WorkloadKind.APPLICATION:
            # A poll slower than the cluster may see an app already synced and healthy: the
            # timeline still gets each stage.
            if columns["sync_status"] == "Synced":
                events.append((StatusEventKind.SYNCED, "", "Synced", columns["summary"]))
            if columns["health_status"] == "Healthy":
                events.append((StatusEventKind.HEALTH, "", "Healthy", columns["summary"]))
        return events
    events = []
    if new.kind == WorkloadKind.APPLICATION:
        old_sync, new_sync = row.sync_status, columns["sync_status"]
        if old_sync != new_sync:
            if old_sync == "Synced" and new_sync == "OutOfSync":
                events.append((StatusEventKind.DRIFT, old_sync, new_sync, columns["summary"]))
            elif new_sync == "Synced" and old_sync == "OutOfSync" and row.revision and row.revision == columns["revision"]:
                events.append((StatusEventKind.SELF_HEALED, old_sync, new_sync, f"Back to Git at {columns['revision'][:7]}"))
            elif new_sync == "Synced":
                events.append((StatusEventKind.SYNCED, old_sync, new_sync, columns["summary"]))
            else:
                events.append((StatusEventKind.SYNC, old_sync, new_sync, columns["summary"]))
        elif new_sync == "Synced" and row.revision != columns["revision"]:
            events.append((StatusEventKind.SYNCED, row.revision[:7], columns["revision"][:7], columns["summary"]))
        if row.health_status != columns["health_status"]:
            events.append((StatusEventKind.HEALTH, row.health_status, columns["health_status"], columns["summary"]))
        if columns["operation_phase"] in ("Failed", "Error") and row.operation_phase != columns["operation_phase"]:
            events.append((StatusEventKind.SYNC_FAILED, row.operation_phase, columns["operation_phase"], columns["summary"]))
    else:
        old_ready, new_ready = row.ready, columns["ready"]
        if old_ready != new_ready:
            kind = StatusEventKind.READY if new_ready == "True" else StatusEventKind.NOT_READY
            events.append((kind, old_ready, new_ready, columns["url"] if new_ready == "True" else columns["summary"]))
        elif new_ready == "True" and row.url != columns["url"]:
            events.append((StatusEventKind.URL, "", "", columns["url"]))
    return events


# --- The cycle -----------------------------------------------------------------------------------


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Decoding a list of thousands of objects makes millions of dicts and lists, and every
    collection the allocator triggers meanwhile walks all live objects: at 10,000 endpoints that
    was most of an unchanged cycle. They hold no cycles (reference counting frees them), so the
    collector waits until the cycle is over."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def poll(cluster: Cluster, api_client: client.ApiClient | None = None) -> PollResult:
    """One poll cycle on one cluster. Never raises for a cluster that cannot be reached."""
    with _collector_paused():
        return _poll(cluster, api_client)


def _poll(cluster: Cluster, api_client: client.ApiClient | None) -> PollResult:
    result = PollResult(cluster.name)
    started = timezone.now()
    owned = api_client is None
    try:
        if api_client is None:
            api_client = api_client_for(cluster)
        listed, quotas, result.list_calls = _list_cluster(cluster, api_client)
    except UNREACHABLE as exc:
        result.error = describe_error(exc)
        log.warning("status poll failed", cluster=cluster.name, error=result.error)
        ClusterPoll.objects.update_or_create(
            cluster=cluster, defaults={"polled_at": started, "last_error": result.error, "last_error_at": started}
        )
        return result
    finally:
        if owned and api_client is not None:
            api_client.close()

    ClusterPoll.objects.get_or_create(cluster=cluster)
    with transaction.atomic():
        # Two cycles that overlap (a slow cluster, a late beat) store one after the other: the
        # second reads the rows the first wrote, so it neither duplicates them nor repeats events.
        ClusterPoll.objects.select_for_update().get(cluster=cluster)
        _store(cluster, listed, started, result)
        _store_quotas(cluster, quotas, started)
        ClusterPoll.objects.update_or_create(
            cluster=cluster,
            defaults={"polled_at": started, "last_success_at": started, "last_error": "", "list_calls": result.list_calls},
        )
    return result


#: The last EntityIndex built per cluster in this process, with the catalog version it was built from.
_indexes: dict[tuple[int, str], tuple[tuple, EntityIndex]] = {}


def _entity_index(cluster: Cluster) -> tuple[EntityIndex, bool]:
    """The catalog's links for the cluster, and whether the catalog moved since this process last
    built them. The version (count, newest update, highest key) costs one aggregate query; every
    write to an entity's document moves it, and so does a deletion."""
    version = tuple(Entity.objects.aggregate(n=Count("pk"), at=Max("updated_at"), top=Max("pk")).values())
    cached = _indexes.get((cluster.pk, cluster.name))
    if cached is not None and cached[0] == version:
        return cached[1], False
    index = EntityIndex(cluster)
    _indexes[(cluster.pk, cluster.name)] = (version, index)
    return index, True


def _store(cluster: Cluster, listed: list[Listed], now, result: PollResult) -> None:
    # The rows' keys and versions only (no JSON columns): a cycle with no change reads nothing more.
    known = {
        (kind, namespace, name): (pk, version, gone_at is None, entity_id)
        for pk, kind, namespace, name, version, gone_at, entity_id in WorkloadStatus.objects.filter(
            cluster=cluster
        ).values_list("pk", "kind", "namespace", "name", "resource_version", "gone_at", "entity_id")
    }
    index, catalog_moved = _entity_index(cluster)
    relinks: list[WorkloadStatus] = []
    changed: list[tuple[Listed, int | None]] = []
    seen = set()
    for item in listed:
        key = (item.kind, item.namespace, item.name)
        seen.add(key)
        row = known.get(key)
        unchanged = row is not None and row[2] and row[1] == item.resource_version
        if unchanged and not catalog_moved:
            continue  # same object, same catalog: same link
        entity_id = index.match_object(item.kind, item.namespace, item.name, item.source_path, item.labels)
        if unchanged:
            if row[3] != entity_id:
                relinks.append(WorkloadStatus(pk=row[0], entity_id=entity_id))
            continue
        changed.append((item, entity_id))
    result.seen = len(listed)
    gone_pks = [row[0] for key, row in known.items() if key not in seen and row[2]]
    wanted = [known[(i.kind, i.namespace, i.name)][0] for i, _ in changed if (i.kind, i.namespace, i.name) in known]
    rows = {
        (row.kind, row.namespace, row.name): row
        for chunk in _chunks(wanted + gone_pks, 500)
        for row in WorkloadStatus.objects.filter(pk__in=chunk)
    }

    creates, updates, events = [], [], []
    columns: set[str] = set()
    for item, entity_id in changed:
        observed = item.observe()
        columns.update(observed.columns)
        row = rows.get((item.kind, item.namespace, item.name))
        transitions_ = transitions(row, observed)
        if row is None:
            row = WorkloadStatus(cluster=cluster, kind=item.kind, namespace=item.namespace, name=item.name, first_seen_at=now)
            creates.append(row)
        else:
            updates.append(row)
        row.entity_id = entity_id
        row.resource_version = item.resource_version
        row.gone_at = None
        row.last_seen_at = now
        for column, value in observed.columns.items():
            setattr(row, column, value)
        events += [(row, kind, old, new, observed.columns.get("revision", ""), message)
                   for kind, old, new, message in transitions_]
    gone = set(gone_pks)
    for row in rows.values():
        if row.pk in gone:
            row.gone_at = now
            updates.append(row)
            result.gone += 1
            events.append((row, StatusEventKind.GONE, row.kind, "", row.revision, "No longer in the cluster."))

    WorkloadStatus.objects.bulk_create(creates, batch_size=500)
    if updates:
        fields = ["entity", "resource_version", "gone_at", "last_seen_at", *sorted(columns)]
        WorkloadStatus.objects.bulk_update(updates, fields, batch_size=500)
    if relinks:
        WorkloadStatus.objects.bulk_update(relinks, ["entity"], batch_size=500)
        # The workload's earlier events follow it, so an entity registered later gets its timeline.
        link = WorkloadStatus.objects.filter(pk=OuterRef("workload_id")).values("entity_id")[:1]
        for chunk in _chunks([row.pk for row in relinks], 500):
            StatusEvent.objects.filter(workload_id__in=chunk).update(entity=Subquery(link))
    StatusEvent.objects.bulk_create(
        [StatusEvent(workload=row, entity_id=row.entity_id, kind=kind, from_value=old[:64], to_value=new[:64],
                     revision=revision[:64], message=message, created_at=now)
         for row, kind, old, new, revision, message in events],
        batch_size=500,
    )
    result.written = len(creates) + len(updates) + len(relinks)
    result.events = len(events)
    result.event_kinds = [str(event[1]) for event in events]


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _store_quotas(cluster: Cluster, quotas: list[dict], now) -> None:
    existing = {(row.namespace, row.quota_name): row for row in QuotaUsage.objects.filter(cluster=cluster)}
    creates, updates = [], []
    for quota in quotas:
        row = existing.pop((quota["namespace"], quota["name"]), None)
        if row is None:
            creates.append(QuotaUsage(cluster=cluster, namespace=quota["namespace"], quota_name=quota["name"],
                                      used=quota["used"], hard=quota["hard"], observed_at=now))
        elif row.used != quota["used"] or row.hard != quota["hard"]:
            row.used, row.hard, row.observed_at = quota["used"], quota["hard"], now
            updates.append(row)
    QuotaUsage.objects.bulk_create(creates)
    if updates:
        QuotaUsage.objects.bulk_update(updates, ["used", "hard", "observed_at"])
    if existing:
        QuotaUsage.objects.filter(pk__in=[row.pk for row in existing.values()]).delete()


def poll_all(client_for: Callable[[Cluster], client.ApiClient | None] = lambda cluster: None) -> list[PollResult]:
    """One cycle on every configured cluster, after bringing the Cluster rows in line with the settings."""
    return [poll(cluster, client_for(cluster)) for cluster in sync_clusters()]


def prune_events(now=None) -> int:
    """Delete status events older than PORTAL_RETENTION_DAYS; the number deleted."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.PORTAL_RETENTION_DAYS)
    deleted, _ = StatusEvent.objects.filter(created_at__lt=cutoff).delete()
    return deleted
