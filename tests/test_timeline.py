"""The structured timeline: events stored as typed data, read the same in Slack as before,
and drawn as plain text and JSON from the same sentence."""
from __future__ import annotations

import ast
import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

import bot.domain.reminders
import bot.service
from bot.domain import alerts
from bot.domain.playbook import DEFAULT_PLAYBOOK
from bot.domain.reminders import reminder_for
from bot.domain.types import Event, EventKind, IncidentState, Policy, Status, StepKey
from bot.views.events import json_event, plain_line, slack_line
from bot.views.notices import reminder_text
from tests.conftest import LEAD, ServedBot

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
NAMES = {"U1": "amy", "U2": "ben", "U3": "cat", LEAD: "lee"}


def _event(kind: EventKind, actor: str | None = "U2", **fields: object) -> Event:
    return Event(kind, T0, actor, **fields)


# --- every kind, on every surface ---------------------------------------------

EVERY_KIND = [
    (_event(EventKind.CREATED, "U1"), "<@U1> flagged it", "amy flagged it", {}),
    (_event(EventKind.CLAIMED, owner_after="U2"), "<@U2> claimed it", "ben claimed it", {"owner_after": "U2"}),
    (_event(EventKind.ASSIGNED, LEAD, owner_after="U3"), "<@ULEAD> assigned it to <@U3>",
     "lee assigned it to cat", {"owner_after": "U3"}),
    (_event(EventKind.ASSIGNED, LEAD, owner_before="U2", owner_after="U3"),
     "<@ULEAD> assigned it to <@U3> (was <@U2>)", "lee assigned it to cat (was ben)",
     {"owner_before": "U2", "owner_after": "U3"}),
    (_event(EventKind.STEP_DONE, step=StepKey.APOLOGIZE), "<@U2> completed Apologize", "ben completed Apologize",
     {"step": "apologize"}),
    (_event(EventKind.STEP_DONE, step=StepKey.FIX, root_cause="delivery", note="resent <it> & tracked"),
     "<@U2> completed Understand and fix (delivery): resent &lt;it&gt; &amp; tracked",
     "ben completed Understand and fix (delivery): resent <it> & tracked",
     {"step": "fix", "root_cause": "delivery", "note": "resent <it> & tracked"}),
    (_event(EventKind.STEP_DONE, step=StepKey.MAKE_IT_RIGHT, remedy_kind="refund", amount=Decimal("20.50"),
            note="shipping"),
     "<@U2> completed Go above and beyond: refund $ 20.50 (shipping)",
     "ben completed Go above and beyond: refund $ 20.50 (shipping)",
     {"step": "make_it_right", "remedy_kind": "refund", "amount": "20.50", "note": "shipping"}),
    (_event(EventKind.STEP_DONE, step=StepKey.MAKE_IT_RIGHT, remedy_kind="none", amount=Decimal(0)),
     "<@U2> completed Go above and beyond: no remedy", "ben completed Go above and beyond: no remedy",
     {"step": "make_it_right", "remedy_kind": "none", "amount": "0"}),
    (_event(EventKind.STEP_SKIPPED, step=StepKey.APOLOGIZE, reason="<!channel> said no"),
     "<@U2> skipped Apologize: &lt;!channel&gt; said no", "ben skipped Apologize: <!channel> said no",
     {"step": "apologize", "reason": "<!channel> said no"}),
    (_event(EventKind.SNOOZED, until=T0 + timedelta(hours=1, minutes=30)), "<@U2> snoozed #4 for 1h 30m",
     "ben snoozed #4 for 1h 30m", {"until": "2026-11-02T11:30:00+00:00"}),
    (_event(EventKind.HELP_REQUESTED, step=StepKey.FIX), "<@U2> asked the leads for help with Understand and fix",
     "ben asked the leads for help with Understand and fix", {"step": "fix"}),
    (_event(EventKind.NUDGED, None, step=StepKey.FIX, owner="U2"), "Nudged: Understand and fix was due",
     "Nudged: Understand and fix was due", {"step": "fix", "owner": "U2"}),
    (_event(EventKind.ESCALATED, None, step=StepKey.CLAIM), "Escalated to the leads: Claim is overdue",
     "Escalated to the leads: Claim is overdue", {"step": "claim"}),
    (_event(EventKind.APPROVAL_REQUESTED, remedy_kind="refund", amount=Decimal(120), limit=Decimal(50),
            note="VIP"),
     "<@U2> asked a lead to approve refund $ 120 (over the $ 50 limit) (VIP)",
     "ben asked a lead to approve refund $ 120 (over the $ 50 limit) (VIP)",
     {"remedy_kind": "refund", "amount": "120", "limit": "50", "note": "VIP"}),
    (_event(EventKind.REMEDY_APPROVED, LEAD, remedy_kind="gift", amount=Decimal(0)), "<@ULEAD> approved gift",
     "lee approved gift", {"remedy_kind": "gift", "amount": "0"}),
    (_event(EventKind.REMEDY_DECLINED, LEAD, remedy_kind="refund", amount=Decimal(120), reason="too much"),
     "<@ULEAD> declined refund $ 120: too much", "lee declined refund $ 120: too much",
     {"remedy_kind": "refund", "amount": "120", "reason": "too much"}),
    (_event(EventKind.APPROVAL_REMINDED, None, step=StepKey.MAKE_IT_RIGHT, owner="U2", remedy_kind="refund",
            amount=Decimal(120)),
     "Reminded the leads: refund $ 120 is waiting for their approval",
     "Reminded the leads: refund $ 120 is waiting for their approval",
     {"step": "make_it_right", "owner": "U2", "remedy_kind": "refund", "amount": "120"}),
    (_event(EventKind.APPROVAL_EXPIRED, None, remedy_kind="refund", amount=Decimal(120)),
     "No lead decided on refund $ 120 in time: the request expired",
     "No lead decided on refund $ 120 in time: the request expired", {"remedy_kind": "refund", "amount": "120"}),
    (_event(EventKind.BUY_IN_AGREED), "<@U2> recorded that the customer agreed with the resolution",
     "ben recorded that the customer agreed with the resolution", {}),
    (_event(EventKind.BUY_IN_NOT_YET), "<@U2> recorded that the customer has not agreed yet",
     "ben recorded that the customer has not agreed yet", {}),
    (_event(EventKind.BUY_IN_NOT_YET, reason="wants a replacement"),
     "<@U2> recorded that the customer has not agreed yet: wants a replacement",
     "ben recorded that the customer has not agreed yet: wants a replacement", {"reason": "wants a replacement"}),
    (_event(EventKind.FOLLOW_UP_PROMPTED, None, owner="U2"), "The follow-up is due: <@U2> was asked to record it",
     "The follow-up is due: ben was asked to record it", {"owner": "U2"}),
    (_event(EventKind.FOLLOW_UP_RECORDED, csat=9, buy_again="yes", note="happy"),
     "<@U2> recorded the follow-up: satisfaction 9/10, would buy again: yes (happy)",
     "ben recorded the follow-up: satisfaction 9/10, would buy again: yes (happy)",
     {"csat": 9, "buy_again": "yes", "note": "happy"}),
    (_event(EventKind.CLOSED), "#4 is closed", "#4 is closed", {}),
    (_event(EventKind.CANCELLED, reason="duplicate of #3"), "<@U2> cancelled #4: duplicate of #3",
     "ben cancelled #4: duplicate of #3", {"reason": "duplicate of #3"}),
    (_event(EventKind.MESSAGES_GIVEN_UP, LEAD, reason="not_in_channel"),
     "<@ULEAD> gave up posting #4's messages that Slack refused: not_in_channel",
     "lee gave up posting #4's messages that Slack refused: not_in_channel", {"reason": "not_in_channel"}),
    (_event(EventKind.DETAILS_EDITED, customer_name="Ana <!here>", severity="high", category=""),
     "<@U2> edited the details: customer name “Ana &lt;!here&gt;”, severity high, category removed",
     "ben edited the details: customer name “Ana <!here>”, severity high, category removed",
     {"customer_name": "Ana <!here>", "severity": "high", "category": ""}),
    (_event(EventKind.STEP_DONE, legacy_text="<@U2> did it &amp; <@U3> watched"), "<@U2> did it &amp; <@U3> watched",
     "ben did it & cat watched", {"legacy_text": "<@U2> did it &amp; <@U3> watched"}),
]


