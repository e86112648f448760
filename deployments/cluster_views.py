"""The Clusters page (admins): each cluster's connection as the status poller last found it.

Reads the database only (one query): the poller writes ClusterPoll and WorkloadStatus rows.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views import View

from deployments import clusters
from deployments.models import Cluster, WorkloadKind
from portal import identity


class ClusterListView(View):
    def get(self, request: HttpRequest) -> HttpResponse:
        if not identity.is_admin(request.user):
            raise PermissionDenied("Only platform admins can open the Clusters page.")
        live = Q(workloads__gone_at__isnull=True)
        rows = list(
            Cluster.objects.select_related("poll")
            .annotate(
                applications=Count("workloads", filter=live & Q(workloads__kind=WorkloadKind.APPLICATION)),
                inference_services=Count("workloads", filter=live & Q(workloads__kind=WorkloadKind.INFERENCE_SERVICE)),
            )
            .order_by("-is_default", "name")
        )
        try:
            configured, config_error = {item.name for item in clusters.configured()}, ""
        except ImproperlyConfigured as exc:
            configured, config_error = set(), str(exc)
        for row in rows:
            row.configured = row.name in configured
            row.poll_row = getattr(row, "poll", None)
        return render(request, "deployments/cluster_list.html", {"clusters": rows, "config_error": config_error})
