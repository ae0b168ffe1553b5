"""Flagging a complaint: the reaction, the message shortcut, and the flag modals."""
from __future__ import annotations

import uuid

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.domain.text import excerpt as make_excerpt
from bot.domain.types import NewIncident, Severity
from bot.service import RecoveryService
from bot.views import ids, modals
from handlers.payload import clean, dig, message_ts, metadata, slack_id, text, token, view_value, workspace_of
from handlers.routes import Routes


def register(app: App, service: RecoveryService) -> None:
    """The reaction and the message shortcut (their forms: ``register_forms``)."""

    def on_reaction(body: dict, event: dict) -> None:
        """Stored before the 200 goes out: Slack does not deliver an acknowledged event twice."""
        if event.get("reaction") != service.settings.flag_emoji or dig(event, "item", "type") != "message":
            return
        channel, ts = slack_id(event, "item", "channel"), message_ts(event, "item", "ts")
        workspace, user = workspace_of(body), slack_id(event, "user")
        if not (channel and ts and workspace and user):
            return
        service.flag(NewIncident(workspace_id=workspace, origin_channel=channel, origin_ts=ts, flagged_by=user,
                                 summary=""), fetch_details=True, offer_details=True)

    def ack_shortcut(ack: Ack) -> None:
        ack()

    def open_flag_modal(body: dict, client: WebClient) -> None:
        channel = slack_id(body, "channel", "id")
        ts = message_ts(body, "message", "ts") or message_ts(body, "message_ts")
        trigger = token(body, "trigger_id")
        if not (channel and ts and trigger):
            return
        quoted = make_excerpt(clean(text(body, "message", "text") or ""), 200)
        view = modals.flag_modal(callback_id=ids.FLAG_MODAL, excerpt=quoted, summary_required=False,
                                 root_causes=service.playbook.root_causes,
                                 metadata={"channel": channel, "ts": ts, "excerpt": quoted})
        client.views_open(trigger_id=trigger, view=view)

    app.event("reaction_added")(on_reaction)
    app.shortcut(ids.FLAG_SHORTCUT)(ack=ack_shortcut, lazy=[open_flag_modal])


def register_forms(routes: Routes, service: RecoveryService) -> None:
    def on_flag_submit(ack: Ack, body: dict, view: dict) -> None:
        """The form closes at the ack, and the flagger is answered privately beside the message
        they flagged, through the outbox: after the card, so the answer can link to it (a
        confirmation view, drawn before the card exists, could not)."""
        meta = metadata(view)
        channel, ts, workspace = slack_id(meta, "channel"), message_ts(meta, "ts"), workspace_of(body)
        user = slack_id(body, "user", "id")
        if not (channel and ts and workspace and user):
            ack()
            return
        quoted = clean(meta["excerpt"]) if isinstance(meta.get("excerpt"), str) else ""
        new = _new_incident(view, workspace=workspace, channel=channel, ts=ts, user=user,
                            quoted=make_excerpt(quoted, 200), root_causes=service.playbook.root_causes)
        service.flag(new, fetch_details=True, answer=True)
        ack()

    def on_new_submit(ack: Ack, body: dict, view: dict) -> None:
        meta = metadata(view)
        channel, workspace, user = slack_id(meta, "channel"), workspace_of(body), slack_id(body, "user", "id")
        summary = view_value(view, modals.SUMMARY, modals.SUMMARY)
        if not summary:
            ack(response_action="errors", errors={modals.SUMMARY: "Say in a few words what went wrong."})
            return
        if not (channel and workspace and user):
            ack()
            return
        origin = f"cmd-{token(view, 'id') or token(body, 'trigger_id') or uuid.uuid4().hex}"
        service.flag(_new_incident(view, workspace=workspace, channel=channel, ts=origin, user=user, quoted="",
                                   root_causes=service.playbook.root_causes), fetch_details=False, answer=True)
        ack()

    routes.view(ids.FLAG_MODAL, on_flag_submit)
    routes.view(ids.NEW_MODAL, on_new_submit)


def _new_incident(view: dict, *, workspace: str, channel: str, ts: str, user: str, quoted: str,
                  root_causes: tuple[str, ...]) -> NewIncident:
    severity = view_value(view, modals.SEVERITY, modals.SEVERITY)
    contact = view_value(view, modals.CONTACT, modals.CONTACT)
    return NewIncident(
        workspace_id=workspace, origin_channel=channel, origin_ts=ts, flagged_by=user,
        summary=(view_value(view, modals.SUMMARY, modals.SUMMARY) or "")[:modals.SUMMARY_MAX],
        excerpt=quoted,
        customer_name=(view_value(view, modals.CUSTOMER, modals.CUSTOMER) or "")[:200] or None,
        contact_channel=contact if contact in modals.CONTACT_CHANNELS else None,
        severity=Severity(severity) if severity in Severity._value2member_map_ else Severity.NORMAL,
        category=_category(view_value(view, modals.CATEGORY, modals.CATEGORY), root_causes),
    )


def _category(value: str | None, root_causes: tuple[str, ...]) -> str | None:
    """The category chosen from the playbook's root causes (a value not among them is not ours:
    it is dropped, as an unknown severity is); free text, cut, without root causes."""
    if not root_causes:
        return (value or "")[:100] or None
    return value if value in root_causes else None
