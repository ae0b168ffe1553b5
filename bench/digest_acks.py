"""Acks while the digest runs: one channel with 100,000 incidents, and the ack mix meanwhile.

The requirement: "Digest: figures for one channel with 100,000 incidents ... with acks
unaffected while it runs". ``bench.timers_cost`` times the digest alone, in-process; this
measures what it does to the acks of the real ``python -m bot serve``.

Set-up, per database: a fresh database, migrated, seeded by ``bench.timers_cost.seed`` with
100,000 closed incidents in channel CBENCH of workspace T1 (90,000 old, 10,000 in the last 14
days with their step records), the workspace's incident counter moved past them. The bot is
started by ``bench.common.start_recovery`` against the Slack double, with ``SCHEDULER_TICK=1s``,
``DIGEST_CHANNELS=CBENCH``, ``DIGEST_TIME=00:00`` in ``TZ=UTC`` (due at once) and a lead,
``ULEAD`` (start_recovery takes no environment of ours, and clears the bot's variables from
its own: these go in a ``.env`` in the bot's working directory, which ``load_settings`` reads).
Its background process's first tick posts today's CBENCH digest; we wait for it.

Then rounds of three phases at concurrency 16, the order rotating each round, each phase the
mix of ``bench.ack_latency`` (built by its ``_Bench``: a quarter each of ``/recovery list``,
``/recovery new``, a reaction on a new message, Claim on a fresh card), in CBENCH, workspace T1;
the outbox is drained before and after each phase, as ack_latency does:

- A, baseline: nothing else runs.
- B, scheduled digest: the CBENCH digest is computed over and over during the phase. The bot's
  own tick cannot be made to do that: ``Timers._digests`` remembers in the process that it did
  today's digests (``_digests_done_for``) and never looks again that day, whatever is deleted
  from ``digest_run``; and a repeat would also hit the outbox's unique ``dedupe_key``. (The set-up
  checks this: with the claim deleted and the key freed, the bot posts no second digest.) So a
  worker process does the tick's digest work itself, back to back: the bot's own
  ``Timers.post_digest(CBENCH, today)`` (figures read, claim, outbox row) over the same database,
  at nice 10 like serve's background, after deleting the day's claim and renaming the previous
  row's dedupe key. The bot's background process sends those digests to the Slack double, as it
  would its own. Counted: digests the double received during the phase, and the share of the
  phase during which a digest was being computed (must be above 0, else the phase measured
  nothing, and says so).
- C, lead previews the digest: besides the 16 clients, one more sends ``/recovery digest`` in
  CBENCH as the lead, back to back, for the whole phase (computed in the server, inside the ack).
  Those previews' latencies are reported apart (each must be 2xx and under 3 s); the phase's
  figures are the other requests'.

Figures: p50/p99 per phase (median over rounds), the ratio of B's and C's p99 to A's within
each round (median over rounds), errors/non-2xx/over 3 s, digests posted, preview latencies.
Target line: acks unaffected = p99 ratio at most 1.5x.

    python -m bench.digest_acks [--database sqlite|postgresql] [--quick] [--rounds N] [--requests N] [--json F]
"""
from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from multiprocessing import get_context
from multiprocessing.managers import BaseManager
from pathlib import Path
from typing import Any

from bench import ack_latency, timers_cost
from bench.common import (
    SERVE_DEFAULT_THREADS, Cpu, Databases, Probe, Requests, Result, Workdir, emit, _clean_env, _Connection, _send_one,
    closed_loop, descendants, log, median, ms, percentile, product_digest, ratio, start_recovery, summarize, table,
    wait_until,
)
from bench.slack_double import RunningDouble, SlackDouble

CHANNEL = timers_cost.CHANNEL  # "CBENCH": where seed() puts its incidents and cards
WORKSPACE = "T1"  # seed()'s workspace; bot/slack_driver.py's TEAM, which Requests sends
LEAD = "ULEAD"
PHASES = ("A", "B", "C")
PHASE_LABELS = {"A": "baseline", "B": "scheduled digest", "C": "lead previews the digest"}
TARGET_RATIO = 1.5
BOT_ENV = {"SCHEDULER_TICK": "1s", "DIGEST_CHANNELS": CHANNEL, "DIGEST_TIME": "00:00", "TZ": "UTC",
           "LEAD_USER_IDS": LEAD}


