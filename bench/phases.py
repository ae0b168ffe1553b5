"""Phases of load against the bot (and the floor): the request mix, seeding incidents to claim,
measuring one phase (latency, CPU, the outbox before and after), and the arithmetic over
phases that ack latency and acks-while-the-digest-runs share.
"""
from __future__ import annotations

import itertools
import math
import re
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from typing import Any

from bench.load import FORGED_MODES, Prepared, Requests, closed_loop, median, percentile, summarize
from bench.meter import Cpu, descendants
from bench.rig import Rig, log
from bot.devkit.processes import ServedProcess

KINDS = ("list", "new", "react", "claim")
FORGED_KINDS = ("new", "react", "claim")
FORGED_CHANNEL = "CFORGED"
_FLAGGED = re.compile(r"Flagged as #(\d+)")


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
                 channel: str = "C1", durable: ServedProcess | None = None) -> None:
        """``durable``: the floor that stores each request before acking, measured in the main phases only."""
        self.rig, self.bot, self.bare, self.durable = rig, bot, bare, durable
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

    @property
    def all_targets(self) -> tuple[ServedProcess, ...]:
        """The bot and both floors, alternating in that order."""
        return self.targets + ((self.durable,) if self.durable is not None else ())

    def name(self, target: ServedProcess) -> str:
        return "recovery" if target is self.bot else "durable" if target is self.durable else "bare"

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
        database = {"postgresql": (self.rig.postmaster_pid, True)} if self.rig.postmaster_pid else {}
        if target is self.durable:
            return pids | {"durable": (target.pid, False)} | database
        if target is not self.bot:
            return pids | {"bare": (target.pid, False)}
        background = descendants(target.pid)  # serve forks one: the outbox senders and the tick
        pids |= {"recovery": (target.pid, False), "background": (background[0] if background else None, False)}
        return pids | database

    def _outbox_done(self) -> int:
        return self.probe.count("outbox WHERE state NOT IN ('pending', 'in_flight')")


def _brief(latencies: list[float]) -> dict[str, float]:
    return {"n": len(latencies), "p50": percentile(latencies, 50), "p99": percentile(latencies, 99)}


def claims_in(n: int) -> int:
    return sum(1 for i in range(n) if KINDS[i % len(KINDS)] == "claim")
