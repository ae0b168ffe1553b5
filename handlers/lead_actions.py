"""What a lead presses on an escalation or a call for help, wherever it reached them (a DM,
LEAD_CHANNEL): Assign (a user picker), Snooze 1 hour, and Open card (a link).

The same rule book decides as on the card and in the thread; a refusal is told privately.
"""
from __future__ import annotations

from slack_bolt import Ack

from bot.domain import recovery
from bot.service import Outcome, RecoveryService
from bot.views import ids
from handlers.click import Click
from handlers.payload import slack_id, text
from handlers.routes import Routes


def register(routes: Routes, service: RecoveryService) -> None:
    def answer(click: Click, outcome: Outcome) -> None:
        """A refusal, or what was done: the lead's copy is redrawn too, but a moment later."""
        if outcome.message:
            service.tell(workspace_id=click.workspace or "", channel=click.channel or "", user_id=click.user or "",
                         text=outcome.message)

    def on_assign(ack: Ack, body: dict) -> None:
        ack()
        block = text(body, "actions", 0, "block_id") or ""
        if not block.startswith(ids.LEAD_ESCALATION_BLOCK):
            return
        click = Click(body, block.removeprefix(ids.LEAD_ESCALATION_BLOCK))
        assignee = slack_id(body, "actions", 0, "selected_user")
        if click.on_incident and assignee:
            answer(click, service.assign(click.where, click.user or "", assignee))

    def on_snooze_hour(ack: Ack, body: dict) -> None:
        ack()
        click = Click(body)
        until = service.snooze_until("1h")
        if click.on_incident and until is not None:
            outcome = service.act(click.where, click.user or "", recovery.Snooze(until))
            answer(click, outcome if not outcome.ok else Outcome(True, ""))

    def on_open_card(ack: Ack, body: dict) -> None:  # noqa: ARG001 - every action listener takes the body
        """A link button still tells the app it was pressed; Slack wants that acknowledged."""
        ack()

    routes.action(ids.LEAD_ASSIGN, on_assign)
    routes.action(ids.LEAD_SNOOZE, on_snooze_hour)
    routes.action(ids.OPEN_CARD, on_open_card)
