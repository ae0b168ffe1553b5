"""`/recovery`: parse, call the service, answer ephemerally in the ack itself; the figures
(`digest`, `stats`) after the ack, through the command's response URL."""
from __future__ import annotations

import logging
import uuid
from typing import Final

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import outbox_export
from bot.domain import parsing, recovery
from bot.domain.parsing import format_duration
from bot.domain.types import NewIncident
from bot.export import Period
from bot.insights import workspace_insights
from bot.service import Locator, RecoveryService
from bot.views import digest, health, ids, modals, timeline
from bot.views import export as export_view
from bot.views.insights import insights_payload
from bot.views.when import slack_time
from handlers.payload import clean, slack_id, token, workspace_of

log = logging.getLogger(__name__)

WORKING: Final = "Working out the figures… they will appear here in a moment."
"""The ack of `digest` and `stats`: at once, so the person knows the command was taken."""
FIGURES_FAILED: Final = "I could not work out the figures just now. Try the command again in a minute."
EXPORT_REFUSED: Final = "Only a lead can export incidents; ask a lead if you need the file."


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

    def open_new_modal(body: dict, client: WebClient) -> None:
        trigger, channel = token(body, "trigger_id"), slack_id(body, "channel_id")
        if trigger and channel:
            client.views_open(trigger_id=trigger, view=modals.flag_modal(
                callback_id=ids.NEW_MODAL, metadata={"channel": channel}, excerpt=None, summary_required=True,
                root_causes=service.playbook.root_causes))

    def answer_figures(body: dict, respond: Respond, client: WebClient) -> None:
        """The digest preview or the stats, read and drawn off the ack's clock (a workspace's
        figures read tens of thousands of rows), then sent through the response URL."""
        workspace, channel = workspace_of(body), slack_id(body, "channel_id")
        try:
            text, blocks = _figures(service, parsing.parse_command(_typed(body)), workspace=workspace or "",
                                    channel=channel or "", client=client)
        except Exception:  # noqa: BLE001 - a traceback never reaches a person; the log has it
            log.exception("/recovery %s: figures failed", _typed(body))
            text, blocks = FIGURES_FAILED, None
        answer = respond(text=text, blocks=blocks, response_type="ephemeral")
        if answer.status_code != 200:
            log.warning("/recovery %s: the response URL refused the answer (%s %s)", _typed(body),
                        answer.status_code, answer.body)

    def answered_later(body: dict) -> bool:
        return _later(service, body) is not None

    def ack_later(ack: Ack, body: dict) -> None:
        if _later(service, body) == "figures":
            ack(text=WORKING)
        else:
            ack()

    def answer_later(body: dict, respond: Respond, client: WebClient) -> None:
        if _later(service, body) == "modal":
            open_new_modal(body, client)
        else:
            answer_figures(body, respond, client)

    # `/recovery new` with no summary opens a modal after the ack, and `digest`, `stats` and a
    # lead's `insights` answer after it: Bolt copies the request and starts a thread for a lazy
    # listener, so no other command pays for it. One listener with one matcher for all three:
    # Bolt calls each matcher through its argument injection, on every command.
    app.command("/recovery", matchers=[answered_later])(ack=ack_later, lazy=[answer_later])
    app.command("/recovery")(on_command)


def _later(service: RecoveryService, body: dict) -> str | None:
    """What of the command is answered after the ack: "modal" for `new` without a summary,
    "figures" for a well-formed `digest` or `stats` from a known place, or a lead's
    `insights` (anyone else's is refused in the ack, `_answer`); None for the rest, answered
    in the ack (a usage error included)."""
    command = parsing.parse_command(_typed(body))
    if isinstance(command, parsing.New):
        return None if command.summary else "modal"
    if not isinstance(command, parsing.Digest | parsing.Stats | parsing.Insights):
        return None
    user = slack_id(body, "user_id")
    if not (workspace_of(body) and user and slack_id(body, "channel_id")):
        return None
    if isinstance(command, parsing.Insights) and not service.leads.is_lead(user or ""):
        return None
    return "figures"


