"""Ack latency: how fast the bot answers Slack, against two floors measured side by side.

The floors are `bench/bare_app.py`: Bolt with the same settings, secret, adapter, waitress
and thread count, listeners that only ack (the bare floor), or that first store the request
with one committed INSERT into a database of the same kind, engine and durability as the
bot's (the durable floor: the least a flag stored before its 200 costs). Bot and floors run
alternately (bot, bare, durable, bot...) at each concurrency, each round; a ratio is taken
within a round and the median of rounds is reported. Before every bot phase and after it, the benchmark waits until the
bot's outbox owes nothing, so the floor is never measured while the bot still works in the
background. Ack latency is from sending the request to reading the whole answer, in a
closed loop at the given concurrency. The mix is a quarter each of `/recovery list`,
`/recovery new <summary>`, `reaction_added` on a message never flagged before, and Claim on
a card of an incident nobody claimed (opened through the bot before the timed phases).
At concurrency 16 also: forged requests (wrong secret, stale, unsigned) mixed in, and the
Slack double failing every call (429, dropped connections, held answers).
"""
from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from bench import cli
from bench.load import FORGED_MODES, closed_loop, median
from bench.meter import product_digest
from bench.phases import FORGED_CHANNEL, FORGED_KINDS, KINDS, Bench, Phase, claims_in, figures, round_ratios, select
from bench.rig import SERVE_THREADS, Rig, log, wait_until

DEGRADED_MODES = ("slack_429", "slack_drops", "slack_stall")


@dataclass
class Config:
    database: str = cli.database_field()
    rounds: int = 5
    requests: int = field(default=400, metadata={"help": "requests per phase"})
    concurrency: tuple[int, ...] = (1, 16, 32)
    stress_concurrency: int = 16
    threads: int = SERVE_THREADS
    forged_rounds: int = 3
    degraded_rounds: int = 3
    degraded_modes: tuple[str, ...] = DEGRADED_MODES
    drain_timeout: float = 180.0
    heal_timeout: float = 90.0
    keep: bool = field(default=False, metadata={"help": "keep the work dir (logs, SQLite file)"})
    quick: bool = False
    QUICK: ClassVar[dict[str, Any]] = dict(rounds=1, requests=24, forged_rounds=1, degraded_rounds=1,
                                           degraded_modes=("slack_429", "slack_drops"), drain_timeout=30.0,
                                           heal_timeout=30.0)


