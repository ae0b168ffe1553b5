"""Acks while the digest runs: one channel with 100,000 incidents, and the ack mix meanwhile.

The requirement: "Digest: figures for one channel with 100,000 incidents ... with acks
unaffected while it runs". One channel seeded with 100,000 incidents
(`bench.timers_cost.seed`), the bot's tick every second with that channel's digest due;
rounds of three phases at concurrency 16 with ack latency's mix, order rotating: A, no
digest; B, the tick's digest work (`Timers.post_digest`) looped back to back at nice 10 in
a worker process (the bot's tick does a channel's digest once a day per process, so it
cannot be made to repeat it), the bot's background sending the digests; C, the lead
sending `/recovery digest` back to back beside the 16 clients (acked at once, the preview
computed after the ack in the bot's lazy listener and sent to its response URL). Ratios
are each phase's p99 over the no-digest phase's in the same round, median of rounds.
"""
from __future__ import annotations

import os
import random
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from multiprocessing import get_context
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any, ClassVar

from sqlalchemy import Engine, text

from bench import cli, timers_cost
from bench.phases import Bench, Phase, claims_in, figures, round_ratios
from bench.load import Connection, Result, closed_loop, median, percentile, summarize
from bench.meter import loadavg, product_digest
from bench.rig import SERVE_THREADS, Rig, log, wait_until
from bot.clock import SystemClock
from bot.runtime import load_playbook_file
from bot.service import RecoveryService
from bot.settings import Settings
from bot.timers import Timers
from storage.db import Database
from storage.migrate import upgrade

CHANNEL = timers_cost.CHANNEL
WORKSPACE = "T1"  # seed()'s, and the driver's
LEAD = "ULEAD"
PHASES = ("A", "B", "C")
TARGET_RATIO = 1.5
BOT_ENV = {"SCHEDULER_TICK": "1s", "DIGEST_CHANNELS": CHANNEL, "DIGEST_TIME": "00:00", "TZ": "UTC",
           "LEAD_USER_IDS": LEAD}
DIGEST_PREFIX = f"Recovery digest for <#{CHANNEL}>"


@dataclass
class Config:
    database: str = cli.database_field()
    rounds: int = 5
    requests: int = field(default=1200, metadata={"help": "requests per phase of the 16 clients"})
    concurrency: int = 16
    old_incidents: int = 90_000
    recent_incidents: int = 10_000
    threads: int = SERVE_THREADS
    drain_timeout: float = 180.0
    first_digest_timeout: float = 120.0
    keep: bool = field(default=False, metadata={"help": "keep the work dir (logs, SQLite file)"})
    quick: bool = False
    QUICK: ClassVar[dict[str, Any]] = dict(rounds=1, requests=48, old_incidents=1_800, recent_incidents=200,
                                           drain_timeout=30.0, first_digest_timeout=30.0)


def _today() -> str:
    return datetime.now(timezone.utc).date().isoformat()  # the bot's TZ is UTC


def _free_todays_digest(engine: Engine) -> None:
    """What lets CBENCH's digest be posted again today: its claim deleted, and the posted row's
    dedupe key renamed (kept unique, and findable)."""
    key = f"digest:{WORKSPACE}:{CHANNEL}:{_today()}"
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM digest_run WHERE channel = :c AND local_date = :d"),
                           {"c": CHANNEL, "d": _today()})
        connection.execute(text("UPDATE outbox SET dedupe_key = :new WHERE dedupe_key = :key"),
                           {"key": key, "new": f"{key}#{time.time_ns()}"})


def _digest_loop(settings: Settings, ready: Event, stopping: Event, out: Queue) -> None:
    """Phase B's worker process: the tick's digest work, back to back, until told to stop; then
    its (start, end, posted) intervals."""
    os.nice(10)  # bot/background.py's niceness
    db = Database.from_url(settings.database_url)
    timers = Timers(RecoveryService(db=db, settings=settings, playbook=load_playbook_file(settings.playbook_file),
                                    clock=SystemClock()))
    intervals: list[tuple[float, float, bool]] = []
    ready.set()
    while not stopping.is_set():
        started = time.monotonic()
        _free_todays_digest(db.engine)
        posted = timers.post_digest(WORKSPACE, CHANNEL, _today())
        intervals.append((started, time.monotonic(), posted))
    db.dispose()
    out.put(intervals)


