"""create_app: one Bolt App, built from settings, with every listener registered.

process_before_response=True makes Bolt answer only after our listener returns. Our
listeners touch nothing but the database (Slack calls go to the outbox, modals to lazy
listeners), so this costs little, skips Bolt's 10 ms ack poll, and means an event is
stored before Slack gets its 200.
"""
from __future__ import annotations

import logging

from slack_bolt import App
from slack_sdk import WebClient

import handlers
from bot.service import RecoveryService


def create_app(*, service: RecoveryService, client: WebClient, signing_secret: str) -> App:
    app = App(
        client=client,
        signing_secret=signing_secret,
        process_before_response=True,
        logger=logging.getLogger("recovery.bolt"),
    )
    handlers.register(app, service)
    return app