@pytest.mark.parametrize("event, slack, plain, data", EVERY_KIND,
                         ids=[f"{case[0].kind.value}-{index}" for index, case in enumerate(EVERY_KIND)])
def test_each_kind_reads_the_same_sentence_on_every_surface(event, slack, plain, data):
    assert slack_line(event, ref="#4", playbook=DEFAULT_PLAYBOOK, currency="USD") == slack
    assert plain_line(event, ref="#4", playbook=DEFAULT_PLAYBOOK, currency="USD", names=NAMES) == plain
    assert json_event(event) == {"kind": event.kind.value, "at": "2026-11-02T10:00:00+00:00",
                                 "actor": event.actor, **data}


def test_every_event_kind_has_a_sentence():
    assert {case[0].kind for case in EVERY_KIND} == set(EventKind)


def test_plain_text_names_people_by_id_when_no_names_are_given():
    event = _event(EventKind.ASSIGNED, LEAD, owner_before="U2", owner_after="U3")
    assert plain_line(event, ref="#4", playbook=DEFAULT_PLAYBOOK, currency="USD") == "ULEAD assigned it to U3 (was U2)"


def test_a_step_is_titled_by_the_playbook_it_is_shown_with():
    custom = replace(DEFAULT_PLAYBOOK, steps=tuple(
        replace(step, title="Say sorry & mean it") if step.key is StepKey.APOLOGIZE else step
        for step in DEFAULT_PLAYBOOK.steps))
    event = _event(EventKind.STEP_DONE, step=StepKey.APOLOGIZE)
    assert slack_line(event, ref="#4", playbook=custom, currency="USD") == "<@U2> completed Say sorry &amp; mean it"
    assert plain_line(event, ref="#4", playbook=custom, currency="USD") == "U2 completed Say sorry & mean it"


