"""Django admin for what admins set by hand: each cluster's ArgoCD namespace, watched namespaces
and OpenCost URL. How a cluster is reached (context, in-cluster, which one is the default) comes
from PORTAL_CLUSTERS / PORTAL_KUBECONFIG (deployments.clusters), so it is shown, not edited."""

from django.contrib import admin
from django.db import models

from deployments.models import Cluster


@admin.register(Cluster)
class ClusterAdmin(admin.ModelAdmin):
    list_display = ("name", "context", "in_cluster", "is_default", "argocd_namespace", "watched_namespaces")
    readonly_fields = ("name", "context", "in_cluster", "is_default", "created_at")
    # OpenCost URLs without a scheme are taken as https (Django 6's default, chosen now).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fields = ("name", "context", "in_cluster", "is_default", "argocd_namespace", "watched_namespaces",
              "opencost_url", "created_at")

    def has_add_permission(self, request) -> bool:
        return False  # rows come from the settings: add the cluster to PORTAL_CLUSTERS
