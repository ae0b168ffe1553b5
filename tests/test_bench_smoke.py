"""The benchmarks still run: each in quick mode on SQLite, every figure there, every request
answered as it should be, every count exact.

Not a performance test, and not in the default run (marker ``bench``: ``./scripts/test -m
bench``, which CI runs on its own): nothing here looks at how fast anything was, because the
machine running it may be slow or busy.
"""
from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import pytest

from bench import (ack_cpu, ack_latency, diagnose, digest_acks, home_cost, insights_cost, intake_throughput, memory,
                   report, stats_cost, storm, timers_cost)
from bench.cli import configure

pytestmark = pytest.mark.bench


def _figure(value: float) -> bool:
    return isinstance(value, float) and not math.isnan(value) and value > 0


def _reading(value: float) -> bool:
    """A meter's reading that may be zero below its resolution, but never missing."""
    return isinstance(value, float) and not math.isnan(value) and value >= 0


def test_quick_ack_latency_and_intake_answer_every_request_and_count_exactly() -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        ack_future = pool.submit(ack_latency.run, configure(ack_latency.Config, quick=True))
        intake_future = pool.submit(intake_throughput.run, configure(intake_throughput.Config, quick=True))
        ack, intake = ack_future.result(timeout=300), intake_future.result(timeout=300)

    config = ack["config"]
    # The main phases alternate the bot and both floors; the forged and degraded ones the bot and the bare floor.
    phases = 3 * len(config["concurrency"]) + 2 * (2 * config["forged_rounds"] + len(config["degraded_modes"]))
    assert ack["totals"] == {"n": phases * config["requests"], "errors": 0, "non_2xx": 0, "over_3s": 0}
    assert ack["durable_stored"]["rows"] == ack["durable_stored"]["acked"] == 12 + 3 * config["requests"]
    for concurrency in (1, 16, 32):
        row = ack["main"][concurrency]
        for target in ("recovery", "bare", "durable"):
            assert (row[target]["n"], row[target]["errors"], row[target]["non_2xx"]) == (config["requests"], 0, 0)
            assert all(_figure(row[target][q]) for q in ("p50", "p95", "p99")), row[target]
            # CPU is read from /proc in clock ticks (10 ms): a quick phase of the bare app can use
            # less than one tick in all, which reads 0, a true reading at that resolution.
            assert _reading(row[target]["cpu_ms"]), row[target]
        assert _figure(row["p99_ratio"]) and _figure(row["durable_p99_ratio"]), row
        assert row["all_drained"] and row["outbox_rows"] > 0, row
    forged = ack["forged"]
    assert forged["all_401"] and forged["rows_written_total"] == 0, forged
    assert forged["targets"]["recovery"]["forged_n"] == config["requests"] // 3
    assert set(ack["degraded"]) == {"slack_429", "slack_drops"}
    for mode, figures in ack["degraded"].items():
        assert (figures["errors"], figures["non_2xx"]) == (0, 0), (mode, figures)
        assert figures["slack_failed"] == figures["slack_attempts"] > 0, (mode, "the double was to fail every call")
        assert figures["drained_after_heal"], (mode, figures)

    runs = [intake["main"], *intake["steps"]]
    assert [run["flags"] for run in runs] == [40, 60]
    for run in runs:
        assert run["acks"]["ok_2xx"] == run["incidents"] == run["cards_distinct"] == run["flags"], run
        assert (run["duplicate_cards"], run["outbox_owed_after"]) == (0, 0), run
        assert _figure(run["end_to_end_p50"]), run

    assert "| concurrency |" in report.ack(ack)
    assert "Highest rate that holds" in report.intake(intake)


def test_quick_digest_acks_runs_a_digest_in_phase_b_and_answers_every_preview() -> None:
    result = digest_acks.run(configure(digest_acks.Config, quick=True))

    config = result["config"]
    assert result["seeded"]["incidents"] == 2000
    assert result["setup"]["first_digest"]["posted"], "the bot's own tick was to post the channel's digest"
    assert result["totals"] == {"n": 3 * config["requests"], "errors": 0, "non_2xx": 0, "over_3s": 0}
    for name in digest_acks.PHASES:
        assert all(_figure(result["phases"][name][q]) for q in ("p50", "p95", "p99")), name
    assert all(_figure(result["ratios"][name]["p99_ratio"]) for name in ("B", "C"))
    digest = result["digest_b"]
    assert all(share > 0 for share in digest["digest_busy_share"]), ("no digest ran during phase B", digest)
    assert all(posted > 0 for posted in digest["digests_posted_by_drain"]), ("the double got no digest", digest)
    previews = result["previews"]
    assert previews["n"] > 0 and previews["met"], previews

    assert "| acks unaffected" in report.digest(result)