@dataclass
class DigestAcksConfig:
    database: str = "sqlite"
    rounds: int = 5
    requests: int = 1200  # per phase, the 16 clients' requests (previews not counted)
    concurrency: int = 16
    old_incidents: int = 90_000
    recent_incidents: int = 10_000
    threads: int = SERVE_DEFAULT_THREADS
    drain_timeout: float = 180.0
    first_digest_timeout: float = 120.0
    keep: bool = False
    quick: bool = False

    @classmethod
    def quick_config(cls, **overrides: Any) -> DigestAcksConfig:
        values: dict[str, Any] = dict(rounds=1, requests=48, old_incidents=1_800, recent_incidents=200,
                                      drain_timeout=30.0, first_digest_timeout=30.0, quick=True)
        values.update(overrides)
        return cls(**values)

    @property
    def incidents(self) -> int:
        return self.old_incidents + self.recent_incidents


# The Slack double, able to say which digests it received and when.


class _DigestDouble(SlackDouble):
    def digest_posts(self, channel: str) -> list[float]:
        """Monotonic times at which the double accepted a digest post to ``channel``."""
        prefix = f"Recovery digest for <#{channel}>"
        return [c.at for c in self._fake.calls("chat.postMessage")
                if str(c.params.get("text", "")).startswith(prefix)]


class _Manager(BaseManager):
    pass


_Manager.register("SlackDouble", _DigestDouble)


class _RunningDigestDouble(RunningDouble):
    def __init__(self) -> None:
        self._manager = _Manager(ctx=get_context("spawn"))
        self._manager.start()
        self.slack = self._manager.SlackDouble()  # type: ignore[attr-defined]
        self.api_url = self.slack.api_url()
        self.response_url_base = self.slack.response_url_base()


# The digest worker (phase B): the tick's digest work, back to back, in a process of its own.


def _free_todays_digest(session: Any, channel: str, day: str) -> None:
    """What lets a digest for ``channel`` be posted again today: its claim deleted, and the
    posted row's dedupe key renamed (kept unique, and findable)."""
    from sqlalchemy import text

    session.execute(text("DELETE FROM digest_run WHERE channel = :c AND local_date = :d"), {"c": channel, "d": day})
    key = f"digest:{channel}:{day}"
    session.execute(text("UPDATE outbox SET dedupe_key = :new WHERE dedupe_key = :key"),
                    {"key": key, "new": f"{key}#{time.time_ns()}"})


def digest_worker(channel: str) -> int:
    """Run by ``python -m bench.digest_acks --digest-worker CBENCH`` with the bot's settings in
    the environment; on SIGTERM, finishes the digest in hand and prints JSON to stdout."""
    from bot.clock import SystemClock
    from bot.runtime import load_playbook_file
    from bot.service import RecoveryService
    from bot.settings import Settings
    from bot.timers import Timers
    from storage.db import Database

    os.nice(10)  # bot/background.py's BACKGROUND_NICENESS
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    settings = Settings.from_env(os.environ)
    db = Database.from_url(settings.database_url)
    service = RecoveryService(db=db, settings=settings, playbook=load_playbook_file(settings.playbook_file),
                              clock=SystemClock())
    timers = Timers(service)
    intervals: list[tuple[float, float, bool]] = []
    print("ready", flush=True)
    while not stopping.is_set():
        day = service.clock.now().astimezone(service.tz).date().isoformat()
        started = time.monotonic()
        with db.transaction() as session:
            _free_todays_digest(session, channel, day)
        posted = timers.post_digest(channel, day)
        intervals.append((started, time.monotonic(), posted))
    db.dispose()
    print(json.dumps({"intervals": intervals}), flush=True)
    return 0


