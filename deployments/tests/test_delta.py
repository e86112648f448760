"""The resource and cost delta of a change: per workload before and after, replicas counted,
totals, review flags, and the monthly estimate to the cent; a value that does not parse is an
error in words, never zero.

Prices are pinned to the documented defaults, so the figures below are worked out by hand:
$0.031611 per CPU hour, $0.004237 per GiB hour, $0.95 per GPU hour, 730 hours a month.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from catalog.tests.conftest import commit  # noqa: F401 - fixture
from deployments.delta import DELTA_MARKER, Thresholds, change_delta
from portal import snapshot

pytestmark = pytest.mark.django_db

PATH = "apps/churn-model/inference-service.yaml"
GI = 2**30


def endpoint(*, replicas: int = 1, max_replicas: int | None = None, cpu: str = "500m", cpu_limit: str = "1",
             memory: str = "1Gi", memory_limit: str = "2Gi", gpu: int = 0) -> bytes:
    gpus = f', nvidia.com/gpu: "{gpu}"' if gpu else ""
    return f"""\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: churn-model
  namespace: default
  labels: {{owner: fraud-detection, cost-center: cc-fraud}}
spec:
  predictor:
    minReplicas: {replicas}
    maxReplicas: {max_replicas or replicas}
    model:
      modelFormat: {{name: sklearn}}
      storageUri: gs://models/churn
      resources:
        requests: {{cpu: "{cpu}", memory: "{memory}"{gpus}}}
        limits: {{cpu: "{cpu_limit}", memory: "{memory_limit}"{gpus}}}
""".encode()


@pytest.fixture(autouse=True)
def prices(settings):
    settings.PORTAL_PRICE_CPU_HOUR = Decimal("0.031611")
    settings.PORTAL_PRICE_GIB_HOUR = Decimal("0.004237")
    settings.PORTAL_PRICE_GPU_HOUR = Decimal("0.95")


@pytest.fixture
def repository(gitops_repo):
    """The demo repository (examples/gitops) in the snapshot."""
    snapshot.refresh()
    return gitops_repo


def test_adding_an_endpoint_costs_its_requests_for_a_month(repository):
    delta = change_delta({PATH: endpoint(), "apps/churn-model/catalog-info.yaml": b"kind: Component\n"})

    [row] = delta.rows
    assert (row.label, row.change, row.before) == ("InferenceService default/churn-model", "added", None)
    assert row.after.requests == {"cpu": Decimal("0.5"), "memory": Decimal(GI), "gpu": 0}
    assert row.after.limits == {"cpu": Decimal(1), "memory": Decimal(2 * GI), "gpu": 0}
    # (0.5 × 0.031611 + 1 × 0.004237) × 730 = 14.631025
    assert row.after.monthly_cost == Decimal("14.63")
    assert delta.before.monthly_cost == Decimal("0.00")
    assert delta.difference == Decimal("14.63")
    assert delta.headline() == "about $14.63 per month (was $0.00, +$14.63)"
    assert row.flags == []


def test_changing_replicas_and_cpu_multiplies_requests_by_replicas(repository, commit):  # noqa: F811
    commit({PATH: endpoint().decode()})

    delta = change_delta({PATH: endpoint(replicas=3, cpu="1", cpu_limit="2")})

    [row] = delta.rows
    assert row.change == "changed"
    assert row.before.requests["cpu"] == Decimal("0.5")
    assert row.after.requests == {"cpu": Decimal(3), "memory": Decimal(3 * GI), "gpu": 0}
    assert row.after.limits == {"cpu": Decimal(6), "memory": Decimal(6 * GI), "gpu": 0}
    # (3 × 0.031611 + 3 × 0.004237) × 730 = 78.50712
    assert (delta.before.monthly_cost, delta.after.monthly_cost) == (Decimal("14.63"), Decimal("78.51"))
    assert delta.difference == Decimal("63.88")
    cells = row.cells()
    assert (cells["replicas"], cells["cpu_request"], cells["cost"]) == ("1 → 3", "500m → 3", "$14.63 → $78.51")
    assert delta.totals_cells()["cost"] == "$14.63 → $78.51 (+$63.88)"


def test_removing_an_endpoint_counts_its_limitrange_defaults_as_the_saving(repository):
    # fraud-scorer sets no resources: the namespace's LimitRange gives 100m and 128Mi per replica.
    delta = change_delta({"apps/fraud-scorer/inference-service.yaml": None, "apps/fraud-scorer/catalog-info.yaml": None})

    [row] = delta.rows
    assert (row.label, row.change, row.after) == ("InferenceService default/fraud-scorer", "removed", None)
    assert row.before.requests == {"cpu": Decimal("0.1"), "memory": Decimal(128 * 2**20), "gpu": 0}
    assert row.before.limits == {"cpu": Decimal("0.5"), "memory": Decimal(512 * 2**20), "gpu": 0}
    # (0.1 × 0.031611 + 0.125 × 0.004237) × 730 = 2.69422925
    assert delta.before.monthly_cost == Decimal("2.69")
    assert delta.after.monthly_cost == Decimal("0.00")
    assert delta.headline() == "about $0.00 per month (was $2.69, −$2.69)"


def test_a_range_of_replicas_is_shown_and_its_maximum_priced(repository):
    delta = change_delta({PATH: endpoint(replicas=1, max_replicas=3)})

    [row] = delta.rows
    assert row.cells()["replicas"] == "1–3"
    assert row.after.monthly_cost == Decimal("14.63")
    # 3 × 0.0200425 × 730 = 43.893075
    assert row.after.max_monthly_cost == Decimal("43.89")
    assert "up to $43.89 per month" in " ".join(delta.notes())


def test_scale_to_zero_costs_nothing_while_idle(repository):
    delta = change_delta({PATH: endpoint(replicas=0, max_replicas=2)})

    [row] = delta.rows
    assert row.after.monthly_cost == Decimal("0.00")
    assert row.after.max_monthly_cost == Decimal("29.26")  # 2 × 14.631025
    assert row.cells()["replicas"] == "0–2"
    assert any("scales to zero" in note for note in delta.notes())


def test_workloads_above_the_thresholds_are_flagged(repository):
    delta = change_delta({PATH: endpoint(replicas=2, cpu="1500m", cpu_limit="2", memory="3Gi", memory_limit="3Gi", gpu=1)})

    [row] = delta.rows
    assert row.flags == [
        "requests 3 CPU across 2 replicas, above the 2 CPU review threshold",
        "requests 6Gi of memory across 2 replicas, above the 4Gi of memory review threshold",
        "1 GPU per replica",
    ]
    # (3 × 0.031611 + 6 × 0.004237 + 2 × 0.95) × 730 = 1474.78615
    assert row.after.monthly_cost == Decimal("1474.79")
    assert "**Above the review thresholds**" in delta.as_markdown()


def test_thresholds_are_configurable_and_a_small_endpoint_is_not_flagged(repository):
    files = {PATH: endpoint(replicas=2, max_replicas=10, cpu_limit="2")}

    assert change_delta(files).flags == [], "limits and maximum replicas are not what it reserves"
    assert [flag for _, flag in change_delta(files, thresholds=Thresholds(cpu=Decimal("0.5"))).flags] == [
        "requests 1 CPU across 2 replicas, above the 500m CPU review threshold"
    ]


def test_an_endpoint_that_scales_to_zero_is_flagged_by_one_replica(repository):
    delta = change_delta({PATH: endpoint(replicas=0, max_replicas=4, cpu="3", cpu_limit="3")})

    assert [flag for _, flag in delta.flags] == ["requests 3 CPU across 1 replica, above the 2 CPU review threshold"]


def test_a_quantity_that_does_not_parse_is_an_error_never_zero(repository):
    delta = change_delta({PATH: endpoint(cpu="lots")})

    [row] = delta.rows
    assert row.after is None
    assert "spec.predictor.model.resources.requests.cpu: 'lots' is not a Kubernetes quantity" in row.after_error
    assert delta.after is None and delta.difference is None
    assert delta.headline() == "cost unknown until the errors below are fixed"
    assert row.cells()["cost"] == "error"
    markdown = delta.as_markdown()
    assert "**Could not be counted**" in markdown and "'lots' is not a Kubernetes quantity" in markdown
    assert delta.totals_cells()["cost"] == "$0.00 → unknown"


def test_a_manifest_that_is_not_yaml_is_an_error_row(repository):
    delta = change_delta({PATH: b"kind: [unclosed\n"})

    [row] = delta.rows
    assert row.label == PATH and "fix the YAML" in row.after_error
    assert delta.after is None


def test_files_outside_apps_and_other_kinds_are_left_out(repository):
    delta = change_delta({
        "apps/churn-model/catalog-info.yaml": b"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: churn-model}\n",
        "infrastructure/extra/deployment.yaml": endpoint(),
    })

    assert delta.rows == []
    assert delta.headline() == "no workload changes"
    assert "adds, changes or removes no Deployment or InferenceService" in delta.as_markdown()


def test_a_relabelled_manifest_with_the_same_resources_adds_no_row(repository, commit):  # noqa: F811
    commit({PATH: endpoint().decode()})

    assert change_delta({PATH: endpoint().replace(b"cc-fraud", b"cc-risk")}).rows == []


def test_deployments_count_their_replicas_and_containers(repository):
    deployment = b"""\
