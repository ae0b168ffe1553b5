"""Ack latency: how fast the bot answers Slack, against a bare Bolt app measured side by side.

Load: Slack-signed HTTP requests, a mix of ``/recovery list``, ``/recovery new <summary>``,
``reaction_added`` on new distinct messages and Claim clicks on fresh incidents' cards, at
each concurrency (closed loop: each worker sends its next request when the last is
answered, on a keep-alive connection). Targets: ``python -m bot serve`` (the bot, SQLite
file or throwaway PostgreSQL, SLACK_API_URL on a Slack double) and ``bench/bare_app.py``
(Bolt that only acks), same secret, waitress, threads. Rounds alternate bot, bare, bot,
bare...; figures are medians over rounds, ratios are taken within a round.

Between bot phases the benchmark waits for the bot's outbox to empty, so that neither
target is measured while the other is still working.

Also measured, at the stress concurrency (16):
- forged requests (wrong secret, timestamp over 5 minutes old, no signature) interleaved
  with the load: each must get 401, must write nothing, must not slow the legitimate ones;
- the Slack double answering 429 to everything, dropping every connection, or stalling
  every answer: acks must not notice.

    python -m bench.ack_latency [--database sqlite|postgresql] [--quick] [--rounds N] [--requests N]
"""
from __future__ import annotations

import argparse
import math
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.common import (
    SERVE_DEFAULT_THREADS, Cpu, Databases, Prepared, Probe, Requests, Served, Workdir, emit, closed_loop, forged, log,
    median, ms, percentile, product_digest, ratio, start_bare, start_recovery, summarize, table, wait_until,
)
from bench.slack_double import RunningDouble, start_slack_double

KINDS = ("list", "new", "react", "claim")
FORGED_MODES = ("wrong_secret", "stale", "unsigned")
FORGED_KINDS = ("new", "react", "claim")
FORGED_CHANNEL = "CFORGED"
DEGRADED_MODES = ("slack_429", "slack_drops", "slack_stall")
DEGRADED_LABELS = {
    "slack_429": "every call answered 429 (Retry-After 1 s)",
    "slack_drops": "every connection dropped without an answer",
    "slack_stall": "every answer held (the bot's client times out at 10 s)",
}
RATIO_TARGET, RATIO_AIM = 2.0, 1.5
_FLAGGED = re.compile(r"Flagged as #(\d+)")


@dataclass
class AckConfig:
    database: str = "sqlite"
    rounds: int = 5
    requests: int = 400  # per phase (one target, one concurrency, one round)
    concurrencies: tuple[int, ...] = (1, 16, 32)
    stress_concurrency: int = 16
    threads: int = SERVE_DEFAULT_THREADS
    forged_rounds: int = 3
    degraded_rounds: int = 3
    degraded_modes: tuple[str, ...] = DEGRADED_MODES
    drain_timeout: float = 180.0  # waiting for the outbox between phases
    heal_timeout: float = 90.0  # waiting for the backlog once Slack answers again
    keep: bool = False
    quick: bool = False

    @classmethod
    def quick_config(cls, **overrides: Any) -> AckConfig:
        values: dict[str, Any] = dict(rounds=1, requests=24, forged_rounds=1, degraded_rounds=1,
                                      degraded_modes=("slack_429", "slack_drops"), drain_timeout=30.0,
                                      heal_timeout=5.0, quick=True)
        values.update(overrides)
        return cls(**values)


@dataclass
class _Phase:
    scenario: str
    round: int
    concurrency: int
    target: str
    summary: dict[str, Any]
    kinds: dict[str, dict[str, Any]]
    cpu: dict[str, float]
    others_cores: float = 0.0  # CPU other processes on the machine used meanwhile, in cores
    forged: dict[str, Any] | None = None
    drain_seconds: float | None = None
    drained: bool | None = None
    outbox_rows: int | None = None


