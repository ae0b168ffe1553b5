"""The floor for ack latency: a Bolt app that only acks, served like `python -m bot serve`.

Same Bolt version and settings as the bot (``process_before_response=True``, a WebClient
on SLACK_API_URL, auth.test at start-up and cached), same signing secret, same WSGI
adapter, same waitress and thread count, same logging set-up. It listens to what the
benchmark sends (``/recovery``, ``reaction_added``, the Claim button) and does nothing but
ack, so the difference from the bot is the bot's own work.

    SLACK_SIGNING_SECRET=... SLACK_BOT_TOKEN=xoxb-... SLACK_API_URL=http://.../api/ \
        python -m bench.bare_app --port 3001 --threads 8
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

CLAIM_ACTION = "recovery.claim"  # bot/views/ids.py CLAIM; written out so the floor imports nothing of the bot


def make_app():  # noqa: ANN201 - slack_bolt.App, imported late to keep --help instant
    from slack_bolt import Ack, App
    from slack_sdk import WebClient

    client = WebClient(token=os.environ["SLACK_BOT_TOKEN"],
                       base_url=os.environ.get("SLACK_API_URL", "https://slack.com/api/"), timeout=10)
    app = App(client=client, signing_secret=os.environ["SLACK_SIGNING_SECRET"], process_before_response=True,
              logger=logging.getLogger("bare.bolt"))

    @app.command("/recovery")
    def on_command(ack: Ack) -> None:
        ack()

    @app.event("reaction_added")
    def on_reaction() -> None:
        """Events are acked by Bolt once the listener returns."""

    @app.action(CLAIM_ACTION)
    def on_claim(ack: Ack) -> None:
        ack()

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_app", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3001)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    # As bot/cli.py does, so that both pay the same for their log lines.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import waitress
    from slack_bolt.adapter.wsgi import SlackRequestHandler

    handler = SlackRequestHandler(make_app(), path="/slack/events")
    waitress.serve(handler, host=args.host, port=args.port, threads=args.threads, ident="bare-bolt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