def _figures(service: RecoveryService, command: parsing.Command | parsing.UsageError, *, workspace: str,
             channel: str, client: WebClient) -> tuple[str, list[dict]]:
    """The answer's text and blocks: the channel's digest as it would be posted now (cards
    linked, owners named without a ping), the workspace's stats, or its insights (owners
    named without a ping too)."""
    if isinstance(command, parsing.Insights):
        payload = insights_payload(workspace_insights(service, workspace_id=workspace, days=command.days))
        filled = digest.filled(payload, permalink_of=lambda channel, ts: None, name_of=lambda user: _name(client, user))
        return filled["text"], filled["blocks"]
    if isinstance(command, parsing.Stats):
        figures = service.stats(workspace_id=workspace, days=command.days)
        return (f"Recovery stats, last {figures.days} days",
                [block.to_dict() for block in digest.stats_blocks(figures, currency=service.settings.currency,
                                                                  playbook=service.playbook)])
    payload = digest.digest_payload(service.digest_preview(workspace_id=workspace, channel=channel), channel=channel,
                                    currency=service.settings.currency, playbook=service.playbook)
    filled = digest.filled(payload, permalink_of=lambda channel, ts: _permalink(client, channel, ts),
                           name_of=lambda user: _name(client, user))
    return filled["text"], filled["blocks"]


def _permalink(client: WebClient, channel: str, ts: str) -> str | None:
    """A link to a card the preview names; one Slack will not give leaves a plain number."""
    try:
        return str(client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"])
    except (SlackApiError, KeyError) as error:
        log.warning("digest preview: no link to card %s in %s: %s", ts, channel, error)
        return None


def _name(client: WebClient, user: str) -> str | None:
    """The name of a person the preview names; one Slack will not give reads "someone"."""
    try:
        return digest.display_name(client.users_info(user=user).get("user") or {})
    except SlackApiError as error:
        log.warning("digest preview: no name for %s: %s", user, error.response.get("error"))
        return None


def _export(service: RecoveryService, period: str, *, workspace: str, user: str) -> str:
    """A lead's export is queued and built by the outbox (bot/outbox_export.py), off the ack."""
    if not service.leads.is_lead(user):
        return EXPORT_REFUSED
    now = service.clock.now()
    with service.db.transaction() as session:
        outbox_export.queue(session, workspace_id=workspace, user_id=user, period=period, now=now)
    service.notify_sender()
    words = export_view.period_words(Period.named(period, until=now))
    return f"Preparing the export of the incidents {words}… it will come to you as a direct message."


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
            return timeline.list_blocks(incidents, scope=scope, playbook=service.playbook, tz=service.tz, now=now,
                                        policy=service.policy)
        case parsing.Show(number):
            shown = service.timeline(Locator(workspace, number=number))
            if shown is None:
                return f"There is no incident #{number}."
            return timeline.show_blocks(*shown, playbook=service.playbook, tz=service.tz, now=service.clock.now(),
                                        policy=service.policy)
        case parsing.Snooze(number, duration):
            until = service.clock.now() + duration
            outcome = service.act(Locator(workspace, number=number), user, recovery.Snooze(until))
            if not outcome.ok:
                return outcome.message
            return (f"Nudges on #{number} are snoozed for {format_duration(duration)}, until "
                    f"{slack_time(until, service.tz)}.")
        case parsing.Cancel(number, reason):
            outcome = service.act(Locator(workspace, number=number), user, recovery.Cancel(reason))
            return f"#{number} is cancelled." if outcome.ok else outcome.message
        case parsing.Health():
            if not service.leads.is_lead(user):
                return "Only a lead can see `/recovery health`."
            return health.health_blocks(service.health(workspace))
        case parsing.Insights():
            # A lead's was taken by the `wants_insights` listener, to be answered after the ack.
            return "Only a lead can see `/recovery insights`."
        case parsing.Export(period):
            return _export(service, period, workspace=workspace, user=user)
    return parsing.USAGE
