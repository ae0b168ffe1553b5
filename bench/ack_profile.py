"""Where an ack's time goes, per kind of request: py-spy samples of the bot under load.

For each kind (`/recovery list`, `/recovery new`, `reaction_added` on a new message, Claim),
``requests`` requests of that kind alone are sent at ``concurrency`` in a closed loop while
py-spy samples the bot's server process and its background process (the outbox sender),
idle threads included. A sample is put in the first bucket its stack matches, looked at from
the innermost frame out: that says what a request thread was doing (running Bolt, our code,
SQLAlchemy, waiting on the database) and how busy the background kept the machine meanwhile.
The durable floor (`bench/bare_app.py --store`) is sampled the same way, for comparison.

Sampling slows what it samples a little; the proportions are what this is for, not latencies.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from bench import cli
from bench.load import Prepared, closed_loop
from bench.phases import KINDS, Bench
from bench.rig import SERVE_THREADS, Rig, log
from bot.devkit.processes import ServedProcess

PY_SPY = Path(sys.executable).with_name("py-spy")
WRITER_QUEUE = "waiting for the database's one writer (storage/db.py's writer queue)"
# (bucket, marks): the innermost frame containing a mark names the bucket. py-spy names a frame
# "function (path:line)", the path relative to its sys.path entry.
BUCKETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("database: commit (fsync on SQLite)", ("do_commit (", "_commit_impl (", "Connection.commit (psycopg")),
    ("database: a statement in the driver", ("do_execute (", "do_executemany (", "(psycopg/")),
    ("database: connecting, BEGIN, pool", ("(sqlalchemy/pool/", "_on_begin (", "_begin_impl (")),
    ("SQLAlchemy and SQLModel (Python)", ("(sqlalchemy/", "(sqlmodel/")),
    ("our code: storage/", ("(storage/",)),
    ("our code: bot/domain, bot/views (pure)", ("(bot/domain/", "(bot/views/")),
    ("our code: bot/, handlers/", ("(bot/", "(handlers/")),
    ("Bolt and slack_sdk (dispatch, signature, parsing)", ("(slack_bolt/", "(slack_sdk/")),
    ("waitress: reading and writing the socket", ("(waitress/",)),
    ("the floor's own code", ("(bench/bare_app.py",)),
)
# A thread whose innermost frame is one of these, outside a database call, waits for work.
WAITING = ("Condition.wait (threading", "Event.wait (threading", "select (selectors", "poll (selectors",
           "poll (waitress/wasyncore", "Semaphore.acquire (threading", "_worker (concurrent/futures",
           # The background process's two blocking reads: its wake-up pipe and the watch on its parent.
           "run_background.<locals>.listen (bot/background.py", "Background.watch.<locals>.wait (bot/background.py")
IDLE = "idle: waiting for work"


@dataclass
class Config:
    database: str = cli.database_field()
    requests: int = field(default=600, metadata={"help": "requests per kind"})
    concurrency: int = 16
    rate: int = field(default=250, metadata={"help": "py-spy samples per second"})
    quick: bool = False
    QUICK: ClassVar[dict[str, Any]] = dict(requests=48, rate=100)


def bucket(stack: list[str]) -> str:
    if any("_WriterQueue" in frame for frame in stack):
        return WRITER_QUEUE
    if any(mark in stack[-1] for mark in WAITING):
        return IDLE
    for frame in reversed(stack):
        for name, marks in BUCKETS:
            if any(mark in frame for mark in marks):
                return name
    return "other (stdlib: json, threading, ...)"


def read_raw(path: Path) -> dict[str, Counter[str]]:
    """py-spy's raw output (``frame;frame;... count``) as bucket counts per process."""
    processes: dict[str, Counter[str]] = {}
    for line in path.read_text().splitlines():
        stack_text, _, count = line.rpartition(" ")
        if not stack_text:
            continue
        frames = stack_text.split(";")
        # With --subprocesses each stack starts with its process and the parents it forked from.
        named = [frame.split(":", 1)[0] for frame in frames if frame.startswith("process ")]
        frames = [frame for frame in frames if not frame.startswith("process ")]
        if frames:
            processes.setdefault(named[-1] if named else "process", Counter())[bucket(frames)] += int(count)
    return processes


