"""The cost job against the sandbox cluster's own OpenCost API (as in `make run`): figures computed
from the running endpoints' requests, matched to the catalog through the status poller's rows."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from catalog import store as catalog
from deployments import status
from deployments.costs import fetch, report
from deployments.models import Cluster, CostScope, CostSnapshot
from sandbox.testing import sandbox_fixture  # noqa: F401  (provides `sandbox`)

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 5, 19, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
CENT = Decimal("0.01")


def isvc(name: str, owner: str, cost_center: str, cpu: str, memory: str) -> dict:
    return {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": name, "namespace": "default", "creationTimestamp": "2026-05-01T00:00:00Z",
                     "labels": {"owner": owner, "cost-center": cost_center}},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "gs://models/x",
                                         "resources": {"requests": {"cpu": cpu, "memory": memory}}}}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


def test_the_sandbox_opencost_feeds_the_cost_pages(sandbox, settings):
    sandbox.server.opencost.clock = lambda: NOW
    cluster = Cluster.default()
    cluster.opencost_url = sandbox.url
    cluster.save()
    catalog.upsert({
        "apiVersion": "backstage.io/v1alpha1", "kind": "Component",
        "metadata": {"name": "fraud-scorer", "labels": {"cost-center": "cc-fraud"},
                     "annotations": {"neuroscale.io/inference-service": "default/fraud-scorer"}},
        "spec": {"type": "model-endpoint", "owner": "fraud-detection", "lifecycle": "production"},
    })
    sandbox.store.put(isvc("fraud-scorer", "fraud-detection", "cc-fraud", "500m", "512Mi"))
    sandbox.store.put(isvc("churn", "platform-team", "cc-platform", "1", "1Gi"))
    status.poll(cluster, sandbox.api_client)

    result = fetch.poll(cluster, today=TODAY, now=NOW)
    # The first fetch backfills 30 days, a week per question; the endpoints have run since May 1:
    # 19 days x (2 cost centres + 2 owners + 2 endpoints).
    assert result.error == "" and result.calls == 15 and len(result.days) == 30
    assert result.rows == 114 and not CostSnapshot.objects.filter(day__lt=date(2026, 5, 1)).exists()

    # fraud-scorer on May 18, a whole day: 0.5 core x 24 h = 12 core-hours x 0.031611 = 0.379332,
    # 0.5 GiB x 24 h = 12 GiB-hours x 0.004237 = 0.050844; 0.430176 in all -> 0.43.
    # On May 19 until 12:00, half of that: 0.215088. Over the last 7 days (May 13 to 18 whole,
    # May 19 half): 6 x 0.430176 + 0.215088 = 2.796144 -> 2.80.
    # churn asks twice as much: 6 x 0.860352 + 0.430176 = 5.592288 -> 5.59.
    day18 = {r.key: r for r in CostSnapshot.objects.filter(day=date(2026, 5, 18), scope=CostScope.COST_CENTER)}
    assert day18["cc-fraud"].total_cost.quantize(CENT) == Decimal("0.43")
    assert day18["cc-fraud"].cpu_cost.quantize(Decimal("0.0001")) == Decimal("0.3793")
    assert day18["cc-fraud"].minutes == 1440
    week = report.window("7d", TODAY)
    by_centre = {t.key: t.total_cost.quantize(CENT) for t in report.totals(CostScope.COST_CENTER, week)}
    assert by_centre == {"cc-platform": Decimal("5.59"), "cc-fraud": Decimal("2.80")}
    by_owner = {t.key: t.total_cost.quantize(CENT) for t in report.totals(CostScope.OWNER, week)}
    assert by_owner == {"platform-team": Decimal("5.59"), "fraud-detection": Decimal("2.80")}

    endpoints = {t.label: t for t in report.totals(CostScope.ENDPOINT, week)}
    scorer = endpoints["fraud-scorer"]
    assert (scorer.entity_ref, scorer.owner, scorer.cost_center) == ("component:default/fraud-scorer",
                                                                      "fraud-detection", "cc-fraud")
    assert scorer.total_cost.quantize(CENT) == Decimal("2.80")
    # Not in the catalog: named by its controller, owner and cost centre from its labels.
    churn = endpoints["default/churn-predictor"]
    assert (churn.entity_ref, churn.owner, churn.cost_center) == ("", "platform-team", "cc-platform")
    # The sandbox uses less than it asks for: efficiencies between 35 % and 85 %.
    assert 0.35 <= scorer.cpu_efficiency <= 0.85 and 0.35 <= scorer.ram_efficiency <= 0.85
