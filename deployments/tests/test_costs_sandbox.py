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
    assert result.error == "" and result.calls == 6

    # fraud-scorer on May 18, a whole day: 0.5 core x 24 h = 12 core-hours x 0.031611 = 0.379332,
    # 0.5 GiB x 24 h = 12 GiB-hours x 0.004237 = 0.050844; 0.430176 in all -> 0.43.
    # On May 19 until 12:00, half of that: 0.215088 -> 0.22. Two days: 0.645264 -> 0.65.
    # churn asks twice as much: 0.860352 a day, 0.430176 this morning; 1.290528 -> 1.29.
    day18 = {r.key: r for r in CostSnapshot.objects.filter(day=date(2026, 5, 18), scope=CostScope.COST_CENTER)}
    assert day18["cc-fraud"].total_cost.quantize(CENT) == Decimal("0.43")
    assert day18["cc-fraud"].cpu_cost.quantize(Decimal("0.0001")) == Decimal("0.3793")
    assert day18["cc-fraud"].minutes == 1440
    week = report.window("7d", TODAY)
    by_centre = {t.key: t.total_cost.quantize(CENT) for t in report.totals(CostScope.COST_CENTER, week)}
    assert by_centre == {"cc-platform": Decimal("1.29"), "cc-fraud": Decimal("0.65")}
    by_owner = {t.key: t.total_cost.quantize(CENT) for t in report.totals(CostScope.OWNER, week)}
    assert by_owner == {"platform-team": Decimal("1.29"), "fraud-detection": Decimal("0.65")}

    endpoints = {t.label: t for t in report.totals(CostScope.ENDPOINT, week)}
    scorer = endpoints["fraud-scorer"]
    assert (scorer.entity_ref, scorer.owner, scorer.cost_center) == ("component:default/fraud-scorer",
                                                                      "fraud-detection", "cc-fraud")
    assert scorer.total_cost.quantize(CENT) == Decimal("0.65")
    # Not in the catalog: named by its controller, owner and cost centre from its labels.
    churn = endpoints["default/churn-predictor"]
    assert (churn.entity_ref, churn.owner, churn.cost_center) == ("", "platform-team", "cc-platform")
    # The sandbox uses less than it asks for: efficiencies between 35 % and 85 %.
    assert 0.35 <= scorer.cpu_efficiency <= 0.85 and 0.35 <= scorer.ram_efficiency <= 0.85
