"""Each benchmark runs at a tiny size, so the scripts cannot rot. Times are never asserted."""

import json
import subprocess
import sys

from portal.testing import ROOT


def run_bench(script: str, *args: str, tmp_path) -> dict:
    env = {
        "PATH": "/usr/bin:/bin",
        # A scratch SQLite database of the test's own, never the configured one.
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bench.sqlite3'}",
        "PORTAL_DATA_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_catalog_bench_prints_one_json_line_of_figures(tmp_path):
    figures = run_bench("catalog.py", "--count", "20", "--repeat", "3", "--wipe-any-database", tmp_path=tmp_path)
    assert figures["bench"] == "catalog" and figures["count"] == 20 and figures["database"] == "sqlite"
    # 20 components over 50 teams: team-07 owns one; the rare term is in model-00007 only.
    assert figures["owner_filter_total_items"] == 1
    assert figures["full_text_total_items"] == {"common": 20, "rare": 1, "absent": 0}
    for key in ("by_name_ms", "owner_filter_ms", "facets_ms"):
        assert set(figures[key]) == {"median", "p95"}
    assert set(figures["full_text_ms"]) == {"common", "rare", "absent"}
    assert figures["catalog_page_ms"] is not None or "catalog_page_note" in figures
    assert figures["ingest_seconds"] > 0 and figures["web_rss_mib"] > 0


def test_the_guardrails_bench_prints_one_json_line_of_figures(tmp_path):
    figures = run_bench("guardrails.py", "--count", "6", tmp_path=tmp_path)
    assert figures["bench"] == "guardrails" and figures["manifests"] == 6
    # 3 InferenceServices (one rule each) and 3 Deployments; the one numbered 1 violates two rules.
    assert figures["results"]["fail"] == 2
    assert figures["seconds"] >= 0


def test_the_status_sync_bench_prints_one_json_line_of_figures(tmp_path):
    figures = run_bench("status_sync.py", "--counts", "3", "5", "--repeat", "1", tmp_path=tmp_path)
    assert figures["bench"] == "status_sync" and figures["database"] == "sqlite"
    assert [size["endpoints"] for size in figures["sizes"]] == [3, 5]
    # Applications, InferenceServices and ResourceQuotas: one list call each, whatever the size.
    assert figures["same_calls"] is True and figures["sizes"][0]["calls_unchanged"] == 3
    assert figures["sizes"][1]["rows"] == 10 and figures["sizes"][1]["events"] == 25
    assert figures["sizes"][1]["unchanged_seconds"] >= 0


def test_the_status_sync_bench_with_the_sandbox_in_its_own_process(tmp_path):
    figures = run_bench("status_sync.py", "--counts", "2", "--repeat", "1", "--sandbox-process", tmp_path=tmp_path)
    assert figures["sandbox"] == "process"
    # Counted by the sandbox process itself, over its /sandbox/requests endpoint.
    assert (figures["sizes"][0]["calls_first"], figures["sizes"][0]["calls_unchanged"]) == (3, 3)
