"""The OpenCost client: every example payload parsed, the label example's cost centres added up by
hand to the cent, both API paths, and failures in words (500, nobody listening, too slow)."""

from __future__ import annotations

import json
import socket
import time
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from werkzeug import Response

from deployments import opencost
from deployments.tests.opencost_fake import EXAMPLES, LABEL_EXAMPLE, load


def parsed(name: str) -> list[opencost.AllocationSet]:
    return opencost.parse_response(json.loads((EXAMPLES / name).read_text(), parse_float=Decimal))


def test_every_opencost_example_parses():
    names = sorted(path.name for path in EXAMPLES.glob("opencost-*.json"))
    assert names == [
        "opencost-allocation-aggregate-namespace.json",
        "opencost-allocation-compute-aggregate-label.AUTHORED.json",
        "opencost-allocation-compute-aggregate-namespace-swagger.json",
    ]
    for name in names:
        sets = parsed(name)
        assert sets and all(s.allocations for s in sets), name
        for allocation in (a for s in sets for a in s.allocations):
            assert isinstance(allocation.total_cost, Decimal)
            assert allocation.minutes > 0
            assert allocation.window_start is not None and allocation.window_end > allocation.window_start


def test_the_allocation_endpoint_example_from_the_opencost_website():
    (one,) = parsed("opencost-allocation-aggregate-namespace.json")
    kube_system = one.by_name()["kube-system"]
    assert kube_system.cluster == "default-cluster" and kube_system.namespace == "kube-system"
    assert kube_system.window_start == datetime(2023, 7, 12, 11, 2, 46, tzinfo=UTC)
    assert kube_system.minutes == pytest.approx(10079.22199)
    assert kube_system.cpu_cost == Decimal("1.43086") and kube_system.ram_cost == Decimal("0.09657")
    assert kube_system.total_cost == Decimal("1.52743")
    assert kube_system.cpu_core_request_average == pytest.approx(0.44979)
    assert kube_system.ram_byte_usage_average == pytest.approx(136951343.34801)
    assert kube_system.cpu_efficiency == pytest.approx(0.02086)
    assert kube_system.ram_efficiency == pytest.approx(0.93334)
    assert kube_system.total_efficiency == pytest.approx(0.07855)
    deployment = one.by_name()["opencost"]
    assert (deployment.controller, deployment.controller_kind) == ("opencost", "deployment")


def test_the_compute_endpoint_example_from_the_swagger_document():
    (one,) = parsed("opencost-allocation-compute-aggregate-namespace-swagger.json")
    assert one.total_cost == Decimal("0.425469") + Decimal("0.030644") + Decimal("0")
    prometheus = one.by_name()["prometheus"]
    # Nothing requested: OpenCost writes 0 % efficiency, which is no figure at all, not a waste.
    assert prometheus.cpu_core_request_average == 0 and prometheus.cpu_core_usage_average == pytest.approx(0.007793)
    assert prometheus.cpu_efficiency is None and prometheus.ram_efficiency is None
    assert prometheus.total_efficiency is None
    assert one.by_name()["opencost"].cpu_efficiency == pytest.approx(0.091055)


