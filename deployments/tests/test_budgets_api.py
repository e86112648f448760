"""The budgets and right-sizing API: what the two pages show, for a script with a read token;
missing figures as null, bad parameters in words, the schema."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from deployments import budgets
from deployments.models import Budget
from deployments.tests.cost_factories import TODAY, cost_center_days, endpoint_day, month_days
from portal.models import APIToken

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def rules(settings, monkeypatch):
    settings.PORTAL_PRICE_CPU_HOUR = Decimal("0.031611")
    settings.PORTAL_PRICE_GIB_HOUR = Decimal("0.004237")
    settings.PORTAL_RIGHTSIZING_THRESHOLD = 30
    settings.PORTAL_RIGHTSIZING_DAYS = 7
    monkeypatch.setattr(budgets, "today", lambda: TODAY)


@pytest.fixture
def script(dana) -> APIClient:
    _, clear = APIToken.issue(dana, name="budget report", scope="read")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {clear}")
    return client


def test_budgets_with_spend_projection_and_missing_figures_as_null(script, django_assert_max_num_queries):
    cost_center_days("cc-fraud", "4.00", month_days())
    Budget.objects.create(cost_center="cc-fraud", amount=Decimal("99.00"))
    Budget.objects.create(cost_center="cc-search", amount=Decimal("500.00"))

    with django_assert_max_num_queries(6):
        body = script.get("/api/deployments/budgets/").json()

    assert (body["month"], body["days_in_month"]) == ("2026-11-01", 30)
    fraud, search = body["results"]
    assert {key: fraud[key] for key in ("cost_center", "currency", "budget", "month_to_date", "projected", "percent",
                                        "tone", "projected_over", "figures_through")} == {
        "cost_center": "cc-fraud", "currency": "USD", "budget": "99.00", "month_to_date": "80.00",
        "projected": "120.00", "percent": "80.8", "tone": "warn", "projected_over": True,
        "figures_through": "2026-11-20"}
    assert (search["budget"], search["month_to_date"], search["projected"], search["fetched_at"]) == (
        "500.00", None, None, None)


def test_right_sizing_for_a_script(script, gitops_repo, dana):
    from catalog import ingestion
    from portal import snapshot

    snapshot.refresh()
    ingestion.refresh_all()
    for offset in range(7):
        endpoint_day(TODAY - timedelta(days=offset), cpu_efficiency=0.1, ram_efficiency=0.1)

    body = script.get("/api/deployments/right-sizing/", {"owner": "fraud-detection"}).json()

    assert (body["start"], body["end"], body["threshold_percent"], body["min_days"]) == (
        "2026-11-14", "2026-11-20", 30, 5)
    [found] = body["results"]
    assert (found["name"], found["entity_ref"], found["monthly_saving"], found["replicas"]) == (
        "fraud-scorer", "component:default/fraud-scorer", "1.34", 1)
    assert found["resources"][0] == {"resource": "cpu", "current": "100m", "suggested": "50m",
                                     "peak_percent": "10.0", "days": 7}
    assert found["change"]["cpuRequest"] == "50m"


def test_an_unknown_owner_is_said_in_words(script):
    response = script.get("/api/deployments/right-sizing/", {"owner": "nobody"})

    assert response.status_code == 400
    assert response.json()["error"]["message"] == "owner: Select a valid choice. nobody is not one of the available choices."


def test_anonymous_gets_401_json(client):
    response = client.get("/api/deployments/budgets/")

    assert response.status_code == 401 and response["Content-Type"].startswith("application/json")


def test_the_schema_documents_both(script, tmp_path):
    schema = script.get("/api/schema/").json()

    assert schema["paths"]["/api/deployments/budgets/"]["get"]["operationId"] == "getBudgets"
    assert schema["paths"]["/api/deployments/right-sizing/"]["get"]["operationId"] == "getRightsizing"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
