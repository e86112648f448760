"""The Deployments board: one row per model endpoint with its live state, filters shared with the
API, "my teams" by default for a team member, stale with its age, htmx polling that stops once
nothing moves, and a constant number of queries."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from deployments import status
from deployments.models import Cluster, ClusterPoll, PullRequest
from deployments.tests.test_live_status import endpoint, failed_isvc
from deployments.tests.test_status_poll import application, inference_service
from sandbox.testing import sandbox_fixture  # noqa: F401  (provides `sandbox`)

pytestmark = pytest.mark.django_db

BOARD = "/deployments/"


@pytest.fixture
def fleet(poll):
    """Four endpoints, one per state: ready, progressing, failing, never seen."""
    endpoint("card-fraud")
    endpoint("churn", cost_center="cc-9999")
    endpoint("broken")
    endpoint("search-rank", owner="search", cost_center="cc-5555")
    poll(application("card-fraud"), inference_service("card-fraud"),
         application("churn", health="Progressing"), inference_service("churn", ready="Unknown"),
         application("broken", health="Degraded"), failed_isvc("broken"))


def endpoint_rows(html: str) -> dict[str, str]:
    """Endpoint name → the text of its row in the Endpoints table."""
    table = html.split('id="board-rows"')[1].split('id="unregistered"')[0].split("</table>")[0]
    rows = {}
    for row in table.split("<tr>")[2:]:
        name = re.search(r'<a href="/catalog/default/component/([^"]+)"', row).group(1)
        rows[name] = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
    return rows


def test_the_board_shows_each_endpoint_with_its_state(client, priya, fleet):
    client.force_login(priya)

    response = client.get(BOARD)

    assert response.status_code == 200
    rows = endpoint_rows(response.content.decode())
    assert list(rows) == ["broken", "card-fraud", "churn", "search-rank"]
    assert "Ready" in rows["card-fraud"] and "http://card-fraud.default.example.com" in rows["card-fraud"]
    assert "fraud-detection cc-1234 default" in rows["card-fraud"]
    assert "Ready: True" not in rows["card-fraud"] and "Ready" in rows["card-fraud"]
    assert "Progressing" in rows["churn"]
    assert "Not ready" in rows["broken"] and "KServe cannot download the model" in rows["broken"]
    assert "Unknown" in rows["search-rank"]
    assert re.search(r"Appeared in the cluster (now|(a|\d+) seconds? ago)$", rows["churn"])  # the last transition, its age


def test_the_nav_links_to_the_board(client, dana):
    client.force_login(dana)
    html = client.get("/catalog/").content.decode()
    assert 'href="/deployments/"' in html


def test_a_team_member_sees_their_teams_endpoints_first_and_can_see_all(client, dana, fleet):
    client.force_login(dana)

    html = client.get(BOARD).content.decode()

    assert list(endpoint_rows(html)) == ["broken", "card-fraud", "churn"]
    assert "Showing the endpoints of your team (fraud-detection)" in html
    everyone = client.get(BOARD, {"owner": "any"}).content.decode()
    assert list(endpoint_rows(everyone)) == ["broken", "card-fraud", "churn", "search-rank"]


def test_an_admin_sees_every_team_by_default(client, priya, fleet):
    client.force_login(priya)
    assert "search-rank" in endpoint_rows(client.get(BOARD).content.decode())


@pytest.mark.parametrize(("query", "expected"), [
    ({"owner": "search"}, ["search-rank"]),
    ({"owner": "group:default/fraud-detection"}, ["broken", "card-fraud", "churn"]),
    ({"cost_center": "cc-9999"}, ["churn"]),
    ({"cluster": "default"}, ["broken", "card-fraud", "churn"]),
    ({"state": "ready"}, ["card-fraud"]),
    ({"state": "progressing"}, ["churn"]),
    ({"state": "not-ready"}, ["broken", "churn"]),
    ({"state": "unknown"}, ["search-rank"]),
    ({"stale": "true"}, []),
    ({"stale": "false", "state": "ready"}, ["card-fraud"]),
])
def test_the_filters_are_the_apis(client, priya, fleet, query, expected):
    client.force_login(priya)
    html = client.get(BOARD, {"owner": "any", **query}).content.decode()
    assert list(endpoint_rows(html)) == expected
    api = client.get("/api/deployments/endpoints/", {"owner": "any", **query}).json()
    assert [row["name"] for row in api] == expected


def test_a_bad_filter_value_names_the_field_and_the_board_still_shows(client, priya, fleet):
    client.force_login(priya)

    html = client.get(BOARD, {"state": "green", "cost_center": "cc-9999"}).content.decode()

    assert "state must be one of ready, progressing, not-ready, unknown, not &#x27;green&#x27;." in html
    assert list(endpoint_rows(html)) == ["churn"]  # the valid filter still applies


def test_a_cluster_that_cannot_be_reached_shows_stale_with_the_age(client, priya, fleet, sandbox):
    ClusterPoll.objects.update(last_success_at=timezone.now() - timedelta(minutes=5))
    sandbox.server.stop()
    status.poll(Cluster.default(), sandbox.api_client)
    client.force_login(priya)

    rows = endpoint_rows(client.get(BOARD).content.decode())

    assert "Ready stale · 5 minutes ago" in rows["card-fraud"]
    assert "stale" not in rows["search-rank"]
    stale_only = client.get(BOARD, {"stale": "true"}).content.decode()
    assert list(endpoint_rows(stale_only)) == ["broken", "card-fraud", "churn"]


def test_the_rows_poll_while_something_moves_and_stop_once_settled(client, priya, poll):
    endpoint("card-fraud")
    poll(application("card-fraud", health="Progressing"), inference_service("card-fraud", ready="Unknown"))
    client.force_login(priya)

    page = client.get(BOARD).content.decode()
    assert 'hx-trigger="every 5s"' in page
    fragment = client.get(BOARD, HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200
    assert "<h1>" not in fragment.content.decode() and "Progressing" in fragment.content.decode()
    assert "HX-Request" in fragment["Vary"]

    poll(application("card-fraud"), inference_service("card-fraud"))
    settled = client.get(BOARD, HTTP_HX_REQUEST="true")
    assert settled.status_code == 286  # htmx stops polling
    assert "Ready" in settled.content.decode()
    assert 'hx-trigger="every 5s"' not in client.get(BOARD).content.decode()


def test_the_board_needs_a_login(client):
    response = client.get(BOARD)
    assert response.status_code == 302 and "/login" in response["Location"]


def _many(poll, count: int) -> None:
    objects = []
    for index in range(count):
        name = f"model-{index:02d}"
        endpoint(name, owner="fraud-detection" if index % 2 else "search")
        objects += [application(name), inference_service(name, ready="Unknown" if index % 3 else "True")]
    # Something unregistered, missing and mislabelled (no labels at all) too, so every section has rows.
    objects += [inference_service(f"stray-{count}")]
    late = endpoint("never-deployed", owner="search")
    PullRequest.objects.create(provider="local", repository="gitops", number=1, branch="add-never-deployed", base="main",
                               title="Add", entity_ref=late.ref, state="merged",
                               merged_at=timezone.now() - timedelta(hours=1))
    poll(*objects)


@pytest.mark.parametrize("count", [1, 30])
def test_the_board_query_count_does_not_grow(client, priya, poll, count, django_assert_max_num_queries):
    _many(poll, count)
    client.force_login(priya)
    client.get(BOARD)  # warm the session and memberships caches alike for both sizes
    with django_assert_max_num_queries(13):
        response = client.get(BOARD, {"owner": "any"})
    html = response.content.decode()
    assert len(endpoint_rows(html)) == count + 1
    assert "never-deployed" in html.split('id="missing"')[1] and "stray-" in html.split('id="unregistered"')[1]
    with django_assert_max_num_queries(12):
        assert client.get(BOARD, {"owner": "any", "state": "progressing"}).status_code == 200
    with django_assert_max_num_queries(6):
        assert client.get(BOARD, {"owner": "any"}, HTTP_HX_REQUEST="true").status_code in (200, 286)


def test_an_endpoint_out_of_sync_says_so_beside_its_state(client, priya, poll):
    endpoint("card-fraud")
    poll(application("card-fraud"), inference_service("card-fraud"))
    poll(application("card-fraud", sync="OutOfSync"))
    client.force_login(priya)

    row = endpoint_rows(client.get(BOARD).content.decode())["card-fraud"]

    assert "Ready OutOfSync" in row
    assert "Drifted from Git" in row  # the last transition