class _Worker:
    """The digest worker's process beside a phase: started on entering, stopped on leaving."""

    def __init__(self, database_url: str) -> None:
        self.settings = Settings.from_env(BOT_ENV | {"DATABASE_URL": database_url})
        self.intervals: list[tuple[float, float, bool]] = []

    def __enter__(self) -> dict[str, int]:
        context = get_context("spawn")
        self._ready, self._stop, self._out = context.Event(), context.Event(), context.Queue()
        self.process = context.Process(target=_digest_loop, args=(self.settings, self._ready, self._stop, self._out),
                                       name="digest-worker", daemon=True)
        self.process.start()
        if not self._ready.wait(60):
            self.__exit__(RuntimeError)
            raise RuntimeError("the digest worker did not start")
        time.sleep(0.2)  # its first digest under way
        return {"digest_worker": self.process.pid}

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        self._stop.set()
        try:
            if kind is None:
                self.intervals = self._out.get(timeout=120)
        finally:
            self.process.join(timeout=10)
            if self.process.is_alive():
                self.process.kill()


class _Previewer:
    """One more client beside a phase: ``/recovery digest`` in CBENCH as the lead, back to back."""

    def __init__(self, bench: Bench) -> None:
        self._bench = bench
        self._stop = threading.Event()
        self.results: list[Result] = []
        self.bad_bodies = 0
        self._thread = threading.Thread(target=self._run, name="previewer", daemon=True)

    def __enter__(self) -> dict[str, int]:
        self._thread.start()
        return {}

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        connection = Connection(self._bench.bot.port).open()
        while not self._stop.is_set():
            prepared = self._bench.requests.command("/recovery digest", kind="preview", channel=CHANNEL, user=LEAD)
            result = connection.send(len(self.results), prepared, keep_body=True)
            if 200 <= result.status < 300 and "Working out the figures" not in result.body:
                self.bad_bodies += 1
            result.body = ""
            self.results.append(result)
        connection.close()


def _seed_database(url: str, config: Config) -> dict[str, Any]:
    db, started = Database.from_url(url), time.monotonic()
    try:
        upgrade(db.engine)
        random.seed(7)
        timers_cost.seed(db, old_count=config.old_incidents, recent_count=config.recent_incidents,
                         now=datetime.now(timezone.utc))
        with db.engine.begin() as connection:  # the bot's next incident number comes after the seeded ones
            highest = connection.execute(text("SELECT max(number) FROM incident WHERE workspace_id = :w"),
                                         {"w": WORKSPACE}).scalar() or 0
            count = connection.execute(text("SELECT count(*) FROM incident WHERE card_channel = :c"),
                                       {"c": CHANNEL}).scalar()
            connection.execute(text("DELETE FROM workspace_counter WHERE workspace_id = :w"), {"w": WORKSPACE})
            connection.execute(text("INSERT INTO workspace_counter (workspace_id, last_number) VALUES (:w, :n)"),
                               {"w": WORKSPACE, "n": highest})
    finally:
        db.dispose()
    log(f"{config.database}: seeded {count:,} incidents in {CHANNEL} in {time.monotonic() - started:.0f}s")
    return {"incidents": int(count), "seconds": round(time.monotonic() - started, 1)}


def run(config: Config) -> dict[str, Any]:
    started, loadavg_start = time.monotonic(), loadavg()
    with Rig(config.database, keep=config.keep) as rig:
        url = rig.database("digest_acks")
        seeded, code = _seed_database(url, config), product_digest()
        bot_started = time.monotonic()
        bot = rig.bot(url, threads=config.threads, env=BOT_ENV).wait_healthy(60)
        bench = Bench(rig, bot=bot, bare=None, url=url, drain_timeout=config.drain_timeout, channel=CHANNEL)
        setup = _setup(bench, config, bot_started)
        for round_ in range(config.rounds):
            for name in PHASES[round_ % 3:] + PHASES[:round_ % 3]:
                _phase(bench, config, name, round_)
        return _aggregate(config, bench.phases) | {
            "setup": setup, "seeded": seeded, "database": rig.description, "product_digest": code,
            "loadavg_start": loadavg_start, "loadavg_end": loadavg(), "seconds": round(time.monotonic() - started, 1)}


def _setup(bench: Bench, config: Config, bot_started: float) -> dict[str, Any]:
    """The bot's own first digest, whether it redoes one, incidents to claim, and warm-ups."""
    def digests() -> list[float]:
        return [at for _, at in bench.slack.posts(CHANNEL, DIGEST_PREFIX)]

    posted = wait_until(lambda: bool(digests()), timeout=config.first_digest_timeout, poll=0.2)
    first = {"posted": posted, "seconds_after_start": round(digests()[0] - bot_started, 2) if posted else None}
    _free_todays_digest(bench.probe.engine)
    before, waited = len(digests()), 2.0 if config.quick else 5.0
    time.sleep(waited)
    redo = {"claim_deleted_waited_s": waited, "digests_posted": len(digests()) - before}
    log(f"bot's own tick: digest posted {first}; with its claim deleted, {redo['digests_posted']} more")
    warmup = 12 if config.quick else 40
    bench.pool = bench.seed(claims_in(config.requests) * len(PHASES) * config.rounds + claims_in(warmup) + 1)
    closed_loop(bench.bot.port, bench.mix(bench.bot, warmup, tag="warmup"), concurrency=4)
    preview = bench.requests.command("/recovery digest", kind="preview", channel=CHANNEL, user=LEAD)
    warm = closed_loop(bench.bot.port, [preview], concurrency=1).results[0]
    bench.probe.wait_drained(config.drain_timeout)
    return {"first_digest": first, "redo": redo, "warm_preview_seconds": warm.seconds,
            "warm_preview_status": warm.status}