def test_cost_centre_totals_of_the_label_example_to_the_cent():
    day1, day2 = parsed(LABEL_EXAMPLE.name)
    assert day1.window_start.date() == date(2026, 5, 18) and day2.window_start.date() == date(2026, 5, 19)

    # Worked by hand from the example's hours and OpenCost's default prices
    # (CPU 0.031611 $/core-hour, RAM 0.004237 $/GiB-hour):
    # cc-platform, each day: 0.125 cores x 24 h = 3.0 core-hours x 0.031611 = 0.094833 -> 0.09483
    #                        128 MiB x 24 h = 3.0 GiB-hours x 0.004237  = 0.012711 -> 0.01271
    #                        total 0.09483 + 0.01271 = 0.10754 a day; two days = 0.21508
    # cc-demo, day 2 only (09:30 to 24:00 = 870 minutes = 14.5 h):
    #                        0.125 x 14.5 = 1.8125 core-hours x 0.031611 = 0.057295 -> 0.05729
    #                        0.125 GiB x 14.5 = 1.8125 GiB-hours x 0.004237 = 0.007680 -> 0.00768
    #                        total 0.05729 + 0.00768 = 0.06497
    # no cost-center label:  2.09809 + 2.21835 = 4.31644
    # the whole cluster:     0.21508 + 0.06497 + 4.31644 = 4.59649
    by_centre: dict[str, Decimal] = {}
    for allocation in (*day1.allocations, *day2.allocations):
        by_centre[allocation.name] = by_centre.get(allocation.name, Decimal(0)) + allocation.total_cost
    assert by_centre == {
        "cc-platform": Decimal("0.21508"),
        "cc-demo": Decimal("0.06497"),
        "__unallocated__": Decimal("4.31644"),
    }
    cents = {name: total.quantize(Decimal("0.01")) for name, total in by_centre.items()}
    assert cents == {"cc-platform": Decimal("0.22"), "cc-demo": Decimal("0.06"), "__unallocated__": Decimal("4.32")}
    assert (day1.total_cost + day2.total_cost).quantize(Decimal("0.01")) == Decimal("4.60")

    demo = day2.by_name()["cc-demo"]
    assert demo.cpu_cost == Decimal("0.05729") and demo.ram_cost == Decimal("0.00768")
    assert demo.cpu_cost + demo.ram_cost == demo.total_cost
    assert demo.minutes == 870.0 and demo.start == datetime(2026, 5, 19, 9, 30, tzinfo=UTC)
    assert demo.controller == "demo-iris-2-predictor-00001-deployment"
    assert day1.by_name()["__unallocated__"].unallocated


def test_data_as_a_single_set_and_pv_cost_summed_from_volumes():
    allocation = load("opencost-allocation-aggregate-namespace.json")["data"][0]["opencost"]
    allocation.pop("pvCost")
    allocation["pvs"] = {"cluster-one:pvc-1": {"byteHours": 1e9, "cost": 0.25}, "cluster-one:pvc-2": {"cost": 0.5}}
    (one,) = opencost.parse_response(json.loads(json.dumps({"code": 200, "data": {"opencost": allocation}}),
                                                parse_float=Decimal))
    assert one.by_name()["opencost"].pv_cost == Decimal("0.75")
    assert opencost.parse_response({"code": 200, "data": [None, {}]})[0].allocations == ()
    with pytest.raises(opencost.Refused, match="neither a list"):
        opencost.parse_response({"code": 200, "data": "nope"})


def test_day_windows_are_rfc3339_utc_days():
    assert opencost.day_window(date(2026, 5, 18)) == "2026-05-18T00:00:00Z,2026-05-19T00:00:00Z"
    # Today's window stops now (to the minute): OpenCost has nothing after it.
    now = datetime(2026, 5, 19, 14, 7, 31, tzinfo=UTC)
    assert opencost.day_window(date(2026, 5, 19), now) == "2026-05-19T00:00:00Z,2026-05-19T14:07:00Z"


# --- Talking to OpenCost ---------------------------------------------------------------------------


def label_payload() -> str:
    return LABEL_EXAMPLE.read_text()


def test_the_client_asks_allocation_compute_with_the_query(httpserver):
    httpserver.expect_request("/allocation/compute", query_string={
        "window": "2d", "aggregate": "label:cost-center", "step": "1d", "accumulate": "false", "resolution": "1m",
    }).respond_with_data(label_payload(), content_type="application/json")
    with opencost.OpenCostClient(httpserver.url_for("/")) as client:
        sets = client.allocation("2d", "label:cost-center", step="1d", accumulate=False, resolution="1m")
    assert [s.window_start.date() for s in sets] == [date(2026, 5, 18), date(2026, 5, 19)]
    assert client.calls == 1


