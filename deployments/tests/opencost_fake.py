"""An OpenCost for tests: pytest-httpserver answering `/allocation/compute` with the real payloads
in ../shared/fixtures/status-examples/.

The label-aggregated example has two days (2026-05-18 and 2026-05-19): the fake answers the
first for yesterday, the second for `today` and an empty set (nothing ran) for earlier days,
one set per day of the window as OpenCost does with step=1d. `label:owner` and
`namespace,controller` answers are the same allocations keyed the way OpenCost keys those
aggregations (the owner label's value; `<namespace>/<controllerKind>:<controller>`).
"""

from __future__ import annotations

import copy
import json
from datetime import date, datetime, timedelta

from werkzeug import Request, Response

from portal.testing import FIXTURES

EXAMPLES = FIXTURES / "status-examples"
LABEL_EXAMPLE = EXAMPLES / "opencost-allocation-compute-aggregate-label.AUTHORED.json"
#: The cost centres' owners in the fake cluster (the owner label beside each cost-center label).
OWNERS = {"cc-platform": "platform-team", "cc-demo": "fraud-detection"}


def load(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text())


def label_sets() -> list[dict]:
    return json.loads(LABEL_EXAMPLE.read_text())["data"]


def rekeyed(allocation_set: dict, aggregate: str) -> dict:
    """One day of the cost-centre example as OpenCost would key it for another aggregation."""
    out = {}
    for key, allocation in allocation_set.items():
        allocation = copy.deepcopy(allocation)
        if aggregate == "label:owner":
            key = OWNERS.get(key, key)
        elif aggregate == "namespace,controller" and key != "__unallocated__":
            props = allocation["properties"]
            key = f"{props['namespace']}/{props['controllerKind']}:{props['controller']}"
        allocation["name"] = key
        out[key] = allocation
    return out


class FakeOpenCost:
    """Serves the example for each (day, aggregation) asked; `fail_with` makes it answer an error."""

    def __init__(self, httpserver, today: date, scale: float = 1.0):
        self.httpserver = httpserver
        self.today = today
        self.scale = scale
        self.fail_with: int | None = None
        self.asked: list[dict] = []
        httpserver.expect_request("/allocation/compute").respond_with_handler(self.handle)

    @property
    def url(self) -> str:
        return self.httpserver.url_for("/").rstrip("/")

    def day_set(self, day: date, aggregate: str) -> dict:
        """Nothing ran before yesterday; yesterday is the example's first day, today its second."""
        if day < self.today - timedelta(days=1):
            return {}
        allocation_set = rekeyed(label_sets()[1 if day >= self.today else 0], aggregate)
        if self.scale != 1.0:
            for allocation in allocation_set.values():
                for name in ("cpuCost", "ramCost", "totalCost"):
                    allocation[name] = round(allocation[name] * self.scale, 5)
        return allocation_set

    def handle(self, request: Request) -> Response:
        params = dict(request.args)
        self.asked.append(params)
        if self.fail_with:
            return Response(json.dumps({"code": self.fail_with, "message": "Prometheus query failed: connection refused"}),
                            status=self.fail_with, content_type="application/json")
        start, end = (datetime.fromisoformat(t.replace("Z", "+00:00")) for t in params["window"].split(","))
        sets = []
        day = start
        while day < end:  # one set per day (step=1d), the last one ending with the window
            sets.append(self.day_set(day.date(), params["aggregate"]))
            day += timedelta(days=1)
        body = {"code": 200, "status": "success", "data": sets}
        return Response(json.dumps(body), status=200, content_type="application/json")
