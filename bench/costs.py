"""Costs benchmark: the cost job against the sandbox's OpenCost API with N endpoints, then the
Costs page and the costs API over what it stored.

    .venv/bin/python bench/costs.py --counts 100 1000
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench .venv/bin/python bench/costs.py

For each N: N catalog model endpoints over 50 teams and cost centres, their InferenceServices in
the sandbox (running for 40 days, 500m CPU and 512Mi each) and their live-status rows (one status
poll). Then `deployments.costs.fetch.poll`: a first fetch (the 30-day backfill: three allocation
questions a week, a set per day) and `--repeat` regular fetches (yesterday and today, replaced), the
median reported. OpenCost calls are counted by the client, queries by Django: both must be the
same for every N. Then the Costs page (30 days) and GET /api/deployments/costs/endpoints/ as a
signed-in user, median of `--repeat`, with their query counts. The sandbox serves from the same
process (its own thread), so fetch times include it computing its answers.

Without DATABASE_URL it uses a fresh SQLite file under var/bench/. With DATABASE_URL the catalog,
status and cost tables of that database are emptied first, so the database name must contain
"bench" (or pass --wipe-any-database). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.status_sync import TEAMS, configure, name  # noqa: E402

NOW = datetime(2026, 5, 19, 12, 0, tzinfo=UTC)


def inference_service(i: int) -> dict:
    return {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": name(i), "namespace": "default", "creationTimestamp": "2026-04-09T00:00:00Z",
                     "labels": {"owner": f"team-{i % TEAMS:02d}", "cost-center": f"cc-{i % TEAMS:04d}"}},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "gs://models/iris",
                                         "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}}}}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}], "url": f"http://{name(i)}.example.com"},
    }


def reset_tables() -> None:
    from bench.status_sync import reset_tables as reset_status
    from deployments.models import CostMonth, CostPoll, CostSnapshot

    for model in (CostSnapshot, CostMonth, CostPoll):
        model.objects.all().delete()
    reset_status()


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def run(count: int, repeat: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from bench.status_sync import seed_catalog
    from deployments import status
    from deployments.costs import fetch
    from deployments.models import Cluster, CostSnapshot
    from sandbox.runner import running_sandbox

    reset_tables()
    seed_catalog(count)
    cluster = Cluster.default()
    with running_sandbox() as sandbox:
        sandbox.server.opencost.clock = lambda: NOW
        for i in range(count):
            sandbox.store.put(inference_service(i))
        assert status.poll(cluster, sandbox.api_client).error == ""
        cluster.opencost_url = sandbox.url
        cluster.save(update_fields=["opencost_url"])

        with CaptureQueriesContext(connection) as first_queries:
            start = time.perf_counter()
            first = fetch.poll(cluster, today=NOW.date(), now=NOW)
            first_seconds = time.perf_counter() - start
        assert first.error == "", first.error
        # Counted at once: a request through the test client empties Django's query log.
        queries_first = len(first_queries)
        backfill_rows = CostSnapshot.objects.count()
        with CaptureQueriesContext(connection) as again_queries:
            again_seconds, again = timed(lambda: fetch.poll(cluster, today=NOW.date(), now=NOW), repeat)
        assert again.error == "", again.error
        queries_regular = len(again_queries) // repeat
        inserts_regular = sum(q["sql"].startswith("INSERT") for q in again_queries.captured_queries) // repeat

    user, _ = get_user_model().objects.get_or_create(username="bench-reader")
    client = Client()
    client.force_login(user)
    with CaptureQueriesContext(connection) as page_queries:
        response = client.get("/deployments/costs/", {"window": "30d"})
    assert response.status_code == 200, response.status_code
    page_query_count = len(page_queries)
    page_seconds, _ = timed(lambda: client.get("/deployments/costs/", {"window": "30d"}), repeat)
    with CaptureQueriesContext(connection) as api_queries:
        response = client.get("/api/deployments/costs/endpoints/", {"window": "30d", "limit": "50"})
    assert response.status_code == 200, response.status_code
    api_query_count = len(api_queries)
    api_seconds, _ = timed(lambda: client.get("/api/deployments/costs/endpoints/", {"window": "30d", "limit": "50"}), repeat)
    matched = CostSnapshot.objects.filter(scope="endpoint").exclude(entity_ref="").values("entity_ref").distinct().count()
    assert matched == count, f"{matched} of {count} endpoints matched to the catalog"
    return {
        "endpoints": count,
        "opencost_calls_first": first.calls,
        "opencost_calls_regular": again.calls,
        "queries_first": queries_first,
        "queries_regular": queries_regular,
        # The rows go in by bulk insert batches (500 a statement; on SQLite about 30, Django's
        # 999-parameter limit): every other query is the same whatever the number of rows.
        "inserts_regular": inserts_regular,
        "backfill_rows": backfill_rows,
        "regular_rows": again.rows,
        "first_seconds": round(first_seconds, 3),
        "regular_seconds": round(again_seconds, 3),
        "costs_page_queries": page_query_count,
        "costs_page_ms": round(page_seconds * 1000, 1),
        "costs_api_queries": api_query_count,
        "costs_api_ms": round(api_seconds * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[100, 1000], help="endpoints per run")
    parser.add_argument("--repeat", type=int, default=3, help="regular fetches and page loads per size (median)")
    parser.add_argument("--wipe-any-database", action="store_true", help="allow a DATABASE_URL without 'bench' in its name")
    args = parser.parse_args()
    vendor = configure(args)
    sizes = [run(count, args.repeat) for count in args.counts]
    print(json.dumps({
        "bench": "costs",
        "database": vendor,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "sizes": sizes,
        "same_calls": len({(s["opencost_calls_first"], s["opencost_calls_regular"]) for s in sizes}) == 1,
        # Insert batches follow the number of rows; the fetch's other queries, the page's and the
        # API's must not.
        "same_queries": len({(s["queries_regular"] - s["inserts_regular"], s["costs_page_queries"],
                              s["costs_api_queries"]) for s in sizes}) == 1,
    }))


if __name__ == "__main__":
    main()