class _Worker:
    """The digest worker's process, started and stopped by its own handle."""

    def __init__(self, *, database_url: str, workdir: Path) -> None:
        env = _clean_env({**BOT_ENV, "DATABASE_URL": database_url})
        self._log = (workdir / "digest_worker.log").open("ab")
        self.process = subprocess.Popen([sys.executable, "-m", "bench.digest_acks", "--digest-worker", CHANNEL],
                                        env=env, cwd=workdir, stdout=subprocess.PIPE, stderr=self._log,
                                        stdin=subprocess.DEVNULL, text=True)
        line = self.process.stdout.readline() if self.process.stdout else ""
        if line.strip() != "ready":
            self.process.kill()
            self.process.wait()
            raise RuntimeError(f"digest worker did not start: {line!r}; see {workdir / 'digest_worker.log'}")

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """If still running (something failed): stop it now."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()
        if not self._log.closed:
            self._log.close()

    def stop(self, timeout: float = 120.0) -> list[tuple[float, float, bool]]:
        self.process.send_signal(signal.SIGTERM)
        try:
            out, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            self._log.close()
            raise RuntimeError("digest worker did not stop") from None
        self._log.close()
        lines = [line for line in out.splitlines() if line.startswith("{")]
        return [tuple(i) for i in json.loads(lines[-1])["intervals"]] if lines else []


def _overlap(intervals: list[tuple[float, float, bool]], start: float, end: float) -> float:
    """Seconds of [start, end] during which a digest was being computed."""
    return sum(max(0.0, min(b, end) - max(a, start)) for a, b, _ in intervals)


# The benchmark


@dataclass
class _Phase:
    phase: str
    round: int
    summary: dict[str, Any]
    kinds: dict[str, dict[str, Any]]
    cpu: dict[str, float]  # CPU seconds over the phase, per process
    others_cores: float
    wall: float
    outbox_sent: int = 0  # outbox rows the background sent (or gave up on) during the phase
    drain_seconds: float | None = None
    drained: bool | None = None
    digests_posted: int | None = None  # B: digests the Slack double accepted during the phase
    digests_posted_by_drain: int | None = None  # B: ... from the worker's start until the outbox drained after
    digests_computed: int | None = None  # B: digests the worker finished during the phase
    digest_busy_share: float | None = None  # B: share of the phase with a digest being computed
    digest_seconds: list[float] = field(default_factory=list)  # B: each digest's time, started in the phase
    previews: dict[str, Any] | None = None  # C: the lead's previews, apart
    preview_latencies: list[float] = field(default_factory=list)
    preview_bad_bodies: int = 0


class _Previewer:
    """One more client: ``/recovery digest`` in CBENCH as the lead, back to back, until stopped."""

    def __init__(self, bench: ack_latency._Bench) -> None:
        self._bench = bench
        self._stop = threading.Event()
        self.results: list[Result] = []
        self.bad_bodies = 0
        self._thread = threading.Thread(target=self._run, name="previewer", daemon=True)

    def start(self) -> _Previewer:
        self._thread.start()
        return self

    def _run(self) -> None:
        target = self._bench.recovery
        connection = _Connection(target.host, target.port, 10.0)
        i = 0
        while not self._stop.is_set():
            prepared = self._bench.requests.command("/recovery digest", kind="preview", channel=CHANNEL, user=LEAD)
            result = _send_one(connection, i, prepared, None, True)
            if 200 <= result.status < 300 and "Recovery digest" not in result.body and "Yesterday" not in result.body:
                self.bad_bodies += 1
            result.body = ""
            self.results.append(result)
            i += 1
        connection.close()

    def stop(self) -> list[Result]:
        self._stop.set()
        self._thread.join(timeout=30)
        return self.results


def _seed_database(url: str, config: DigestAcksConfig) -> dict[str, Any]:
    from sqlalchemy import text

    from storage.db import Database
    from storage.migrate import upgrade

    db = Database.from_url(url)
    try:
        upgrade(db.engine)
        started = time.monotonic()
        random.seed(7)
        wanted = {"old_count": config.old_incidents, "recent_count": config.recent_incidents,
                  "now": datetime.now(timezone.utc)}
        accepted = inspect.signature(timers_cost.seed).parameters
        missing = [name for name in wanted if name not in accepted]
        if missing:
            raise RuntimeError(f"bench.timers_cost.seed no longer takes {missing}: adapt bench/digest_acks.py")
        timers_cost.seed(db, **wanted)
        with db.engine.begin() as connection:
            highest = connection.execute(text("SELECT max(number) FROM incident WHERE workspace_id = :w"),
                                         {"w": WORKSPACE}).scalar() or 0
            count = connection.execute(text("SELECT count(*) FROM incident WHERE card_channel = :c"),
                                       {"c": CHANNEL}).scalar()
            # seed() writes incidents straight into the table; the bot's next number must come after them
            connection.execute(text("DELETE FROM workspace_counter WHERE workspace_id = :w"), {"w": WORKSPACE})
            connection.execute(text("INSERT INTO workspace_counter (workspace_id, last_number) VALUES (:w, :n)"),
                               {"w": WORKSPACE, "n": highest})
        seconds = time.monotonic() - started
    finally:
        db.dispose()
    log(f"{config.database}: seeded {count:,} incidents in {CHANNEL} in {seconds:.0f}s")
    return {"incidents": int(count), "seconds": round(seconds, 1)}


def run(config: DigestAcksConfig) -> dict[str, Any]:
    workdir = Workdir(keep=config.keep)
    started = time.monotonic()
    double = _RunningDigestDouble()
    databases = recovery = probe = None
    try:
        databases = Databases(config.database, workdir.path)
        url = databases.new("digest_acks")
        loadavg_start = Path("/proc/loadavg").read_text().split()[:3]
        seeded = _seed_database(url, config)
        code = product_digest()
        (workdir.path / ".env").write_text("".join(f"{k}={v}\n" for k, v in BOT_ENV.items()))
        bot_started = time.monotonic()
        recovery = start_recovery(database_url=url, api_url=double.api_url, workdir=workdir.path,
                                  threads=config.threads)
        probe = Probe(url)
        bench = ack_latency._Bench(
            config=ack_latency.AckConfig(database=config.database, drain_timeout=config.drain_timeout),
            double=double, databases=databases, recovery=recovery, bare=None,  # type: ignore[arg-type]
            probe=probe, requests=Requests(double.response_url_base, team_channel=CHANNEL), database_url=url)
        result = _run(bench, config, bot_started=bot_started, workdir=workdir.path)
        result["seeded"] = seeded
        result["database"] = databases.description
        result["product_digest"] = code
        result["loadavg_start"] = loadavg_start
        result["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
        result["seconds"] = round(time.monotonic() - started, 1)
        return result
    finally:
        if recovery is not None:
            recovery.stop()
        if probe is not None:
            probe.dispose()
        double.stop()
        if databases is not None:
            databases.close()
        workdir.close()


def _run(bench: ack_latency._Bench, config: DigestAcksConfig, *, bot_started: float, workdir: Path) -> dict[str, Any]:
    slack: _DigestDouble = bench.double.slack  # type: ignore[assignment]
    # 1. The bot's own tick posts today's CBENCH digest (settings took effect; how long it took).
    got_first = wait_until(lambda: len(slack.digest_posts(CHANNEL)) >= 1, timeout=config.first_digest_timeout,
                           poll=0.2)
    posts = slack.digest_posts(CHANNEL)
    first_digest = {"posted": got_first, "seconds_after_start": round(posts[0] - bot_started, 2) if posts else None}
    log(f"bot's own tick: CBENCH digest {'posted' if got_first else 'NOT posted'}"
        + (f" {posts[0] - bot_started:.1f}s after start" if posts else ""))
    # 2. Will the bot's tick redo it once its claim is gone? (It remembers the day in the process.)
    day = _today_for_bot()
    from storage.db import Database

    db = Database.from_url(bench.database_url)
    try:
        with db.transaction() as session:
            _free_todays_digest(session, CHANNEL, day)
    finally:
        db.dispose()
    before = len(slack.digest_posts(CHANNEL))
    time.sleep(2.0 if config.quick else 5.0)
    redo = {"claim_deleted_waited_s": 2.0 if config.quick else 5.0,
            "digests_posted": len(slack.digest_posts(CHANNEL)) - before}
    log(f"bot's own tick after its claim was deleted: {redo['digests_posted']} more digests")

    # 3. Incidents to claim, and a warm-up.
    n = config.requests
    claims_per_phase = sum(1 for i in range(n) if ack_latency.KINDS[i % len(ack_latency.KINDS)] == "claim")
    warmup = 12 if config.quick else 40
    needed = claims_per_phase * len(PHASES) * config.rounds + warmup // 4 + 1
    log(f"{config.database}: opening {needed} incidents through the bot for Claim clicks")
    bench.pool = bench.seed(needed)
    closed_loop(bench.recovery, bench.mix(bench.recovery, warmup, tag="warmup"), concurrency=4)
    preview = bench.requests.command("/recovery digest", kind="preview", channel=CHANNEL, user=LEAD)
    warm = closed_loop(bench.recovery, [preview], concurrency=1, keep_body=True)
    warm_preview = warm.results[0]
    log(f"warm-up preview: {warm_preview.status} in {warm_preview.seconds * 1000:.0f} ms")
    bench.probe.wait_drained(config.drain_timeout)

    phases: list[_Phase] = []
    for round_ in range(config.rounds):
        order = PHASES[round_ % 3:] + PHASES[:round_ % 3]
        for name in order:
            phases.append(_phase(bench, config, name, round_, workdir=workdir))
    return _aggregate(config, phases, first_digest=first_digest, redo=redo,
                      warm_preview_seconds=warm_preview.seconds, warm_preview_status=warm_preview.status)


def _today_for_bot() -> str:
    from zoneinfo import ZoneInfo

    return datetime.now(timezone.utc).astimezone(ZoneInfo(BOT_ENV["TZ"])).date().isoformat()


def _phase(bench: ack_latency._Bench, config: DigestAcksConfig, name: str, round_: int, *,
           workdir: Path) -> _Phase:
    slack: _DigestDouble = bench.double.slack  # type: ignore[assignment]
    bench.probe.wait_drained(config.drain_timeout)
    prepared = bench.mix(bench.recovery, config.requests, tag=f"r{round_}{name}")
    worker_started = time.monotonic()
    worker = _Worker(database_url=bench.database_url, workdir=workdir) if name == "B" else None
    # the server apart from its background process (outbox senders, tick), which it forked
    pids: dict[str, tuple[int | None, bool]] = {"recovery": (bench.recovery.pid, False),
                                                "slack_double": (bench.double.pid, False)}
    for child in descendants(bench.recovery.pid):
        pids[f"background:{child}"] = (child, True)
    if bench.databases.postmaster_pid:
        pids["postgresql"] = (bench.databases.postmaster_pid, True)
    previewer = None
    try:
        if worker is not None:
            pids["digest_worker"] = (worker.pid, False)
            time.sleep(0.2)  # its first digest under way
        sent_before = _outbox_done(bench.probe)
        cpu = Cpu(pids=pids).start()
        previewer = _Previewer(bench).start() if name == "C" else None
        run = closed_loop(bench.recovery, prepared, concurrency=config.concurrency)
        previews = previewer.stop() if previewer is not None else []
        used = cpu.stop()
        sent_during = _outbox_done(bench.probe) - sent_before
        used["background"] = round(sum(v for k, v in used.items() if k.startswith("background:")), 2)
        used = {k: v for k, v in used.items() if not k.startswith("background:")}
        intervals = worker.stop() if worker is not None else []
    finally:
        if previewer is not None:
            previewer.stop()
        if worker is not None:
            worker.kill()
    results = run.results
    phase = _Phase(
        phase=name, round=round_, summary=summarize(results, run.wall),
        kinds={kind: ack_latency._brief([r for r in results if r.kind == kind]) for kind in ack_latency.KINDS},
        cpu=used, others_cores=round(used.get("others", 0.0) / max(run.wall, 1e-9), 2), wall=round(run.wall, 2),
        outbox_sent=sent_during,
    )
    if name == "B":
        posted = slack.digest_posts(CHANNEL)
        phase.digests_posted = sum(1 for at in posted if run.started <= at <= run.finished)
        phase.digests_computed = sum(1 for _, end, ok in intervals if ok and run.started <= end <= run.finished)
        phase.digest_busy_share = round(_overlap(intervals, run.started, run.finished) / max(run.wall, 1e-9), 3)
        phase.digest_seconds = [round(end - start, 3) for start, end, _ in intervals
                                if run.started <= start <= run.finished or run.started <= end <= run.finished]
    if name == "C":
        phase.previews = summarize(previews)
        phase.preview_latencies = [round(r.seconds, 4) for r in previews]
        phase.preview_bad_bodies = previewer.bad_bodies if previewer else 0
    phase.drained, phase.drain_seconds = bench.probe.wait_drained(config.drain_timeout)
    if name == "B":
        phase.digests_posted_by_drain = sum(1 for at in slack.digest_posts(CHANNEL) if at >= worker_started)
    s = phase.summary
    extra = ""
    if name == "B":
        extra = (f" digests posted={phase.digests_posted} computed={phase.digests_computed} "
                 f"busy={phase.digest_busy_share:.0%} each={','.join(f'{d:.2f}' for d in phase.digest_seconds)}s")
    if name == "C" and phase.previews:
        p = phase.previews
        extra = f" previews n={p['n']} p50={ms(p['p50'])} max={ms(p['max'])} non2xx={p['non_2xx']}"
    log(f"r{round_} {name} ({PHASE_LABELS[name]}) n={s['n']} p50={ms(s['p50'])} p99={ms(s['p99'])} ms "
        f"rps={s['rps']:.0f} err={s['errors']} non2xx={s['non_2xx']} drain={phase.drain_seconds:.1f}s{extra}")
    return phase


def _outbox_done(probe: Probe) -> int:
    return int(probe.scalar("SELECT count(*) FROM outbox WHERE state NOT IN ('pending', 'in_flight')") or 0)


def _aggregate(config: DigestAcksConfig, phases: list[_Phase], **setup: Any) -> dict[str, Any]:
    by = {name: [p for p in phases if p.phase == name] for name in PHASES}
    per_phase = {}
    for name, mine in by.items():
        per_phase[name] = {
            **{q: median(p.summary[q] for p in mine) for q in ("p50", "p95", "p99", "rps")},
            **{k: sum(p.summary[k] for p in mine) for k in ("n", "errors", "non_2xx", "over_3s")},
            "max": max((p.summary["max"] for p in mine), default=math.nan),
            "p99_per_round": [p.summary["p99"] for p in sorted(mine, key=lambda p: p.round)],
            "server_cpu_cores": median(p.cpu.get("recovery", 0.0) / p.wall for p in mine if p.wall),
            "background_cpu_cores": median(p.cpu.get("background", 0.0) / p.wall for p in mine if p.wall),
            "postgresql_cpu_cores": median(p.cpu["postgresql"] / p.wall for p in mine
                                           if p.wall and "postgresql" in p.cpu),
            "outbox_sent_per_s": median(p.outbox_sent / p.wall for p in mine if p.wall),
            "others_cores": median(p.others_cores for p in mine),
            "drain_seconds": median(p.drain_seconds for p in mine if p.drain_seconds is not None),
            "always_drained": all(p.drained for p in mine),
        }
    ratios: dict[str, dict[str, Any]] = {}
    for name in ("B", "C"):
        per_round_p99, per_round_p50 = [], []
        for round_ in range(config.rounds):
            a = [p for p in by["A"] if p.round == round_]
            other = [p for p in by[name] if p.round == round_]
            if a and other and a[0].summary["p99"]:
                per_round_p99.append(other[0].summary["p99"] / a[0].summary["p99"])
                per_round_p50.append(other[0].summary["p50"] / a[0].summary["p50"])
        ratios[name] = {"p99_ratio": median(per_round_p99), "p50_ratio": median(per_round_p50),
                        "p99_ratios": per_round_p99}
        ratios[name]["met"] = (not math.isnan(ratios[name]["p99_ratio"])
                               and ratios[name]["p99_ratio"] <= TARGET_RATIO)
    b = by["B"]
    digest_b = {
        "posted": [p.digests_posted for p in b], "computed": [p.digests_computed for p in b],
        "posted_by_drain": [p.digests_posted_by_drain for p in b],
        "busy_share": [p.digest_busy_share for p in b],
        "digest_seconds_median": median(d for p in b for d in p.digest_seconds),
        "phases_without_digest": sum(1 for p in b if not p.digests_posted),
        "phases_without_computing": sum(1 for p in b if not p.digest_busy_share),
        "worker_cpu_cores": median(p.cpu.get("digest_worker", 0.0) / p.wall for p in b if p.wall),
    }
    c = by["C"]
    latencies = [s for p in c for s in p.preview_latencies]
    previews = {
        "n": sum(p.previews["n"] for p in c if p.previews), "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99), "max": max(latencies) if latencies else math.nan,
        "errors": sum(p.previews["errors"] for p in c if p.previews),
        "non_2xx": sum(p.previews["non_2xx"] for p in c if p.previews),
        "over_3s": sum(p.previews["over_3s"] for p in c if p.previews),
        "bad_bodies": sum(p.preview_bad_bodies for p in c),
        "per_phase": [p.previews["n"] if p.previews else 0 for p in c],
    }
    previews["met"] = (previews["n"] > 0 and previews["errors"] == previews["non_2xx"] == previews["over_3s"] == 0
                       and previews["bad_bodies"] == 0)
    totals = {k: sum(p.summary[k] for p in phases) for k in ("n", "errors", "non_2xx", "over_3s")}
    return {
        "config": asdict(config), "phases": per_phase, "ratios": ratios, "digest_b": digest_b, "previews": previews,
        "totals": totals, "setup": setup, "raw": [asdict(p) for p in phases],
    }


# Report


def _cores(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.2f}"


def _verdict(value: float) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return "met" if value <= TARGET_RATIO else "NOT met"


def markdown(result: dict[str, Any]) -> str:
    config, per, ratios = result["config"], result["phases"], result["ratios"]
    setup, digest_b, previews = result["setup"], result["digest_b"], result["previews"]
    first = setup["first_digest"]
    lines = [
        f"Database: {result['database']}. Channel {CHANNEL} holds {result['seeded']['incidents']:,} incidents "
        f"({config['old_incidents']:,} older than 14 days, {config['recent_incidents']:,} in the last 14 days with "
        f"their step records; `bench.timers_cost.seed`), plus those the benchmark opens. Rounds: {config['rounds']}, "
        f"{config['requests']} requests per phase at concurrency {config['concurrency']} (ack_latency's mix, in "
        f"{CHANNEL}), phase order rotating; waitress threads: {config['threads']}; load average "
        f"{' '.join(result['loadavg_start'])} at the start, {' '.join(result['loadavg_end'])} at the end; run took "
        f"{result['seconds']:.0f} s; product files digest `{result.get('product_digest', '?')}`.", "",
        f"The bot's own tick posted today's {CHANNEL} digest "
        + (f"{first['seconds_after_start']:.1f} s after start" if first["posted"] else "**NOT** (settings?)")
        + f"; with that claim deleted and its dedupe key freed, it posted {setup['redo']['digests_posted']} more in "
        f"{setup['redo']['claim_deleted_waited_s']:.0f} s"
        + (" (`Timers` remembers in the process that it did today's digests)" if not setup["redo"]["digests_posted"]
           else "") + ". Phase B's digests are computed by a worker process running the bot's `Timers.post_digest` "
        "back to back at nice 10, and sent by the bot's background process.", "",
    ]
    rows = []
    for name in PHASES:
        p = per[name]
        vs = ratios.get(name)
        rows.append([f"{name}: {PHASE_LABELS[name]}", ms(p["p50"]), ms(p["p95"]), ms(p["p99"]), ms(p["max"]),
                     f"{p['rps']:.0f}", ratio(vs["p99_ratio"]) if vs else "1.00x",
                     ", ".join(f"{r:.2f}" for r in vs["p99_ratios"]) if vs else "",
                     f"{p['errors']} / {p['non_2xx']} / {p['over_3s']}", p["n"], f"{p['server_cpu_cores']:.2f}",
                     f"{p['background_cpu_cores']:.2f}", _cores(p["postgresql_cpu_cores"]),
                     f"{p['outbox_sent_per_s']:.0f}", f"{p['others_cores']:.2f}"])
    lines += ["Acks of the 16 clients, ms (median over rounds of each phase's percentile; max over all rounds), "
              "and p99 against the baseline's in the same round (median over rounds):", "",
              table(["phase", "p50", "p95", "p99", "max", "req/s", "p99 / A", "p99 / A per round",
                     "errors / non-2xx / > 3 s", "requests", "server CPU (cores)", "background CPU (cores)",
                     "PostgreSQL CPU (cores)", "outbox rows sent /s", "other processes (cores)"], rows),
              ""]
    b_ok = digest_b["phases_without_digest"] == 0 and digest_b["phases_without_computing"] == 0
    lines += [f"Phase B: digests the Slack double received during each phase: "
              f"{', '.join(str(x) for x in digest_b['posted'])}; share of each phase with a digest being computed: "
              f"{', '.join(f'{x:.0%}' for x in digest_b['busy_share'])}; one digest took "
              f"{ms(digest_b['digest_seconds_median'])} ms (median, under load); the worker used "
              f"{digest_b['worker_cpu_cores']:.2f} cores."
              + ("" if b_ok else f" **{digest_b['phases_without_digest']} phase(s) received no digest: those "
                                 "measured less than they claim.**"), ""]
    lines += [f"Phase C: the lead's previews (`/recovery digest` in {CHANNEL}, back to back beside the 16 clients): "
              f"{previews['n']} ({', '.join(str(x) for x in previews['per_phase'])} per phase), p50 "
              f"{ms(previews['p50'])} ms, p99 {ms(previews['p99'])} ms, max {ms(previews['max'])} ms; errors "
              f"{previews['errors']}, non-2xx {previews['non_2xx']}, over 3 s {previews['over_3s']}, wrong answers "
              f"{previews['bad_bodies']}: {'met' if previews['met'] else '**NOT met**'} (each 2xx within 3 s). "
              f"Before the rounds, one preview alone took {ms(setup['warm_preview_seconds'])} ms.", ""]
    lines += ["| target | scheduled digest (B) | lead previews (C) |", "| --- | --- | --- |",
              f"| acks unaffected: p99 at most {TARGET_RATIO}x the baseline's | "
              f"{ratio(ratios['B']['p99_ratio'])}: {_verdict(ratios['B']['p99_ratio'])} | "
              f"{ratio(ratios['C']['p99_ratio'])}: {_verdict(ratios['C']['p99_ratio'])} |", ""]
    t = result["totals"]
    lines += [f"All requests of the 16 clients: {t['n']}, errors {t['errors']}, non-2xx {t['non_2xx']}, over 3 s "
              f"{t['over_3s']}.", ""]
    return "\n".join(lines)


def summary_cell(result: dict[str, Any] | None) -> str:
    """One cell for bench/run.py's targets table."""
    if not result:
        return "not run"
    r, p, b = result["ratios"], result["previews"], result["digest_b"]
    empty = b["phases_without_digest"]
    return (f"scheduled digest {ratio(r['B']['p99_ratio'])}: {_verdict(r['B']['p99_ratio'])}"
            + (f" (but {empty} of its phases got no digest posted)" if empty else "")
            + f"; lead previews {ratio(r['C']['p99_ratio'])}: {_verdict(r['C']['p99_ratio'])} (previews p99 "
            f"{ms(p['p99'])} ms, {p['non_2xx'] + p['errors'] + p['over_3s']} failed/slow: "
            f"{'met' if p['met'] else 'NOT met'})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.digest_acks", description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--quick", action="store_true", help="a few seconds: 2,000 incidents, one short round")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--requests", type=int, help="requests per phase")
    parser.add_argument("--threads", type=int, default=SERVE_DEFAULT_THREADS)
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, SQLite file)")
    parser.add_argument("--json", help="also write the raw figures here")
    parser.add_argument("--digest-worker", metavar="CHANNEL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.digest_worker:
        return digest_worker(args.digest_worker)
    overrides: dict[str, Any] = {"database": args.database, "threads": args.threads, "keep": args.keep}
    if args.rounds:
        overrides["rounds"] = args.rounds
    if args.requests:
        overrides["requests"] = args.requests
    config = DigestAcksConfig.quick_config(**overrides) if args.quick else DigestAcksConfig(**overrides)
    result = run(config)
    emit(result, markdown(result), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
