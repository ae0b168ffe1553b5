"""The floors for ack latency: a Bolt app that only acks, served as `python -m bot serve` is.

Same Bolt settings as the bot (``process_before_response=True``, a WebClient on
SLACK_API_URL, auth.test at start-up), same signing secret, WSGI adapter, waitress, thread
count and logging; it listens to what the benchmark sends and only acks, so the difference
from the bot is the bot's own work. Started by ``bench.rig.Rig.bare``.

With ``--store URL`` it is the durable floor: before acking, each request is stored with one
committed INSERT, the least an app that never loses an acked flag must do. The engine is
storage/db.py's ``make_engine``, the bot's own: SQLite in WAL with synchronous=FULL and
BEGIN IMMEDIATE, PostgreSQL through psycopg with the same pool, so the difference from the
bot is what it does beyond storing the request.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

import waitress
from slack_bolt import Ack, App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from sqlalchemy import Column, DateTime, Engine, Integer, MetaData, String, Table, Text, func, insert

from storage.db import make_engine

CLAIM_ACTION = "recovery.claim"  # bot/views/ids.py's, written out: the floor imports nothing of the bot's handlers

RECEIVED = Table("received", MetaData(), Column("id", Integer, primary_key=True),
                 Column("kind", String(16), nullable=False), Column("body", Text, nullable=False),
                 Column("at", DateTime, nullable=False, server_default=func.now()))


def make_app(store: Engine | None = None) -> App:
    client = WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"], timeout=10)
    app = App(client=client, signing_secret=os.environ["SLACK_SIGNING_SECRET"], process_before_response=True,
              logger=logging.getLogger("bare.bolt"))

    def keep(kind: str, body: dict) -> None:
        if store is not None:
            with store.begin() as connection:
                connection.execute(insert(RECEIVED).values(kind=kind, body=repr(body)))

    def command(ack: Ack, body: dict) -> None:
        keep("command", body)
        ack()

    def action(ack: Ack, body: dict) -> None:
        keep("action", body)
        ack()

    app.command("/recovery")(command)
    app.action(CLAIM_ACTION)(action)
    app.event("reaction_added")(lambda body: keep("event", body))  # Bolt acks an event once its listener returns
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_app", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--store", metavar="DATABASE_URL", help="store each request there before acking")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # as bot/cli.py
    store = make_engine(args.store) if args.store else None
    if store is not None:
        RECEIVED.metadata.create_all(store)
    waitress.serve(SlackRequestHandler(make_app(store), path="/slack/events"), host="127.0.0.1", port=args.port,
                   threads=args.threads, ident="bare-bolt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