def run(config: Config) -> dict[str, Any]:
    started = time.monotonic()
    with Rig(config.database, keep=config.keep) as rig:
        url, code = rig.database("ack_latency"), product_digest()
        bot, bare = rig.bot(url, threads=config.threads), rig.bare(threads=config.threads)
        durable_url = rig.database("durable_floor")
        durable = rig.bare(threads=config.threads, store=durable_url)
        bench = Bench(rig, bot=bot.wait_healthy(60), bare=bare.wait_healthy(60), url=url,
                      drain_timeout=config.drain_timeout, durable=durable.wait_healthy(60))
        claims, stress = claims_in(config.requests), config.stress_concurrency
        forged_claims = max(1, sum(1 for j in range(config.requests // 3)
                                   if FORGED_KINDS[(j // len(FORGED_MODES)) % len(FORGED_KINDS)] == "claim"))
        warmup = 12 if config.quick else 40
        rounds = config.rounds * len(config.concurrency) + 2 * config.forged_rounds
        cards = bench.seed(claims * (rounds + config.degraded_rounds * len(config.degraded_modes))
                           + claims_in(warmup) + 1 + forged_claims)
        bench.forged_targets, bench.pool = cards[:forged_claims], cards[forged_claims:]
        bench.sample_cards = bench.pool[-8:]
        for target in bench.all_targets:  # warm-up: imports, caches, connections; not recorded
            closed_loop(target.port, bench.mix(target, warmup, tag="warmup"), concurrency=4)
        for round_ in range(config.rounds):
            for concurrency in config.concurrency:
                for target in bench.all_targets:
                    bench.phase("main", round_, concurrency, target,
                                bench.mix(target, config.requests, tag=f"r{round_}c{concurrency}"))
        forged = _forged_scenario(bench, config)
        degraded = {mode: _degraded_scenario(bench, config, mode) for mode in config.degraded_modes}
        durable_phases = select(bench.phases, "main", target="durable")
        bot_main = select(bench.phases, "main", stress, "recovery")
        durable_main = [p for p in durable_phases if p.concurrency == stress]
        return {
            "config": asdict(config), "database": rig.description, "product_digest": code,
            "seconds": round(time.monotonic() - started, 1),
            "main": {c: _main_row(bench.phases, c) for c in config.concurrency},
            "kinds_at_stress": {kind: {q: median(p.kinds[kind][q] for p in bot_main) for q in ("p50", "p99")}
                                for kind in KINDS},
            "durable_kinds_at_stress": {kind: {q: median(p.kinds[kind][q] for p in durable_main)
                                               for q in ("p50", "p99")} for kind in KINDS},
            "others_cores_max": max(p.cores("others") for p in bench.phases),
            "forged": forged, "degraded": degraded,
            "totals": {k: sum(p.summary[k] for p in bench.phases) for k in ("n", "errors", "non_2xx", "over_3s")},
            # Every request the durable floor acked is in its table: it did store before acking.
            "durable_stored": {"acked": warmup + sum(p.summary["n"] for p in durable_phases),
                               "rows": rig.probe(durable_url).count("received")},
            "phases": [asdict(p) for p in bench.phases],
        }


def _main_row(phases: list[Phase], c: int) -> dict[str, Any]:
    bot, bare = select(phases, "main", c, "recovery"), select(phases, "main", c, "bare")
    durable = select(phases, "main", c, "durable")
    ratios = {q: round_ratios(bot, bare, q) for q in ("p50", "p99")}
    durable_ratios = {q: round_ratios(bot, durable, q) for q in ("p50", "p99")}
    return {
        "recovery": figures(bot) | {"cpu_ms": median(p.ms_per_request("recovery", "background") for p in bot),
                                    "server_cpu_ms": median(p.ms_per_request("recovery") for p in bot),
                                    "background_cpu_ms": median(p.ms_per_request("background") for p in bot),
                                    "double_cpu_ms": median(p.ms_per_request("slack_double") for p in bot)},
        "bare": figures(bare) | {"cpu_ms": median(p.ms_per_request("bare") for p in bare)},
        "durable": figures(durable) | {"cpu_ms": median(p.ms_per_request("durable") for p in durable)},
        "p99_ratio": median(ratios["p99"]), "p50_ratio": median(ratios["p50"]), "p99_ratios": ratios["p99"],
        "durable_p99_ratio": median(durable_ratios["p99"]), "durable_p50_ratio": median(durable_ratios["p50"]),
        "durable_p99_ratios": durable_ratios["p99"],
        "postgres_cpu_ms": median(p.ms_per_request("postgresql") for p in bot if "postgresql" in p.cpu),
        "durable_postgres_cpu_ms": median(p.ms_per_request("postgresql") for p in durable if "postgresql" in p.cpu),
        "client_cpu_ms": median(p.ms_per_request("bench_client") for p in bot + bare),
        "others_cores": median(p.cores("others") for p in bot + bare),
        "drain_seconds": median(p.drain_seconds for p in bot), "outbox_rows": median(p.outbox_rows for p in bot),
        "all_drained": all(p.drained for p in bot),
    }


def _forged_scenario(bench: Bench, config: Config) -> dict[str, Any]:
    """Per round and target: a clean phase, then one with forged requests mixed in."""
    numbers = ",".join(str(card["number"]) for card in bench.forged_targets)
    events = f"timeline_event e JOIN incident i ON i.id = e.incident_id WHERE i.number IN ({numbers})"
    events_before = bench.probe.count(events)
    for round_ in range(config.forged_rounds):
        for target in bench.targets:
            tag = f"f{round_}{bench.name(target)[0]}"
            for scenario, build in (("forged_clean", bench.mix), ("forged_mixed", bench.forged_mix)):
                bench.phase(scenario, round_, config.stress_concurrency, target,
                            build(target, config.requests, tag=tag + scenario[7]))
    bench.probe.wait_drained(config.drain_timeout)
    written = {
        "incidents from forged channel": bench.probe.count("incident WHERE origin_channel = :c", c=FORGED_CHANNEL),
        "incidents with forged summary": bench.probe.count("incident WHERE summary LIKE 'forged-%'"),
        "outbox rows for forged channel": bench.probe.count("outbox WHERE channel = :c", c=FORGED_CHANNEL),
        "claims on forged targets": bench.probe.count(
            f"incident WHERE number IN ({numbers}) AND (owner_id IS NOT NULL OR version <> 0)"),
        "timeline events on forged targets": bench.probe.count(events) - events_before,
    }
    targets = {}
    for name in ("recovery", "bare"):
        clean, mixed = select(bench.phases, "forged_clean", target=name), select(bench.phases, "forged_mixed",
                                                                                  target=name)
        statuses = sum((Counter(p.forged["statuses"]) for p in mixed if p.forged), Counter())
        targets[name] = {
            **{f"{kind}_{q}": median(p.summary[q] for p in phases) for kind, phases in (("clean", clean),
                                                                                      ("mixed", mixed))
               for q in ("p50", "p99")},
            "p99_slowdown": median(round_ratios(mixed, clean, "p99")),
            "legit_errors": sum(p.summary["errors"] + p.summary["non_2xx"] for p in mixed),
            "forged_n": sum(statuses.values()), "forged_statuses": dict(statuses),
            "forged_p99": median(p.forged["p99"] for p in mixed if p.forged),
        }
    result = {"rows_written": written, "rows_written_total": sum(written.values()), "targets": targets,
              "all_401": all(set(t["forged_statuses"]) == {"401"} for t in targets.values())}
    log(f"forged: rows written {result['rows_written_total']}, all 401: {result['all_401']}")
    return result


def _degraded_scenario(bench: Bench, config: Config, mode: str) -> dict[str, Any]:
    """Phases while the double fails every call the bot makes; then how soon the outbox empties once healed."""
    def attempted() -> tuple[int, int]:
        counts = bench.slack.counts()
        return sum(counts["attempts"].values()), sum(counts["accepted"].values())

    bench.probe.wait_drained(config.drain_timeout)
    before = attempted()
    bench.slack.degrade(mode)
    try:
        for round_ in range(config.degraded_rounds):
            for target in bench.targets:
                bench.phase(mode, round_, config.stress_concurrency, target,
                            bench.mix(target, config.requests, tag=f"{mode}{round_}"), drain=False)
        # Short runs can end before the outbox's first call: wait (a little) until Slack saw the bot try.
        wait_until(lambda: attempted()[0] > before[0], timeout=10.0)
        owed, after = bench.probe.outbox_owed(), attempted()
    finally:
        bench.slack.heal()
    drained, seconds = bench.probe.wait_drained(config.heal_timeout)
    bot, bare = select(bench.phases, mode, target="recovery"), select(bench.phases, mode, target="bare")
    mine = figures(bot + bare)
    result = {
        "recovery": figures(bot), "bare": figures(bare), "p99_ratio": median(round_ratios(bot, bare, "p99")),
        **{k: mine[k] for k in ("n", "errors", "non_2xx", "over_3s")},
        "slack_attempts": after[0] - before[0], "slack_failed": (after[0] - before[0]) - (after[1] - before[1]),
        "outbox_owed_at_end": owed, "drained_after_heal": drained, "drain_after_heal_seconds": seconds,
        "owed_after_wait": 0 if drained else bench.probe.outbox_owed(),
    }
    log(f"{mode}: Slack calls failed {result['slack_failed']}/{result['slack_attempts']}, outbox owed {owed}, "
        f"drained after heal: {drained} in {seconds:.1f}s")
    return result


if __name__ == "__main__":
    sys.exit(cli.main("ack_latency", Config, run, __doc__))
