"""The card's ⋯ menu (Edit details, Cancel incident), the flagger's Add details button, and
the two forms they open.

Every value names an incident by id; it is looked up in the workspace that pressed it and
asked of the rule book before a form opens, and again when the form comes back, so a
forged or stale value changes nothing it could not change from its own card.
"""
from __future__ import annotations

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.domain import recovery
from bot.domain.rules import Intent
from bot.domain.types import Severity
from bot.service import Locator, Outcome, RecoveryService
from bot.views import ids, modals
from handlers.click import Click
from handlers.payload import metadata, metadata_int, slack_id, text, view_value, workspace_of
from handlers.routes import Routes


def register(routes: Routes, service: RecoveryService) -> None:
    def allowed(click: Click, intent: Intent) -> Outcome:
        """The rule book's answer before a form opens; a refused person is told why, privately."""
        check = service.precheck(click.where, click.user or "", intent, seq=None)
        if not (check.ok and check.state):
            service.tell(workspace_id=click.workspace or "", channel=click.channel or "", user_id=click.user or "",
                         text=check.message)
        return check

    def open_edit(click: Click, client: WebClient) -> None:
        check = allowed(click, Intent.EDIT)
        if check.ok and check.state and click.trigger:
            client.views_open(trigger_id=click.trigger, view=modals.edit_details_modal(
                check.state, root_causes=service.playbook.root_causes))

    def open_cancel(click: Click, client: WebClient) -> None:
        check = allowed(click, Intent.CANCEL)
        if check.ok and check.state and click.trigger:
            state = check.state
            client.views_open(trigger_id=click.trigger, view=modals.reason_modal(
                callback_id=ids.CANCEL_MODAL, incident_id=state.id, seq=state.step_seq, title=f"Cancel {state.ref}",
                label=f"Why cancel {state.ref}? The card and its thread will say so."))

    def on_menu(body: dict, client: WebClient) -> None:
        value, _, choice = (text(body, "actions", 0, "selected_option", "value") or "").partition("/")
        click = Click(body, value)
        if not (click.on_incident and click.trigger):
            return
        if choice == ids.MENU_EDIT:
            open_edit(click, client)
        elif choice == ids.MENU_CANCEL:
            open_cancel(click, client)

    def on_add_details(body: dict, client: WebClient) -> None:
        click = Click(body)
        if click.on_incident and click.trigger:
            open_edit(click, client)

    def submit(ack: Ack, body: dict, view: dict, action: recovery.Action, error_block: str) -> None:
        """A refusal (the incident closed meanwhile, a forged id, nothing changed) stays in the
        form, beside what the person typed."""
        incident_id = metadata_int(metadata(view), "incident_id", minimum=1)
        workspace, user = workspace_of(body), slack_id(body, "user", "id")
        if incident_id is None or not (workspace and user):
            ack()
            return
        outcome = service.act(Locator(workspace, incident_id=incident_id), user, action)
        if outcome.ok:
            ack()
        else:
            ack(response_action="errors", errors={error_block: outcome.message})

    def on_edit_submit(ack: Ack, body: dict, view: dict) -> None:
        summary = view_value(view, modals.SUMMARY, modals.SUMMARY)
        if not summary:
            ack(response_action="errors", errors={modals.SUMMARY: "Say in a few words what went wrong."})
            return
        severity = view_value(view, modals.SEVERITY, modals.SEVERITY)
        submit(ack, body, view, recovery.EditDetails(
            summary=summary, customer_name=view_value(view, modals.CUSTOMER, modals.CUSTOMER),
            contact_channel=view_value(view, modals.CONTACT, modals.CONTACT),
            severity=Severity(severity) if severity in Severity._value2member_map_ else Severity.NORMAL,
            category=view_value(view, modals.CATEGORY, modals.CATEGORY)), modals.SUMMARY)

    def on_cancel_submit(ack: Ack, body: dict, view: dict) -> None:
        reason = view_value(view, modals.REASON, modals.REASON)
        if not reason:
            ack(response_action="errors", errors={modals.REASON: "A reason is required."})
            return
        submit(ack, body, view, recovery.Cancel(reason), modals.REASON)

    routes.form(ids.CARD_MENU, on_menu)
    routes.form(ids.ADD_DETAILS, on_add_details)
    routes.view(ids.EDIT_DETAILS_MODAL, on_edit_submit)
    routes.view(ids.CANCEL_MODAL, on_cancel_submit)
