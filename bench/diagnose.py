"""What the outbox sender costs per flag: the bot in this process, its sender run by hand.

``--flags`` flags are queued while the sender is stopped, then drained alone (message text,
permalink and card per flag); also what one due-rows query costs with that backlog due.
``--profile N`` runs the drain under cProfile and prints its N costliest functions.

Unlike the benchmarks, this runs the bot inside this process (so that it can time and
profile the sender): its latencies are not comparable with the benchmarks', its proportions are.
"""
from __future__ import annotations

import cProfile
import logging
import pstats
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from bench import cli
from bench.load import SIGNING_SECRET, Requests, closed_loop
from bench.rig import Rig
from bot.devkit.server import BackgroundServer
from bot.runtime import Runtime, build
from bot.settings import Settings
from bot.web import make_wsgi
from storage import outbox_store


@dataclass
class Config:
    database: str = cli.database_field()
    flags: int = 300
    profile: int = field(default=0, metadata={"help": "profile the drain and print its N costliest functions"})
    quick: bool = False
    QUICK: ClassVar[dict[str, Any]] = dict(flags=30)


def _due_query_seconds(runtime: Runtime) -> float:
    """One due-rows read (the fastest of a few is reported: the first also compiles the
    statement and, on PostgreSQL, plans it)."""
    timings = []
    for _ in range(3):
        with runtime.db.read() as session:
            started = time.perf_counter()
            outbox_store.due_ids(session, now=runtime.service.clock.now())
            timings.append(time.perf_counter() - started)
    return min(timings)


def run(config: Config) -> dict[str, Any]:
    logging.basicConfig(level=logging.WARNING)
    with Rig(config.database) as rig:
        double = rig.double
        settings = replace(Settings(), slack_bot_token="xoxb-diagnose", slack_signing_secret=SIGNING_SECRET,
                           slack_api_url=double.api_url, database_url=rig.database("diagnose"),
                           slack_pacing=False)
        runtime = build(settings)
        server = BackgroundServer(make_wsgi(runtime.app, runtime.db, signing_secret=SIGNING_SECRET)).start()
        try:
            port, requests = int(server.base_url.rsplit(":", 1)[1]), Requests(double.response_url_base)
            closed_loop(port, [requests.command("/recovery list", kind="list")], concurrency=1)
            runtime.sender.drain()
            message_ts = double.slack.add_user_messages("C1", config.flags, text="complaint")
            closed_loop(port, [requests.react(ts) for ts in message_ts], concurrency=4)
            due_query = _due_query_seconds(runtime)
            before = double.slack.counts()["attempts"]
            profiler = cProfile.Profile() if config.profile else None
            wall, cpu = time.perf_counter(), time.thread_time()
            rows = profiler.runcall(runtime.sender.drain) if profiler else runtime.sender.drain()
            wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
            after = double.slack.counts()["attempts"]
        finally:
            server.stop()
            runtime.stop()
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(config.profile)
    return {"database": config.database, "flags": config.flags, "rows": rows, "seconds": wall, "cpu_seconds": cpu,
            "due_query_ms_at_start": due_query * 1000,
            "slack_calls": {k: n - before.get(k, 0) for k, n in after.items() if n - before.get(k, 0)}}


if __name__ == "__main__":
    sys.exit(cli.main("diagnose", Config, run, __doc__, subcommand="outbox"))
