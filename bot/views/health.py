"""What the bot says about messages Slack would not take: the flagger's DM when a card is
parked, the log lines, and the leads' `/recovery health` with Retry and Give up per incident.

Each refusal is named with its fix, because the person reading can usually apply it:
invite the bot, flag from an internal channel, or have an admin fix the token.
"""
from __future__ import annotations

from typing import Final

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot import refusals
from bot.domain.text import cut, safe
from bot.parking import DEAD_WINDOW, HealthReport, StuckIncident, counts_line
from bot.views import ids

DEFAULT_BOT_NAME: Final = "recovery-bot"
"""The display name manifest.yml gives the bot, used until auth.test says otherwise."""
CREDENTIALS_FIX: Final = ("Slack refused the bot's token or its scopes: fix SLACK_BOT_TOKEN (or reinstall the app "
                          "with the scopes in manifest.yml) and restart; what was parked on it is sent then")
MAX_SHOWN: Final = 20

_CAUSES: Final = {
    "not_in_channel": "I am not a member of {channel}",
    "channel_not_found": "I cannot see {channel}: it is private and I am not in it, or it was deleted",
    "is_archived": "{channel} is archived",
    refusals.SHARED_CHANNEL: "{channel} is shared with another organization, so the customer could read it there",
}
_FIXES: Final = {
    "not_in_channel": "Type `/invite @{bot}` in {channel}: the card and its thread go out as soon as I join.",
    "channel_not_found": "Type `/invite @{bot}` in {channel}: the card and its thread go out as soon as I join.",
    "is_archived": "Unarchive it and a lead can press Retry in `/recovery health`, or give it up there.",
    refusals.SHARED_CHANNEL: ("Flag complaints from an internal channel, or ask an admin to set RECOVERY_CHANNEL "
                              "to an internal triage channel. {ref} is stored: `/recovery show {number}` works, "
                              "and leads see it in `/recovery list` and `/recovery health`."),
}


def _cause(reason: str, channel: str) -> str:
    where = f"<#{channel}>" if channel else "that channel"
    if reason in refusals.CREDENTIALS:
        return f"Slack refused the bot's token (`{safe(reason, 40)}`)"
    return _CAUSES.get(reason, "Slack refused it (`{reason}`)").format(channel=where, reason=safe(reason, 40))


def parked_dm_text(ref: str, *, channel: str, reason: str, bot_name: str) -> str:
    """To the flagger, the moment a message of their incident is parked."""
    fix = _FIXES.get(reason, "A lead can retry or give it up in `/recovery health`.")
    return (f"I could not post {ref} in <#{channel}>: {_cause(reason, channel)}. "
            + fix.format(bot=safe(bot_name, 80), channel=f"<#{channel}>", ref=ref, number=ref.lstrip("#")))


def reason_line(reason: str, *, channel: str) -> str:
    """For the log: the refusal and where."""
    return f"{reason} in {channel or 'no channel'}"


def health_blocks(report: HealthReport) -> list[Block]:
    """Stuck incidents first, each with Retry and Give up; then what is parked or dropped besides."""
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(
        text=f"*Outbox:* {counts_line(report.counts)}"))]
    if not (report.stuck or report.parked_elsewhere or report.dead):
        blocks.append(SectionBlock(text=MarkdownTextObject(text="Nothing is stuck: every message went out.")))
        return blocks
    for stuck in report.stuck[:MAX_SHOWN]:
        blocks += _stuck_blocks(stuck)
    if len(report.stuck) > MAX_SHOWN:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text=f"{len(report.stuck) - MAX_SHOWN} more stuck incidents not shown")]))
    if report.parked_elsewhere:
        blocks.append(SectionBlock(text=MarkdownTextObject(
            text="*Digests waiting:* " + _tally(report.parked_elsewhere))))
    if report.dead:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=cut(
            f"*Dropped in the last {DEAD_WINDOW.days} days* (Slack refused them for good, or a lead gave up): "
            + _tally(report.dead), 3000))))
    return blocks


def _stuck_blocks(stuck: StuckIncident) -> list[Block]:
    ref = f"#{stuck.number}"
    waiting = f"{stuck.waiting} message{'s' * (stuck.waiting != 1)} waiting"
    line = (f"*{ref}* {safe(stuck.summary, 80)} · {waiting}\n"
            f"{_cause(stuck.reason, stuck.channel or '')}.")
    value = ids.incident_value(stuck.incident_id)
    return [
        SectionBlock(text=MarkdownTextObject(text=cut(line, 3000))),
        ActionsBlock(block_id=f"stuck_{stuck.incident_id}", elements=[
            ButtonElement(text=ids.LABEL_RETRY, action_id=ids.RETRY_STUCK, value=value,
                          accessibility_label=f"Retry the unsent messages of incident {ref}"),
            ButtonElement(text=ids.LABEL_GIVE_UP, action_id=ids.GIVE_UP_STUCK, value=value,
                          accessibility_label=f"Give up the unsent messages of incident {ref}", confirm=ConfirmObject(
                title="Give up?", text=f"{ref}'s unsent messages will never be posted. The incident stays.",
                confirm="Give up", deny="Keep them")),
        ]),
    ]


def _tally(by_reason: dict[str, int]) -> str:
    return ", ".join(f"{_reason_word(reason)} ×{count}" for reason, count in sorted(by_reason.items(),
                                                                                  key=lambda item: -item[1]))


def _reason_word(reason: str | None) -> str:
    given_up = (reason or "").removeprefix("given up by ")
    if reason and given_up != reason:
        return f"given up by <@{safe(given_up, 32)}>"
    return f"`{safe(reason or 'unknown', 80)}`"