def test_a_very_long_reason_is_cut_in_slack_and_whole_in_plain_text():
    event = _event(EventKind.STEP_SKIPPED, step=StepKey.APOLOGIZE, reason="&" * 1000)
    line = slack_line(event, ref="#4", playbook=DEFAULT_PLAYBOOK, currency="USD")
    assert line.startswith("<@U2> skipped Apologize: &amp;") and line.endswith("&amp;…")
    assert len(line) == len("<@U2> skipped Apologize: ") + 5 * 59 + 1, "whole entities, 300 characters at most"
    assert plain_line(event, ref="#4", playbook=DEFAULT_PLAYBOOK, currency="USD") == "U2 skipped Apologize: " + "&" * 1000


# --- encoding -------------------------------------------------------------------

_TEXT = st.text(max_size=40)
_USER = st.from_regex(r"U[A-Z0-9]{1,10}", fullmatch=True)
_MOMENT = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
_MONEY = st.decimals(min_value=0, max_value=Decimal("9999999999.99"), places=2)


@given(st.builds(
    Event, st.sampled_from(EventKind), _MOMENT, st.none() | _USER,
    step=st.none() | st.sampled_from(StepKey), owner_before=st.none() | _USER, owner_after=st.none() | _USER,
    owner=st.none() | _USER, reason=st.none() | _TEXT, note=st.none() | _TEXT, root_cause=st.none() | _TEXT,
    remedy_kind=st.none() | _TEXT, amount=st.none() | _MONEY, limit=st.none() | _MONEY,
    until=st.none() | _MOMENT, csat=st.none() | st.integers(1, 10), buy_again=st.none() | _TEXT,
    legacy_text=st.none() | _TEXT))
