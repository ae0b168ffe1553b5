"""Ack latency: how fast the bot answers Slack, against a bare Bolt app measured side by side.

Load: Slack-signed HTTP requests, a quarter each of ``/recovery list``, ``/recovery new
<summary>``, ``reaction_added`` on a new message and Claim on a fresh incident's card, at
each concurrency (closed loop). Targets: ``python -m bot serve`` (SQLite file or throwaway
PostgreSQL, its Slack the double) and ``bench/bare_app.py`` (Bolt that only acks), same
secret, waitress and threads. Rounds alternate bot, bare, bot, bare...; figures are medians
over rounds, ratios are taken within a round. Before and after each bot phase the outbox is
drained, so that neither target is measured while the other is still working.

Also at the stress concurrency (16): forged requests (wrong secret, timestamp over 5 minutes
old, no signature) interleaved with the load, each to be answered 401, writing nothing, not
slowing the legitimate ones; and the Slack double answering 429 to everything, dropping
every connection, or holding every answer: acks must not notice.
"""
from __future__ import annotations

import itertools
import math
import re
import sys
import time
from collections import Counter
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field, replace
from typing import Any, ClassVar

from bench import cli
from bench.load import FORGED_MODES, Prepared, Requests, closed_loop, median, percentile, summarize
from bench.meter import Cpu, descendants, product_digest
from bench.rig import SERVE_THREADS, Rig, log, wait_until
from bot.devkit.processes import ServedProcess

KINDS = ("list", "new", "react", "claim")
FORGED_KINDS = ("new", "react", "claim")
FORGED_CHANNEL = "CFORGED"
DEGRADED_MODES = ("slack_429", "slack_drops", "slack_stall")
_FLAGGED = re.compile(r"Flagged as #(\d+)")


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
                                           heal_timeout=5.0)


@dataclass
class Phase:
    """One load on one target; CPU in seconds per process over the load."""

    scenario: str
    round: int
    concurrency: int
    target: str
    started: float
    finished: float
    summary: dict[str, Any]
    kinds: dict[str, dict[str, float]]
    cpu: dict[str, float]
    forged: dict[str, Any] | None = None
    drained: bool | None = None
    drain_seconds: float | None = None
    outbox_rows: int | None = None  # rows written from the phase's start until drained
    outbox_sent: int | None = None  # rows the background finished during the load
    extra: dict[str, Any] = field(default_factory=dict)  # a scenario's own figures

    @property
    def wall(self) -> float:
        return self.finished - self.started

    def cores(self, *names: str) -> float:
        return sum(self.cpu.get(name, 0.0) for name in names) / max(self.wall, 1e-9)

    def ms_per_request(self, *names: str) -> float:
        sent = self.summary["n"] + (self.forged or {}).get("n", 0)
        return sum(self.cpu.get(name, 0.0) for name in names) / max(1, sent) * 1000


def select(phases: list[Phase], scenario: str, concurrency: int | None = None,
           target: str | None = None) -> list[Phase]:
    return [p for p in phases if p.scenario == scenario and concurrency in (None, p.concurrency)
            and target in (None, p.target)]


def figures(phases: list[Phase]) -> dict[str, Any]:
    """Medians over rounds of each phase's percentiles; counts summed; the max over all."""
    return {**{q: median(p.summary[q] for p in phases) for q in ("p50", "p95", "p99", "rps")},
            **{k: sum(p.summary[k] for p in phases) for k in ("n", "errors", "non_2xx", "over_3s")},
            "max": max((p.summary["max"] for p in phases), default=math.nan)}


def round_ratios(top: list[Phase], bottom: list[Phase], q: str) -> list[float]:
    """``top``'s figure over ``bottom``'s in the same round, round by round."""
    below = {p.round: p.summary[q] for p in bottom}
    return [p.summary[q] / below[p.round] for p in sorted(top, key=lambda p: p.round) if below.get(p.round)]


