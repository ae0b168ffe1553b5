"""Diagnostics behind the findings in docs/PERFORMANCE.md: the bot in-process, instrumented.

    python -m bench.diagnose lockwait [--database sqlite|postgresql] [--kind list|mix]
        How long each transaction's BEGIN waits (SQLite takes its write lock there) while 16
        clients send requests, split into request threads and the outbox sender.
    python -m bench.diagnose outbox [--database ...] [--flags 300] [--profile N]
        What the outbox sender costs per flag (enrichment and card), alone, with a backlog of
        ``--flags`` flags queued while it was stopped; also what one due-rows query costs.
        ``--profile N`` runs the drain under cProfile and prints its N costliest functions.

Unlike the benchmarks, these run the bot inside this process (so they can hook its engine):
their latencies are not comparable with the benchmarks', their proportions are.
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import threading
import time
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

from bench.common import SIGNING_SECRET, Databases, Requests, Workdir, closed_loop, percentile, summarize
from bench.slack_double import start_slack_double


class _InProcessBot:
    def __init__(self, database: str, *, sender: bool) -> None:
        from bot.runtime import build
        from bot.settings import Settings
        from bot.devkit.server import BackgroundServer
from bot.web import make_wsgi

        self.workdir = Workdir()
        self.double = start_slack_double()
        self.databases = Databases(database, self.workdir.path)
        settings = replace(Settings(), slack_bot_token="xoxb-diagnose", slack_signing_secret=SIGNING_SECRET,
                           slack_api_url=self.double.api_url, database_url=self.databases.new("diagnose"))
        self.runtime = build(settings)
        if sender:
            self.runtime.start_background()
        self.server = BackgroundServer(make_wsgi(self.runtime.app, self.runtime.db, signing_secret=self.runtime.settings.slack_signing_secret), threads=8).start()
        host, port = self.server.base_url.removeprefix("http://").split(":")
        self.target = SimpleNamespace(host=host, port=int(port), name="recovery")
        self.requests = Requests(self.double.response_url_base)

    def close(self) -> None:
        self.server.stop()
        self.runtime.stop()
        self.double.stop()
        self.databases.close()
        self.workdir.close()


def lockwait(database: str, kind: str) -> dict[str, Any]:
    from sqlalchemy import event

    bot = _InProcessBot(database, sender=True)
    try:
        rq = bot.requests
        closed_loop(bot.target, [rq.command(f"/recovery new seed {i}", kind="new") for i in range(110)],
                    concurrency=4)
        time.sleep(3)
        cards = bot.double.slack.cards()
        message_ts = bot.double.slack.add_user_messages("C1", 100, text="complaint")
        waits: list[tuple[str, float]] = []
        local = threading.local()

        @event.listens_for(bot.runtime.db.engine, "before_cursor_execute")
        def _before(conn, cursor, statement, params, context, many) -> None:  # noqa: ANN001
            local.started = time.perf_counter()

        @event.listens_for(bot.runtime.db.engine, "after_cursor_execute")
        def _after(conn, cursor, statement, params, context, many) -> None:  # noqa: ANN001
            if statement.lstrip().upper().startswith("BEGIN"):
                waits.append((threading.current_thread().name, time.perf_counter() - local.started))

        if kind == "list":
            load = [rq.command("/recovery list", kind="list") for _ in range(400)]
        else:
            load = []
            for i in range(400):
                load.append((rq.command("/recovery list", kind="list"),
                             rq.command(f"/recovery new n{i}", kind="new"),
                             rq.react(message_ts[i // 4]), rq.claim(cards[i // 4]))[i % 4])
        run = closed_loop(bot.target, load, concurrency=16)
        out: dict[str, Any] = {"requests": summarize(run.results, run.wall)}
        for who in ("requests", "outbox"):
            mine = [w for name, w in waits if name.startswith("outbox") == (who == "outbox")]
            out[f"begin_wait_{who}"] = {
                "transactions": len(mine), "p50": percentile(mine, 50), "p99": percentile(mine, 99),
                "max": max(mine, default=0.0), "over_100ms": sum(1 for w in mine if w > 0.1),
                "total": sum(mine)}
        return out
    finally:
        bot.close()


def outbox(database: str, flags: int, profile: int = 0) -> dict[str, Any]:
    bot = _InProcessBot(database, sender=False)
    try:
        rq = bot.requests
        closed_loop(bot.target, [rq.command("/recovery list", kind="list")], concurrency=1)
        bot.runtime.sender.drain()
        message_ts = bot.double.slack.add_user_messages("C1", flags, text="complaint")
        closed_loop(bot.target, [rq.react(ts) for ts in message_ts], concurrency=4)
        due_query = min(_timed_due_ids(bot) for _ in range(3))
        before = bot.double.slack.counts()["attempts"]
        profiler = cProfile.Profile() if profile else None
        wall, cpu = time.perf_counter(), time.thread_time()
        settled = profiler.runcall(bot.runtime.sender.drain) if profiler else bot.runtime.sender.drain()
        wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
        if profiler:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(profile)
        after = bot.double.slack.counts()["attempts"]
        return {"flags": flags, "rows": settled, "seconds": wall, "cpu_seconds": cpu,
                "flags_per_second": flags / wall, "ms_wall_per_flag": wall / flags * 1000,
                "ms_cpu_per_flag": cpu / flags * 1000, "due_query_ms_at_start": due_query * 1000,
                "slack_calls": {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) - before.get(k, 0)}}
    finally:
        bot.close()


def _timed_due_ids(bot: _InProcessBot) -> float:
    """Seconds one due-rows read takes (the fastest of a few is reported: the first also
    pays for compiling the statement and, on PostgreSQL, for planning it)."""
    from storage import outbox_store

    with bot.runtime.db.read() as session:
        started = time.perf_counter()
        outbox_store.due_ids(session, now=bot.runtime.service.clock.now())
        return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.diagnose", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    lw = sub.add_parser("lockwait")
    lw.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    lw.add_argument("--kind", choices=("list", "mix"), default="list")
    ob = sub.add_parser("outbox")
    ob.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    ob.add_argument("--flags", type=int, default=300)
    ob.add_argument("--profile", type=int, default=0, metavar="N",
                    help="profile the drain and print its N costliest functions (cumulative)")
    args = parser.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.WARNING)
    if args.what == "lockwait":
        result = lockwait(args.database, args.kind)
        s = result["requests"]
        print(f"{args.database}, {args.kind} at concurrency 16: request p50 {s['p50'] * 1000:.0f} ms, "
              f"p99 {s['p99'] * 1000:.0f} ms, max {s['max'] * 1000:.0f} ms, {s['rps']:.0f} req/s")
        for who in ("requests", "outbox"):
            w = result[f"begin_wait_{who}"]
            if w["transactions"]:
                print(f"  BEGIN wait in {who} threads ({w['transactions']} transactions): p50 {w['p50'] * 1000:.1f} ms, "
                      f"p99 {w['p99'] * 1000:.1f} ms, max {w['max'] * 1000:.0f} ms, {w['over_100ms']} over 100 ms")
            elif who == "requests":
                print("  no BEGIN statements seen (this driver begins implicitly)")
    else:
        r = outbox(args.database, args.flags, args.profile)
        print(f"{args.database}: {r['flags']} flags queued -> {r['rows']} outbox rows sent in {r['seconds']:.1f} s: "
              f"{r['flags_per_second']:.0f} flags/s, {r['ms_wall_per_flag']:.1f} ms wall and "
              f"{r['ms_cpu_per_flag']:.1f} ms CPU per flag; one due-rows query with the whole backlog "
              f"due (fastest of 3): {r['due_query_ms_at_start']:.1f} ms; Slack calls {r['slack_calls']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