def test_an_event_survives_json_unchanged(event):
    stored = json.loads(json.dumps(event.to_data()))
    assert Event.from_data(event.kind.value, event.at, event.actor, stored) == event


def test_an_unknown_field_in_stored_data_is_an_error_not_dropped():
    with pytest.raises(TypeError):
        Event.from_data("created", T0, "U1", {"colour": "red"})


# --- reminders, decided in the domain ---------------------------------------------

def _incident(**changes: object) -> IncidentState:
    state = IncidentState(
        id=1, workspace_id="T1", number=4, status=Status.OPEN, current_step=StepKey.FIX, step_seq=3,
        step_started_at=T0, step_due_at=T0 + timedelta(hours=4), created_at=T0, flagged_by="U1",
        summary="Parcel crushed", origin_channel="C1", origin_ts="1.0", card_channel="C1", owner_id="U2")
    return replace(state, **changes)


def _remind(state: IncidentState, kind: str, *, after: timedelta, sent: frozenset[str] = frozenset()):  # noqa: ANN202
    return reminder_for(state, kind, sent=sent, now=T0 + after, playbook=DEFAULT_PLAYBOOK, policy=Policy())


def test_a_step_past_its_sla_owes_its_owner_a_nudge_with_its_event():
    reminder = _remind(_incident(), alerts.NUDGE, after=timedelta(hours=4, seconds=1))
    assert reminder is not None
    assert (reminder.step, reminder.owner, reminder.due) == (StepKey.FIX, "U2", T0 + timedelta(hours=4))
    assert reminder.event == Event(EventKind.NUDGED, T0 + timedelta(hours=4, seconds=1), None, step=StepKey.FIX,
                                   owner="U2")
    assert reminder_text(reminder, playbook=DEFAULT_PLAYBOOK, tz=UTC, where="by DM") == (
        "⏰ <@U2>, *Understand and fix* on #4 was due <!date^1793628000^{date_short_pretty} at {time}|"
        "Mon 02 Nov 14:00 UTC>. The longer it takes, the less likely the customer stays.")


def test_no_reminder_before_the_sla_is_over_nor_twice():
    assert _remind(_incident(), alerts.NUDGE, after=timedelta(hours=4)) is None, "due means by then"
    late = timedelta(hours=5)
    assert _remind(_incident(), alerts.NUDGE, after=late, sent=frozenset({alerts.NUDGE})) is None
    assert _remind(_incident(), alerts.ESCALATION, after=late) is None, "the nudge comes first"


def test_an_unclaimed_incident_escalates_to_the_leads():
    state = _incident(owner_id=None, current_step=StepKey.CLAIM, step_due_at=T0 + timedelta(minutes=10))
    reminder = _remind(state, alerts.ESCALATION, after=timedelta(minutes=21), sent=frozenset({alerts.NUDGE}))
    assert reminder is not None and reminder.owner is None
    assert reminder.event.kind is EventKind.ESCALATED and reminder.event.step is StepKey.CLAIM
    assert reminder_text(reminder, playbook=DEFAULT_PLAYBOOK, tz=UTC, where="by DM").startswith(
        "🚨 *Claim* on #4 was due <!date^")


