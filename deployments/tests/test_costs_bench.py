"""The costs benchmark runs at a tiny size, so the script cannot rot. Times are never asserted."""

from bench.tests.test_benches import run_bench


def test_the_costs_bench_prints_one_json_line_of_figures(tmp_path):
    figures = run_bench("costs.py", "--counts", "2", "4", "--repeat", "1", tmp_path=tmp_path)
    assert figures["bench"] == "costs" and figures["database"] == "sqlite"
    small, large = figures["sizes"]
    assert (small["endpoints"], large["endpoints"]) == (2, 4)
    # Three OpenCost questions per fetch (one per aggregation; the backfill's a week at a time),
    # whatever the number of endpoints.
    assert figures["same_calls"] is True and small["opencost_calls_regular"] == 3
    assert small["opencost_calls_first"] == 15
    assert figures["same_queries"] is True
    # 30 days x (endpoints + owners + cost centres): 4 endpoints over 4 teams → 30 x 12.
    assert large["backfill_rows"] == 360 and large["regular_rows"] == 24
