"""Reconciliation on the Deployments board: unregistered workloads and their one-click Register
(who may, what it creates, linked at once and by the next poll, kept through catalog
refreshes, audited), missing endpoints, and owner / cost-center label disagreements."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from catalog import ingestion
from catalog.models import Entity
from deployments.models import PullRequest, WorkloadStatus
from deployments.tests.test_live_status import endpoint
from deployments.tests.test_status_poll import application, inference_service
from portal.models import AuditEvent
from sandbox.testing import sandbox_fixture  # noqa: F401  (provides `sandbox`)

pytestmark = pytest.mark.django_db

BOARD = "/deployments/"
REGISTER = "/deployments/register"


def labelled(manifest: dict, **labels) -> dict:
    manifest["metadata"]["labels"] = {key.replace("_", "-"): value for key, value in labels.items()}
    return manifest


def tracked_isvc(name: str, app: str, **labels) -> dict:
    """An InferenceService applied by the Application `app` (ArgoCD's tracking label)."""
    return labelled(inference_service(name), **{"app.kubernetes.io/instance": app}, **labels)


@pytest.fixture
def stray(poll):
    """fraud-detection's endpoint `shadow-scorer` runs (Application `shadow`) but is not in the catalog."""
    isvc = tracked_isvc("shadow-scorer", "shadow")
    isvc["metadata"]["labels"] |= {"owner": "fraud-detection", "cost-center": "cc-7777"}
    poll(application("shadow"), isvc)


def section(html: str, anchor: str) -> str:
    return html.split(f'id="{anchor}"')[1].split("</section>")[0]


def register_form(client, name: str = "shadow-scorer") -> dict:
    html = section(client.get(BOARD, {"owner": "any"}).content.decode(), "unregistered")
    assert f'aria-label="Register {name} in the catalog"' in html
    return {"cluster": "default", "application": "shadow", "inference_service": f"default/{name}", "next": "/deployments/"}


# --- Unregistered -----------------------------------------------------------------------------------


def test_an_unregistered_endpoint_is_listed_once_with_its_labels(client, dana, stray):
    client.force_login(dana)

    html = section(client.get(BOARD).content.decode(), "unregistered")

    assert html.count("<tr>") == 2  # the header and one endpoint: Application and InferenceService paired
    assert "InferenceService default/shadow-scorer" in html and "Application shadow" in html
    assert "fraud-detection" in html and "cc-7777" in html


def test_registering_creates_a_linked_catalog_entry_that_survives_a_refresh(client, dana, stray, poll, gitops_repo):
    client.force_login(dana)

    response = client.post(REGISTER, register_form(client))

    assert response.status_code == 302 and response["Location"] == "/deployments/"
    entity = Entity.objects.get(ref="component:default/shadow-scorer")
    assert (entity.type, entity.owner_ref, entity.cost_center) == (
        "model-endpoint", "group:default/fraud-detection", "cc-7777")
    assert entity.annotations == {
        "neuroscale.io/cluster": "default",
        "neuroscale.io/inference-service": "default/shadow-scorer",
        "backstage.io/kubernetes-namespace": "default",
        "argocd/app-name": "shadow",
        "neuroscale.io/gitops-path": "apps/shadow",
    }
    # Linked at once: the board lists it as an endpoint, ready, and no longer as unregistered.
    html = client.get(BOARD).content.decode()
    assert "shadow-scorer is in the catalog now, owned by fraud-detection" in html
    assert "/catalog/default/component/shadow-scorer" in section(html, "endpoints")
    assert "Register shadow-scorer" not in html
    assert set(WorkloadStatus.objects.filter(entity=entity).values_list("kind", flat=True)) == {
        "Application", "InferenceService"}
    # Visible in the catalog at once.
    assert "shadow-scorer" in client.get("/catalog/", {"owner": "any", "q": "shadow"}).content.decode()
    # Audited.
    event = AuditEvent.objects.get(action="deployments.workload.registered")
    assert (event.actor_name, event.target) == ("dana", "component:default/shadow-scorer")
    assert event.details["inference_service"] == "default/shadow-scorer"
    # Its events so far are on its timeline.
    assert "Ready" in section(html, "endpoints").split("shadow-scorer")[-1]
    assert entity.status_events.filter(kind="ready").exists()
    # The next poll keeps the link, and a catalog refresh keeps the entry.
    poll()
    assert WorkloadStatus.objects.filter(entity=entity).count() == 2
    ingestion.refresh_all()
    entity.refresh_from_db()
    assert entity.status == "active"


def test_an_outsider_cannot_register_another_teams_workload(client, outsider, stray):
    client.force_login(outsider)
    html = section(client.get(BOARD).content.decode(), "unregistered")
    assert "Register shadow-scorer" not in html
    assert "Members of fraud-detection can register it." in html

    response = client.post(REGISTER, {"cluster": "default", "application": "shadow",
                                      "inference_service": "default/shadow-scorer"})

    assert response.status_code == 403
    assert not Entity.objects.filter(name="shadow-scorer").exists()


def test_a_workload_without_an_owner_label_is_for_admins(client, dana, priya, poll):
    poll(inference_service("orphan-model"))
    form = {"cluster": "default", "inference_service": "default/orphan-model"}
    client.force_login(dana)
    assert "Platform admins can register it." in client.get(BOARD, {"owner": "any"}).content.decode()
    assert client.post(REGISTER, form).status_code == 403

    client.force_login(priya)
    assert client.post(REGISTER, form).status_code == 302
    assert Entity.objects.get(name="orphan-model").owner_ref == "group:default/platform-team"


def test_register_needs_the_csrf_token_and_a_login(dana, stray):
    anonymous = Client(enforce_csrf_checks=True)
    assert anonymous.post(REGISTER, {"cluster": "default"}).status_code in (302, 403)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(dana)
    assert strict.post(REGISTER, {"cluster": "default", "application": "shadow",
                                  "inference_service": "default/shadow-scorer"}).status_code == 403
    assert not Entity.objects.filter(name="shadow-scorer").exists()
    assert strict.get(REGISTER).status_code == 405


def test_a_name_the_catalog_already_has_is_refused_in_words(client, dana, stray):
    endpoint("shadow-scorer")  # an entry that does not claim the workload (other annotations)
    Entity.objects.filter(name="shadow-scorer").update(document={
        **Entity.objects.get(name="shadow-scorer").document, "metadata": {"name": "shadow-scorer"}})
    WorkloadStatus.objects.update(entity=None)
    client.force_login(dana)

    response = client.post(REGISTER, register_form(client), follow=True)

    assert "The catalog already has component:default/shadow-scorer" in response.content.decode()
    assert not AuditEvent.objects.filter(action="deployments.workload.registered").exists()


def test_registering_something_no_longer_unregistered_says_reload(client, dana, stray):
    client.force_login(dana)
    form = register_form(client)
    client.post(REGISTER, form)
    response = client.post(REGISTER, form, follow=True)
    assert "is not an unregistered workload (any more): reload the board" in response.content.decode()


# --- Missing -----------------------------------------------------------------------------------------


def test_an_endpoint_whose_workloads_vanished_is_missing(client, priya, poll, sandbox):
    endpoint("card-fraud")
    poll(application("card-fraud"), inference_service("card-fraud"))
    store = sandbox.store
    store.delete(store.resource_for("argoproj.io/v1alpha1", "Application"), "argocd", "card-fraud")
    store.delete(store.resource_for("serving.kserve.io/v1beta1", "InferenceService"), "default", "card-fraud")
    poll()
    client.force_login(priya)

    html = section(client.get(BOARD).content.decode(), "missing")

    assert "card-fraud" in html
    assert "Its Application and InferenceService are gone from the cluster." in html


def test_an_endpoint_merged_long_ago_that_never_appeared_is_missing(client, priya, poll):
    late = endpoint("late-model")
    fresh = endpoint("fresh-model")
    for number, (entity, minutes) in enumerate([(late, 45), (fresh, 2)], start=1):
        PullRequest.objects.create(provider="local", repository="gitops", number=number, branch=f"add-{entity.name}",
                                   base="main", title="Add", entity_ref=entity.ref, state="merged",
                                   merged_at=timezone.now() - timedelta(minutes=minutes))
    poll()
    client.force_login(priya)

    html = section(client.get(BOARD).content.decode(), "missing")

    assert "late-model" in html
    assert "Never appeared on a cluster, although its pull request merged 45 min ago." in html
    assert "fresh-model" not in html  # ArgoCD may still be on its way


def test_nothing_is_missing_before_any_successful_poll(client, priya):
    endpoint("card-fraud")
    Entity.objects.update(created_at=timezone.now() - timedelta(days=1))
    client.force_login(priya)
    assert "Nothing missing" in section(client.get(BOARD).content.decode(), "missing")


# --- Label disagreements ------------------------------------------------------------------------------


def test_labels_that_disagree_with_the_catalog_show_both_values(client, priya, poll):
    endpoint("card-fraud", owner="fraud-detection", cost_center="cc-1234")
    endpoint("churn", owner="fraud-detection", cost_center="cc-1234")
    poll(labelled(inference_service("card-fraud"), owner="search", cost_center="cc-1234"),
         labelled(inference_service("churn"), owner="fraud-detection", cost_center="cc-1234"))
    client.force_login(priya)

    html = section(client.get(BOARD).content.decode(), "labels")

    assert "card-fraud" in html and "churn" not in html
    assert '<td data-label="Label"><code>owner</code>' in html
    assert '<td data-label="On the cluster"><code>search</code>' in html
    assert '<td data-label="In the catalog"><code>fraud-detection</code>' in html
    assert '<td data-label="Label"><code>cost-center</code>' not in html  # that one agrees


def test_a_missing_label_is_a_disagreement_too(client, priya, poll):
    endpoint("card-fraud", cost_center="cc-1234")
    poll(labelled(inference_service("card-fraud"), owner="fraud-detection"))
    client.force_login(priya)
    html = section(client.get(BOARD).content.decode(), "labels")
    assert '<td data-label="Label"><code>cost-center</code>' in html
    assert '<td data-label="On the cluster"><span class="muted">not set</span>' in html
    assert '<td data-label="In the catalog"><code>cc-1234</code>' in html