def sampled(pid: int, load: list[Prepared], port: int, *, concurrency: int, rate: int, out: Path) -> dict[str, Any]:
    recorder = subprocess.Popen([str(PY_SPY), "record", "--pid", str(pid), "--subprocesses", "--idle", "--rate",
                                 str(rate), "--format", "raw", "--nonblocking", "--output", str(out)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        run = closed_loop(port, load, concurrency=concurrency)
    finally:
        recorder.send_signal(subprocess.signal.SIGINT)
        _, error = recorder.communicate(timeout=60)
    if not out.exists():
        raise RuntimeError(f"py-spy wrote nothing: {error.decode(errors='replace')[-500:]}")
    statuses = Counter(r.status for r in run.results)
    return {"wall": run.wall, "statuses": dict(statuses), "buckets": read_raw(out)}


def _one_kind(bench: Bench, target: ServedProcess, kind: str, n: int) -> list[Prepared]:
    """``n`` requests of one kind, built as the ack benchmark's mix builds them."""
    requests, is_bot = bench.requests, target is bench.bot
    if kind == "list":
        return [requests.command("/recovery list", kind="list") for _ in range(n)]
    if kind == "new":
        return [requests.command(f"/recovery new profile-{i}: customer was charged twice", kind="new")
                for i in range(n)]
    if kind == "react":
        stamps = (bench.slack.add_user_messages(requests.channel, n, text="complaint profile") if is_bot
                  else [requests.unused_ts() for _ in range(n)])
        return [requests.react(ts) for ts in stamps]
    return [requests.claim(bench.take_card() if is_bot else bench.sample_cards[i % len(bench.sample_cards)])
            for i in range(n)]


def _share(counts: Counter[str]) -> dict[str, float]:
    busy = {k: v for k, v in counts.items() if k != IDLE}
    total = sum(busy.values()) or 1
    return {k: round(v / total, 3) for k, v in sorted(busy.items(), key=lambda kv: -kv[1])}


def run(config: Config) -> dict[str, Any]:
    if not PY_SPY.exists():
        raise SystemExit(f"py-spy is not installed beside {sys.executable}: pip install py-spy")
    out = Path(tempfile.mkdtemp(prefix="ack-profile-"))
    with Rig(config.database) as rig:
        url = rig.database("ack_profile")
        bot = rig.bot(url, threads=SERVE_THREADS).wait_healthy(60)
        durable = rig.bare(threads=SERVE_THREADS, store=rig.database("durable_floor")).wait_healthy(60)
        bench = Bench(rig, bot=bot, bare=None, url=url, drain_timeout=180.0, durable=durable)
        bench.pool = bench.seed(config.requests + 8)
        bench.sample_cards = bench.pool[-8:]
        kinds: dict[str, dict[str, Any]] = {}
        for kind in KINDS:
            for target in (bot, durable):
                load = _one_kind(bench, target, kind, config.requests)
                bench.probe.wait_drained(180.0)
                name = bench.name(target)
                found = sampled(target.pid, load, target.port, concurrency=config.concurrency, rate=config.rate,
                                out=out / f"{kind}-{name}.txt")
                per_process = found["buckets"]
                server = per_process.get(f"process {target.pid}", Counter())
                behind = sum((c for p, c in per_process.items() if p != f"process {target.pid}"), Counter())
                kinds.setdefault(kind, {})[name] = {
                    "requests": len(load), "wall": round(found["wall"], 2), "statuses": found["statuses"],
                    "server_busy_samples": sum(v for k, v in server.items() if k != IDLE),
                    "background_busy_samples": sum(v for k, v in behind.items() if k != IDLE),
                    "server": _share(server), "background": _share(behind),
                }
                log(f"{kind} {name}: {len(load)} in {found['wall']:.1f}s, statuses {found['statuses']}")
    return {"config": asdict(config), "database": rig.description, "kinds": kinds, "raw": str(out)}


if __name__ == "__main__":
    sys.exit(cli.main("ack_profile", Config, run, __doc__))
