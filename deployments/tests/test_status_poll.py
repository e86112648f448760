"""The status poller against the sandbox cluster: matching, transitions, no write without change,
a constant number of list calls, and a cluster that cannot be reached."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog import store as catalog
from catalog.models import Entity
from deployments import status
from deployments.models import (
    Cluster,
    ClusterPoll,
    QuotaUsage,
    StatusEvent,
    WebhookDelivery,
    WorkloadStatus,
)
from deployments.tasks import poll_status, prune_status_events
from sandbox.controllers import Controllers
from sandbox.testing import sandbox_fixture  # noqa: F401  (provides `sandbox`)

pytestmark = pytest.mark.django_db

HEAD = "9f2c4e1b7a3d5c6e8f0a1b2c3d4e5f6a7b8c9d0e"
NEXT = "0123456789abcdef0123456789abcdef01234567"


def component(name: str, **annotations) -> Entity:
    catalog.upsert({
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"type": "model-endpoint", "owner": "fraud-detection", "lifecycle": "production"},
    })
    return Entity.objects.get(name=name)


def isvc_manifest(name: str, uri: str = "gs://kfserving-examples/models/sklearn/1.0/model") -> bytes:
    return (
        f"apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: {{name: {name}, namespace: default}}\n"
        f"spec: {{predictor: {{model: {{modelFormat: {{name: sklearn}}, storageUri: '{uri}'}}}}}}\n"
    ).encode()


def application(name: str, sync: str = "Synced", health: str = "Healthy", revision: str = HEAD, **status) -> dict:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {"source": {"path": f"apps/{name}"}},
        "status": {"sync": {"status": sync, "revision": revision}, "health": {"status": health}, **status},
    }


def inference_service(name: str, ready: str = "True") -> dict:
    status = {"conditions": [{"type": "Ready", "status": ready}]}
    if ready == "True":
        status["url"] = f"http://{name}.default.example.com"
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"predictor": {"model": {"storageUri": "gs://kfserving-examples/models/sklearn/1.0/model"}}},
        "status": status,
    }


@pytest.fixture
def cluster() -> Cluster:
    return Cluster.default()


def row(kind: str, name: str) -> WorkloadStatus:
    return WorkloadStatus.objects.get(kind=kind, name=name)


def test_workloads_are_linked_to_their_catalog_entities(sandbox, cluster):
    fraud = component("fraud-scorer", **{"argocd/app-name": "fraud-scorer", "neuroscale.io/inference-service": "default/fraud-scorer"})
    churn = component("churn-model", **{"neuroscale.io/gitops-path": "apps/churn", "backstage.io/kubernetes-id": "churn"})
    elsewhere = component("other-cluster", **{"argocd/app-name": "remote", "neuroscale.io/cluster": "eu-west"})
    files = {f"apps/{name}/inference-service.yaml": isvc_manifest(name) for name in ("fraud-scorer", "churn", "remote")}
    Controllers(sandbox.store, lambda: (HEAD, files)).settle()
    sandbox.store.put(inference_service("stray"))

    result = status.poll(cluster, sandbox.api_client)

    assert result.error == ""
    links = {(w.kind, w.name): w.entity_id for w in WorkloadStatus.objects.all()}
    assert links == {
        ("Application", "churn"): churn.pk,
        ("Application", "fraud-scorer"): fraud.pk,
        ("Application", "remote"): None,  # its entity names another cluster
        ("InferenceService", "churn"): churn.pk,
        ("InferenceService", "fraud-scorer"): fraud.pk,
        ("InferenceService", "remote"): None,
        ("InferenceService", "stray"): None,  # unregistered
    }
    assert elsewhere.workloads.count() == 0
    ready = row("InferenceService", "fraud-scorer")
    assert (ready.ready, ready.url) == ("True", "http://fraud-scorer.default.example.com")
    assert ready.summary.startswith("Ready at http://fraud-scorer.default.example.com")
    app = row("Application", "fraud-scorer")
    assert (app.sync_status, app.health_status, app.revision) == ("Synced", "Healthy", HEAD)
    # First seen already synced and healthy: the timeline still gets each stage.
    assert list(app.events.values_list("kind", flat=True)) == ["appeared", "synced", "health"]
    assert list(ready.events.values_list("kind", "to_value")) == [("appeared", "InferenceService"), ("ready", "True")]


def test_an_entity_registered_later_is_linked_on_the_next_poll(sandbox, cluster):
    sandbox.store.put(inference_service("fraud-scorer"))
    status.poll(cluster, sandbox.api_client)
    assert row("InferenceService", "fraud-scorer").entity is None

    entity = component("fraud-scorer", **{"neuroscale.io/inference-service": "default/fraud-scorer"})
    status.poll(cluster, sandbox.api_client)

    assert row("InferenceService", "fraud-scorer").entity == entity


def events(name: str) -> list[tuple[str, str, str]]:
    return [(e.kind, e.from_value, e.to_value) for e in StatusEvent.objects.filter(workload__name=name).order_by("pk")]


def test_transitions_become_events_drift_and_self_heal_named(sandbox, cluster):
    entity = component("fraud-scorer", **{"argocd/app-name": "fraud-scorer"})
    sandbox.store.put(application("fraud-scorer", health="Progressing"))
    status.poll(cluster, sandbox.api_client)
    for change in (
        application("fraud-scorer", health="Healthy"),
        application("fraud-scorer", sync="OutOfSync"),
        application("fraud-scorer", sync="Synced"),
        application("fraud-scorer", revision=NEXT),
    ):
        sandbox.store.put(change)
        status.poll(cluster, sandbox.api_client)
        status.poll(cluster, sandbox.api_client)  # a poll without change adds nothing

    assert events("fraud-scorer") == [
        ("appeared", "", "Application"),
        ("synced", "", "Synced"),
        ("health", "Progressing", "Healthy"),
        ("drift", "Synced", "OutOfSync"),
        ("self_healed", "OutOfSync", "Synced"),
        ("synced", HEAD[:7], NEXT[:7]),
    ]
    assert StatusEvent.objects.filter(entity=entity).count() == 6


def test_inference_service_ready_and_failure_events(sandbox, cluster):
    sandbox.store.put(inference_service("fraud-scorer", ready="Unknown"))
    status.poll(cluster, sandbox.api_client)
    sandbox.store.put(inference_service("fraud-scorer", ready="True"))
    status.poll(cluster, sandbox.api_client)
    sandbox.store.put(inference_service("fraud-scorer", ready="False"))
    status.poll(cluster, sandbox.api_client)
    sandbox.store.delete(sandbox.store.resource_for("serving.kserve.io/v1beta1", "InferenceService"), "default", "fraud-scorer")
    status.poll(cluster, sandbox.api_client)

    assert events("fraud-scorer") == [
        ("appeared", "", "InferenceService"),
        ("ready", "Unknown", "True"),
        ("not_ready", "True", "False"),
        ("gone", "InferenceService", ""),
    ]
    ready = StatusEvent.objects.get(workload__name="fraud-scorer", kind="ready")
    assert ready.message == "http://fraud-scorer.default.example.com"
    assert row("InferenceService", "fraud-scorer").gone_at is not None


def test_a_model_that_cannot_load_reads_as_words_with_the_fix(sandbox, cluster):
    files = {"apps/broken/inference-service.yaml": isvc_manifest("broken", "gs://kfserving-examples/missing/model")}
    Controllers(sandbox.store, lambda: (HEAD, files)).settle()

    status.poll(cluster, sandbox.api_client)

    broken = row("InferenceService", "broken")
    assert broken.ready == "False"
    assert broken.summary.startswith("KServe cannot download the model: RuntimeError: Failed to fetch model.")
    assert "Fix: point storageUri (gs://kfserving-examples/missing/model)" in broken.summary
    assert row("Application", "broken").health_status == "Degraded"


def test_nothing_is_written_when_nothing_changed(sandbox, cluster):
    component("fraud-scorer", **{"argocd/app-name": "fraud-scorer"})
    sandbox.store.put(application("fraud-scorer"))
    sandbox.store.put(inference_service("fraud-scorer"))
    status.poll(cluster, sandbox.api_client)
    before = list(WorkloadStatus.objects.values_list("pk", "resource_version", "last_seen_at"))

    with CaptureQueriesContext(connection) as queries:
        result = status.poll(cluster, sandbox.api_client)

    writes = [q["sql"] for q in queries if q["sql"].split()[0].upper() in ("INSERT", "UPDATE", "DELETE")]
    # The only write is the cluster's poll record (when it was last reached).
    assert all("deployments_clusterpoll" in sql for sql in writes), writes
    assert (result.written, result.events) == (0, 0)
    assert list(WorkloadStatus.objects.values_list("pk", "resource_version", "last_seen_at")) == before


def seed_endpoints(sandbox, count: int) -> None:
    for index in range(count):
        sandbox.store.put(application(f"endpoint-{index}"))
        sandbox.store.put(inference_service(f"endpoint-{index}"))


def test_list_calls_and_queries_do_not_grow_with_the_endpoints(sandbox, cluster):
    def cycle() -> tuple[int, int]:
        sandbox.requests.reset()
        with CaptureQueriesContext(connection) as queries:
            result = status.poll(cluster, sandbox.api_client)
        assert result.error == ""
        return sandbox.requests.count(), len(queries)

    seed_endpoints(sandbox, 1)
    first_for_one = cycle()
    steady_for_one = cycle()
    seed_endpoints(sandbox, 200)
    first_for_many = cycle()
    steady_for_many = cycle()

    # Applications, InferenceServices, ResourceQuotas: the same three calls for 1 and 200 endpoints.
    assert first_for_one[0] == steady_for_one[0] == first_for_many[0] == steady_for_many[0] == 3
    assert sandbox.requests.count("list", "applications.argoproj.io") == 1
    # Without changes the queries do not grow either; with 400 new rows, only by bulk batches.
    assert steady_for_many[1] == steady_for_one[1]
    assert first_for_many[1] <= first_for_one[1] + 20
    assert WorkloadStatus.objects.count() == 400
    assert ClusterPoll.objects.get(cluster=cluster).list_calls == 3


def test_quota_usage_is_written_for_the_guardrails(sandbox, cluster):
    sandbox.store.put({
        "apiVersion": "v1", "kind": "ResourceQuota",
        "metadata": {"name": "default-namespace-quota", "namespace": "default"},
        "spec": {"hard": {"count/inferenceservices.serving.kserve.io": "5"}},
    })
    files = {"apps/fraud-scorer/inference-service.yaml": isvc_manifest("fraud-scorer")}
    Controllers(sandbox.store, lambda: (HEAD, files)).settle()

    status.poll(cluster, sandbox.api_client)

    usage = QuotaUsage.objects.get(cluster=cluster, namespace="default")
    assert usage.quota_name == "default-namespace-quota"
    assert usage.used == {"count/inferenceservices.serving.kserve.io": "1"}
    assert usage.hard == {"count/inferenceservices.serving.kserve.io": "5"}


def test_unreachable_cluster_keeps_the_last_status_and_records_the_error(sandbox, cluster):
    sandbox.store.put(inference_service("fraud-scorer"))
    status.poll(cluster, sandbox.api_client)
    seen = row("InferenceService", "fraud-scorer").last_seen_at

    sandbox.server.stop()
    result = status.poll(cluster, sandbox.api_client)

    assert result.error == "cannot reach the cluster: connection refused"
    poll = ClusterPoll.objects.get(cluster=cluster)
    assert poll.stale
    assert poll.last_error == "cannot reach the cluster: connection refused"
    assert poll.last_success_at < poll.last_error_at
    kept = row("InferenceService", "fraud-scorer")
    assert (kept.ready, kept.url, kept.last_seen_at, kept.gone_at) == ("True", "http://fraud-scorer.default.example.com", seen, None)
    assert not StatusEvent.objects.filter(kind="gone").exists()


def test_no_kubeconfig_is_an_error_in_words_not_an_exception(cluster, settings):
    settings.PORTAL_KUBECONFIG = ""

    result = status.poll(cluster)

    assert result.error.startswith("cannot configure the cluster client: no cluster configured: set PORTAL_KUBECONFIG")
    assert ClusterPoll.objects.get(cluster=cluster).stale


def test_the_beat_task_polls_every_cluster_through_the_kubeconfig(sandbox, settings, tmp_path):
    settings.PORTAL_KUBECONFIG = str(sandbox.server.write_kubeconfig(tmp_path / "kubeconfig"))
    sandbox.store.put(inference_service("fraud-scorer"))

    assert poll_status() == "default: 1 seen, 1 written, 2 events"
    assert poll_status() == "default: 1 seen, 0 written, 0 events"


def test_events_older_than_the_retention_period_are_pruned(sandbox, cluster, settings):
    settings.PORTAL_RETENTION_DAYS = 90
    sandbox.store.put(inference_service("fraud-scorer"))
    status.poll(cluster, sandbox.api_client)
    old = StatusEvent.objects.filter(kind="appeared")
    old.update(created_at=timezone.now() - timedelta(days=91))

    WebhookDelivery.objects.create(delivery_id="old", event="pull_request", received_at=timezone.now() - timedelta(days=91))
    WebhookDelivery.objects.create(delivery_id="recent", event="pull_request")

    assert prune_status_events() == "1 status events and 1 webhook deliveries pruned"
    assert events("fraud-scorer") == [("ready", "", "True")]
    assert list(WebhookDelivery.objects.values_list("delivery_id", flat=True)) == ["recent"]