@dataclass
class _Bench:
    config: AckConfig
    double: RunningDouble
    databases: Databases
    recovery: Served
    bare: Served
    probe: Probe
    requests: Requests
    database_url: str
    phases: list[_Phase] = field(default_factory=list)
    pool: list[dict] = field(default_factory=list)  # fresh incidents' cards, to claim
    sample_cards: list[dict] = field(default_factory=list)  # for the bare app's claim payloads
    forged_targets: list[dict] = field(default_factory=list)  # incidents forged Claims aim at (must stay unclaimed)

    # Building loads

    def mix(self, target: Served, n: int, *, tag: str) -> list[Prepared]:
        kinds = [KINDS[i % len(KINDS)] for i in range(n)]
        reactions = kinds.count("react")
        if target is self.recovery:
            message_ts = self.double.slack.add_user_messages(self.requests.channel, reactions,
                                                              text=f"customer complaint {tag}")
        else:
            message_ts = [self.requests.unused_ts() for _ in range(reactions)]
        built, next_ts, next_card = [], iter(message_ts), 0
        for i, kind in enumerate(kinds):
            if kind == "list":
                built.append(self.requests.command("/recovery list", kind="list"))
            elif kind == "new":
                built.append(self.requests.command(f"/recovery new {tag}-{i}: customer was charged twice",
                                                   kind="new"))
            elif kind == "react":
                built.append(self.requests.react(next(next_ts)))
            else:
                if target is self.recovery:
                    card = self.take_card()
                else:
                    card = self.sample_cards[next_card % len(self.sample_cards)]
                    next_card += 1
                built.append(self.requests.claim(card))
        return built

    def forged_mix(self, target: Served, n: int, *, tag: str) -> list[Prepared]:
        """``n`` legitimate requests with one forged after every three."""
        legit = self.mix(target, n, tag=tag)
        out: list[Prepared] = []
        j = 0
        for i, prepared in enumerate(legit):
            out.append(prepared)
            if i % 3 == 2:
                out.append(self.forged_request(target, j, tag=tag))
                j += 1
        return out

    def forged_request(self, target: Served, j: int, *, tag: str) -> Prepared:
        mode = FORGED_MODES[j % len(FORGED_MODES)]
        kind = FORGED_KINDS[(j // len(FORGED_MODES)) % len(FORGED_KINDS)]
        if kind == "new":
            prepared = self.requests.command(f"/recovery new forged-{tag}-{j}", kind="new", channel=FORGED_CHANNEL)
        elif kind == "react":
            prepared = self.requests.react(self.requests.unused_ts(), channel=FORGED_CHANNEL)
        else:
            cards = self.forged_targets if target is self.recovery else self.sample_cards
            card = cards[j % len(cards)]
            prepared = self.requests.claim(card)
        return forged(prepared, mode)

    def take_card(self) -> dict:
        if not self.pool:
            raise RuntimeError("ran out of seeded incidents to claim")
        return self.pool.pop()

    # Running

    def seed(self, count: int) -> list[dict]:
        """Open ``count`` incidents through the bot and wait for their cards: what Claim clicks need."""
        if count <= 0:
            return []
        prepared = [self.requests.command(f"/recovery new seed-{i}: refund never arrived", kind="new")
                    for i in range(count)]
        run = closed_loop(self.recovery, prepared, concurrency=8, keep_body=True)
        numbers = set()
        for result in run.results:
            match = _FLAGGED.search(result.body)
            if result.status != 200 or not match:
                raise RuntimeError(f"seeding failed: {result.status} {result.error or result.body[:200]}")
            numbers.add(int(match.group(1)))
        drained, seconds = self.probe.wait_drained(self.config.drain_timeout)
        if not drained:
            raise RuntimeError(f"outbox still owes {self.probe.outbox_owed()} rows {seconds:.0f}s after seeding")
        cards = [card for card in self.double.slack.cards() if card["number"] in numbers]
        if len(cards) != count:
            raise RuntimeError(f"seeded {count} incidents but found {len(cards)} cards")
        log(f"seeded {count} incidents in {run.wall:.1f}s; their cards went out {seconds:.1f}s later")
        return sorted(cards, key=lambda card: card["number"], reverse=True)

    def phase(self, scenario: str, round_: int, concurrency: int, target: Served, prepared: list[Prepared],
              *, drain: bool = True) -> _Phase:
        is_bot = target is self.recovery
        if is_bot and drain:
            self.probe.wait_drained(self.config.drain_timeout)
        rows_before = self.outbox_rows() if is_bot else None
        # the bot with its background process (outbox, ticks); the floor has none
        pids = {target.name: (target.pid, is_bot), "slack_double": (self.double.pid, False)}
        if is_bot and self.databases.postmaster_pid:
            pids["postgresql"] = (self.databases.postmaster_pid, True)
        cpu = Cpu(pids=pids).start()
        run = closed_loop(target, prepared, concurrency=concurrency)
        used = cpu.stop()
        legit = [r for r in run.results if r.mode == "ok"]
        bad = [r for r in run.results if r.mode != "ok"]
        phase = _Phase(
            scenario=scenario, round=round_, concurrency=concurrency, target=target.name,
            summary=summarize(legit, run.wall),
            kinds={kind: _brief([r for r in legit if r.kind == kind]) for kind in KINDS},
            cpu={name: round(seconds / max(1, len(run.results)) * 1000, 2) for name, seconds in used.items()
                 if name != "others"},
            others_cores=round(used.get("others", 0.0) / max(run.wall, 1e-9), 2),
        )
        if bad:
            phase.forged = {**summarize(bad), "by_mode": {mode: summarize([r for r in bad if r.mode == mode])
                                                            ["statuses"] for mode in FORGED_MODES}}
        if is_bot and drain:
            phase.drained, phase.drain_seconds = self.probe.wait_drained(self.config.drain_timeout)
            phase.outbox_rows = self.outbox_rows() - (rows_before or 0)
        self.phases.append(phase)
        s = phase.summary
        log(f"{scenario} r{round_} c{concurrency} {target.name:8s} n={s['n']} p50={ms(s['p50'])} "
            f"p99={ms(s['p99'])} ms rps={s['rps']:.0f} err={s['errors']} non2xx={s['non_2xx']}"
            + (f" drain={phase.drain_seconds:.1f}s/{phase.outbox_rows} rows" if phase.drain_seconds is not None
               else ""))
        return phase

    def outbox_rows(self) -> int:
        return int(self.probe.scalar("SELECT count(*) FROM outbox") or 0)


def _brief(results: list) -> dict[str, Any]:
    latencies = [r.seconds for r in results]
    return {"n": len(results), "p50": percentile(latencies, 50), "p99": percentile(latencies, 99)}


def run(config: AckConfig) -> dict[str, Any]:
    workdir = Workdir(keep=config.keep)
    started = time.monotonic()
    double = start_slack_double()
    databases = recovery = bare = probe = None
    try:
        databases = Databases(config.database, workdir.path)
        url = databases.new("ack_latency")
        code = product_digest()
        recovery = start_recovery(database_url=url, api_url=double.api_url, workdir=workdir.path,
                                  threads=config.threads, wait=False)
        bare = start_bare(api_url=double.api_url, workdir=workdir.path, threads=config.threads, wait=False)
        recovery.wait_ready()
        bare.wait_ready()
        probe = Probe(url)
        bench = _Bench(config=config, double=double, databases=databases, recovery=recovery, bare=bare,
                       probe=probe, requests=Requests(double.response_url_base), database_url=url)
        result = _run(bench)
        result["database"] = databases.description
        result["product_digest"] = code
        result["seconds"] = round(time.monotonic() - started, 1)
        return result
    finally:
        for served in (recovery, bare):
            if served is not None:
                served.stop()
        if probe is not None:
            probe.dispose()
        double.stop()
        if databases is not None:
            databases.close()
        workdir.close()


def _run(bench: _Bench) -> dict[str, Any]:
    config = bench.config
    n, stress = config.requests, config.stress_concurrency
    claims = sum(1 for i in range(n) if KINDS[i % len(KINDS)] == "claim")
    forged_per_phase = n // 3
    forged_claims = sum(1 for j in range(forged_per_phase)
                        if FORGED_KINDS[(j // len(FORGED_MODES)) % len(FORGED_KINDS)] == "claim")
    warmup = 12 if config.quick else 40
    needed = (claims * config.rounds * len(config.concurrencies) + claims * 2 * config.forged_rounds
              + claims * config.degraded_rounds * len(config.degraded_modes) + warmup // 4 + 1)
    forged_target_count = max(1, forged_claims)
    log(f"{config.database}: seeding {needed + forged_target_count} incidents for Claim clicks")
    cards = bench.seed(needed + forged_target_count)
    bench.forged_targets = cards[:forged_target_count]
    bench.pool = cards[forged_target_count:]
    bench.sample_cards = bench.pool[-8:]

    for target in (bench.recovery, bench.bare):  # warm-up: imports, caches, connections; not recorded
        closed_loop(target, bench.mix(target, warmup, tag="warmup"), concurrency=4)
    bench.probe.wait_drained(config.drain_timeout)

    for round_ in range(config.rounds):
        for concurrency in config.concurrencies:
            for target in (bench.recovery, bench.bare):
                bench.phase("main", round_, concurrency, target,
                            bench.mix(target, n, tag=f"r{round_}c{concurrency}"))

    forged_checks = _forged_scenario(bench, stress)
    degraded = {mode: _degraded_scenario(bench, mode, stress) for mode in config.degraded_modes}

    main = _aggregate(bench.phases, "main", config.concurrencies)
    kinds = {kind: {"p50": median(p.kinds[kind]["p50"] for p in bench.phases
                                  if p.scenario == "main" and p.concurrency == stress and p.target == "recovery"),
                    "p99": median(p.kinds[kind]["p99"] for p in bench.phases
                                  if p.scenario == "main" and p.concurrency == stress and p.target == "recovery")}
             for kind in KINDS}
    drains = {c: {"seconds": median(p.drain_seconds for p in bench.phases if p.scenario == "main"
                                    and p.concurrency == c and p.drain_seconds is not None),
                  "rows": median(p.outbox_rows for p in bench.phases if p.scenario == "main"
                                 and p.concurrency == c and p.outbox_rows is not None),
                  "all_drained": all(p.drained for p in bench.phases if p.scenario == "main"
                                     and p.concurrency == c and p.drained is not None)}
              for c in config.concurrencies}
    cpu = {c: {t: median(next(iter(p.cpu.values())) for p in bench.phases if p.scenario == "main"
                         and p.concurrency == c and p.target == t) for t in ("recovery", "bare")}
           for c in config.concurrencies}
    client_cpu = {c: median(p.cpu.get("bench_client") for p in bench.phases if p.scenario == "main"
                            and p.concurrency == c) for c in config.concurrencies}
    others = {c: median(p.others_cores for p in bench.phases if p.scenario == "main" and p.concurrency == c)
              for c in config.concurrencies}
    pg_cpu = {c: median(p.cpu.get("postgresql") for p in bench.phases if p.scenario == "main"
                        and p.concurrency == c and p.target == "recovery" and "postgresql" in p.cpu)
              for c in config.concurrencies}
    legit = [p for p in bench.phases]
    return {
        "config": {k: v for k, v in asdict(config).items()},
        "main": main,
        "kinds_at_stress": kinds,
        "drain_after_phase": drains,
        "cpu_ms_per_request": cpu,
        "postgres_cpu_ms_per_request": pg_cpu,
        "client_cpu_ms_per_request": client_cpu,
        "others_cores": others,
        "others_cores_max": max((p.others_cores for p in bench.phases), default=0.0),
        "forged": forged_checks,
        "degraded": degraded,
        "totals": {
            "requests": sum(p.summary["n"] for p in legit),
            "errors": sum(p.summary["errors"] for p in legit),
            "non_2xx": sum(p.summary["non_2xx"] for p in legit),
            "over_3s": sum(p.summary["over_3s"] for p in legit),
        },
        "phases": [asdict(p) for p in bench.phases],
    }


def _aggregate(phases: list[_Phase], scenario: str, concurrencies: tuple[int, ...]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for c in concurrencies:
        row: dict[str, Any] = {}
        for target in ("recovery", "bare"):
            mine = [p for p in phases if p.scenario == scenario and p.concurrency == c and p.target == target]
            row[target] = {
                **{q: median(p.summary[q] for p in mine) for q in ("p50", "p95", "p99", "rps")},
                **{k: sum(p.summary[k] for p in mine) for k in ("n", "errors", "non_2xx", "over_3s")},
                "max": max((p.summary["max"] for p in mine), default=math.nan),
            }
        row["p99_ratio"] = median(_round_ratios(phases, scenario, c, "p99"))
        row["p50_ratio"] = median(_round_ratios(phases, scenario, c, "p50"))
        row["p99_ratios"] = _round_ratios(phases, scenario, c, "p99")
        out[c] = row
    return out


def _round_ratios(phases: list[_Phase], scenario: str, c: int, q: str) -> list[float]:
    rounds = sorted({p.round for p in phases if p.scenario == scenario and p.concurrency == c})
    ratios = []
    for r in rounds:
        bot = [p for p in phases if (p.scenario, p.concurrency, p.round, p.target) == (scenario, c, r, "recovery")]
        bare = [p for p in phases if (p.scenario, p.concurrency, p.round, p.target) == (scenario, c, r, "bare")]
        if bot and bare and bare[0].summary[q]:
            ratios.append(bot[0].summary[q] / bare[0].summary[q])
    return ratios


def _forged_scenario(bench: _Bench, concurrency: int) -> dict[str, Any]:
    """Per round: bot clean, bot with forged requests, bare clean, bare with forged."""
    probe = bench.probe
    target_numbers = [card["number"] for card in bench.forged_targets]
    in_list = ",".join(str(number) for number in target_numbers)
    events_before = _target_events(probe, in_list)
    rows = []
    for round_ in range(bench.config.forged_rounds):
        for target in (bench.recovery, bench.bare):
            tag = f"f{round_}{target.name[0]}"
            clean = bench.phase("forged_clean", round_, concurrency, target,
                                bench.mix(target, bench.config.requests, tag=tag + "c"))
            mixed = bench.phase("forged_mixed", round_, concurrency, target,
                                bench.forged_mix(target, bench.config.requests, tag=tag + "m"))
            rows.append((target.name, clean, mixed))
    probe.wait_drained(bench.config.drain_timeout)
    written = {
        "incidents from forged channel": probe.scalar(
            "SELECT count(*) FROM incident WHERE origin_channel = :c", c=FORGED_CHANNEL),
        "incidents with forged summary": probe.scalar(
            "SELECT count(*) FROM incident WHERE summary LIKE 'forged-%'"),
        "outbox rows for forged channel": probe.scalar(
            "SELECT count(*) FROM outbox WHERE channel = :c", c=FORGED_CHANNEL),
        "claims on forged targets": probe.scalar(
            f"SELECT count(*) FROM incident WHERE number IN ({in_list}) AND (owner_id IS NOT NULL OR version <> 0)"),
        "timeline events on forged targets": _target_events(probe, in_list) - events_before,
    }
    out: dict[str, Any] = {"rows_written": written, "rows_written_total": sum(int(v or 0) for v in written.values()),
                           "targets": {}}
    for name in ("recovery", "bare"):
        mine = [(clean, mixed) for target, clean, mixed in rows if target == name]
        forged_results = [mixed.forged for _, mixed in mine if mixed.forged]
        statuses: dict[str, int] = {}
        for summary in forged_results:
            for status, count in summary["statuses"].items():
                statuses[status] = statuses.get(status, 0) + count
        out["targets"][name] = {
            "clean_p99": median(clean.summary["p99"] for clean, _ in mine),
            "mixed_p99": median(mixed.summary["p99"] for _, mixed in mine),
            "clean_p50": median(clean.summary["p50"] for clean, _ in mine),
            "mixed_p50": median(mixed.summary["p50"] for _, mixed in mine),
            "p99_slowdown": median(mixed.summary["p99"] / clean.summary["p99"] for clean, mixed in mine
                                   if clean.summary["p99"]),
            "legit_errors": sum(mixed.summary["errors"] + mixed.summary["non_2xx"] for _, mixed in mine),
            "forged_n": sum(s["n"] for s in forged_results),
            "forged_statuses": statuses,
            "forged_p50": median(s["p50"] for s in forged_results),
            "forged_p99": median(s["p99"] for s in forged_results),
            "forged_by_mode": _merge_modes(forged_results),
        }
    out["all_401"] = all(set(t["forged_statuses"]) == {"401"} for t in out["targets"].values())
    log(f"forged: rows written {out['rows_written_total']}, all 401: {out['all_401']}")
    return out


def _merge_modes(summaries: list[dict]) -> dict[str, dict[str, int]]:
    merged: dict[str, dict[str, int]] = {}
    for summary in summaries:
        for mode, statuses in summary["by_mode"].items():
            for status, count in statuses.items():
                merged.setdefault(mode, {})[status] = merged.setdefault(mode, {}).get(status, 0) + count
    return merged


def _target_events(probe: Probe, in_list: str) -> int:
    return int(probe.scalar(
        f"SELECT count(*) FROM timeline_event e JOIN incident i ON i.id = e.incident_id WHERE i.number IN ({in_list})")
        or 0)


def _degraded_scenario(bench: _Bench, mode: str, concurrency: int) -> dict[str, Any]:
    slack = bench.double.slack
    bench.probe.wait_drained(bench.config.drain_timeout)
    before = slack.counts()
    if mode == "slack_429":
        slack.fail_all(status=429, count=1_000_000)
    elif mode == "slack_drops":
        slack.drop_connections(1_000_000)
    elif mode == "slack_stall":
        slack.stall(3600)
    else:
        raise ValueError(f"unknown degraded mode {mode!r}")
    phases = []
    try:
        for round_ in range(bench.config.degraded_rounds):
            for target in (bench.recovery, bench.bare):
                phases.append(bench.phase(mode, round_, concurrency, target,
                                          bench.mix(target, bench.config.requests, tag=f"{mode}{round_}"),
                                          drain=False))
        # Short runs can end before the outbox's first call: wait (a little) until Slack saw the bot try.
        wait_until(lambda: _attempts(slack.counts()) > _attempts(before), timeout=10.0)
        owed = bench.probe.outbox_owed()
        after = slack.counts()
    finally:
        slack.heal()
    drained, seconds = bench.probe.wait_drained(bench.config.heal_timeout)
    attempts = _attempts(after) - _attempts(before)
    accepted = sum(after["accepted"].values()) - sum(before["accepted"].values())
    bot = [p for p in phases if p.target == "recovery"]
    bare = [p for p in phases if p.target == "bare"]
    result = {
        "label": DEGRADED_LABELS[mode],
        "recovery": {q: median(p.summary[q] for p in bot) for q in ("p50", "p95", "p99")},
        "bare": {q: median(p.summary[q] for p in bare) for q in ("p50", "p95", "p99")},
        "p99_ratio": median(_round_ratios(bench.phases, mode, concurrency, "p99")),
        "errors": sum(p.summary["errors"] for p in phases),
        "non_2xx": sum(p.summary["non_2xx"] for p in phases),
        "over_3s": sum(p.summary["over_3s"] for p in phases),
        "n": sum(p.summary["n"] for p in phases),
        "slack_attempts": attempts,
        "slack_failed": attempts - accepted,
        "outbox_owed_at_end": owed,
        "drained_after_heal": drained,
        "drain_after_heal_seconds": seconds,
        "owed_after_wait": 0 if drained else bench.probe.outbox_owed(),
    }
    log(f"{mode}: recovery p99 {ms(result['recovery']['p99'])} ms, Slack calls failed {result['slack_failed']}"
        f"/{attempts}, outbox owed {owed}, drained after heal: {drained} in {seconds:.1f}s")
    return result


def _attempts(counts: dict[str, Any]) -> int:
    return sum(counts["attempts"].values())


# Report


def markdown(result: dict[str, Any]) -> str:
    config = result["config"]
    stress = config["stress_concurrency"]
    main = result["main"]
    lines = [f"Database: {result['database']}. Rounds: {config['rounds']}, {config['requests']} requests per "
             f"phase (a quarter each of `/recovery list`, `/recovery new <summary>`, `reaction_added` on a new "
             f"message, Claim on a fresh incident's card); waitress threads: {config['threads']}; "
             f"run took {result['seconds']:.0f} s; product files digest `{result.get('product_digest', '?')}`.", ""]
    rows = []
    for c, row in main.items():
        for target in ("recovery", "bare"):
            t = row[target]
            rows.append([c, target, ms(t["p50"]), ms(t["p95"]), ms(t["p99"]), ms(t["max"]), f"{t['rps']:.0f}",
                         t["errors"], t["non_2xx"], t["over_3s"], t["n"]])
    lines += ["Latency in ms (median over rounds of each round's percentile; max over all rounds):", "",
              table(["concurrency", "target", "p50", "p95", "p99", "max", "req/s", "errors", "non-2xx", "> 3 s",
                     "requests"], rows), ""]
    rows = []
    for c, row in main.items():
        verdict = _verdict(row["p99_ratio"])
        per_round = ", ".join(f"{r:.1f}" for r in row["p99_ratios"])
        rows.append([c, ratio(row["p99_ratio"]), ratio(row["p50_ratio"]), per_round, verdict])
    lines += ["Bot / bare ratio (within each round, median over rounds):", "",
              table(["concurrency", "p99 ratio", "p50 ratio", "p99 ratio per round", "target <= 2x (aim 1.5x)"],
                    rows), ""]
    kinds = result["kinds_at_stress"]
    lines += [f"The bot's latency by request kind at concurrency {stress} (ms, median over rounds):", "",
              table(["kind", "p50", "p99"], [[k, ms(v["p50"]), ms(v["p99"])] for k, v in kinds.items()]), ""]
    cpu, pg_cpu, drains = result["cpu_ms_per_request"], result["postgres_cpu_ms_per_request"], \
        result["drain_after_phase"]
    rows = []
    for c in main:
        c_key = c if c in cpu else str(c)
        pg = pg_cpu.get(c_key)
        rows.append([c, f"{cpu[c_key]['recovery']:.1f}", f"{cpu[c_key]['bare']:.1f}",
                     "n/a" if pg is None or (isinstance(pg, float) and math.isnan(pg)) else f"{pg:.1f}",
                     f"{result['client_cpu_ms_per_request'][c_key]:.1f}", f"{result['others_cores'][c_key]:.2f}",
                     f"{drains[c_key]['seconds']:.1f}", f"{drains[c_key]['rows']:.0f}",
                     "yes" if drains[c_key]["all_drained"] else "NO"])
    lines += ["CPU per request (ms of the server process's CPU, including the bot's outbox sending meanwhile; "
              "PostgreSQL: the whole cluster; the load generator's own), what other processes on the machine "
              "used meanwhile (cores; not ours: the machine is shared), and the bot's outbox after a phase "
              "(median time from the end of the phase until the outbox owed nothing, and rows it sent):", "",
              table(["concurrency", "bot CPU ms/req", "bare CPU ms/req", "PostgreSQL CPU ms/req",
                     "load generator CPU ms/req", "other processes (cores)", "outbox drain s", "outbox rows",
                     "always drained"], rows), "",
              f"Busiest phase for other processes: {result['others_cores_max']:.2f} cores.", ""]
    f = result["forged"]
    rows = []
    for name, t in f["targets"].items():
        rows.append([name, ms(t["clean_p50"]), ms(t["mixed_p50"]), ms(t["clean_p99"]), ms(t["mixed_p99"]),
                     ratio(t["p99_slowdown"]), t["legit_errors"], t["forged_n"],
                     ", ".join(f"{k}: {v}" for k, v in t["forged_statuses"].items()), ms(t["forged_p99"])])
    lines += [f"Forged requests at concurrency {stress}: after every third legitimate request, one with a wrong "
              f"secret, a timestamp {6} minutes old, or no signature (cycling; as `/recovery new`, a reaction, "
              "and a Claim). Legitimate latency without and with them, same round:", "",
              table(["target", "clean p50", "mixed p50", "clean p99", "mixed p99", "p99 mixed/clean",
                     "legit errors + non-2xx", "forged sent", "forged statuses", "forged p99"], rows), "",
              f"Rows written by forged requests (database checked afterwards): **{f['rows_written_total']}** "
              f"({'; '.join(f'{k}: {v}' for k, v in f['rows_written'].items())}). All forged answered 401: "
              f"**{'yes' if f['all_401'] else 'NO'}**.", ""]
    rows = []
    normal_p99 = main[stress]["recovery"]["p99"] if stress in main else math.nan
    for d in result["degraded"].values():
        rows.append([d["label"], ms(d["recovery"]["p50"]), ms(d["recovery"]["p99"]), ms(d["bare"]["p99"]),
                     ratio(d["p99_ratio"]), ratio(d["recovery"]["p99"] / normal_p99 if normal_p99 else math.nan),
                     d["errors"], d["non_2xx"], d["over_3s"], f"{d['slack_failed']}/{d['slack_attempts']}",
                     d["outbox_owed_at_end"],
                     f"{d['drain_after_heal_seconds']:.1f} s" if d["drained_after_heal"]
                     else f"not within {d['drain_after_heal_seconds']:.0f} s ({d['owed_after_wait']} owed)"])
    lines += [f"Slack failing, at concurrency {stress} ({config['degraded_rounds']} rounds, bot and bare "
              "alternating). Acks must not depend on Slack:", "",
              table(["Slack double", "bot p50", "bot p99", "bare p99", "p99 bot/bare",
                     "bot p99 vs Slack healthy", "errors", "non-2xx", "> 3 s", "Slack calls failed/attempted",
                     "outbox owed at end", "outbox emptied after Slack healed"], rows), ""]
    totals = result["totals"]
    lines += [f"All legitimate requests of this run: {totals['requests']}, errors {totals['errors']}, non-2xx "
              f"{totals['non_2xx']}, over 3 s {totals['over_3s']}.", ""]
    return "\n".join(lines)


def _verdict(value: float) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    if value <= RATIO_AIM:
        return "met (and aim)"
    if value <= RATIO_TARGET:
        return "met"
    return "NOT met"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ack_latency", description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--quick", action="store_true", help="a few seconds: one round, few requests")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--requests", type=int, help="requests per phase")
    parser.add_argument("--concurrency", help="comma-separated, default 1,16,32")
    parser.add_argument("--threads", type=int, default=SERVE_DEFAULT_THREADS)
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, SQLite file)")
    parser.add_argument("--json", help="also write the raw figures here")
    args = parser.parse_args(argv)
    overrides: dict[str, Any] = {"database": args.database, "threads": args.threads, "keep": args.keep}
    if args.rounds:
        overrides["rounds"] = args.rounds
    if args.requests:
        overrides["requests"] = args.requests
    if args.concurrency:
        overrides["concurrencies"] = tuple(int(c) for c in args.concurrency.split(","))
    config = AckConfig.quick_config(**overrides) if args.quick else AckConfig(**overrides)
    result = run(config)
    emit(result, markdown(result), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