def _phase(bench: Bench, config: Config, name: str, round_: int) -> None:
    prepared = bench.mix(bench.bot, config.requests, tag=f"r{round_}{name}")
    worker = _Worker(bench.url) if name == "B" else None
    previewer = _Previewer(bench) if name == "C" else None
    worker_started = time.monotonic()
    phase = bench.phase(name, round_, config.concurrency, bench.bot, prepared, during=worker or previewer)
    if worker is not None:
        posted = [at for _, at in bench.slack.posts(CHANNEL, DIGEST_PREFIX)]
        within = [(a, b, ok) for a, b, ok in worker.intervals if phase.started <= a <= phase.finished
                  or phase.started <= b <= phase.finished]
        busy = sum(max(0.0, min(b, phase.finished) - max(a, phase.started)) for a, b, _ in worker.intervals)
        phase.extra = {
            "digests_posted": sum(1 for at in posted if phase.started <= at <= phase.finished),
            "digests_posted_by_drain": sum(1 for at in posted if at >= worker_started),
            "digests_computed": sum(1 for _, b, ok in within if ok and phase.started <= b <= phase.finished),
            "digest_busy_share": round(busy / max(phase.wall, 1e-9), 3),
            "digest_seconds": [round(b - a, 3) for a, b, _ in within]}
    if previewer is not None:
        phase.extra = {"previews": summarize(previewer.results), "bad_bodies": previewer.bad_bodies,
                       "latencies": [round(r.seconds, 4) for r in previewer.results]}
    if worker is not None:
        log(f"r{round_} B: {phase.extra}")


def _aggregate(config: Config, phases: list[Phase]) -> dict[str, Any]:
    by = {name: [p for p in phases if p.scenario == name] for name in PHASES}

    def cores(mine: list[Phase], name: str) -> float:
        return median(p.cores(name) for p in mine if name in p.cpu)

    per_phase = {name: figures(mine) | {
        "p99_per_round": [p.summary["p99"] for p in sorted(mine, key=lambda p: p.round)],
        "server_cpu_cores": cores(mine, "recovery"), "background_cpu_cores": cores(mine, "background"),
        "postgresql_cpu_cores": cores(mine, "postgresql"), "others_cores": cores(mine, "others"),
        "outbox_sent_per_s": median(p.outbox_sent / p.wall for p in mine),
        "drain_seconds": median(p.drain_seconds for p in mine), "always_drained": all(p.drained for p in mine),
    } for name, mine in by.items()}
    ratios = {}
    for name in ("B", "C"):
        per_round = {q: round_ratios(by[name], by["A"], q) for q in ("p50", "p99")}
        p99 = median(per_round["p99"])
        ratios[name] = {"p99_ratio": p99, "p50_ratio": median(per_round["p50"]), "p99_ratios": per_round["p99"],
                        "met": p99 <= TARGET_RATIO}
    b = [p.extra for p in by["B"]]
    digest_b = {key: [e[key] for e in b] for key in ("digests_posted", "digests_computed", "digests_posted_by_drain",
                                                     "digest_busy_share")}
    digest_b |= {"digest_seconds_median": median(d for e in b for d in e["digest_seconds"]),
                 "phases_without_digest": sum(1 for e in b if not e["digests_posted"]),
                 "phases_without_computing": sum(1 for e in b if not e["digest_busy_share"]),
                 "worker_cpu_cores": cores(by["B"], "digest_worker")}
    c = [p.extra for p in by["C"]]
    latencies = [s for e in c for s in e["latencies"]]
    previews = {k: sum(e["previews"][k] for e in c) for k in ("n", "errors", "non_2xx", "over_3s")}
    previews |= {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99), "max": max(latencies, default=0.0),
                 "bad_bodies": sum(e["bad_bodies"] for e in c), "per_phase": [e["previews"]["n"] for e in c]}
    previews["met"] = previews["n"] > 0 and not any(previews[k] for k in ("errors", "non_2xx", "over_3s", "bad_bodies"))
    return {"config": asdict(config), "phases": per_phase, "ratios": ratios, "digest_b": digest_b,
            "previews": previews, "totals": {k: sum(p.summary[k] for p in phases)
                                             for k in ("n", "errors", "non_2xx", "over_3s")},
            "raw": [asdict(p) for p in phases]}


if __name__ == "__main__":
    sys.exit(cli.main("digest_acks", Config, run, __doc__))
