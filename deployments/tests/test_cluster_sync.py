"""Cluster rows follow PORTAL_CLUSTERS / PORTAL_KUBECONFIG: the default row, contexts, in-cluster,
admins' settings kept, clusters that left the settings kept but not polled, one query when
nothing changed, and a bad entry refused in words."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from deployments import clusters, status
from deployments.clusters import NOT_CONFIGURED, sync_clusters
from deployments.models import Cluster, ClusterPoll
from deployments.tests.test_status_poll import inference_service
from sandbox.testing import sandbox_fixture  # noqa: F401  (provides `sandbox`)

pytestmark = pytest.mark.django_db


def shape() -> list[tuple]:
    return list(Cluster.objects.order_by("name").values_list("name", "context", "in_cluster", "is_default"))


def test_without_clusters_the_default_row_uses_the_current_context(settings, monkeypatch):
    settings.PORTAL_CLUSTERS = []
    settings.PORTAL_KUBECONFIG = "/etc/portal/kubeconfig"
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)

    [cluster] = sync_clusters()

    assert cluster.name == "default"
    assert shape() == [("default", "", False, True)]


def test_in_a_pod_without_a_kubeconfig_the_default_row_goes_in_cluster(settings, monkeypatch):
    settings.PORTAL_CLUSTERS = []
    settings.PORTAL_KUBECONFIG = ""
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")

    sync_clusters()

    assert shape() == [("default", "", True, True)]


def test_entries_become_rows_and_the_first_is_the_default(settings):
    settings.PORTAL_CLUSTERS = ["eu-prod=gke_acme_europe-west1_prod", "arn:aws:eks:us-east-1:1:cluster/US", "local=in-cluster"]

    names = [cluster.name for cluster in sync_clusters()]

    assert names == ["arn-aws-eks-us-east-1-1-cluster-us", "eu-prod", "local"]
    assert shape() == [
        ("arn-aws-eks-us-east-1-1-cluster-us", "arn:aws:eks:us-east-1:1:cluster/US", False, False),
        ("default", "", False, False),  # kept, no longer configured
        ("eu-prod", "gke_acme_europe-west1_prod", False, True),
        ("local", "", True, False),
    ]
    new = Cluster.objects.get(name="eu-prod")
    assert (new.argocd_namespace, new.watched_namespaces) == ("argocd", [])


def test_admins_settings_survive_a_sync_and_a_change_of_context(settings):
    settings.PORTAL_CLUSTERS = ["eu-prod=ctx-a"]
    sync_clusters()
    Cluster.objects.filter(name="eu-prod").update(watched_namespaces=["fraud", "search"], argocd_namespace="gitops")

    settings.PORTAL_CLUSTERS = ["eu-prod=ctx-b"]
    sync_clusters()

    row = Cluster.objects.get(name="eu-prod")
    assert (row.context, row.watched_namespaces, row.argocd_namespace) == ("ctx-b", ["fraud", "search"], "gitops")


def test_a_cluster_that_left_the_settings_is_kept_marked_and_not_polled(settings, sandbox, tmp_path):
    settings.PORTAL_KUBECONFIG = str(sandbox.server.write_kubeconfig(tmp_path / "kubeconfig", context="sandbox"))
    settings.PORTAL_CLUSTERS = ["old=sandbox"]
    sandbox.store.put(inference_service("fraud-scorer"))
    assert [r.cluster for r in status.poll_all()] == ["old"]

    settings.PORTAL_CLUSTERS = ["new=sandbox"]
    assert [r.cluster for r in status.poll_all()] == ["new"]

    old = ClusterPoll.objects.get(cluster__name="old")
    assert old.last_error == NOT_CONFIGURED and old.stale
    assert Cluster.objects.get(name="old").workloads.count() == 1  # its last known status stays

    settings.PORTAL_CLUSTERS = ["old=sandbox", "new=sandbox"]
    assert [r.cluster for r in status.poll_all()] == ["new", "old"]
    assert not ClusterPoll.objects.get(cluster__name="old").stale


def test_nothing_changed_costs_one_query(settings, django_assert_num_queries):
    settings.PORTAL_CLUSTERS = ["eu-prod=ctx-a", "us=ctx-b"]
    sync_clusters()
    with django_assert_num_queries(1):
        assert [c.name for c in sync_clusters()] == ["eu-prod", "us"]


def test_the_default_comes_back_when_the_list_is_emptied(settings):
    settings.PORTAL_CLUSTERS = ["eu-prod=ctx-a"]
    sync_clusters()
    settings.PORTAL_CLUSTERS = []

    sync_clusters()

    assert [row[0] for row in shape() if row[3]] == ["default"]
    assert ClusterPoll.objects.get(cluster__name="eu-prod").last_error == NOT_CONFIGURED


@pytest.mark.parametrize(("entry", "words"), [
    ("eu=", "names no context"),
    ("EU Prod=ctx", "must be lower-case letters, digits and hyphens"),
])
def test_a_bad_entry_is_refused_with_the_fix(settings, entry, words):
    settings.PORTAL_CLUSTERS = [entry]
    with pytest.raises(ImproperlyConfigured, match=words):
        sync_clusters()


def test_a_name_given_twice_is_refused(settings):
    settings.PORTAL_CLUSTERS = ["eu=ctx-a", "eu=ctx-b"]
    with pytest.raises(ImproperlyConfigured, match="names the cluster 'eu' twice"):
        clusters.configured()


def test_admins_set_namespaces_in_the_django_admin_and_a_sync_keeps_them(client, make_user, settings):
    settings.PORTAL_CLUSTERS = ["eu-prod=ctx-a"]
    [cluster] = sync_clusters()
    client.force_login(make_user("root", superuser=True))
    url = f"/django-admin/deployments/cluster/{cluster.pk}/change/"
    assert client.get(url).status_code == 200
    assert client.get("/django-admin/deployments/cluster/add/").status_code == 403

    response = client.post(url, {"argocd_namespace": "gitops", "watched_namespaces": '["fraud", "search"]',
                                 "opencost_url": ""})

    assert response.status_code == 302, response.content.decode()[:2000]
    sync_clusters()
    cluster.refresh_from_db()
    assert (cluster.context, cluster.argocd_namespace, cluster.watched_namespaces) == ("ctx-a", "gitops", ["fraud", "search"])
