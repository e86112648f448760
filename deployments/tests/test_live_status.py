"""The "Live status" panel and the endpoints API, with rows written by the real poller against
the sandbox cluster: no status, progressing, ready with its URL, failed in words, stale with its
age, the 286 that stops polling, constant query counts, and a script waiting for Ready."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from catalog import store as catalog
from catalog.models import Entity
from deployments import status
from deployments.models import Cluster, ClusterPoll, PullRequest
from deployments.tests.test_status_poll import HEAD, application, inference_service
from sandbox.testing import sandbox_fixture  # noqa: F401  (provides `sandbox`)
from scaffolder.models import Task

pytestmark = pytest.mark.django_db

LIST = "/api/deployments/endpoints/"


def endpoint(name: str, owner: str = "fraud-detection", cost_center: str = "cc-1234") -> Entity:
    catalog.upsert({
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": {
            "name": name,
            "labels": {"cost-center": cost_center},
            "annotations": {"argocd/app-name": name, "neuroscale.io/inference-service": f"default/{name}"},
        },
        "spec": {"type": "model-endpoint", "owner": owner, "lifecycle": "production"},
    })
    return Entity.objects.get(name=name)


def requested_and_merged(entity: Entity, user, number: int) -> None:
    """The scaffolder task that asked for the endpoint and its merged pull request, minutes apart."""
    now = timezone.now()
    task = Task.objects.create(template_ref="template:default/model-endpoint", spec={}, created_by=user,
                               entity_ref=entity.ref.lower(), created_at=now - timedelta(minutes=3))
    PullRequest.objects.create(provider="local", repository="gitops", number=number, branch=f"add-{entity.name}",
                               base="main", title=f"Add model endpoint {entity.name}", task=task.uuid,
                               entity_ref=entity.ref.lower(), state="merged", merged_by="priya",
                               created_at=now - timedelta(minutes=2), merged_at=now - timedelta(minutes=1))


def failed_isvc(name: str) -> dict:
    manifest = inference_service(name, ready="False")
    manifest["status"]["conditions"] = [
        {"type": "PredictorReady", "status": "False", "reason": "ModelLoadFailed",
         "message": "RuntimeError: Failed to fetch model. No model found in gs://kfserving-examples/missing/model."},
        {"type": "Ready", "status": "False", "reason": "ModelLoadFailed"},
    ]
    return manifest


@pytest.fixture
def cluster() -> Cluster:
    return Cluster.default()


@pytest.fixture
def poll(sandbox, cluster):
    def cycle(*objects):
        for item in objects:
            sandbox.store.put(item)
        return status.poll(cluster, sandbox.api_client)
    return cycle


def panel(client, entity) -> str:
    """The panel as the entity page shows it once its shell has loaded the fragment."""
    page = client.get(entity.url_path()).content.decode()
    assert f'hx-get="/deployments/endpoints/{entity.uid}/status" hx-trigger="load"' in page
    response = client.get(f"/deployments/endpoints/{entity.uid}/status", HTTP_HX_REQUEST="true")
    assert response.status_code in (200, 286)
    return response.content.decode()


# --- The panel -------------------------------------------------------------------------------------


def test_an_endpoint_never_seen_says_so_and_keeps_polling(client, dana):
    entity = endpoint("card-fraud")
    client.force_login(dana)

    text = panel(client, entity)

    assert "Not seen on any cluster yet" in text
    assert f'hx-get="/deployments/endpoints/{entity.uid}/status"' in text
    assert 'hx-trigger="every 5s"' in text


def test_the_panel_comes_before_the_change_panel(client, dana):
    entity = endpoint("card-fraud")
    client.force_login(dana)
    html = client.get(entity.url_path()).content.decode()
    assert html.index("Live status") < html.index("Pull requests")


def test_a_progressing_endpoint_shows_sync_health_and_its_timeline(client, dana, poll):
    entity = endpoint("card-fraud")
    requested_and_merged(entity, dana, number=7)
    poll(application("card-fraud", health="Progressing"), inference_service("card-fraud", ready="Unknown"))
    client.force_login(dana)

    text = panel(client, entity)

    assert ">Synced<" in text and ">Progressing<" in text
    stages = [line.strip() for line in text.split('class="live-stage">')[1:]]
    labels = [stage.split("<")[0] for stage in stages]
    assert labels == ["Requested by dana", "Pull request #7 opened", "Merged by priya", "Application created",
                      "Synced", "InferenceService created"]
    assert "+1 min 0 s" in text  # the time each stage took
    assert "hx-trigger" in text


def test_a_ready_endpoint_shows_its_url_and_stops_polling(client, dana, poll):
    entity = endpoint("card-fraud")
    poll(application("card-fraud", health="Progressing"), inference_service("card-fraud", ready="Unknown"))
    poll(application("card-fraud"), inference_service("card-fraud"))
    client.force_login(dana)

    text = panel(client, entity)

    assert ">Ready<" in text
    assert 'href="http://card-fraud.default.example.com"' in text
    assert "hx-trigger" not in text  # nothing moves: the page does not poll at all
    labels = [s.split("<")[0] for s in text.split('class="live-stage">')[1:]]
    assert labels[-2:] == ["Healthy", "Ready"]

    fragment = client.get(f"/deployments/endpoints/{entity.uid}/status", HTTP_HX_REQUEST="true")
    assert fragment.status_code == 286
    assert "HX-Request" in fragment["Vary"]
    assert "card-fraud.default.example.com" in fragment.content.decode()


def test_the_fragment_keeps_polling_while_the_model_server_starts(client, dana, poll):
    entity = endpoint("card-fraud")
    poll(application("card-fraud"), inference_service("card-fraud", ready="Unknown"))
    client.force_login(dana)

    fragment = client.get(f"/deployments/endpoints/{entity.uid}/status", HTTP_HX_REQUEST="true")

    assert fragment.status_code == 200
    assert 'hx-trigger="every 5s"' in fragment.content.decode()


def test_a_failed_model_reads_as_words_with_the_fix(client, dana, poll):
    entity = endpoint("card-fraud")
    poll(application("card-fraud", health="Degraded"), failed_isvc("card-fraud"))
    client.force_login(dana)

    text = panel(client, entity)

    assert ">Not ready<" in text
    assert "KServe cannot download the model: RuntimeError: Failed to fetch model." in text
    assert "Fix: point storageUri" in text


def test_a_cluster_that_cannot_be_reached_shows_the_last_known_status_as_stale(client, dana, poll, sandbox, cluster):
    entity = endpoint("card-fraud")
    poll(application("card-fraud"), inference_service("card-fraud"))
    ClusterPoll.objects.filter(cluster=cluster).update(last_success_at=timezone.now() - timedelta(minutes=7))
    sandbox.server.stop()
    status.poll(cluster, sandbox.api_client)
    client.force_login(dana)

    text = panel(client, entity)

    assert ">stale<" in text
    assert "7\xa0minutes ago" in text
    assert "cannot reach the cluster: connection refused" in text
    assert ">Ready<" in text  # the last known state, not lost
    assert "hx-trigger" in text  # keeps asking until the cluster answers again
    fragment = client.get(f"/deployments/endpoints/{entity.uid}/status", HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200


def test_the_fragment_needs_a_login_and_a_model_endpoint(client, dana):
    entity = endpoint("card-fraud")
    assert client.get(f"/deployments/endpoints/{entity.uid}/status").status_code == 302
    client.force_login(dana)
    assert client.get("/deployments/endpoints/00000000-0000-0000-0000-000000000000/status").status_code == 404


def test_the_panel_and_fragment_queries_do_not_grow_with_the_timeline(client, dana, poll, django_assert_max_num_queries):
    entity = endpoint("card-fraud")
    client.force_login(dana)
    poll(application("card-fraud", health="Progressing"), inference_service("card-fraud", ready="Unknown"))
    for revision in ("a" * 40, "b" * 40, "c" * 40, "d" * 40):
        poll(application("card-fraud", revision=revision), inference_service("card-fraud"))
    with django_assert_max_num_queries(9):
        assert client.get(f"/deployments/endpoints/{entity.uid}/status").status_code == 200
    with django_assert_max_num_queries(40):
        client.get(entity.url_path())


# --- The API ---------------------------------------------------------------------------------------


@pytest.fixture
def fleet(poll, make_user):
    ready = endpoint("card-fraud")
    starting = endpoint("churn", cost_center="cc-9999")
    unseen = endpoint("search-rank", owner="search")
    poll(application("card-fraud"), inference_service("card-fraud"),
         application("churn", health="Progressing"), inference_service("churn", ready="Unknown"))
    return ready, starting, unseen


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["name"] for row in response.json()]


def test_the_list_filters_and_is_ordered(client, dana, fleet, django_assert_max_num_queries):
    client.force_login(dana)
    assert names(client.get(LIST)) == ["card-fraud", "churn", "search-rank"]
    assert names(client.get(LIST, {"owner": "fraud-detection"})) == ["card-fraud", "churn"]
    assert names(client.get(LIST, {"owner": "group:default/search"})) == ["search-rank"]
    assert names(client.get(LIST, {"cost_center": "cc-9999"})) == ["churn"]
    assert names(client.get(LIST, {"cluster": "default"})) == ["card-fraud", "churn"]
    assert names(client.get(LIST, {"cluster": "eu-west"})) == []
    assert names(client.get(LIST, {"state": "ready"})) == ["card-fraud"]
    assert names(client.get(LIST, {"state": "not-ready"})) == ["churn"]
    assert names(client.get(LIST, {"state": "unknown"})) == ["search-rank"]
    assert names(client.get(LIST, {"stale": "true"})) == []
    assert client.get(LIST, {"state": "green"}).status_code == 400
    assert client.get(LIST, {"stale": "maybe"}).status_code == 400
    row = client.get(LIST, {"state": "ready"}).json()[0]
    assert row["url"] == "http://card-fraud.default.example.com"
    assert (row["owner"], row["cost_center"], row["stale"], row["settled"]) == (
        "group:default/fraud-detection", "cc-1234", False, True)


def test_the_list_query_count_is_constant(client, dana, poll, django_assert_max_num_queries):
    client.force_login(dana)
    for index in range(12):
        endpoint(f"model-{index}")
    poll(*[item for index in range(12) for item in (application(f"model-{index}"), inference_service(f"model-{index}"))])
    with django_assert_max_num_queries(4):
        assert len(client.get(LIST).json()) == 12


def test_the_stale_filter_and_age(client, dana, fleet, sandbox, cluster):
    sandbox.server.stop()
    status.poll(cluster, sandbox.api_client)
    client.force_login(dana)

    assert names(client.get(LIST, {"stale": "true"})) == ["card-fraud", "churn"]
    assert names(client.get(LIST, {"stale": "false"})) == ["search-rank"]
    detail = client.get(f"{LIST}{fleet[0].uid}").json()
    assert detail["stale"] is True
    assert "cannot reach the cluster" in detail["stale_reason"]
    assert detail["confirmed_at"]


def test_the_detail_has_conditions_in_words_and_the_timeline(client, dana, poll):
    entity = endpoint("card-fraud")
    poll(application("card-fraud", health="Degraded"), failed_isvc("card-fraud"))
    client.force_login(dana)

    detail = client.get(f"{LIST}{entity.uid}").json()

    assert detail["state"] == "not-ready"
    assert detail["url"] == ""
    assert detail["application"]["revision"] == HEAD
    words = [c["words"] for c in detail["inference_service"]["conditions"]]
    assert words[0].startswith("PredictorReady False: ModelLoadFailed (RuntimeError: Failed to fetch model.")
    assert any("KServe cannot download the model" in failure for failure in detail["failures"])
    assert [stage["label"] for stage in detail["timeline"]][:2] == ["Application created", "Synced"]
    assert detail["timeline"][0]["took_seconds"] is None


def test_the_api_needs_credentials_and_answers_404_in_words(client, dana):
    assert client.get(LIST).status_code == 401
    client.force_login(dana)
    assert client.get(f"{LIST}not-a-uid").status_code == 404
    assert client.get(f"{LIST}00000000-0000-0000-0000-000000000000").json()["error"]["message"].startswith(
        "No model endpoint")


def test_a_script_waits_for_ready_through_the_api(client, dana, poll):
    """JOURNEYS.md: a script polls the detail until Ready while the poller moves the rows."""
    entity = endpoint("card-fraud")
    client.force_login(dana)
    steps = iter([
        (application("card-fraud", health="Progressing"), inference_service("card-fraud", ready="Unknown")),
        (application("card-fraud"), inference_service("card-fraud", ready="Unknown")),
        (application("card-fraud"), inference_service("card-fraud")),
    ])
    seen = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        body = client.get(f"{LIST}{entity.uid}").json()
        seen.append(body["state"])
        if body["state"] == "ready":
            break
        poll(*next(steps))
    assert seen == ["unknown", "not-ready", "not-ready", "ready"]
    assert body["url"] == "http://card-fraud.default.example.com"
    assert body["settled"] is True
