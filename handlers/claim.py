"""The Claim and Assign buttons on the card, and the assign modal."""
from __future__ import annotations

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.domain.rules import Intent
from bot.service import Locator, RecoveryService
from bot.views import ids, modals
from handlers.click import Click
from handlers.payload import metadata, metadata_int, slack_id, view_value, workspace_of
from handlers.routes import Routes


def register(routes: Routes, service: RecoveryService) -> None:
    def on_claim(ack: Ack, body: dict) -> None:
        ack()
        click = Click(body)
        if not click.on_incident:
            return
        outcome = service.claim(click.where, click.user or "")
        if not outcome.ok:
            service.tell(workspace_id=click.workspace or "", channel=click.channel or "", user_id=click.user or "",
                         text=outcome.message)

    def open_assign_modal(body: dict, client: WebClient) -> None:
        click = Click(body)
        if not (click.on_incident and click.trigger):
            return
        check = service.precheck(click.where, click.user or "", Intent.ASSIGN, seq=None)
        if not (check.ok and check.state):
            service.tell(workspace_id=click.workspace or "", channel=click.channel or "", user_id=click.user or "",
                         text=check.message)
            return
        state = check.state
        client.views_open(trigger_id=click.trigger, view=modals.assign_modal(incident_id=state.id, ref=state.ref))

    def on_assign_submit(ack: Ack, body: dict, view: dict) -> None:
        incident_id = metadata_int(metadata(view), "incident_id", minimum=1)
        if incident_id is None:
            ack()
            return
        assignee = slack_id(view_value(view, ids.ASSIGN_USER_BLOCK, ids.ASSIGN_USER_ACTION))
        workspace, user = workspace_of(body), slack_id(body, "user", "id")
        if not assignee:
            ack(response_action="errors", errors={ids.ASSIGN_USER_BLOCK: "Pick who should own it."})
            return
        if not (workspace and user):
            ack()
            return
        outcome = service.assign(Locator(workspace, incident_id=incident_id), user, assignee)
        if outcome.ok:
            ack()
        else:
            ack(response_action="errors", errors={ids.ASSIGN_USER_BLOCK: outcome.message})

    routes.action(ids.CLAIM, on_claim)
    routes.form(ids.ASSIGN, open_assign_modal)
    routes.view(ids.ASSIGN_MODAL, on_assign_submit)
