"""The costs API: totals per cost centre, owner and endpoint, and the daily series, each with its
currency, window and freshness; a script with a read token, bad parameters in words, the schema."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from deployments.costs import fetch
from deployments.models import CostPoll
from deployments.tests.test_costs_pages import cluster, costs, fake, quick_client  # noqa: F401  (fixtures)
from portal.models import APIToken

pytestmark = pytest.mark.django_db

BASE = "/api/deployments/costs/"


@pytest.fixture
def script(dana) -> APIClient:
    _, clear = APIToken.issue(dana, name="cost report", scope="read")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {clear}")
    return client


def test_totals_by_cost_centre_with_currency_window_and_freshness(script, costs, django_assert_max_num_queries):  # noqa: F811
    with django_assert_max_num_queries(6):
        body = script.get(f"{BASE}cost-centers/", {"window": "7d"}).json()
    today = timezone.now().date()
    assert body["window"] == {"key": "7d", "words": "last 7 days", "start": str(today - timedelta(days=6)),
                              "end": str(today)}
    assert body["currency"] == "USD"
    assert body["freshness"]["stale"] is False and body["freshness"]["age_seconds"] < 60
    totals = {r["key"]: r["total_cost"] for r in body["results"]}
    # 0.10754 x 2 days; 0.06497 today; 2.09809 + 2.21835 without the label.
    assert totals == {"__unallocated__": "4.316440", "cc-platform": "0.215080", "cc-demo": "0.064970"}
    demo = next(r for r in body["results"] if r["key"] == "cc-demo")
    assert demo["cpu_cost"] == "0.057290" and demo["ram_cost"] == "0.007680" and demo["currency"] == "USD"
    assert demo["cpu_efficiency"] == pytest.approx(0.03016)


def test_totals_by_owner_and_by_endpoint(script, costs):  # noqa: F811
    owners = script.get(f"{BASE}owners/", {"window": "24h"}).json()
    assert [(r["label"], r["total_cost"]) for r in owners["results"]] == [
        ("No owner label", "2.098090"), ("platform-team", "0.107540")]
    endpoints = script.get(f"{BASE}endpoints/", {"window": "30d", "limit": "1", "owner": "fraud-detection"}).json()
    assert [(r["key"], r["owner"], r["cost_center"], r["total_cost"]) for r in endpoints["results"]] == [
        ("component:default/demo-iris-2", "fraud-detection", "cc-demo", "0.064970")]


def test_the_daily_series_marks_missing_days_as_null(script, costs):  # noqa: F811
    body = script.get(f"{BASE}daily/", {"window": "7d", "cost_center": "cc-demo"}).json()
    (demo,) = body["results"]
    assert demo["key"] == "cc-demo" and len(demo["points"]) == 7
    assert demo["points"][-1]["total_cost"] == "0.064970"
    assert all(p["total_cost"] is None for p in demo["points"][:-1])


def test_stale_figures_say_so(script, costs, fake):  # noqa: F811
    fake.fail_with = 503
    fetch.poll(CostPoll.objects.get().cluster, client_factory=quick_client)
    body = script.get(f"{BASE}cost-centers/").json()
    assert body["freshness"]["stale"] is True
    (error,) = body["freshness"]["errors"]
    assert error["cluster"] == "default" and error["error"].endswith("answered 503: Prometheus query failed: connection refused")
    assert body["results"], "the last figures are still given"


def test_bad_parameters_are_named(script):
    response = script.get(f"{BASE}owners/", {"window": "fortnight"})
    assert response.status_code == 400
    assert "window must be one of 24h, 7d, 30d, mtd, not 'fortnight'" in response.json()["error"]["message"]
    response = script.get(f"{BASE}endpoints/", {"limit": "0"})
    assert response.status_code == 400 and "limit must be a whole number from 1 to 500" in response.json()["error"]["message"]


def test_no_credentials_is_a_401():
    assert APIClient().get(f"{BASE}cost-centers/").status_code == 401


def test_the_schema_documents_the_costs_api(script, tmp_path):
    schema = script.get("/api/schema/").json()
    operations = {schema["paths"][f"{BASE}{path}/"]["get"]["operationId"] for path in
                  ("cost-centers", "owners", "endpoints", "daily")}
    assert operations == {"getCostsByCostCenter", "getCostsByOwner", "getCostsByEndpoint", "getDailyCostsByCostCenter"}
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
