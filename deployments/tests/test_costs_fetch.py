"""The cost job against an OpenCost serving the real example payloads: snapshots per endpoint,
owner and cost centre; endpoints matched to the catalog; a re-run replacing a day; an outage
keeping the last figures; totals by cost centre and owner; the roll-up by month and the prune."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog import store as catalog
from catalog.models import Entity
from deployments import opencost
from deployments.costs import fetch, report
from deployments.models import (
    Cluster,
    CostMonth,
    CostPoll,
    CostScope,
    CostSnapshot,
    WorkloadKind,
    WorkloadStatus,
)
from deployments.tests.opencost_fake import FakeOpenCost

pytestmark = pytest.mark.django_db

TODAY = date(2026, 5, 19)
NOW = datetime(2026, 5, 19, 15, 0, tzinfo=UTC)


def quick_client(url: str) -> opencost.OpenCostClient:
    return opencost.OpenCostClient(url, backoff=0, timeout=2)


def endpoint(name: str, owner: str, cost_center: str) -> Entity:
    catalog.upsert({
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": {"name": name, "labels": {"cost-center": cost_center}},
        "spec": {"type": "model-endpoint", "owner": owner, "lifecycle": "production"},
    })
    return Entity.objects.get(name=name)


def isvc(cluster: Cluster, name: str, entity: Entity | None = None, **labels) -> WorkloadStatus:
    return WorkloadStatus.objects.create(cluster=cluster, kind=WorkloadKind.INFERENCE_SERVICE, namespace="default",
                                         name=name, entity=entity, labels=labels, ready="True")


@pytest.fixture
def cluster() -> Cluster:
    return Cluster.default()


@pytest.fixture
def opencost_server(httpserver, settings, cluster) -> FakeOpenCost:
    fake = FakeOpenCost(httpserver, TODAY)
    settings.PORTAL_OPENCOST_URL = fake.url
    return fake


def run(cluster, **kwargs) -> fetch.CostPollResult:
    return fetch.poll(cluster, today=kwargs.pop("today", TODAY), now=kwargs.pop("now", NOW),
                      client_factory=quick_client, **kwargs)


def test_yesterday_and_today_are_stored_per_endpoint_owner_and_cost_centre(cluster, opencost_server):
    result = run(cluster)
    # The first success fetches the last 30 days, so the pages have a history from the start: a
    # week per question, one per aggregation, a set per day (nothing ran before yesterday here).
    assert result.error == "" and result.calls == 15 and len(result.days) == 30
    weeks = ["2026-04-20T00:00:00Z,2026-04-27T00:00:00Z", "2026-04-27T00:00:00Z,2026-05-04T00:00:00Z",
             "2026-05-04T00:00:00Z,2026-05-11T00:00:00Z", "2026-05-11T00:00:00Z,2026-05-18T00:00:00Z",
             "2026-05-18T00:00:00Z,2026-05-19T15:00:00Z"]
    assert [(a["window"], a["aggregate"], a["step"]) for a in opencost_server.asked] == [
        (window, aggregate, "1d")
        for window in weeks for aggregate in ("namespace,controller", "label:owner", "label:cost-center")
    ]
    assert "accumulate" not in opencost_server.asked[0]
    keys = set(CostSnapshot.objects.values_list("day", "scope", "key"))
    assert keys == {
        (date(2026, 5, 18), "cost-center", "cc-platform"), (date(2026, 5, 18), "cost-center", "__unallocated__"),
        (date(2026, 5, 19), "cost-center", "cc-platform"), (date(2026, 5, 19), "cost-center", "cc-demo"),
        (date(2026, 5, 19), "cost-center", "__unallocated__"),
        (date(2026, 5, 18), "owner", "platform-team"), (date(2026, 5, 18), "owner", "__unallocated__"),
        (date(2026, 5, 19), "owner", "platform-team"), (date(2026, 5, 19), "owner", "fraud-detection"),
        (date(2026, 5, 19), "owner", "__unallocated__"),
        (date(2026, 5, 18), "endpoint", "default/deployment:sklearn-iris-predictor-00001-deployment"),
        (date(2026, 5, 18), "endpoint", "__unallocated__"),
        (date(2026, 5, 19), "endpoint", "default/deployment:sklearn-iris-predictor-00001-deployment"),
        (date(2026, 5, 19), "endpoint", "default/deployment:demo-iris-2-predictor-00001-deployment"),
        (date(2026, 5, 19), "endpoint", "__unallocated__"),
    }
    assert result.rows == len(keys) == 15
    demo = CostSnapshot.objects.get(scope="cost-center", key="cc-demo")
    assert (demo.cpu_cost, demo.ram_cost, demo.total_cost) == (Decimal("0.05729"), Decimal("0.00768"), Decimal("0.06497"))
    assert demo.minutes == 870 and demo.cpu_efficiency == pytest.approx(0.03016) and demo.currency == "USD"
    assert demo.cost_center == "cc-demo" and demo.owner == ""
    poll = CostPoll.objects.get(cluster=cluster)
    assert poll.last_success_at == NOW and not poll.stale

    # Later fetches ask for yesterday and today only.
    opencost_server.asked.clear()
    again = run(cluster, now=NOW + timedelta(minutes=15))
    assert again.days == [date(2026, 5, 18), TODAY] and again.rows == 15
    assert {a["window"] for a in opencost_server.asked} == {"2026-05-18T00:00:00Z,2026-05-19T15:15:00Z"}


def test_totals_by_cost_centre_and_owner_over_the_stored_days(cluster, opencost_server):
    run(cluster)
    week = report.window("7d", TODAY)
    # Hand-computed in test_costs_opencost: 0.10754 x 2 days, 0.06497 on day 2, 2.09809 + 2.21835.
    by_centre = {t.key: t.total_cost for t in report.totals(CostScope.COST_CENTER, week)}
    assert by_centre == {"cc-platform": Decimal("0.21508"), "cc-demo": Decimal("0.06497"),
                         "__unallocated__": Decimal("4.31644")}
    by_owner = {t.label: (t.total_cost, t.currency) for t in report.totals(CostScope.OWNER, week)}
    assert by_owner == {"platform-team": (Decimal("0.21508"), "USD"), "fraud-detection": (Decimal("0.06497"), "USD"),
                        "No owner label": (Decimal("4.31644"), "USD")}
    # Yesterday alone: cc-demo had not started.
    yesterday = {t.key: t.total_cost for t in report.totals(CostScope.COST_CENTER, report.window("24h", TODAY))}
    assert yesterday == {"cc-platform": Decimal("0.10754"), "__unallocated__": Decimal("2.09809")}
    # The cost centre's CPU efficiency over two days, weighted by CPU cost (equal here): the mean.
    platform = report.totals(CostScope.COST_CENTER, week)[1]
    assert platform.key == "cc-platform"
    assert platform.cpu_efficiency == pytest.approx((0.03296 + 0.0324) / 2)
    series = {s.key: s.points for s in report.daily_series(CostScope.COST_CENTER, week)}
    assert series["cc-demo"][-2:] == [(date(2026, 5, 18), None), (date(2026, 5, 19), Decimal("0.06497"))]
    assert series["cc-demo"][0] == (date(2026, 5, 13), None), "a day without figures is missing, not zero"


def test_endpoints_are_matched_to_the_catalog_through_their_inference_service(cluster, opencost_server):
    iris = endpoint("sklearn-iris", "platform-team", "cc-platform")
    isvc(cluster, "sklearn-iris", iris)
    # Not registered in the catalog: its InferenceService's labels still say whose it is.
    isvc(cluster, "demo-iris-2", None, owner="fraud-detection", **{"cost-center": "cc-demo"})
    run(cluster)
    today_rows = {r.key: r for r in CostSnapshot.objects.filter(scope="endpoint", day=TODAY)}
    matched = today_rows["default/deployment:sklearn-iris-predictor-00001-deployment"]
    assert (matched.entity_id, matched.entity_ref) == (iris.pk, "component:default/sklearn-iris")
    assert (matched.owner, matched.cost_center) == ("platform-team", "cc-platform")
    assert (matched.namespace, matched.name) == ("default", "sklearn-iris-predictor-00001-deployment")
    unregistered = today_rows["default/deployment:demo-iris-2-predictor-00001-deployment"]
    assert (unregistered.entity_ref, unregistered.owner, unregistered.cost_center) == ("", "fraud-detection", "cc-demo")
    assert today_rows["__unallocated__"].entity_ref == ""

    top = report.totals(CostScope.ENDPOINT, report.window("7d", TODAY), limit=10)
    assert [(t.label, t.total_cost) for t in top] == [
        ("Not attributed to a controller", Decimal("4.31644")),
        ("sklearn-iris", Decimal("0.21508")),
        ("default/demo-iris-2-predictor-00001-deployment", Decimal("0.06497")),
    ]
    assert top[1].url == "/catalog/default/component/sklearn-iris" == iris.url_path()
    mine = report.totals(CostScope.ENDPOINT, report.window("7d", TODAY), owner="fraud-detection")
    assert [t.key for t in mine] == ["default/deployment:demo-iris-2-predictor-00001-deployment"]


@pytest.mark.parametrize(("controller", "isvc_name"), [
    ("fraud-predictor", "fraud"),
    ("fraud-predictor-default", "fraud"),
    ("fraud-predictor-default-7xk2p", "fraud"),
    ("fraud-predictor-00003-deployment", "fraud"),
    ("card-fraud-v2-transformer-00001-deployment", "card-fraud-v2"),
    ("opencost", ""),
])
def test_kserve_controller_names(controller, isvc_name):
    assert fetch.inference_service_name(controller) == isvc_name


def test_a_rerun_replaces_the_day_with_the_new_figures(cluster, httpserver, settings):
    fake = FakeOpenCost(httpserver, TODAY)
    settings.PORTAL_OPENCOST_URL = fake.url
    run(cluster)
    before = CostSnapshot.objects.count()
    fake.scale = 2.0
    with CaptureQueriesContext(connection) as first:
        run(cluster, now=NOW + timedelta(minutes=15))
    assert CostSnapshot.objects.count() == before
    assert CostSnapshot.objects.get(scope="cost-center", key="cc-demo").total_cost == Decimal("0.12994")
    # Constant queries: the same number whatever the rows, one bulk insert for all of them.
    with CaptureQueriesContext(connection) as second:
        run(cluster, now=NOW + timedelta(minutes=30))
    assert len(first) == len(second) <= 12
    inserts = [q for q in second.captured_queries if q["sql"].startswith("INSERT") and "costsnapshot" in q["sql"]]
    assert len(inserts) == 1


def test_an_outage_keeps_the_last_figures_and_says_why(cluster, opencost_server):
    run(cluster)
    stored = list(CostSnapshot.objects.order_by("pk").values_list("key", "total_cost"))
    opencost_server.fail_with = 500
    later = NOW + timedelta(hours=2)
    result = run(cluster, now=later)
    assert result.error == (f"OpenCost at {opencost_server.url} answered 500: "
                            "Prometheus query failed: connection refused")
    assert list(CostSnapshot.objects.order_by("pk").values_list("key", "total_cost")) == stored
    poll = CostPoll.objects.get(cluster=cluster)
    assert poll.stale and poll.last_error == result.error and poll.last_error_at == later
    assert poll.last_success_at == NOW, "the figures shown are as old as the last success"


def test_only_clusters_with_an_opencost_are_asked(cluster, opencost_server, settings):
    other = Cluster.objects.create(name="eu-prod")
    settings.PORTAL_CLUSTERS = ["default=sandbox", "eu-prod=gke_eu"]
    results = {r.cluster: r for r in fetch.poll_all(today=TODAY, now=NOW, client_factory=quick_client)}
    assert results["eu-prod"].skipped == "no OpenCost URL" and results["default"].rows == 15
    assert not CostPoll.objects.filter(cluster=other).exists()


def test_the_sandbox_serves_opencost_in_development(settings, tmp_path, cluster):
    from sandbox.runner import write_kubeconfig

    settings.PORTAL_OPENCOST_URL = ""
    settings.PORTAL_KUBECONFIG = str(write_kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:8766"))
    assert fetch.opencost_url(cluster) == "http://127.0.0.1:8766"
    settings.PRODUCTION = True
    assert fetch.opencost_url(cluster) == ""


def snapshot(cluster, day: date, key: str, total: str, cpu_eff: float, scope=CostScope.COST_CENTER) -> CostSnapshot:
    return CostSnapshot.objects.create(
        cluster=cluster, day=day, scope=scope, key=key, cost_center=key, total_cost=Decimal(total),
        cpu_cost=Decimal(total), cpu_efficiency=cpu_eff, total_efficiency=cpu_eff, minutes=1440,
        cpu_core_request_average=1.0, cpu_core_usage_average=cpu_eff,
    )


def test_old_snapshots_are_rolled_up_by_month_then_pruned(cluster, settings):
    settings.PORTAL_RETENTION_DAYS = 90
    today = date(2026, 5, 19)  # cutoff: 2026-02-18
    snapshot(cluster, date(2026, 1, 30), "cc-fraud", "2.000000", 0.10)
    snapshot(cluster, date(2026, 1, 31), "cc-fraud", "6.000000", 0.30)
    snapshot(cluster, date(2026, 2, 17), "cc-fraud", "1.500000", 0.50)
    kept = snapshot(cluster, date(2026, 2, 18), "cc-fraud", "9.000000", 0.90)
    assert fetch.rollup(today) == (3, 2)
    assert list(CostSnapshot.objects.all()) == [kept]
    january = CostMonth.objects.get(month=date(2026, 1, 1), key="cc-fraud")
    assert january.total_cost == Decimal("8.000000") and january.days == 2 and january.minutes == 2880
    # Weighted by CPU cost: (0.10 x 2 + 0.30 x 6) / 8 = 0.25 (a plain mean would say 0.20).
    assert january.cpu_efficiency == pytest.approx(0.25)
    assert january.cpu_core_usage_average == pytest.approx(0.20), "averages are weighted by minutes"
    assert CostMonth.objects.get(month=date(2026, 2, 1)).total_cost == Decimal("1.500000")

    # The next day's roll-up adds into the month already there.
    assert fetch.rollup(today + timedelta(days=1)) == (1, 1)
    february = CostMonth.objects.get(month=date(2026, 2, 1))
    assert (february.total_cost, february.days) == (Decimal("10.500000"), 2)
    assert february.cpu_efficiency == pytest.approx((0.5 * 1.5 + 0.9 * 9) / 10.5)
    assert not CostSnapshot.objects.exists()
    assert fetch.rollup(today + timedelta(days=1)) == (0, 0)


def test_the_beat_tasks(cluster, opencost_server, settings):
    from django.utils import timezone

    from deployments.tasks import poll_costs, rollup_costs

    settings.PORTAL_CLUSTERS = []
    today = timezone.now().date()
    # The first fetch backfills 30 days, all after the fake's TODAY: its second day (9 rows) for each.
    assert poll_costs() == f"default: 270 rows for 30 days to {today}"
    assert rollup_costs() == "0 cost snapshots rolled up into 0 monthly rows"


def test_beat_asks_for_costs_shortly_after_it_starts(monkeypatch):
    from celery.signals import beat_init

    from deployments import tasks

    sent = []
    monkeypatch.setattr(tasks.poll_costs, "apply_async", lambda **options: sent.append(options))
    beat_init.send(sender=None)
    assert sent == [{"countdown": 15}]


def test_an_opencost_that_is_not_listening_keeps_the_figures_too(cluster, opencost_server, settings):
    from deployments.tests.test_costs_opencost import free_port

    run(cluster)
    before = CostSnapshot.objects.count()
    port = free_port()
    settings.PORTAL_OPENCOST_URL = f"http://127.0.0.1:{port}"
    result = run(cluster, now=NOW + timedelta(hours=1))
    assert result.error == f"OpenCost at http://127.0.0.1:{port} cannot be reached: connection refused"
    assert result.calls == 3, "a refused connection is tried twice more, then the fetch stops"
    assert CostSnapshot.objects.count() == before
    assert CostPoll.objects.get(cluster=cluster).last_success_at == NOW
