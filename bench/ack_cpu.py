"""What one ack costs the server, kind by kind: CPU and SQL statements per request, the bot
beside the durable floor, its WSGI app called directly in this process.

No server, no concurrency, no background: each request runs alone on this thread and its
thread CPU is what handling it costs (Bolt, the handler, the database driver), whatever the
machine is doing meanwhile, so figures compare across runs better than latencies do. It is
the ack benchmark's "where the time goes" taken apart; ``--profile KIND`` prints that kind's
costliest functions, by thread CPU.
"""
from __future__ import annotations

import contextvars
import cProfile
import io
import logging
import os
import pstats
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy import Engine, event

from bench import cli
from bench.bare_app import RECEIVED, make_app
from bench.load import SIGNING_SECRET, Prepared, Requests, signed_headers
from bench.phases import KINDS
from bench.rig import Rig
from bot.runtime import build
from bot.settings import Settings
from bot.web import make_wsgi
from storage.db import make_engine

WARM_UP = 20
Wsgi = Callable[[dict, Callable], Iterable[bytes]]


@dataclass
class Config:
    database: str = cli.database_field()
    requests: int = 300
    profile: str = field(default="", metadata={"help": "print this kind's costliest functions (list, new, react, claim)"})
    quick: bool = False
    QUICK: ClassVar[dict[str, Any]] = dict(requests=40)


class _Statements:
    """SQL statements these engines run, counted."""

    def __init__(self, *engines: Engine) -> None:
        self.count = 0
        for engine in engines:
            event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args: object) -> None:
        self.count += 1


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    """These variables set, and afterwards as they were: whatever runs next in this process
    (the other benchmarks' smoke runs) must not meet this run's Slack double."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _call(wsgi: Wsgi, prepared: Prepared) -> str:
    body = prepared.body.encode()
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/slack/events", "QUERY_STRING": "", "SERVER_NAME": "bench",
               "SERVER_PORT": "0", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
               "wsgi.input": io.BytesIO(body), "CONTENT_TYPE": prepared.content_type, "CONTENT_LENGTH": str(len(body))}
    for name, value in signed_headers(prepared).items():
        if name.lower() != "content-type":
            environ["HTTP_" + name.upper().replace("-", "_")] = value
    status: list[str] = []
    # In a copy of this thread's context, as a server thread of its own would: the bot's middleware
    # sets the request's workspace for the rest of its context (bot/app.py), which must end with it.
    contextvars.copy_context().run(
        lambda: b"".join(wsgi(environ, lambda answer, _headers, _exc=None: status.append(answer))))
    return status[0]


def _measure(wsgi: Wsgi, statements: _Statements, prepared: list[Prepared],
             profiler: cProfile.Profile | None) -> dict[str, float]:
    for one in prepared[:WARM_UP]:
        _call(wsgi, one)
    timed = prepared[WARM_UP:]
    statements.count = 0
    cpu = 0.0
    for one in timed:
        started = time.thread_time()
        if profiler:
            profiler.enable()
        status = _call(wsgi, one)
        if profiler:
            profiler.disable()
        cpu += time.thread_time() - started
        if not status.startswith("200"):
            raise RuntimeError(f"{one.kind}: answered {status}")
    return {"cpu_ms": cpu / len(timed) * 1000, "statements": statements.count / len(timed)}


def run(config: Config) -> dict[str, Any]:
    logging.basicConfig(level=logging.WARNING)
    if config.requests <= WARM_UP:
        raise ValueError(f"--requests must be over {WARM_UP} (the first {WARM_UP} of each kind warm up)")
    n = config.requests
    with Rig(config.database) as rig:
        double = rig.double
        settings = replace(Settings(), slack_bot_token="xoxb-ack-cpu", slack_signing_secret=SIGNING_SECRET,
                           slack_api_url=double.api_url, database_url=rig.database("ack_cpu"), slack_pacing=False)
        runtime = build(settings)
        store = make_engine(rig.database("ack_cpu_floor"))
        RECEIVED.metadata.create_all(store)
        try:
            requests = Requests(double.response_url_base)
            bot = make_wsgi(runtime.app, runtime.db, signing_secret=SIGNING_SECRET)
            with _environment(SLACK_BOT_TOKEN="xoxb-ack-cpu", SLACK_API_URL=double.api_url,
                              SLACK_SIGNING_SECRET=SIGNING_SECRET):  # what bench.bare_app reads
                floor = SlackRequestHandler(make_app(store), path="/slack/events")
            for i in range(2 * n):  # incidents whose cards the Claims press: the bot's, and the floor's copies
                _call(bot, requests.command(f"/recovery new seed {i}: refund never arrived", kind="new"))
            runtime.sender.drain()
            cards = sorted(double.slack.cards(), key=lambda card: card["number"])
            message_ts = double.slack.add_user_messages(requests.channel, 2 * n, text="complaint")
            mixes: dict[str, Callable[[int, int], list[Prepared]]] = {
                "list": lambda start, count: [requests.command("/recovery list", kind="list")] * count,
                "new": lambda start, count: [requests.command(f"/recovery new {start + i}: charged twice", kind="new")
                                             for i in range(count)],
                "react": lambda start, count: [requests.react(ts) for ts in message_ts[start:start + count]],
                "claim": lambda start, count: [requests.claim(card) for card in cards[start:start + count]],
            }
            profiler = cProfile.Profile(time.thread_time) if config.profile else None
            counted = {"bot": _Statements(*runtime.db.engines), "floor": _Statements(store)}
            kinds = {kind: {"bot": _measure(bot, counted["bot"], mixes[kind](0, n),
                                            profiler if kind == config.profile else None),
                            "floor": _measure(floor, counted["floor"], mixes[kind](n, n), None)}
                     for kind in KINDS}
        finally:
            runtime.stop()
            store.dispose()
    profile = None
    if profiler:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(40)
        profile = text.getvalue()
    return {"database": config.database, "requests": n - WARM_UP, "kinds": kinds, "profile": profile}


if __name__ == "__main__":
    sys.exit(cli.main("ack_cpu", Config, run, __doc__))