class Bench:
    """The bot (and the floor) on the rig's double, a probe of the bot's database, the request mix."""

    def __init__(self, rig: Rig, *, bot: ServedProcess, bare: ServedProcess | None, url: str, drain_timeout: float,
                 channel: str = "C1") -> None:
        self.rig, self.bot, self.bare = rig, bot, bare
        self.slack = rig.double.slack
        self.probe = rig.probe(url)
        self.url, self.drain_timeout = url, drain_timeout
        self.requests = Requests(rig.double.response_url_base, channel=channel)
        self.phases: list[Phase] = []
        self.pool: list[dict[str, Any]] = []  # fresh incidents' cards, to claim
        self.sample_cards: list[dict[str, Any]] = []  # what the floor's Claims carry
        self.forged_targets: list[dict[str, Any]] = []  # cards forged Claims aim at (must stay unclaimed)

    @property
    def targets(self) -> tuple[ServedProcess, ...]:
        return (self.bot, self.bare) if self.bare is not None else (self.bot,)

    def name(self, target: ServedProcess) -> str:
        return "recovery" if target is self.bot else "bare"

    def mix(self, target: ServedProcess, n: int, *, tag: str) -> list[Prepared]:
        kinds = [KINDS[i % len(KINDS)] for i in range(n)]
        is_bot, reactions = target is self.bot, kinds.count("react")
        message_ts = iter(self.slack.add_user_messages(self.requests.channel, reactions, text=f"complaint {tag}")
                          if is_bot else [self.requests.unused_ts() for _ in range(reactions)])
        samples = itertools.cycle(self.sample_cards or [{}])
        built = []
        for i, kind in enumerate(kinds):
            if kind == "list":
                built.append(self.requests.command("/recovery list", kind="list"))
            elif kind == "new":
                built.append(self.requests.command(f"/recovery new {tag}-{i}: customer was charged twice", kind="new"))
            elif kind == "react":
                built.append(self.requests.react(next(message_ts)))
            else:
                built.append(self.requests.claim(self.take_card() if is_bot else next(samples)))
        return built

    def forged_mix(self, target: ServedProcess, n: int, *, tag: str) -> list[Prepared]:
        """``n`` legitimate requests with a forged one after every third."""
        out: list[Prepared] = []
        for i, prepared in enumerate(self.mix(target, n, tag=tag)):
            out.append(prepared)
            if i % 3 == 2:
                out.append(self._forged(target, i // 3, tag=tag))
        return out

    def _forged(self, target: ServedProcess, j: int, *, tag: str) -> Prepared:
        kind = FORGED_KINDS[(j // len(FORGED_MODES)) % len(FORGED_KINDS)]
        if kind == "new":
            prepared = self.requests.command(f"/recovery new forged-{tag}-{j}", kind="new", channel=FORGED_CHANNEL)
        elif kind == "react":
            prepared = self.requests.react(self.requests.unused_ts(), channel=FORGED_CHANNEL)
        else:
            cards = self.forged_targets if target is self.bot else self.sample_cards
            prepared = self.requests.claim(cards[j % len(cards)])
        return replace(prepared, mode=FORGED_MODES[j % len(FORGED_MODES)])

    def take_card(self) -> dict[str, Any]:
        if not self.pool:
            raise RuntimeError("ran out of seeded incidents to claim")
        return self.pool.pop()

    def seed(self, count: int) -> list[dict[str, Any]]:
        """Open ``count`` incidents through the bot and wait for their cards: what Claim clicks need."""
        prepared = [self.requests.command(f"/recovery new seed-{i}: refund never arrived", kind="new")
                    for i in range(count)]
        run = closed_loop(self.bot.port, prepared, concurrency=8, keep_body=True)
        numbers = set()
        for result in run.results:
            match = _FLAGGED.search(result.body)
            if result.status != 200 or not match:
                raise RuntimeError(f"seeding failed: {result.status} {result.error or result.body[:200]}")
            numbers.add(int(match.group(1)))
        drained, seconds = self.probe.wait_drained(self.drain_timeout)
        cards = [card for card in self.slack.cards() if card["number"] in numbers]
        if not drained or len(cards) != count:
            raise RuntimeError(f"seeded {count} incidents; {len(cards)} cards out after {seconds:.0f} s")
        log(f"seeded {count} incidents in {run.wall:.1f}s; their cards went out {seconds:.1f}s later")
        return sorted(cards, key=lambda card: card["number"], reverse=True)

    def phase(self, scenario: str, round_: int, concurrency: int, target: ServedProcess, prepared: list[Prepared],
              *, drain: bool = True, during: AbstractContextManager[dict[str, int]] | None = None) -> Phase:
        """Measure one load; ``during`` runs beside it and names more processes to count CPU for."""
        is_bot = target is self.bot
        if is_bot and drain:
            self.probe.wait_drained(self.drain_timeout)
        rows_before, done_before = self.probe.count("outbox"), self._outbox_done()
        with during or nullcontext({}) as more:
            cpu = Cpu(self._pids(target) | {name: (pid, False) for name, pid in more.items()}).start()
            run = closed_loop(target.port, prepared, concurrency=concurrency)
            used = cpu.stop()
        legit = [r for r in run.results if r.mode == "ok"]
        bad = [r for r in run.results if r.mode != "ok"]
        phase = Phase(scenario=scenario, round=round_, concurrency=concurrency, target=self.name(target),
                      started=run.started, finished=run.finished, summary=summarize(legit, run.wall), cpu=used,
                      kinds={kind: _brief([r.seconds for r in legit if r.kind == kind]) for kind in KINDS},
                      forged=summarize(bad) if bad else None)
        if is_bot:
            phase.outbox_sent = self._outbox_done() - done_before
        if is_bot and drain:
            phase.drained, phase.drain_seconds = self.probe.wait_drained(self.drain_timeout)
            phase.outbox_rows = self.probe.count("outbox") - rows_before
        self.phases.append(phase)
        s = phase.summary
        log(f"{scenario} r{round_} c{concurrency} {phase.target:8s} n={s['n']} p50={s['p50'] * 1000:.1f} "
            f"p99={s['p99'] * 1000:.1f} ms rps={s['rps']:.0f} err={s['errors']} non2xx={s['non_2xx']}"
            + (f" drain={phase.drain_seconds:.1f}s" if phase.drain_seconds is not None else ""))
        return phase

    def _pids(self, target: ServedProcess) -> dict[str, tuple[int | None, bool]]:
        pids: dict[str, tuple[int | None, bool]] = {"slack_double": (self.rig.double.pid, False)}
        if target is not self.bot:
            return pids | {"bare": (target.pid, False)}
        background = descendants(target.pid)  # serve forks one: the outbox senders and the tick
        pids |= {"recovery": (target.pid, False), "background": (background[0] if background else None, False)}
        return pids | ({"postgresql": (self.rig.postmaster_pid, True)} if self.rig.postmaster_pid else {})

    def _outbox_done(self) -> int:
        return self.probe.count("outbox WHERE state NOT IN ('pending', 'in_flight')")


def _brief(latencies: list[float]) -> dict[str, float]:
    return {"n": len(latencies), "p50": percentile(latencies, 50), "p99": percentile(latencies, 99)}


def claims_in(n: int) -> int:
    return sum(1 for i in range(n) if KINDS[i % len(KINDS)] == "claim")


def run(config: Config) -> dict[str, Any]:
    started = time.monotonic()
    with Rig(config.database, keep=config.keep) as rig:
        url, code = rig.database("ack_latency"), product_digest()
        bot, bare = rig.bot(url, threads=config.threads), rig.bare(threads=config.threads)
        bench = Bench(rig, bot=bot.wait_healthy(60), bare=bare.wait_healthy(60), url=url,
                      drain_timeout=config.drain_timeout)
        claims, stress = claims_in(config.requests), config.stress_concurrency
        forged_claims = max(1, sum(1 for j in range(config.requests // 3)
                                   if FORGED_KINDS[(j // len(FORGED_MODES)) % len(FORGED_KINDS)] == "claim"))
        warmup = 12 if config.quick else 40
        rounds = config.rounds * len(config.concurrency) + 2 * config.forged_rounds
        cards = bench.seed(claims * (rounds + config.degraded_rounds * len(config.degraded_modes))
                           + claims_in(warmup) + 1 + forged_claims)
        bench.forged_targets, bench.pool = cards[:forged_claims], cards[forged_claims:]
        bench.sample_cards = bench.pool[-8:]
        for target in bench.targets:  # warm-up: imports, caches, connections; not recorded
            closed_loop(target.port, bench.mix(target, warmup, tag="warmup"), concurrency=4)
        for round_ in range(config.rounds):
            for concurrency in config.concurrency:
                for target in bench.targets:
                    bench.phase("main", round_, concurrency, target,
                                bench.mix(target, config.requests, tag=f"r{round_}c{concurrency}"))
        forged = _forged_scenario(bench, config)
        degraded = {mode: _degraded_scenario(bench, config, mode) for mode in config.degraded_modes}
        bot_main = select(bench.phases, "main", stress, "recovery")
        return {
            "config": asdict(config), "database": rig.description, "product_digest": code,
            "seconds": round(time.monotonic() - started, 1),
            "main": {c: _main_row(bench.phases, c) for c in config.concurrency},
            "kinds_at_stress": {kind: {q: median(p.kinds[kind][q] for p in bot_main) for q in ("p50", "p99")}
                                for kind in KINDS},
            "others_cores_max": max(p.cores("others") for p in bench.phases),
            "forged": forged, "degraded": degraded,
            "totals": {k: sum(p.summary[k] for p in bench.phases) for k in ("n", "errors", "non_2xx", "over_3s")},
            "phases": [asdict(p) for p in bench.phases],
        }


def _main_row(phases: list[Phase], c: int) -> dict[str, Any]:
    bot, bare = select(phases, "main", c, "recovery"), select(phases, "main", c, "bare")
    ratios = {q: round_ratios(bot, bare, q) for q in ("p50", "p99")}
    return {
        "recovery": figures(bot) | {"cpu_ms": median(p.ms_per_request("recovery", "background") for p in bot)},
        "bare": figures(bare) | {"cpu_ms": median(p.ms_per_request("bare") for p in bare)},
        "p99_ratio": median(ratios["p99"]), "p50_ratio": median(ratios["p50"]), "p99_ratios": ratios["p99"],
        "postgres_cpu_ms": median(p.ms_per_request("postgresql") for p in bot if "postgresql" in p.cpu),
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
