"""The Costs page, its CSV, the cost panel on endpoint and team pages, and the costs API, with
figures written by the real cost job from an OpenCost serving the example payloads."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog import store as catalog
from catalog.models import Entity
from deployments import opencost
from deployments.costs import fetch
from deployments.models import Cluster, CostPoll, CostScope, CostSnapshot
from deployments.tests.opencost_fake import FakeOpenCost
from deployments.tests.test_costs_fetch import endpoint, isvc

pytestmark = pytest.mark.django_db

PAGE = "/deployments/costs/"
CSV_URL = "/deployments/costs.csv"


def quick_client(url: str) -> opencost.OpenCostClient:
    return opencost.OpenCostClient(url, backoff=0, timeout=2)


def group(name: str, cost_center: str = "") -> Entity:
    catalog.upsert({
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Group",
        "metadata": {"name": name, **({"labels": {"cost-center": cost_center}} if cost_center else {})},
        "spec": {"type": "team", "children": []},
    })
    return Entity.objects.get(kind="Group", name=name)


@pytest.fixture
def cluster() -> Cluster:
    return Cluster.default()


@pytest.fixture
def fake(httpserver, settings) -> FakeOpenCost:
    """OpenCost answering its example's first day for yesterday and its second for today."""
    server = FakeOpenCost(httpserver, timezone.now().date())
    settings.PORTAL_OPENCOST_URL = server.url
    return server


@pytest.fixture
def costs(cluster, fake):
    """The catalog's endpoints and teams, their InferenceServices, and one run of the cost job."""
    group("platform-team", "cc-platform")
    group("fraud-detection", "cc-demo")
    iris = endpoint("sklearn-iris", "platform-team", "cc-platform")
    demo = endpoint("demo-iris-2", "fraud-detection", "cc-demo")
    isvc(cluster, "sklearn-iris", iris)
    isvc(cluster, "demo-iris-2", demo)
    result = fetch.poll(cluster, client_factory=quick_client)
    assert result.error == "" and result.rows == 15
    return {"iris": iris, "demo": demo}


def test_the_costs_page_shows_totals_with_their_currency_and_window(client, dana, costs, django_assert_max_num_queries):
    client.force_login(dana)
    with django_assert_max_num_queries(12):
        page = client.get(PAGE, {"window": "7d"}).content.decode()
    assert "Total, USD, last 7 days" in page
    # Cost centres: 0.10754 x 2 = 0.21508 → 0.22; 0.06497 → 0.06; unlabelled 2.09809 + 2.21835 = 4.31644 → 4.32
    assert "0.22 USD" in page and "0.06 USD" in page and "4.32 USD" in page
    assert "No cost-center label" in page and "No owner label" in page
    assert '<a href="/catalog/default/component/sklearn-iris">sklearn-iris</a>' in page
    assert '<a href="/catalog/default/group/fraud-detection">fraud-detection</a>' in page
    assert 'role="img"' in page and "<title id=\"trend-0-title\">Daily cost of No cost-center label, USD, last 7 days</title>" in page
    assert "The same figures as a table" in page
    assert "From OpenCost, last answered" in page
    assert '<a href="/deployments/costs/budgets/">Budgets</a>' in page and '<a href="/deployments/costs/right-sizing/">Right-sizing</a>' in page


def test_the_page_knows_its_windows(client, dana, costs):
    client.force_login(dana)
    yesterday = client.get(PAGE, {"window": "24h"}).content.decode()
    # Yesterday alone: the first day of the example, without cc-demo, which started the day after.
    assert "Total, USD, yesterday (the last full UTC day)" in yesterday
    assert "0.11 USD" in yesterday and "cc-demo" not in yesterday
    assert 'aria-current="page">24 h</a>' in yesterday
    bad = client.get(PAGE, {"window": "1y"}).content.decode()
    assert "The window &#x27;1y&#x27; is not one the page knows: choose 24 h, 7 d, 30 d or month to date" in bad
    assert "Total, USD, last 7 days" in bad


def test_a_window_without_figures_says_so(client, dana, cluster):
    client.force_login(dana)
    page = client.get(PAGE).content.decode()
    assert "No cost data yet for this window." in page and "OpenCost has not been asked yet" in page
    CostPoll.objects.create(cluster=cluster, last_success_at=timezone.now() - timedelta(hours=3))
    page = client.get(PAGE).content.decode()
    assert "OpenCost last answered" in page and "3\xa0hours ago" in page
    assert " 0.00 USD" not in page


def test_an_outage_keeps_the_figures_with_their_age_and_a_stale_badge(client, dana, costs, cluster, fake):
    CostPoll.objects.filter(cluster=cluster).update(last_success_at=timezone.now() - timedelta(hours=2))
    fake.fail_with = 500
    result = fetch.poll(cluster, client_factory=quick_client)
    assert "answered 500" in result.error
    client.force_login(dana)
    page = client.get(PAGE).content.decode()
    assert '<span class="badge badge-warn">stale</span>' in page
    assert "Figures as of" in page and "2\xa0hours ago" in page
    assert f"<strong>default</strong>: OpenCost at {fake.url} answered 500: Prometheus query failed" in page
    assert "0.22 USD" in page, "the last figures stay on the page"


