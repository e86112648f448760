"""The Clusters page: admins only; each cluster's connection, namespaces, last success and last
error in words with their age, list calls, what was seen; not-configured clusters said so."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from deployments import status
from deployments.clusters import NOT_CONFIGURED, sync_clusters
from deployments.models import Cluster, ClusterPoll
from deployments.tests.test_status_poll import application, inference_service
from sandbox.testing import sandbox_fixture  # noqa: F401  (provides `sandbox`)

pytestmark = pytest.mark.django_db

PAGE = "/deployments/clusters/"


def rows(html: str) -> dict[str, str]:
    body = html.split("<tbody>")[1].split("</tbody>")[0]
    found = {}
    for row in body.split("<tr>")[1:]:
        text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
        found[text.split(" ")[0]] = text
    return found


def test_only_admins_open_the_clusters_page(client, dana, priya):
    assert client.get(PAGE).status_code == 302
    client.force_login(dana)
    assert client.get(PAGE).status_code == 403
    client.force_login(priya)
    assert client.get(PAGE).status_code == 200


def test_a_healthy_cluster_and_one_that_fails(client, priya, sandbox, settings):
    cluster = Cluster.default()
    for item in (application("card-fraud"), inference_service("card-fraud"), inference_service("churn")):
        sandbox.store.put(item)
    status.poll(cluster, sandbox.api_client)
    ClusterPoll.objects.update(last_success_at=timezone.now() - timedelta(minutes=3))
    broken = Cluster.objects.create(name="eu-west", context="gke_acme_eu", watched_namespaces=["fraud"])
    settings.PORTAL_CLUSTERS = ["default=sandbox", "eu-west=gke_acme_eu"]
    settings.PORTAL_KUBECONFIG = ""
    status.poll(broken)
    client.force_login(priya)

    found = rows(client.get(PAGE).content.decode())

    assert found["default"].startswith(
        "default default connected the kubeconfig's current context argocd default 3 minutes ago none 3")
    assert "1 Application 2 InferenceServices" in found["default"]
    assert found["eu-west"].startswith("eu-west cannot connect context gke_acme_eu argocd fraud never")
    assert "cannot configure the cluster client: no cluster configured" in found["eu-west"]


def test_a_cluster_that_left_the_settings_says_so(client, priya, settings):
    settings.PORTAL_CLUSTERS = ["old=ctx-old"]
    sync_clusters()
    settings.PORTAL_CLUSTERS = ["new=ctx-new"]
    sync_clusters()
    client.force_login(priya)

    found = rows(client.get(PAGE).content.decode())

    assert "not configured" in found["old"] and NOT_CONFIGURED in found["old"]
    assert "not configured" not in found["new"]


def test_a_bad_setting_is_shown_in_words(client, priya, settings):
    settings.PORTAL_CLUSTERS = ["Bad Name=ctx"]
    client.force_login(priya)
    assert "must be lower-case letters, digits and hyphens" in client.get(PAGE).content.decode()


@pytest.mark.parametrize("extra", [0, 5])
def test_the_page_query_count_does_not_grow(client, priya, extra, django_assert_max_num_queries):
    for index in range(extra):
        Cluster.objects.create(name=f"cluster-{index}")
    client.force_login(priya)
    client.get(PAGE)
    with django_assert_max_num_queries(4):
        assert client.get(PAGE).status_code == 200


def test_staff_get_a_link_to_edit_the_namespaces(client, priya, make_user):
    client.force_login(priya)  # a platform admin, not Django staff
    assert "Edit the namespaces" not in client.get(PAGE).content.decode()
    client.force_login(make_user("root", superuser=True))
    cluster = Cluster.default()
    assert f'href="/django-admin/deployments/cluster/{cluster.pk}/change/"' in client.get(PAGE).content.decode()
