"""Catalog benchmark: ingest N Components, then time the catalog API over HTTP against gunicorn.

    .venv/bin/python bench/catalog.py --count 10000
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench .venv/bin/python bench/catalog.py

Without DATABASE_URL it uses a fresh SQLite file under var/bench/. With DATABASE_URL the
catalog tables of that database are emptied first, so the database name must contain
"bench" (or pass --wipe-any-database). Prints one JSON line; docs/performance.md quotes it.
Timings are milliseconds per request as a client sees them: sequential requests on one
keep-alive connection, token-authenticated, median and p95.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GROUPS = 50
SYSTEMS = 20
# Full-text terms: in every description, in about 1% of them, and in none.
COMMON_TERM, RARE_TERM, ABSENT_TERM = "inference", "fraud", "zebra-absent"


def configure(args, database: str = "catalog") -> str:
    """Point Django at the benchmark database (`var/bench/<database>.sqlite3` unless DATABASE_URL
    names one) and migrate it; returns its vendor. The other benches use it too."""
    if not os.environ.get("DATABASE_URL"):
        folder = ROOT / "var" / "bench"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{database}.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    elif "bench" not in os.environ["DATABASE_URL"].rsplit("/", 1)[-1] and not args.wipe_any_database:
        sys.exit("DATABASE_URL must name a database containing 'bench' (its tables are emptied), or pass --wipe-any-database.")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("PORTAL_LOG_LEVEL", "warning")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    return connection.vendor


def documents(count: int) -> list[dict]:
    """50 teams, 20 systems and `count` model endpoints spread over them."""
    docs = []
    for g in range(GROUPS):
        docs.append({
            "apiVersion": "backstage.io/v1alpha1", "kind": "Group",
            "metadata": {"name": f"team-{g:02}", "labels": {"cost-center": f"cc-{g % 10}"}},
            "spec": {"type": "team", "children": []},
        })
    for s in range(SYSTEMS):
        docs.append({
            "apiVersion": "backstage.io/v1alpha1", "kind": "System",
            "metadata": {"name": f"system-{s:02}"}, "spec": {"owner": f"team-{s % GROUPS:02}"},
        })
    for i in range(count):
        purpose = f"{RARE_TERM} scoring" if i % 100 == 7 else "demand forecasting"
        docs.append({
            "apiVersion": "backstage.io/v1alpha1", "kind": "Component",
            "metadata": {
                "name": f"model-{i:05}",
                "description": f"KServe {COMMON_TERM} endpoint number {i} for {purpose}",
                "tags": ["sklearn", f"batch-{i % 7}"],
                "annotations": {"argocd/app-name": f"model-{i:05}", "neuroscale.io/gitops-path": f"apps/model-{i:05}"},
            },
            "spec": {
                "type": "model-endpoint", "lifecycle": "production" if i % 3 else "experimental",
                "owner": f"team-{i % GROUPS:02}", "system": f"system-{i % SYSTEMS:02}",
            },
        })
    return docs


def ingest(count: int) -> float:
    """Import the documents the way the portal does: seconds from import start until queryable.

    The documents are committed to a fresh local GitOps repository (one catalog-info.yaml per
    app, plus org files, under a root Location), then timed: the snapshot refresh (reading
    every blob from git), YAML parsing, validation, storage, relations and search rows.
    """
    import shutil
    import tempfile

    import yaml
    from django.conf import settings

    from catalog import ingestion
    from catalog.models import Entity, EntitySearch, Location, Relation
    from deployments.gitops.local import LocalProvider
    from portal import snapshot
    from portal.models import RepositorySnapshot

    EntitySearch.objects.all().delete()
    Relation.objects.all().delete()
    Entity.objects.all().delete()
    Location.objects.all().delete()
    RepositorySnapshot.objects.all().delete()

    work = Path(tempfile.mkdtemp(prefix="catalog-bench-"))
    seed = work / "seed"
    (seed / "org").mkdir(parents=True)
    docs = documents(count)
    org = [d for d in docs if d["kind"] != "Component"]
    (seed / "org" / "teams.yaml").write_text(yaml.safe_dump_all(org, sort_keys=False))
    for document in (d for d in docs if d["kind"] == "Component"):
        folder = seed / "apps" / document["metadata"]["name"]
        folder.mkdir(parents=True)
        (folder / "catalog-info.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    (seed / "catalog-info.yaml").write_text(yaml.safe_dump({
        "apiVersion": "backstage.io/v1alpha1", "kind": "Location", "metadata": {"name": "bench"},
        "spec": {"targets": ["./org/*.yaml", "./apps/*/catalog-info.yaml"]},
    }))
    repo = work / "gitops.git"
    LocalProvider(repo).seed(seed)
    settings.PORTAL_GITOPS_PROVIDER = "local"
    settings.PORTAL_GITOPS_REPO_PATH = repo

    start = time.perf_counter()
    snapshot.refresh()
    reports = ingestion.refresh_all()
    elapsed = time.perf_counter() - start
    shutil.rmtree(work, ignore_errors=True)
    errors = [error for report in reports for error in report.errors]
    assert not errors, errors[:3]
    assert Entity.objects.filter(kind="Component").count() == count
    return elapsed


def credentials() -> tuple[str, str]:
    """A user with a read token (for the API) and a session (for the HTML page)."""
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.sessions.backends.db import SessionStore

    from portal.models import APIToken

    user, _ = get_user_model().objects.get_or_create(username="bench")
    _, token = APIToken.issue(user, name="bench", scope="read")
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return token, session.session_key


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(port: int) -> subprocess.Popen:
    command = [
        str(ROOT / ".venv" / "bin" / "gunicorn"), "portal.wsgi", "--bind", f"127.0.0.1:{port}",
        "--worker-class", "gthread", "--workers", "1", "--threads", "4", "--timeout", "120",
        "--log-level", "warning",
    ]
    env = {**os.environ, "PORTAL_LOG_LEVEL": "warning", "PORTAL_LOG_JSON": "false"}
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603 - our own gunicorn


def worker_pid(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return int(children[0])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmRSS")


def timed(client, path, repeat: int, params=None, check=None) -> dict:
    """Median and p95 milliseconds of `repeat` GETs; `path` and `params` may be callables
    giving fresh values per request."""
    samples = []
    for _ in range(repeat):
        url = path() if callable(path) else path
        query = params() if callable(params) else params
        start = time.perf_counter()
        response = client.get(url, params=query)
        samples.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
        if check:
            check(response)
    samples.sort()
    return {
        "median": round(statistics.median(samples), 2),
        "p95": round(samples[min(len(samples) - 1, int(len(samples) * 0.95))], 2),
    }


def measure(base: str, token: str, session_key: str, count: int, repeat: int) -> dict:
    import httpx

    result: dict = {}
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        for _ in range(5):  # warm up: imports, connections, caches
            client.get("/api/catalog/entities/by-name/component/default/model-00000").raise_for_status()
            client.get("/api/catalog/entity-facets", params={"facet": "spec.owner"}).raise_for_status()
        names = iter(f"model-{(i * 7919) % count:05}" for i in range(10**9))
        result["by_name_ms"] = timed(
            client, lambda: f"/api/catalog/entities/by-name/component/default/{next(names)}", repeat
        )
        owner_totals = []
        groups = iter(f"team-{i % GROUPS:02}" for i in range(10**9))
        result["owner_filter_ms"] = timed(
            client, "/api/catalog/entities/by-query",
            repeat, params=lambda: {"filter": f"kind=component,spec.owner={next(groups)}", "limit": 50},
            check=lambda r: owner_totals.append(r.json()["totalItems"]),
        )
        result["owner_filter_total_items"] = owner_totals[0]
        result["full_text_ms"] = {}
        result["full_text_total_items"] = {}
        for label, term in (("common", COMMON_TERM), ("rare", RARE_TERM), ("absent", ABSENT_TERM)):
            params = {
                "fullTextFilterTerm": term, "fullTextFilterFields": "metadata.name,metadata.description",
                "orderField": "metadata.name,asc", "limit": 50,
            }
            totals = []
            result["full_text_ms"][label] = timed(
                client, "/api/catalog/entities/by-query", repeat, params,
                check=lambda r, t=totals: t.append(r.json()["totalItems"]),
            )
            result["full_text_total_items"][label] = totals[0]
        result["facets_ms"] = timed(client, "/api/catalog/entity-facets", repeat, {"facet": "spec.owner"})
    with httpx.Client(base_url=base, cookies={"sessionid": session_key}, timeout=60) as browser:
        probe = browser.get("/catalog/", params={"owner": "team-07"})
        if probe.status_code == 200:
            result["catalog_page_ms"] = timed(browser, "/catalog/", repeat, {"owner": "team-07"})
        else:
            result["catalog_page_ms"] = None
            result["catalog_page_note"] = f"/catalog/ answered {probe.status_code}; not measured"
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000, help="Components to load (default 10,000)")
    parser.add_argument("--repeat", type=int, default=200, help="Requests per measured endpoint (default 200)")
    parser.add_argument("--wipe-any-database", action="store_true", help="Allow a DATABASE_URL whose name lacks 'bench'")
    args = parser.parse_args()

    vendor = configure(args)
    ingest_seconds = ingest(args.count)
    from django.db import connection

    if vendor == "postgresql":
        # What autovacuum does shortly after a bulk load: planner statistics and the visibility
        # map (index-only scans). Not part of the ingestion time.
        connection.cursor().execute("VACUUM ANALYZE")
    token, session_key = credentials()
    from django.db import connections

    connections.close_all()
    port = free_port()
    server = start_gunicorn(port)
    try:
        import httpx

        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start: {server.stderr.read().decode() if server.stderr else ''}")
            time.sleep(0.2)
        figures = measure(base, token, session_key, args.count, args.repeat)
        figures["web_rss_mib"] = rss_mib(worker_pid(server.pid))
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(json.dumps({
        "bench": "catalog",
        "count": args.count,
        "database": vendor,
        "ingest_seconds": round(ingest_seconds, 2),
        **figures,
        "repeat": args.repeat,
        "python": platform.python_version(),
        "nproc": os.cpu_count(),
    }))


if __name__ == "__main__":
    main()