apiVersion: apps/v1
kind: Deployment
metadata: {name: feature-store, namespace: default}
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: api
          image: registry.example/feature-store:1.2
          resources: {requests: {cpu: 250m, memory: 512Mi}, limits: {cpu: 500m, memory: 1Gi}}
        - name: sidecar
          image: registry.example/proxy:3.1
          resources: {requests: {cpu: 250m, memory: 512Mi}, limits: {cpu: 500m, memory: 1Gi}}
"""
    delta = change_delta({"apps/feature-store/deployment.yaml": deployment})

    [row] = delta.rows
    assert row.label == "Deployment default/feature-store"
    assert row.after.requests == {"cpu": Decimal(1), "memory": Decimal(2 * GI), "gpu": 0}
    # (1 × 0.031611 + 2 × 0.004237) × 730 = 29.26205
    assert row.after.monthly_cost == Decimal("29.26")


def test_the_markdown_comment_carries_its_marker_and_the_table(repository):
    markdown = change_delta({PATH: endpoint()}).as_markdown()

    assert markdown.splitlines()[0] == f"<!-- {DELTA_MARKER} -->"
    assert "About $14.63 per month (was $0.00, +$14.63)." in markdown
    assert "| Workload | Change | Replicas | CPU request | CPU limit | Memory request | Memory limit | GPUs | Per month |" in markdown
    assert "| InferenceService default/churn-model | added | 1 | 500m | 1 | 1Gi | 2Gi | 0 | $14.63 |" in markdown
    assert "| **Total** |  |  | 0 → 500m | 0 → 1 | 0 → 1Gi | 0 → 2Gi | 0 | $0.00 → $14.63 (+$14.63) |" in markdown
