"""Live-status benchmark: one status poll cycle against the sandbox cluster with N endpoints.

    .venv/bin/python bench/status_sync.py --counts 1000 10000
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench .venv/bin/python bench/status_sync.py

For each N: N catalog model endpoints (annotated, so matching runs for every object), and in
the sandbox N ArgoCD Applications and N InferenceServices (ready, labelled), plus one
ResourceQuota. Then `deployments.status.poll` runs against the sandbox API server through the
official client: a first cycle (every row and event written) and `--repeat` cycles with no
change (the median is reported, with the poller thread's own CPU time, which a loaded machine
inflates less than the wall clock). With --sandbox-process the sandbox runs in a child process
of its own, as a real API server does, and the calls are counted over its /sandbox/requests. Cluster API calls are counted at the server, so
`calls_first` and `calls_unchanged` must be the same for every N. The sandbox serves from the
same process (its own thread), so the times include the server building its list responses.

Without DATABASE_URL it uses a fresh SQLite file under var/bench/. With DATABASE_URL the
catalog and status tables of that database are emptied first, so the database name must
contain "bench" (or pass --wipe-any-database). Prints one JSON line; docs/performance.md
quotes it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
TEAMS = 50
HEAD = "9f2c4e1b7a3d5c6e8f0a1b2c3d4e5f6a7b8c9d0e"


def configure(args) -> str:
    """Point Django at the benchmark database (var/bench/status.sqlite3 by default)."""
    from bench.catalog import configure as configure_database

    return configure_database(args, "status")


def name(i: int) -> str:
    return f"model-{i:05d}"


def entity(i: int) -> dict:
    return {
        "apiVersion": "backstage.io/v1alpha1", "kind": "Component",
        "metadata": {
            "name": name(i), "labels": {"cost-center": f"cc-{i % TEAMS:04d}"},
            "annotations": {"argocd/app-name": name(i), "neuroscale.io/inference-service": f"default/{name(i)}"},
        },
        "spec": {"type": "model-endpoint", "lifecycle": "production", "owner": f"team-{i % TEAMS:02d}"},
    }


def application(i: int) -> dict:
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name(i), "namespace": "argocd"},
        "spec": {"source": {"repoURL": "https://example.com/gitops.git", "path": f"apps/{name(i)}", "targetRevision": "main"},
                 "destination": {"server": "https://kubernetes.default.svc", "namespace": "default"}},
        "status": {"sync": {"status": "Synced", "revision": HEAD}, "health": {"status": "Healthy"},
                   "operationState": {"phase": "Succeeded", "message": "successfully synced (all tasks run)"},
                   "reconciledAt": "2026-11-28T12:00:00Z"},
    }


def inference_service(i: int) -> dict:
    return {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": name(i), "namespace": "default",
                     "labels": {"owner": f"team-{i % TEAMS:02d}", "cost-center": f"cc-{i % TEAMS:04d}",
                                "app.kubernetes.io/instance": name(i)}},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"},
                                         "storageUri": "gs://kfserving-examples/models/sklearn/1.0/model"}}},
        "status": {
            "url": f"http://{name(i)}.default.example.com",
            "address": {"url": f"http://{name(i)}.default.svc.cluster.local"},
            "conditions": [{"type": t, "status": "True", "lastTransitionTime": "2026-11-28T12:00:00Z"}
                           for t in ("IngressReady", "PredictorReady", "Ready")],
            "components": {"predictor": {"latestReadyRevision": f"{name(i)}-predictor-00001",
                                         "traffic": [{"revisionName": f"{name(i)}-predictor-00001", "percent": 100}]}},
            "modelStatus": {"states": {"activeModelState": "Loaded", "targetModelState": "Loaded"}},
        },
    }


QUOTA = {
    "apiVersion": "v1", "kind": "ResourceQuota",
    "metadata": {"name": "compute", "namespace": "default"},
    "spec": {"hard": {"requests.cpu": "4", "count/inferenceservices.serving.kserve.io": "5"}},
    "status": {"hard": {"requests.cpu": "4"}, "used": {"requests.cpu": "1500m"}},
}


def reset_tables() -> None:
    from catalog.models import Entity, EntitySearch, Relation
    from deployments.models import ClusterPoll, QuotaUsage, StatusEvent, WorkloadStatus

    for model in (StatusEvent, WorkloadStatus, QuotaUsage, ClusterPoll, EntitySearch, Relation, Entity):
        model.objects.all().delete()


def seed_catalog(count: int) -> None:
    from catalog import store

    with store.batch():
        store.upsert_many([store.Write(entity(i)) for i in range(count)])


def seed_cluster(store, count: int) -> None:
    for i in range(count):
        store.put(application(i))
        store.put(inference_service(i))
    store.put(QUOTA)


@contextmanager
def in_process(count: int) -> Iterator[tuple]:
    """The sandbox on a thread of this process: (client, calls(), reset())."""
    from sandbox.runner import running_sandbox

    with running_sandbox() as sandbox:
        seed_cluster(sandbox.store, count)
        yield sandbox.api_client, sandbox.requests.count, sandbox.requests.reset


def _serve(count: int, pipe) -> None:
    from sandbox.runner import running_sandbox

    with running_sandbox() as sandbox:
        seed_cluster(sandbox.store, count)
        pipe.send(sandbox.url)
        pipe.recv()  # until the benchmark is done


@contextmanager
def own_process(count: int) -> Iterator[tuple]:
    """The sandbox in a process of its own, as a real API server is: calls counted over its
    /sandbox/requests endpoint."""
    import multiprocessing

    import httpx
    from kubernetes import client

    context = multiprocessing.get_context("fork")
    here, there = context.Pipe()
    process = context.Process(target=_serve, args=(count, there), daemon=True)
    process.start()
    url = here.recv()
    configuration = client.Configuration()
    configuration.host = url
    api_client = client.ApiClient(configuration)
    with httpx.Client(base_url=url, timeout=10) as http:
        try:
            yield (api_client, lambda: http.get("/sandbox/requests").json()["total"],
                   lambda: http.post("/sandbox/requests/reset").raise_for_status())
        finally:
            api_client.close()
            here.send("stop")
            process.join(timeout=30)


def run(count: int, repeat: int, separate: bool) -> dict:
    from deployments import status
    from deployments.models import Cluster, StatusEvent, WorkloadStatus

    reset_tables()
    seed_catalog(count)
    cluster = Cluster.default()
    with (own_process if separate else in_process)(count) as (api_client, calls, reset):
        reset()
        start = time.perf_counter()
        first = status.poll(cluster, api_client)
        first_seconds = time.perf_counter() - start
        calls_first = calls()
        assert first.error == "", first.error

        times, cpu = [], []
        for _ in range(repeat):
            reset()
            start, start_cpu = time.perf_counter(), time.thread_time()
            unchanged = status.poll(cluster, api_client)
            times.append(time.perf_counter() - start)
            cpu.append(time.thread_time() - start_cpu)
            assert unchanged.written == 0 and unchanged.events == 0, unchanged
        calls_unchanged = calls()
    linked = WorkloadStatus.objects.filter(entity__isnull=False).count()
    assert linked == 2 * count, f"{linked} of {2 * count} workloads linked to their entities"
    return {
        "endpoints": count,
        "objects": 2 * count + 1,
        "calls_first": calls_first,
        "calls_unchanged": calls_unchanged,
        "first_seconds": round(first_seconds, 3),
        "unchanged_seconds": round(statistics.median(times), 3),
        "unchanged_min_seconds": round(min(times), 3),
        # The poller's own CPU time (this thread), without an in-process sandbox server's share.
        "unchanged_cpu_seconds": round(statistics.median(cpu), 3),
        "rows": WorkloadStatus.objects.count(),
        "events": StatusEvent.objects.count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[1000, 10000], help="endpoints per run")
    parser.add_argument("--repeat", type=int, default=3, help="no-change cycles per size (the median is reported)")
    parser.add_argument("--sandbox-process", action="store_true",
                        help="run the sandbox in a process of its own (as a real API server is) instead of a thread")
    parser.add_argument("--wipe-any-database", action="store_true", help="allow a DATABASE_URL without 'bench' in its name")
    args = parser.parse_args()
    vendor = configure(args)
    sizes = [run(count, args.repeat, args.sandbox_process) for count in args.counts]
    print(json.dumps({
        "bench": "status_sync",
        "database": vendor,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "sandbox": "process" if args.sandbox_process else "thread",
        "sizes": sizes,
        "same_calls": len({(s["calls_first"], s["calls_unchanged"]) for s in sizes}) == 1,
    }))


if __name__ == "__main__":
    main()