def test_the_csv_has_every_snapshot_of_the_window(client, dana, costs):
    client.force_login(dana)
    response = client.get(CSV_URL, {"window": "7d"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    today = timezone.now().date()
    assert response["Content-Disposition"] == (
        f'attachment; filename="costs-7d-{today - timedelta(days=6)}-to-{today}.csv"')
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert list(rows[0]) == ["day", "cluster", "scope", "key", "owner", "cost_center", "entity_ref", "cpu_cost",
                             "gpu_cost", "ram_cost", "network_cost", "pv_cost", "total_cost", "currency",
                             "cpu_efficiency", "ram_efficiency", "total_efficiency", "minutes"]
    assert len(rows) == 15
    demo = next(r for r in rows if r["scope"] == "cost-center" and r["key"] == "cc-demo")
    assert (demo["day"], demo["total_cost"], demo["currency"]) == (str(today), "0.064970", "USD")
    assert (demo["cpu_efficiency"], demo["minutes"]) == ("0.03016", "870")
    endpoint_row = next(r for r in rows if r["entity_ref"] == "component:default/sklearn-iris" and r["day"] == str(today))
    assert (endpoint_row["owner"], endpoint_row["cost_center"]) == ("platform-team", "cc-platform")
    assert client.get(CSV_URL, {"window": "forever"}).status_code == 400


def test_csv_cells_cannot_become_formulas(client, dana, cluster):
    today = timezone.now().date()
    for key in ("=HYPERLINK(\"http://evil\")", "+1", "-2", "@SUM(A1)", "plain, \"quoted\""):
        CostSnapshot.objects.create(cluster=cluster, day=today, scope=CostScope.COST_CENTER, key=key, cost_center=key,
                                    total_cost=Decimal("1.5"))
    client.force_login(dana)
    rows = list(csv.reader(io.StringIO(client.get(CSV_URL).content.decode())))[1:]
    keys = sorted(row[3] for row in rows)
    assert keys == sorted(["'=HYPERLINK(\"http://evil\")", "'+1", "'-2", "'@SUM(A1)", "plain, \"quoted\""])
    assert all(row[5] == row[3] for row in rows), "the cost-centre column is escaped the same way"


def test_the_cost_panel_on_an_endpoint_page(client, dana, costs, django_assert_max_num_queries):
    client.force_login(dana)
    iris = costs["iris"]
    page = client.get(iris.url_path()).content.decode()
    section = page[page.index('id="cost"'):]
    section = section[: section.index("</section>")]
    # sklearn-iris: 0.10754 yesterday and today. Month to date counts yesterday only within this month.
    today = timezone.now().date()
    expected_mtd = "0.22 USD" if today.day > 1 else "0.11 USD"
    assert f"<dt>Month to date</dt><dd>{expected_mtd}</dd>" in section
    assert "<dt>Last 30 days</dt><dd>0.22 USD</dd>" in section
    assert "CPU 3 %, memory 72 %" in section
    assert 'role="img"' in section and "Daily cost of this endpoint, USD, last 30 days" in section
    assert 'href="/deployments/costs/?window=30d&amp;owner=platform-team"' in section


def test_the_cost_panel_on_a_team_page(client, dana, costs):
    client.force_login(dana)
    team = Entity.objects.get(kind="Group", name="fraud-detection")
    page = client.get(team.url_path()).content.decode()
    section = page[page.index('id="cost"'):]
    section = section[: section.index("</section>")]
    assert "<dt>Last 30 days</dt><dd>0.06 USD</dd>" in section
    assert "fraud-detection's costs on the Costs page" in section


def test_the_cost_panel_without_figures(client, dana, cluster):
    client.force_login(dana)
    entity = endpoint("new-model", "fraud-detection", "cc-demo")
    page = client.get(entity.url_path()).content.decode()
    assert "No cost data yet for this endpoint — OpenCost has not been asked yet." in page


def test_the_page_is_filtered_by_owner(client, dana, costs):
    client.force_login(dana)
    page = client.get(PAGE, {"window": "30d", "owner": "fraud-detection"}).content.decode()
    endpoints = page[page.index('id="endpoints-title"'):page.index('id="trend-title"')]
    assert "demo-iris-2" in endpoints and "sklearn-iris" not in endpoints
    assert "Owner: fraud-detection" in page and "the owner filter does not narrow them" in page


def test_signed_out_visitors_are_sent_to_sign_in(client):
    assert client.get(PAGE).status_code == 302
    assert client.get(CSV_URL).status_code == 302


def test_the_cost_panel_costs_two_queries(rf, dana, costs, django_assert_num_queries):
    from deployments.cost_views import cost_panel

    request = rf.get("/")
    request.user = dana
    team = Entity.objects.get(kind="Group", name="platform-team")
    for entity in (costs["iris"], costs["demo"], team):
        with django_assert_num_queries(2):  # the figures, and when OpenCost last answered
            template, context = cost_panel(entity, request)
        assert context["summary"].has_data
    with django_assert_num_queries(0):
        assert cost_panel(Entity(kind="System", name="fraud-platform"), request) is None
