"""The endpoints API's additions: phase and cluster on each endpoint, owner=mine, the missing
filter and reason, and GET /api/deployments/unregistered/ for what runs with no catalog entry."""

from __future__ import annotations

import pytest

from deployments.tests.test_live_status import endpoint
from deployments.tests.test_reconciliation import tracked_isvc
from deployments.tests.test_status_poll import application, inference_service
from sandbox.testing import sandbox_fixture  # noqa: F401  (provides `sandbox`)

pytestmark = pytest.mark.django_db

LIST = "/api/deployments/endpoints/"
UNREGISTERED = "/api/deployments/unregistered/"


def test_each_endpoint_says_its_phase_and_cluster(client, dana, poll):
    endpoint("card-fraud")
    endpoint("churn")
    endpoint("search-rank", owner="search")
    poll(application("card-fraud"), inference_service("card-fraud"),
         application("churn", health="Progressing"), inference_service("churn", ready="Unknown"))
    client.force_login(dana)

    rows = {row["name"]: row for row in client.get(LIST).json()}

    assert {name: (row["state"], row["phase"], row["cluster"]) for name, row in rows.items()} == {
        "card-fraud": ("ready", "ready", "default"),
        "churn": ("not-ready", "progressing", "default"),
        "search-rank": ("unknown", "unknown", ""),
    }
    assert [row["name"] for row in client.get(LIST, {"owner": "mine"}).json()] == ["card-fraud", "churn"]


def test_the_missing_filter_and_the_reason_on_the_detail(client, dana, poll, sandbox):
    gone = endpoint("card-fraud")
    endpoint("churn")
    poll(application("card-fraud"), inference_service("card-fraud"), application("churn"), inference_service("churn"))
    store = sandbox.store
    store.delete(store.resource_for("serving.kserve.io/v1beta1", "InferenceService"), "default", "card-fraud")
    poll()
    client.force_login(dana)

    assert [row["name"] for row in client.get(LIST, {"missing": "true"}).json()] == ["card-fraud"]
    assert [row["name"] for row in client.get(LIST, {"missing": "false"}).json()] == ["churn"]
    assert client.get(f"{LIST}{gone.uid}").json()["missing"] == "Its InferenceService is gone from the cluster."
    assert client.get(LIST, {"missing": "perhaps"}).json()["error"]["message"] == (
        "missing must be true or false, not 'perhaps'.")


def test_unregistered_workloads_for_scripts(client, dana, poll):
    isvc = tracked_isvc("shadow-scorer", "shadow")
    isvc["metadata"]["labels"] |= {"owner": "fraud-detection", "cost-center": "cc-7777"}
    poll(application("shadow"), isvc, inference_service("orphan"))
    client.force_login(dana)

    everything = client.get(UNREGISTERED).json()

    assert [item["name"] for item in everything] == ["orphan", "shadow-scorer"]
    assert everything[1] == {
        "cluster": "default", "name": "shadow-scorer", "application": "shadow",
        "inference_service": "default/shadow-scorer", "owner": "fraud-detection", "cost_center": "cc-7777",
        "summary": "Ready at http://shadow-scorer.default.example.com.",
    }
    assert [item["name"] for item in client.get(UNREGISTERED, {"owner": "fraud-detection"}).json()] == ["shadow-scorer"]
    assert client.get(UNREGISTERED, {"cluster": "eu-west"}).json() == []


def test_unregistered_needs_credentials(client):
    assert client.get(UNREGISTERED).status_code == 401
