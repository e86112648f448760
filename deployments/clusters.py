"""The Cluster rows, kept in line with PORTAL_CLUSTERS and PORTAL_KUBECONFIG.

Settings say how to reach each cluster; the database keeps what admins set per cluster in the
Django admin (ArgoCD namespace, watched namespaces, OpenCost URL), which settings never touch
once a row exists.

- PORTAL_CLUSTERS empty: one cluster, the row named `default` (created by a migration, again
  here when absent), on the kubeconfig's current context, or in-cluster (the pod's service
  account) when the portal runs in a pod (`KUBERNETES_SERVICE_HOST` set) with no
  PORTAL_KUBECONFIG.
- PORTAL_CLUSTERS=`prod, eu=gke_eu_1, local=in-cluster`: one row per entry, named by the part
  before `=` (or after the context's non-alphanumeric characters become hyphens when there is no
  name), with that kubeconfig context or in-cluster; the first entry is the default cluster.
  New rows watch every namespace and read ArgoCD's Applications in `argocd`.
- A row that is no longer configured is kept, with its last known status, but is not polled:
  its connection shows "not configured" on the Clusters page and its endpoints go stale. Put
  it back in PORTAL_CLUSTERS to poll it again, or delete it in the Django admin (its status
  rows go with it).

`sync_clusters()` runs at the start of every poll cycle: one query when nothing changed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from deployments.models import Cluster, ClusterPoll

IN_CLUSTER = "in-cluster"
NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
#: The error a cluster that left PORTAL_CLUSTERS shows on its ClusterPoll row.
NOT_CONFIGURED = "not configured: the cluster is no longer in PORTAL_CLUSTERS, so it is not polled"


@dataclass(frozen=True)
class Wanted:
    """One cluster as the settings describe it."""

    name: str
    context: str = ""
    in_cluster: bool = False
    is_default: bool = False


def _name_for(context: str) -> str:
    """A row name for a bare context, e.g. `gke_proj_eu_prod` → `gke-proj-eu-prod`."""
    return re.sub(r"[^a-z0-9]+", "-", context.lower()).strip("-")[:63].rstrip("-")


def configured() -> list[Wanted]:
    """The clusters the settings ask for, the default first. ImproperlyConfigured names a bad entry."""
    entries = list(settings.PORTAL_CLUSTERS)
    if not entries:
        in_pod = not settings.PORTAL_KUBECONFIG and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
        return [Wanted(Cluster.DEFAULT_NAME, "", in_pod, True)]
    wanted: list[Wanted] = []
    for index, entry in enumerate(entries):
        name, _, target = entry.partition("=") if "=" in entry else (_name_for(entry), "", entry)
        name, target = name.strip(), target.strip()
        if not target:
            raise ImproperlyConfigured(
                f"PORTAL_CLUSTERS entry {entry!r} names no context: write `context`, `name=context` or `name=in-cluster`."
            )
        if not NAME.match(name):
            raise ImproperlyConfigured(
                f"PORTAL_CLUSTERS entry {entry!r}: the cluster name {name!r} must be lower-case letters, digits and "
                "hyphens (at most 63), e.g. `eu-prod=gke_project_europe-west1_prod`."
            )
        if any(item.name == name for item in wanted):
            raise ImproperlyConfigured(f"PORTAL_CLUSTERS names the cluster {name!r} twice: give each entry its own name.")
        in_cluster = target == IN_CLUSTER
        wanted.append(Wanted(name, "" if in_cluster else target, in_cluster, index == 0))
    return wanted


def configured_names() -> set[str]:
    try:
        return {item.name for item in configured()}
    except ImproperlyConfigured:
        return set()


def sync_clusters() -> list[Cluster]:
    """Create or update the rows the settings name; the configured clusters, by name.

    Rows no longer configured keep their data and get the NOT_CONFIGURED error on their poll
    row (written once, not every cycle).
    """
    wanted = {item.name: item for item in configured()}
    rows = {row.name: row for row in Cluster.objects.select_related("poll")}
    changed = [
        item for item in wanted.values()
        if item.name not in rows
        or (rows[item.name].context, rows[item.name].in_cluster, rows[item.name].is_default)
        != (item.context, item.in_cluster, item.is_default)
    ]
    leftover = [
        row for name, row in rows.items()
        if name not in wanted and (row.is_default or getattr(row, "poll", None) is None or row.poll.last_error != NOT_CONFIGURED)
    ]
    if changed or leftover:
        with transaction.atomic():
            _apply(wanted, rows, changed, leftover)
        rows = {row.name: row for row in Cluster.objects.select_related("poll")}
    return [rows[name] for name in sorted(wanted)]


def _apply(wanted: dict[str, Wanted], rows: dict[str, Cluster], changed: list[Wanted], leftover: list[Cluster]) -> None:
    now = timezone.now()
    # At most one default row (a unique constraint): clear the old one before naming the new.
    Cluster.objects.filter(is_default=True).exclude(
        name__in=[item.name for item in wanted.values() if item.is_default]
    ).update(is_default=False)
    for item in changed:
        row = rows.get(item.name)
        if row is None:
            Cluster.objects.create(name=item.name, context=item.context, in_cluster=item.in_cluster,
                                   is_default=item.is_default)
        else:
            Cluster.objects.filter(pk=row.pk).update(context=item.context, in_cluster=item.in_cluster,
                                                     is_default=item.is_default)
    for row in leftover:
        ClusterPoll.objects.update_or_create(
            cluster=row, defaults={"last_error": NOT_CONFIGURED, "last_error_at": now, "list_calls": 0}
        )
