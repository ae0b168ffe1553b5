"""The floor for ack latency: a Bolt app that only acks, served as `python -m bot serve` is.

Same Bolt settings as the bot (``process_before_response=True``, a WebClient on
SLACK_API_URL, auth.test at start-up), same signing secret, WSGI adapter, waitress, thread
count and logging; it listens to what the benchmark sends and only acks, so the difference
from the bot is the bot's own work. Started by ``bench.rig.Rig.bare``.
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

CLAIM_ACTION = "recovery.claim"  # bot/views/ids.py's, written out: the floor imports nothing of the bot


def make_app() -> App:
    client = WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"], timeout=10)
    app = App(client=client, signing_secret=os.environ["SLACK_SIGNING_SECRET"], process_before_response=True,
              logger=logging.getLogger("bare.bolt"))

    def acknowledge(ack: Ack) -> None:
        ack()

    app.command("/recovery")(acknowledge)
    app.action(CLAIM_ACTION)(acknowledge)
    app.event("reaction_added")(lambda: None)  # Bolt acks an event once its listener returns
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_app", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # as bot/cli.py
    waitress.serve(SlackRequestHandler(make_app(), path="/slack/events"), host="127.0.0.1", port=args.port,
                   threads=args.threads, ident="bare-bolt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
