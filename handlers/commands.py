"""`/recovery`: parse, call the service, answer ephemerally in the ack itself."""
from __future__ import annotations

import uuid

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.domain import parsing, recovery
from bot.domain.parsing import format_duration
from bot.domain.types import NewIncident
from bot.service import Locator, RecoveryService
from bot.views import digest, health, ids, modals, timeline
from handlers.payload import clean, slack_id, token, workspace_of


def register(app: App, service: RecoveryService) -> None:
    def on_command(ack: Ack, body: dict) -> None:
        workspace, user, channel = workspace_of(body), slack_id(body, "user_id"), slack_id(body, "channel_id")
        if not (workspace and user and channel):
            ack(text=parsing.USAGE)
            return
        command = parsing.parse_command(_typed(body))
        reply = _answer(service, command, workspace=workspace, user=user, channel=channel,
                        trigger=token(body, "trigger_id"))
        if isinstance(reply, list):
            ack(blocks=reply, text="Recovery")
        elif reply is not None:
            ack(text=reply)
        else:
            ack()

    def ack_only(ack: Ack) -> None:
        ack()

    def open_new_modal(body: dict, client: WebClient) -> None:
        trigger, channel = token(body, "trigger_id"), slack_id(body, "channel_id")
        if trigger and channel:
            client.views_open(trigger_id=trigger, view=modals.flag_modal(
                callback_id=ids.NEW_MODAL, metadata={"channel": channel}, excerpt=None, summary_required=True,
                root_causes=service.playbook.root_causes))

    # Only `/recovery new` with no summary needs a modal, opened after the ack; Bolt copies
    # the request and starts a thread for a lazy listener, so no other command pays for it.
    app.command("/recovery", matchers=[_wants_new_modal])(ack=ack_only, lazy=[open_new_modal])
    app.command("/recovery")(on_command)


def _wants_new_modal(body: dict) -> bool:
    command = parsing.parse_command(_typed(body))
    return isinstance(command, parsing.New) and not command.summary


def _typed(body: dict) -> str:
    """What was typed after `/recovery`."""
    return clean(body["text"]) if isinstance(body.get("text"), str) else ""


def _answer(service: RecoveryService, command: parsing.Command | parsing.UsageError, *, workspace: str,
            user: str, channel: str, trigger: str | None) -> str | list | None:
    match command:
        case parsing.UsageError(message):
            return f"{message}\n\n{parsing.USAGE}"
        case parsing.Help():
            return parsing.USAGE
        case parsing.New(summary) if summary:
            state, _ = service.flag(NewIncident(
                workspace_id=workspace, origin_channel=channel, origin_ts=f"cmd-{trigger or uuid.uuid4().hex}",
                flagged_by=user, summary=summary[:modals.SUMMARY_MAX]), fetch_details=False)
            return f"Flagged as {state.ref}. Its card is in <#{state.card_channel}>."
        case parsing.New():
            return None
        case parsing.Claim(number):
            outcome = service.claim(Locator(workspace, number=number), user)
            return outcome.message
        case parsing.Assign(number, assignee):
            return service.assign(Locator(workspace, number=number), user, assignee).message
        case parsing.ListIncidents(scope):
            now = service.clock.now()
            incidents = service.list_incidents(workspace_id=workspace, user_id=user, scope=scope, now=now)
            return timeline.list_blocks(incidents, scope=scope, playbook=service.playbook, tz=service.tz, now=now)
        case parsing.Show(number):
            shown = service.timeline(Locator(workspace, number=number))
            if shown is None:
                return f"There is no incident #{number}."
            return timeline.show_blocks(*shown, playbook=service.playbook, tz=service.tz, now=service.clock.now())
        case parsing.Snooze(number, duration):
            outcome = service.act(Locator(workspace, number=number), user,
                                  recovery.Snooze(service.clock.now() + duration))
            return f"Nudges on #{number} are snoozed for {format_duration(duration)}." if outcome.ok else outcome.message
        case parsing.Cancel(number, reason):
            outcome = service.act(Locator(workspace, number=number), user, recovery.Cancel(reason))
            return f"#{number} is cancelled." if outcome.ok else outcome.message
        case parsing.Digest():
            return digest.digest_blocks(service.digest_preview(channel), channel=channel, playbook=service.playbook)
        case parsing.Stats(days):
            return digest.stats_blocks(service.stats(workspace_id=workspace, days=days), playbook=service.playbook)
        case parsing.Health():
            if not service.leads.is_lead(user):
                return "Only a lead can see `/recovery health`."
            return health.health_blocks(service.health(workspace))
    return parsing.USAGE