def test_the_client_falls_back_to_allocation_when_compute_is_missing(httpserver):
    httpserver.expect_request("/allocation/compute").respond_with_data("404 page not found", status=404)
    httpserver.expect_request("/allocation").respond_with_data(
        (EXAMPLES / "opencost-allocation-aggregate-namespace.json").read_text(), content_type="application/json")
    with opencost.OpenCostClient(httpserver.url_for("/")) as client:
        (first,) = client.allocation("7d", "namespace")
        (second,) = client.allocation("7d", "namespace")
    assert sorted(first.by_name()) == ["kube-system", "opencost", "prometheus"]
    assert second.total_cost == first.total_cost
    # The second question goes straight to the path that answered.
    assert [r.path for r, _ in httpserver.log] == ["/allocation/compute", "/allocation", "/allocation"]


def test_a_server_error_is_tried_three_times_then_said_in_words(httpserver):
    httpserver.expect_request("/allocation/compute").respond_with_json(
        {"code": 500, "message": "error querying Prometheus: connection refused"}, status=500)
    url = httpserver.url_for("/")
    with opencost.OpenCostClient(url, backoff=0) as client, pytest.raises(opencost.Unavailable) as caught:
        client.allocation("1d", "namespace")
    assert client.calls == 3
    assert str(caught.value) == (f"OpenCost at {url.rstrip('/')} answered 500: "
                                 "error querying Prometheus: connection refused")


def test_a_server_error_that_passes_is_not_noticed(httpserver):
    answers = iter([Response("busy", status=503), Response(label_payload(), content_type="application/json")])
    httpserver.expect_request("/allocation/compute").respond_with_handler(lambda request: next(answers))
    with opencost.OpenCostClient(httpserver.url_for("/"), backoff=0) as client:
        assert len(client.allocation("2d", "label:cost-center")) == 2
    assert client.calls == 2


def test_a_bad_request_is_not_retried(httpserver):
    httpserver.expect_request("/allocation/compute").respond_with_json(
        {"code": 400, "message": "error parsing window (bogus)"}, status=400)
    with opencost.OpenCostClient(httpserver.url_for("/"), backoff=0) as client, pytest.raises(opencost.Refused) as caught:
        client.allocation("bogus", "namespace")
    assert client.calls == 1
    assert str(caught.value).endswith("answered 400: error parsing window (bogus)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_nobody_listening_is_said_in_words_without_the_credentials():
    port = free_port()
    url = f"http://admin:s3cret@127.0.0.1:{port}/opencost?token=abc"
    with opencost.OpenCostClient(url, backoff=0) as client, pytest.raises(opencost.Unavailable) as caught:
        client.allocation("1d", "namespace")
    assert client.calls == 3
    assert str(caught.value) == f"OpenCost at http://127.0.0.1:{port}/opencost cannot be reached: connection refused"
    assert "s3cret" not in str(caught.value) and "token" not in str(caught.value)


def test_a_slow_opencost_is_abandoned_after_the_timeout(httpserver):
    def slow(request):
        time.sleep(1.5)
        return Response(label_payload(), content_type="application/json")

    httpserver.expect_request("/allocation/compute").respond_with_handler(slow)
    started = time.monotonic()
    with opencost.OpenCostClient(httpserver.url_for("/"), timeout=0.5) as client, pytest.raises(opencost.Unavailable) as caught:
        client.allocation("1d", "namespace")
    assert time.monotonic() - started < 1.4, "a read timeout is not retried"
    assert str(caught.value) == f"OpenCost at {httpserver.url_for('/').rstrip('/')} did not answer within 0.5 s"


def test_a_body_that_is_not_an_allocation_response(httpserver):
    httpserver.expect_request("/allocation/compute").respond_with_data("<html>login</html>", content_type="text/html")
    with opencost.OpenCostClient(httpserver.url_for("/")) as client, pytest.raises(opencost.Refused, match="not JSON"):
        client.allocation("1d", "namespace")
