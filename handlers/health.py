"""Retry and Give up on a stuck incident, from `/recovery health` (leads only)."""
from __future__ import annotations

from collections.abc import Callable

from slack_bolt import Ack

from bot.service import RecoveryService
from bot.views import ids
from handlers.click import Click
from handlers.routes import Routes


def register(routes: Routes, service: RecoveryService) -> None:
    def on_button(*, give_up: bool) -> Callable[[Ack, dict], None]:
        def listener(ack: Ack, body: dict) -> None:
            ack()
            click = Click(body)
            if not click.on_incident:
                return
            outcome = service.unstick(click.where, click.user or "", give_up=give_up)
            service.tell(workspace_id=click.workspace or "", channel=click.channel or "", user_id=click.user or "",
                         text=outcome.message)
        return listener

    routes.action(ids.RETRY_STUCK, on_button(give_up=False))
    routes.action(ids.GIVE_UP_STUCK, on_button(give_up=True))
