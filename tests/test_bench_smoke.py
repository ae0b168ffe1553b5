"""The benchmarks still run: each in quick mode on SQLite, producing figures and no errors.

Not a performance test: the machine running the tests may be slow or busy, so nothing
here looks at how fast anything was, only that every figure is there and every request
was answered as it should be. The two benchmarks run side by side to keep this short.
"""
from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

from bench import ack_latency, digest_acks, intake_throughput


def _finite(value: float) -> bool:
    return isinstance(value, float) and not math.isnan(value) and value > 0


def test_quick_benchmarks_produce_figures_without_errors() -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        ack_future = pool.submit(ack_latency.run, ack_latency.AckConfig.quick_config(database="sqlite"))
        intake_future = pool.submit(intake_throughput.run,
                                    intake_throughput.IntakeConfig.quick_config(database="sqlite"))
        ack, intake = ack_future.result(timeout=120), intake_future.result(timeout=120)

    totals = ack["totals"]
    assert totals["requests"] > 0
    assert (totals["errors"], totals["non_2xx"]) == (0, 0), totals
    for concurrency in (1, 16, 32):
        for target in ("recovery", "bare"):
            figures = ack["main"][concurrency][target]
            assert figures["n"] > 0 and figures["errors"] == 0 and figures["non_2xx"] == 0, figures
            assert all(_finite(figures[q]) for q in ("p50", "p95", "p99")), figures
        assert _finite(ack["main"][concurrency]["p99_ratio"])
    assert ack["forged"]["all_401"], ack["forged"]["targets"]
    assert ack["forged"]["rows_written_total"] == 0, ack["forged"]["rows_written"]
    assert ack["forged"]["targets"]["recovery"]["forged_n"] > 0
    assert set(ack["degraded"]) == {"slack_429", "slack_drops"}
    for mode, figures in ack["degraded"].items():
        assert (figures["errors"], figures["non_2xx"]) == (0, 0), (mode, figures)
        assert figures["slack_failed"] > 0, (mode, "the double was meant to fail the bot's Slack calls")
        assert _finite(figures["recovery"]["p99"]), (mode, figures)

    runs = [intake["main"], *intake["steps"]]
    assert len(runs) >= 2
    for run in runs:
        acks = run["acks"]
        assert acks["n"] == run["flags"] > 0
        assert (acks["errors"], acks["non_2xx"]) == (0, 0), acks
        assert run["incidents"] == run["flags"], run
        assert run["cards_distinct"] == run["flags"] and run["duplicate_cards"] == 0, run
        assert _finite(run["end_to_end_p50"]), run

    assert "| concurrency |" in ack_latency.markdown(ack)
    assert "Highest rate that holds" in intake_throughput.markdown(intake)


def test_quick_digest_acks_produces_figures_without_errors() -> None:
    result = digest_acks.run(digest_acks.DigestAcksConfig.quick_config(database="sqlite"))

    assert result["seeded"]["incidents"] == 2000
    assert result["setup"]["first_digest"]["posted"], "the bot's own tick was meant to post the channel's digest"
    totals = result["totals"]
    assert totals["n"] > 0 and (totals["errors"], totals["non_2xx"]) == (0, 0), totals
    for name in digest_acks.PHASES:
        figures = result["phases"][name]
        assert figures["n"] > 0 and figures["errors"] == 0 and figures["non_2xx"] == 0, (name, figures)
        assert all(_finite(figures[q]) for q in ("p50", "p95", "p99")), (name, figures)
    for name in ("B", "C"):
        assert _finite(result["ratios"][name]["p99_ratio"]), (name, result["ratios"])
    digest = result["digest_b"]
    assert all(share > 0 for share in digest["busy_share"]), ("no digest ran during phase B", digest)
    assert all(posted > 0 for posted in digest["posted_by_drain"]), ("the double got no digest", digest)
    previews = result["previews"]
    assert previews["n"] > 0 and previews["met"], previews

    assert "| acks unaffected" in digest_acks.markdown(result)
