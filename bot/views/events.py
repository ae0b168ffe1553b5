"""Timeline events in words, for Slack, for plain text and as JSON.

Each event becomes one sentence, built once as parts, so the surfaces cannot drift apart:
the Slack line reads as the timeline always has (``<@U1> completed Apologize``), the plain
line is the same words without markup (for exports and logs), the JSON the event's fields.
What a person typed is stored raw and escaped here, for Slack only.
"""
from __future__ import annotations

import re
from typing import Final, NamedTuple

from bot.domain.parsing import format_duration
from bot.domain.playbook import Playbook
from bot.domain.money import format_amount
from bot.domain.steps import describe_remedy, said
from bot.domain.text import unescape_mrkdwn
from bot.domain.types import Event, EventKind, StepKey


class Person(NamedTuple):
    """Someone named by their Slack user id: a mention in Slack, a name or the id in plain text."""

    user_id: str


class Said(NamedTuple):
    """Words from outside our code (typed by a person, or a playbook title): escaped for Slack."""

    text: str


class Markup(NamedTuple):
    """Text already in Slack mrkdwn: an old timeline line the migration could not read back."""

    text: str


Part = str | Person | Said | Markup
"""A plain ``str`` is our own wording, the same on every surface."""

_MENTION: Final = re.compile(r"<@([A-Z0-9]+)>")


def sentence(event: Event, *, ref: str, playbook: Playbook, currency: str) -> tuple[Part, ...]:
    """The event as a sentence; ``ref`` names the incident (``#4``) where the sentence does,
    amounts read in ``currency`` (CURRENCY)."""
    if event.legacy_text is not None:
        return _legacy(event.legacy_text)
    who = _person(event.actor)
    step = _title(event.step, playbook)
    remark = (" (", Said(event.note), ")") if event.note else ()
    remedy = Said(describe_remedy(event.remedy_kind, event.amount, currency))
    match event.kind:
        case EventKind.CREATED:
            return who, " flagged it"
        case EventKind.CLAIMED:
            return who, " claimed it"
        case EventKind.ASSIGNED:
            was = (" (was ", Person(event.owner_before), ")") if event.owner_before else ()
            return who, " assigned it to ", _person(event.owner_after), *was
        case EventKind.STEP_DONE if event.root_cause is not None:
            return who, " completed ", step, " (", Said(event.root_cause), "): ", Said(event.note or "")
        case EventKind.STEP_DONE if event.remedy_kind is not None:
            return who, " completed ", step, ": ", remedy, *remark
        case EventKind.STEP_DONE:
            return who, " completed ", step
        case EventKind.STEP_SKIPPED:
            return who, " skipped ", step, ": ", Said(event.reason or "")
        case EventKind.SNOOZED:
            length = f" for {format_duration(event.until - event.at)}" if event.until else ""
            return who, f" snoozed {ref}{length}"
        case EventKind.HELP_REQUESTED:
            return who, " asked the leads for help with ", step
        case EventKind.NUDGED:
            return "Nudged: ", step, " was due"
        case EventKind.ESCALATED:
            return "Escalated to the leads: ", step, " is overdue"
        case EventKind.APPROVAL_REQUESTED:
            limit = "agent's" if event.limit is None else format_amount(event.limit, currency) if currency \
                else str(event.limit)
            return who, " asked a lead to approve ", remedy, f" (over the {limit} limit)", *remark
        case EventKind.REMEDY_APPROVED:
            return who, " approved ", remedy
        case EventKind.REMEDY_DECLINED:
            return who, " declined ", remedy, ": ", Said(event.reason or "")
        case EventKind.APPROVAL_REMINDED:
            return "Reminded the leads: ", remedy, " is waiting for their approval"
        case EventKind.APPROVAL_EXPIRED:
            return "No lead decided on ", remedy, " in time: the request expired"
        case EventKind.BUY_IN_AGREED:
            return who, " recorded that the customer agreed with the resolution"
        case EventKind.BUY_IN_NOT_YET:
            said_why = (": ", Said(event.reason)) if event.reason else ()
            return who, " recorded that the customer has not agreed yet", *said_why
        case EventKind.FOLLOW_UP_PROMPTED:
            return "The follow-up is due: ", _person(event.owner), " was asked to record it"
        case EventKind.FOLLOW_UP_RECORDED:
            return (who, f" recorded the follow-up: satisfaction {event.csat}/10, would buy again: ",
                    Said(event.buy_again or ""), *remark)
        case EventKind.CLOSED:
            return (f"{ref} is closed",)
        case EventKind.CANCELLED:
            return who, f" cancelled {ref}: ", Said(event.reason or "")
        case EventKind.MESSAGES_GIVEN_UP:
            return who, f" gave up posting {ref}'s messages that Slack refused: ", Said(event.reason or "")
        case EventKind.DETAILS_EDITED:
            return who, " edited the details: ", *_changes(event)
    raise ValueError(f"no sentence for event kind {event.kind!r}")


def slack_line(event: Event, *, ref: str, playbook: Playbook, currency: str) -> str:
    """Slack mrkdwn: people mentioned, typed text escaped and cut."""
    return "".join(_slack(part) for part in sentence(event, ref=ref, playbook=playbook, currency=currency))


def plain_line(event: Event, *, ref: str, playbook: Playbook, currency: str,
               names: dict[str, str] | None = None) -> str:
    """No markup: people by the name given for their id (else the id), typed text as typed."""
    return "".join(_plain(part, names or {}) for part in sentence(event, ref=ref, playbook=playbook,
                                                                  currency=currency))


def json_event(event: Event) -> dict[str, object]:
    """The event as JSON-safe data: the encoding storage uses, with its kind, time and actor."""
    return {"kind": event.kind.value, "at": event.at.isoformat(), "actor": event.actor, **event.to_data()}


def _slack(part: Part) -> str:
    match part:
        case Person(user_id):
            return f"<@{user_id}>"
        case Said(text):
            return said(text)
        case Markup(text):
            return text
    return part


def _plain(part: Part, names: dict[str, str]) -> str:
    match part:
        case Person(user_id):
            return names.get(user_id, user_id)
        case Said(text):
            return text
        case Markup(text):
            return unescape_mrkdwn(text)
    return part


_DETAILS: Final = (("summary", "summary", True), ("customer_name", "customer name", True),
                   ("contact_channel", "contact channel", False), ("severity", "severity", False),
                   ("category", "category", False))
"""What Edit details may change, in the form's order: (field, words, typed freely so quoted)."""


def _changes(event: Event) -> tuple[Part, ...]:
    """``severity high, customer name “Ana”, category removed``: each changed field once."""
    parts: list[Part] = []
    for name, words, quoted in _DETAILS:
        value = getattr(event, name)
        if value is None:
            continue
        if parts:
            parts.append(", ")
        if not value:
            parts.append(f"{words} removed")
        elif quoted:
            parts += [f"{words} “", Said(value), "”"]
        else:
            parts += [f"{words} ", Said(value)]
    return tuple(parts)


def _person(user_id: str | None) -> Part:
    return Person(user_id) if user_id else "nobody"


def _title(step: StepKey | None, playbook: Playbook) -> Part:
    return Said(playbook.step(step).title) if step is not None else "a step"


def _legacy(text: str) -> tuple[Part, ...]:
    """Mentions become people again (so plain text can name them), the rest stays mrkdwn."""
    return tuple(Person(piece) if index % 2 else Markup(piece)
                 for index, piece in enumerate(_MENTION.split(text)) if piece)