def test_quick_ack_cpu_counts_each_kinds_statements_for_the_bot_and_the_floor() -> None:
    result = ack_cpu.run(configure(ack_cpu.Config, quick=True, database="sqlite", profile="claim"))

    kinds = result["kinds"]
    assert list(kinds) == ["list", "new", "react", "claim"] and result["requests"] == 20
    # SQLite counts each transaction's BEGIN: the floor's INSERT is two; the bot's flag takes the
    # number first (the counter), then the incident, its step, its event, whose Home changes, the outbox.
    assert {kind: t["floor"]["statements"] for kind, t in kinds.items()} == dict.fromkeys(kinds, 2.0)
    assert {kind: t["bot"]["statements"] for kind, t in kinds.items()} == {
        "list": 2.0, "new": 7.0, "react": 7.0, "claim": 8.0}
    assert all(_figure(t["bot"]["cpu_ms"]) and _figure(t["floor"]["cpu_ms"]) for t in kinds.values())
    assert "handlers/claim.py" in result["profile"]
    assert "| claim |" in report.ack_cpu(result)


def test_quick_tick_digest_memory_and_outbox_figures_are_all_there() -> None:
    timers = timers_cost.run(configure(timers_cost.Config, quick=True, database="sqlite"))
    used = memory.run(configure(memory.Config, quick=True))
    outbox = diagnose.run(configure(diagnose.Config, quick=True))

    assert set(timers["ticks"]) == {1000, 5000}
    assert all(_figure(figures["none_due_ms"]) and _figure(figures["due_100_ms"]) for figures in timers["ticks"].values())
    assert _figure(timers["digest"]["median_s"])
    assert (used["incidents"], used["errors"]) == (200 + 2 * 500, 0)
    assert len(used["samples_mib"]) == 3 and all(_figure(sample) for sample in used["samples_mib"])
    # Per flag: its card, the 👀 receipt on the flagged message, and the flagger's private
    # offer to add the customer's details (a reaction flag asked for none).
    assert outbox["rows"] == 90, outbox
    calls = outbox["slack_calls"]
    assert (calls["chat.postMessage"], calls["reactions.add"], calls["chat.postEphemeral"]) == (30, 30, 30), outbox
    assert "digest, 100k incidents" in report.timers([timers])


def test_quick_storm_posts_every_card_once_and_reports_its_floor() -> None:
    result = storm.run(configure(storm.Config, quick=True))

    flags = result["config"]["flags"]
    assert (result["cards"], result["duplicate_cards"], result["stale_cards"]) == (flags, 0, 0), result
    assert result["acks"]["ok_2xx"] == flags and result["acks"]["errors"] == 0, result["acks"]
    assert result["floor_seconds"] == storm.floor_seconds(flags, result["config"]["post_rate"]) > 0
    assert result["slack_calls"] >= flags and _figure(result["last_card_seconds"]), result
    assert "| last / floor |" in report.storm_section(result)


def test_quick_stats_cost_adds_up_the_same_figures_as_the_python_path_with_and_without_indexes() -> None:
    result = stats_cost.run(configure(stats_cost.Config, quick=True, database="sqlite"))

    assert result["incidents"] == 5000 and result["same_figures"], result
    assert all(_figure(result[key]) for key in ("stats_s", "floor_s", "python_path_s", "without_indexes_s")), result
    assert "without the 0008 indexes" in report.stats([result])


def test_quick_insights_cost_counts_every_answer_once_in_each_split_and_week() -> None:
    result = insights_cost.run(configure(insights_cost.Config, quick=True, database="sqlite"))

    assert (result["incidents"], result["answers"]) == (5000, 1500), result
    assert result["answers_counted"] and result["splits_add_up"] and result["weeks_add_up"], result
    assert result["worth_acting"] > 0, "the seeded data makes fast recoveries win customers back"
    assert all(_figure(result[key]) for key in ("insights_365d_s", "insights_90d_s", "floor_s")), result
    assert "| insights 365d (target < 1 s) |" in report.insights([result])


def test_quick_home_cost_publishes_each_persons_home_once_after_a_burst_and_every_home_within_slacks_limits() -> None:
    result = home_cost.run(configure(home_cost.Config, quick=True, database="sqlite"))

    cost, burst = result["cost"], result["burst"]
    shown = cost["shown"]
    assert (shown["owned_open"], shown["unclaimed_in_channels"], shown["waiting_approval"]) == (20, 30, 3), shown
    assert shown["escalated"] > 0 and shown["past_due"] > 0, shown
    assert all(_figure(cost[f"{name}_s"]) for name in ("read_floor", "build_agent", "build_lead", "publish_floor",
                                                        "send_agent", "send_lead")), cost
    # 100 claims within one second across 20 people who opened their Home: one publish each,
    # every one after the last change and equal to a fresh render of the final state.
    assert (burst["changes"], burst["people"]) == (100, 20)
    assert (burst["publishes"], burst["people_published"], burst["publishes_per_person"]) == (20, 20, [1]), burst
    assert burst["stale_homes"] == 0 and burst["first_publish_after_last_change_s"] > 0, burst
    assert result["max_blocks"] <= 100 and result["within_limits"], result
    assert "Homes older than the last change" in report.home([result])