def _imports(module: object) -> set[str]:
    tree = ast.parse(Path(module.__file__).read_text())
    return ({node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
            | {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names})


def test_the_service_and_the_reminder_rules_know_nothing_of_slack():
    """Layers: the service returns domain values and the handlers draw them; what a reminder
    says and records is decided in the pure domain."""
    assert not {name for name in _imports(bot.service) if name.startswith(("slack_sdk", "slack_bolt", "bot.views"))}
    assert {name.split(".")[0] for name in _imports(bot.domain.reminders)} <= {"__future__", "dataclasses",
                                                                             "datetime", "bot"}
    assert not {name for name in _imports(bot.domain.reminders) if name.startswith("bot.")
                and not name.startswith("bot.domain")}


# --- through the real app ------------------------------------------------------------

OWNER = "U2"


def _prompt(bot: ServedBot):  # noqa: ANN202
    live = [m for m in bot.thread(bot.card(1)) if any(b.get("type") == "actions" for b in m.blocks)]
    return live[-1]


def _click(bot: ServedBot, label: str, user: str = OWNER, *, on_card: bool = False) -> None:
    bot.clock.advance(timedelta(minutes=1))
    bot.slack.click(bot.card(1) if on_card else _prompt(bot), label, user=user)
    bot.settle()


def _form(bot: ServedBot, label: str, values: dict[str, object], user: str = OWNER) -> None:
    before = len(bot.fake.views())
    _click(bot, label, user)
    assert bot.fake.wait_for(lambda: len(bot.fake.views()) > before), f"{label} opened no form"
    assert bot.slack.submit(bot.fake.views()[-1], values, user=user).body == ""
    bot.settle()


def _command(bot: ServedBot, command: str, user: str) -> None:
    bot.clock.advance(timedelta(minutes=1))
    bot.slack.command(command, user=user)
    bot.settle()


def _tick(bot: ServedBot, after: timedelta) -> None:
    bot.clock.advance(after)
    bot.runtime.ticker.tick()
    bot.settle()


def _whole_recovery(bot: ServedBot) -> None:
    """Every kind of event, made the way people make them: reactions, buttons, forms, commands."""
    complaint = bot.fake.add_user_message("C1", user="UCUST", text="Parcel arrived crushed")
    bot.slack.react(channel="C1", ts=complaint.ts, user="U1")
    bot.settle()
    _tick(bot, timedelta(minutes=11))
    _click(bot, "Claim", user="U3", on_card=True)
    _command(bot, "/recovery assign 1 <@U2>", LEAD)
    _command(bot, "/recovery snooze 1 1h30m", OWNER)
    _click(bot, "Need help")
    _click(bot, "Done")
    _form(bot, "Skip", {"reason": "<!channel> & co called first"})
    _form(bot, "Done", {"root_cause": "delivery", "fix_note": "Reshipped <fast>"})
    _form(bot, "Done", {"remedy_kind": "refund", "amount": "120", "remedy_note": "VIP"})
    _form(bot, "Decline", {"reason": "Too much"}, user=LEAD)
    _form(bot, "Done", {"remedy_kind": "discount", "amount": "20.50"})
    _click(bot, "Not yet")
    _form(bot, "Done", {"remedy_kind": "gift", "amount": ""})
    _click(bot, "Agreed")
    _tick(bot, timedelta(days=3))
    _tick(bot, timedelta(hours=24, minutes=1))
    _form(bot, "Record follow-up", {"csat": "9", "buy_again": "yes", "follow_up_note": "Happy"})


# The timeline as `/recovery show` drew it before events were stored as data (recorded from
# the code at 3b0c0b3): the same story must read the same, line for line, with each time now
# in Slack's date formatting (shown here by its fallback, in the team's zone).
SHOWN_BEFORE = """\
• Mon 02 Nov 10:00 UTC · <@U1> flagged it
• Mon 02 Nov 10:11 UTC · Nudged: Claim was due
• Mon 02 Nov 10:12 UTC · <@U3> claimed it
• Mon 02 Nov 10:13 UTC · <@ULEAD> assigned it to <@U2> (was <@U3>)
• Mon 02 Nov 10:14 UTC · <@U2> snoozed #1 for 1h 30m
• Mon 02 Nov 10:15 UTC · <@U2> asked the leads for help with Acknowledge and take ownership
• Mon 02 Nov 10:16 UTC · <@U2> completed Acknowledge and take ownership
• Mon 02 Nov 10:17 UTC · <@U2> skipped Apologize: &lt;!channel&gt; &amp; co called first
• Mon 02 Nov 10:18 UTC · <@U2> completed Understand and fix (delivery): Reshipped &lt;fast&gt;
• Mon 02 Nov 10:19 UTC · <@U2> asked a lead to approve refund $ 120 (over the $ 50 limit) (VIP)
• Mon 02 Nov 10:20 UTC · <@ULEAD> declined refund $ 120: Too much
• Mon 02 Nov 10:21 UTC · <@U2> completed Go above and beyond: discount $ 20.50
• Mon 02 Nov 10:22 UTC · <@U2> recorded that the customer has not agreed yet
• Mon 02 Nov 10:23 UTC · <@U2> completed Go above and beyond: gift
• Mon 02 Nov 10:24 UTC · <@U2> recorded that the customer agreed with the resolution
• Thu 05 Nov 10:24 UTC · The follow-up is due: <@U2> was asked to record it
• Fri 06 Nov 10:25 UTC · Nudged: Follow up was due
• Fri 06 Nov 10:26 UTC · <@U2> recorded the follow-up: satisfaction 9/10, would buy again: yes (Happy)
• Fri 06 Nov 10:26 UTC · #1 is closed"""


_DATE = re.compile(r"<!date\^([0-9]+)\^\{date_short_pretty\} at \{time\}\|([^>]*)>")


def _dated(line: str) -> str:
    """The line with each Slack date checked (its epoch is the moment its fallback names, in
    the team's zone, UTC here) and replaced by that fallback."""
    def check(match: re.Match) -> str:
        epoch, fallback = match.groups()
        assert datetime.fromtimestamp(int(epoch), UTC).strftime("%a %d %b %H:%M UTC") == fallback
        return fallback
    return _DATE.sub(check, line)


def test_show_reads_every_event_as_it_did_before(bot):
    _whole_recovery(bot)
    shown = bot.slack.command("/recovery show 1", user=LEAD).text
    lines = shown.split("*Timeline*\n", 1)[1].split("\n")
    assert all(line.startswith("• <!date^") for line in lines), "each reader sees the time in their own zone"
    assert [_dated(line) for line in lines] == SHOWN_BEFORE.split("\n")


def test_the_timeline_falls_back_to_the_team_zone(make_bot, settings):
    bot = make_bot(replace(settings, tz=ZoneInfo("Europe/Paris")))
    _command(bot, "/recovery new Wrong size sent", "U1")
    shown = bot.slack.command("/recovery show 1", user=LEAD).text
    flagged = int(datetime(2026, 11, 2, 10, 1, tzinfo=UTC).timestamp())
    assert shown.endswith(f"• <!date^{flagged}^{{date_short_pretty}} at {{time}}|Mon 02 Nov 11:01 CET> · "
                          "<@U1> flagged it")


def test_events_are_stored_as_fields_without_slack_markup(bot):
    _whole_recovery(bot)
    with bot.runtime.db.read() as session:
        rows = session.connection().execute(text("SELECT kind, actor, data FROM timeline_event ORDER BY id")).all()
    stored = [(kind, actor, data if isinstance(data, dict) else json.loads(data)) for kind, actor, data in rows]
    assert ("step_skipped", OWNER, {"step": "apologize", "reason": "<!channel> & co called first"}) in stored
    assert ("step_done", OWNER, {"step": "fix", "root_cause": "delivery", "note": "Reshipped <fast>"}) in stored
    assert ("approval_requested", OWNER, {"remedy_kind": "refund", "amount": "120", "limit": "50",
                                          "note": "VIP"}) in stored
    assert ("assigned", LEAD, {"owner_before": "U3", "owner_after": OWNER}) in stored
    assert ("nudged", None, {"step": "claim"}) in stored
    assert all("<@" not in json.dumps(data) and "&lt;" not in json.dumps(data) for _, _, data in stored)


def test_a_cancelled_incident_shows_why(bot):
    _command(bot, "/recovery new Wrong size sent", "U1")
    _command(bot, "/recovery cancel 1 duplicate of <#C9> & more", LEAD)
    shown = bot.slack.command("/recovery show 1", user=LEAD).text
    assert _dated(shown).endswith("• Mon 02 Nov 10:02 UTC · <@ULEAD> cancelled #1: duplicate of &lt;#C9&gt; &amp; more")
