"""Two workspaces on one bot: nothing of one is ever seen, counted or changed from the other.

Everything goes through signed requests into the real Bolt app, each from the workspace it
says it is from (`SlackDriver(..., team=)`), on both databases. The bot is installed in both
through the OAuth flow, each install with a token of its own, and the double refuses a token
on the other workspace's channel: whatever the bot sends, it sends as the right workspace.
"""
from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlmodel import col, select

from bot.domain.playbook import ROOT_CAUSES
from bot.service import Locator
from bot.views import ids, modals
from storage.models import DigestRun, Incident, OutboxMessage, StepRecord, TimelineEvent
from storage.repository import to_state
from tests.conftest import LEAD, ServedBot
from tests.helpers import base_url, oauth_install

pytestmark = pytest.mark.workspaces  # their own CI step (pyproject.toml)

NOT_HERE = "That incident was not found in this workspace. `/recovery list` shows the open ones."
SUNDAY_0900 = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)
MONDAY_0901 = datetime(2026, 11, 2, 9, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Workspace:
    """One workspace's people and channel, and the incidents flagged there (by summary)."""

    team: str
    channel: str
    agent: str       # flags every incident and owns the first
    colleague: str
    summaries: tuple[str, ...]


T1 = Workspace("T1", "CT1", "UA1", "UA2", ("Parcel arrived crushed", "Invoice sent twice"))
T2 = Workspace("T2", "CT2", "UB1", "UB2", ("Refund never arrived",))


@dataclass
class TwoWorkspaces:
    bot: ServedBot
    ids: dict[tuple[str, int], int] = field(default_factory=dict)
    """(team, number) -> incident id."""

    def command(self, ws: Workspace, text: str, *, user: str | None = None, channel: str | None = None):  # noqa: ANN201
        return self.bot.slack.command(text, user=user or ws.agent, channel=channel or ws.channel, team=ws.team)

    def later(self, ws: Workspace, text: str, *, user: str | None = None, channel: str | None = None) -> str:
        """What a command answered through its response URL (digest, stats, insights) says."""
        _, message = self.bot.slack.command_answered_later(text, user=user or ws.agent,
                                                           channel=channel or ws.channel, team=ws.team)
        return message.plain()

    def incident(self, ws: Workspace, number: int) -> Incident:
        with self.bot.runtime.db.read() as session:
            return session.exec(select(Incident).where(Incident.workspace_id == ws.team,
                                                       Incident.number == number)).one()


@pytest.fixture
def bot(make_bot, settings, fake_slack) -> ServedBot:  # noqa: ANN001
    """The bot with no SLACK_BOT_TOKEN, installed in T1 and T2 through the OAuth flow; each
    workspace's channel registered, so the double refuses the other workspace's token there."""
    fake_slack.strict(tokens=True)
    fake_slack.add_workspace(T2.team, token="xoxb-T2-granted", bot_user_id="UBOT2", name="Globex")
    for ws in (T1, T2):
        fake_slack.add_channel(ws.channel, team_id=ws.team, members=[ws.agent, ws.colleague, LEAD])
    served = make_bot(replace(settings, slack_bot_token=None, slack_client_id="111.222",
                              slack_client_secret="client-secret"))
    fake_slack.register_oauth_app(client_id="111.222", client_secret="client-secret",
                                  redirect_uri=base_url(served) + "/slack/oauth_redirect")
    for ws in (T1, T2):
        assert oauth_install(served, fake_slack, ws.team)[0] == 200
    return served


@pytest.fixture
def two_workspaces(bot: ServedBot) -> TwoWorkspaces:
    """T1 with #1 (owned by its agent) and #2 (unclaimed) in CT1; T2 with #1 (owned by its
    agent) in CT2. Flagged on Sunday morning, so Monday's digests count them."""
    bot.clock.set(SUNDAY_0900)
    both = TwoWorkspaces(bot)
    for ws in (T1, T2):
        for number, summary in enumerate(ws.summaries, start=1):
            answer = both.command(ws, f"/recovery new {summary}")
            assert f"Flagged as #{number}" in answer.text, answer.text
        assert both.command(ws, "/recovery claim 1").status == 200
    bot.settle()
    for ws in (T1, T2):
        for number in range(1, len(ws.summaries) + 1):
            both.ids[(ws.team, number)] = both.incident(ws, number).id
    return both


def database(bot: ServedBot) -> tuple:
    """Everything an action could change: incidents, step records, timeline, claims of digests."""
    with bot.runtime.db.read() as session:
        incidents = [row.model_dump() for row in session.exec(select(Incident).order_by(col(Incident.id))).all()]
        records = [(r.incident_id, r.seq, r.status, r.ended_by) for r in session.exec(
            select(StepRecord).order_by(col(StepRecord.id))).all()]
        events = [(e.incident_id, e.kind, e.data) for e in session.exec(
            select(TimelineEvent).order_by(col(TimelineEvent.id))).all()]
    return incidents, records, events


class Unchanged:
    """Nothing in the database changed, no modal opened, and the only Slack call was the
    refusal to the person who acted, in their own workspace's channel (or their DM)."""

    def __init__(self, bot: ServedBot) -> None:
        bot.settle()
        self.bot, self.db, self.calls, self.views = bot, database(bot), len(bot.fake.calls()), len(bot.fake.views())

    def refused(self, *, user: str, where: str, lazy: bool = False) -> None:
        bot = self.bot
        if lazy:  # a form opener answers after the ack
            assert bot.fake.wait_for(lambda: bot.settle() or len(bot.fake.calls()) > self.calls), "no refusal"
        time.sleep(0.05)
        bot.settle()
        assert database(bot) == self.db, "the database changed"
        assert len(bot.fake.views()) == self.views, "a modal opened"
        calls = [(call.method, call.params.get("channel"), call.params.get("user"), call.params.get("text"))
                 for call in bot.fake.calls()[self.calls:]]
        if where == user:  # a DM: a post to the person
            assert calls[-1][0] == "chat.postMessage" and calls[-1][1:] == (where, None, NOT_HERE), calls
            assert [call[0] for call in calls[:-1]] in ([], ["conversations.open"]), calls
        else:
            assert calls == [("chat.postEphemeral", where, user, NOT_HERE)], calls

    def form_refused(self, answer) -> None:  # noqa: ANN001
        assert answer.status == 200 and answer.json().get("response_action") == "errors", answer
        assert list(answer.json()["errors"].values()) == [NOT_HERE]
        time.sleep(0.05)
        self.bot.settle()
        assert database(self.bot) == self.db, "the database changed"
        assert self.bot.fake.calls()[self.calls:] == [], "a Slack call was made"


# --------------------------------------------------------------------------
# Numbers, lists, show, stats, insights, export, Home
# --------------------------------------------------------------------------

def test_each_workspaces_messages_go_with_its_own_token(two_workspaces):
    bot = two_workspaces.bot
    tokens = {(call.params.get("channel"), call.token) for call in bot.fake.calls()
              if call.params.get("channel") in (T1.channel, T2.channel)}
    assert tokens == {(T1.channel, "xoxb-T1-2"), (T2.channel, "xoxb-T2-granted")}, "as granted by each install"


def test_incident_numbers_start_at_1_in_each_workspace(two_workspaces):
    assert sorted(two_workspaces.ids) == [("T1", 1), ("T1", 2), ("T2", 1)]
    assert two_workspaces.command(T2, "/recovery new Second one in T2").text.startswith("Flagged as #2")
    assert two_workspaces.command(T1, "/recovery new Third one in T1").text.startswith("Flagged as #3")


@pytest.mark.parametrize("scope", ["", " open", " mine", " unclaimed", " overdue"])
def test_lists_never_mix(two_workspaces, scope):
    two_workspaces.bot.clock.set(SUNDAY_0900 + timedelta(days=1))  # every step overdue
    first = two_workspaces.command(T1, f"/recovery list{scope}").text
    second = two_workspaces.command(T2, f"/recovery list{scope}").text
    owned_in_t1, owned_in_t2 = f"*#1* {T1.summaries[0]} · <@{T1.agent}>", f"*#1* {T2.summaries[0]} · <@{T2.agent}>"
    unclaimed_in_t1 = f"*#2* {T1.summaries[1]} · _unclaimed_"
    assert (owned_in_t1 in first) is (scope != " unclaimed")
    assert (unclaimed_in_t1 in first) is (scope != " mine")
    assert (owned_in_t2 in second) is (scope != " unclaimed")
    for summary in T2.summaries:
        assert summary not in first
    for summary in T1.summaries:
        assert summary not in second
    if scope == " unclaimed":
        assert second == "Recovery\nNo unclaimed incidents."


def test_show_names_only_the_workspaces_own_incident(two_workspaces):
    shown = two_workspaces.command(T2, "/recovery show 1").text
    assert T2.summaries[0] in shown and T1.summaries[0] not in shown
    assert two_workspaces.command(T2, "/recovery show 2").text == "There is no incident #2."
    assert two_workspaces.command(T2, "/recovery claim 2", user=T2.colleague).text == "There is no incident #2."
    assert T1.summaries[1] in two_workspaces.command(T1, "/recovery show 2").text


def test_stats_count_only_the_workspaces_incidents(two_workspaces):
    two_workspaces.bot.clock.set(SUNDAY_0900 + timedelta(hours=1))
    first, second = two_workspaces.later(T1, "/recovery stats"), two_workspaces.later(T2, "/recovery stats")
    assert "*Last 7 days*  flagged 2 · resolved 0 · closed 0 · cancelled 0" in first
    assert "*Now*  2 open · 1 unclaimed" in first
    assert "*Last 7 days*  flagged 1 · resolved 0 · closed 0 · cancelled 0" in second
    assert "*Now*  1 open · 0 unclaimed" in second


def test_insights_count_only_the_workspaces_answers(two_workspaces):
    """T1's #1 goes all the way to a recorded follow-up; T2's insights have no answer to count."""
    both, bot = two_workspaces, two_workspaces.bot
    walk_to_closed(both, T1, 1)
    bot.clock.advance(timedelta(days=1))  # the window ends with yesterday
    first, second = both.later(T1, "/recovery insights", user=LEAD), both.later(T2, "/recovery insights", user=LEAD)
    assert "*Not enough answers yet:* only 1 follow-up answer was recorded since" in first, first
    assert "*Not enough answers yet:* no follow-up answer was recorded since" in second, second


def test_export_holds_only_the_workspaces_rows(two_workspaces):
    bot = two_workspaces.bot
    answer = two_workspaces.command(T2, "/recovery export", user=LEAD)
    assert answer.text.startswith("Preparing the export"), answer.text
    bot.settle()
    (shared,) = bot.fake.files()
    rows = list(csv.DictReader(io.StringIO(shared["bytes"].decode("utf-8-sig"), newline="")))
    assert [(row["workspace"], row["number"], row["card_channel"]) for row in rows] == [("T2", "1", T2.channel)]


def test_home_shows_only_the_workspaces_incidents(two_workspaces):
    bot = two_workspaces.bot
    for ws, other in ((T1, T2), (T2, T1)):
        bot.slack.open_home(user=ws.agent, team=ws.team)
        bot.settle()
        home = json.dumps(bot.fake.home(ws.agent))
        assert ws.summaries[0] in home
        for summary in other.summaries:
            assert summary not in home
    # A lead of both: each workspace's Home shows that workspace's unclaimed and overdue only.
    two_workspaces.bot.clock.set(SUNDAY_0900 + timedelta(days=1))
    bot.slack.open_home(user=LEAD, team=T2.team)
    bot.settle()
    home = json.dumps(bot.fake.home(LEAD))
    assert T2.summaries[0] in home and not any(summary in home for summary in T1.summaries)
    with bot.runtime.db.read() as session:
        rows = session.exec(select(OutboxMessage.workspace_id, OutboxMessage.user_id)
                            .where(OutboxMessage.kind == "home")).all()
    assert ("T2", LEAD) in rows and ("T1", LEAD) not in rows


# --------------------------------------------------------------------------
# Digests: per (workspace, channel, day), counting that workspace's incidents only
# --------------------------------------------------------------------------

def _digests(bot: ServedBot, channel: str) -> list[str]:
    return [m.text for m in bot.fake.messages(channel) if m.text.startswith("Recovery digest")]


def test_each_workspace_gets_its_own_digest_even_of_a_shared_channel(two_workspaces):
    """CSHARED has one id in both workspaces (a channel shared between them): each gets a digest
    of its own incidents there, claimed and keyed apart."""
    both, bot = two_workspaces, two_workspaces.bot
    both.command(T1, "/recovery new Shared trouble one", channel="CSHARED")
    both.command(T2, "/recovery new Shared trouble two", channel="CSHARED", user=T2.colleague)
    both.command(T2, "/recovery new Shared trouble three", channel="CSHARED", user=T2.colleague)
    bot.settle()
    bot.clock.set(MONDAY_0901)
    assert bot.runtime.ticker.tick().digests == 4
    bot.settle()
    assert _digests(bot, T1.channel) == ["Recovery digest for <#CT1>, Mon 2 Nov: 1 unclaimed and 2 overdue; "
                                         "oldest #1, 1 day, at Acknowledge and take ownership"]
    assert _digests(bot, T2.channel) == ["Recovery digest for <#CT2>, Mon 2 Nov: 1 overdue; oldest #1, 1 day, at "
                                         "Acknowledge and take ownership"]
    assert sorted(_digests(bot, "CSHARED")) == [
        "Recovery digest for <#CSHARED>, Mon 2 Nov: 1 unclaimed and 1 overdue; oldest #3, 1 day, unclaimed",
        "Recovery digest for <#CSHARED>, Mon 2 Nov: 2 unclaimed and 2 overdue; oldest #2, 1 day, unclaimed"]
    with bot.runtime.db.read() as session:
        claims = sorted((r.workspace_id, r.channel) for r in session.exec(select(DigestRun)).all())
        keys = sorted(session.exec(select(OutboxMessage.dedupe_key)
                                   .where(col(OutboxMessage.dedupe_key).startswith("digest:"))).all())
    assert claims == [("T1", "CSHARED"), ("T1", "CT1"), ("T1", "leads:T1"), ("T2", "CSHARED"), ("T2", "CT2"),
                      ("T2", "leads:T2")], "each channel's digest, and each workspace's leads' roll-up"
    assert keys == ["digest:T1:CSHARED:2026-11-02", "digest:T1:CT1:2026-11-02", "digest:T2:CSHARED:2026-11-02",
                    "digest:T2:CT2:2026-11-02"]
    assert bot.runtime.ticker.tick().digests == 0, "never twice"


def test_the_digest_preview_counts_only_the_asking_workspace(two_workspaces):
    both, bot = two_workspaces, two_workspaces.bot
    both.command(T1, "/recovery new Shared trouble one", channel="CSHARED")
    both.command(T2, "/recovery new Shared trouble two", channel="CSHARED", user=T2.colleague)
    both.command(T2, "/recovery new Shared trouble three", channel="CSHARED", user=T2.colleague)
    bot.settle()
    first = both.later(T1, "/recovery digest", channel="CSHARED")
    second = both.later(T2, "/recovery digest", channel="CSHARED")
    assert first.splitlines()[:5] == [
        "Recovery digest for <#CSHARED>, Sun 1 Nov: 1 unclaimed; oldest #3, 0 min, unclaimed",
        "Recovery digest · Sun 1 Nov", "<#CSHARED>  *1 unclaimed; oldest #3, 0 min, unclaimed*",
        "*Yesterday*  flagged 0 · resolved 0 · closed 0", "*Now*  1 open · 1 unclaimed · 0 overdue"]
    assert second.splitlines()[:5] == [
        "Recovery digest for <#CSHARED>, Sun 1 Nov: 2 unclaimed; oldest #2, 0 min, unclaimed",
        "Recovery digest · Sun 1 Nov", "<#CSHARED>  *2 unclaimed; oldest #2, 0 min, unclaimed*",
        "*Yesterday*  flagged 0 · resolved 0 · closed 0", "*Now*  2 open · 2 unclaimed · 0 overdue"]


# --------------------------------------------------------------------------
# A forged team id: the workspace is the one Bolt authorized, in every kind of request
# --------------------------------------------------------------------------

def test_a_command_from_t2_acts_on_t2s_incident_of_that_number(two_workspaces):
    both = two_workspaces
    before_t1 = both.incident(T1, 2)
    both.command(T2, "/recovery new Another T2 problem", user=T2.colleague)
    answer = both.command(T2, "/recovery claim 2", user=T2.colleague)
    assert answer.status == 200
    both.bot.settle()
    assert both.incident(T2, 2).owner_id == T2.colleague
    assert both.incident(T1, 2) == before_t1


def test_an_event_is_filed_under_the_workspace_bolt_authorized(two_workspaces):
    """A reaction whose envelope says T1 at the top but is authorized for T2 (Slack's
    `authorizations`, which Bolt reads first) is T2's flag, numbered in T2."""
    bot = two_workspaces.bot
    complaint = bot.fake.add_user_message(T2.channel, user="UCUST", text="Where is my order?")
    answer = bot.slack.send_json({
        "token": "legacy", "team_id": "T1", "api_app_id": "A1", "type": "event_callback", "event_id": "EvX1",
        "event_time": int(time.time()), "authorizations": [{"team_id": "T2", "user_id": "UBOT", "is_bot": True}],
        "event": {"type": "reaction_added", "user": T2.agent, "reaction": "sos", "item_user": "UCUST",
                  "item": {"type": "message", "channel": T2.channel, "ts": complaint.ts},
                  "event_ts": f"{time.time():.6f}"}})
    assert answer.status == 200
    bot.settle()
    flagged = two_workspaces.incident(T2, 2)
    assert (flagged.origin_channel, flagged.origin_ts) == (T2.channel, complaint.ts)
    with bot.runtime.db.read() as session:
        assert len(session.exec(select(Incident).where(Incident.workspace_id == "T1")).all()) == 2


def test_an_action_is_taken_in_the_team_bolt_authorized_not_the_users(two_workspaces):
    """`team.id` (what Bolt authorizes) wins over `user.team_id`: a claim naming T1's #2 from
    T2's team object is refused even though the user object claims T1."""
    both, bot = two_workspaces, two_workspaces.bot
    unchanged = Unchanged(bot)
    bot.slack.send_interaction({
        "type": "block_actions", "user": {"id": T2.agent, "team_id": "T1"}, "team": {"id": "T2"},
        "api_app_id": "A1", "trigger_id": "1.t", "channel": {"id": T2.channel},
        "container": {"type": "message", "message_ts": "1.2", "channel_id": T2.channel},
        "actions": [{"action_id": ids.CLAIM, "block_id": "b", "type": "button",
                     "value": ids.incident_value(both.ids[("T1", 2)])}]})
    unchanged.refused(user=T2.agent, where=T2.channel)


def test_a_view_from_a_modal_installed_in_t2_is_t2s(two_workspaces):
    """A view submission's `view.app_installed_team_id` (a modal opened in a Slack Connect
    channel) is the workspace Bolt authorizes, whatever `team` says."""
    both, bot = two_workspaces, two_workspaces.bot
    t1_incident = both.ids[("T1", 2)]
    view = modals.assign_modal(incident_id=t1_incident, ref="#2").to_dict()
    unchanged = Unchanged(bot)
    answer = bot.slack.send_interaction({
        "type": "view_submission", "team": {"id": "T1"}, "user": {"id": LEAD, "team_id": "T1"},
        "api_app_id": "A1", "trigger_id": "2.t", "response_urls": [],
        "view": {**view, "id": "VX1", "app_installed_team_id": "T2", "state": {"values": _picked(T1.colleague)}}})
    unchanged.form_refused(answer)


# --------------------------------------------------------------------------
# Another workspace's incident id in every kind of button and form: refused, nothing changed
# --------------------------------------------------------------------------

def _picked(user: str) -> dict:
    return {ids.ASSIGN_USER_BLOCK: {ids.ASSIGN_USER_ACTION: {"type": "users_select", "selected_user": user}}}


@dataclass(frozen=True)
class Press:
    name: str
    action_id: str
    lazy: bool = False           # opens a form: refused after the ack
    option: str | None = None    # a menu: the option's value, "{id}" filled in
    seq: bool = True             # the value names the step instance too
    lead: bool = False           # pressed by a lead (their buttons)
    block_prefix: str = "b"


PRESSES = [
    Press("claim", ids.CLAIM, seq=False),
    Press("assign", ids.ASSIGN, lazy=True, seq=False),
    Press("done", ids.DONE),
    Press("done form", ids.DONE_FORM, lazy=True),
    Press("skip", ids.SKIP, lazy=True),
    Press("need help", ids.NEED_HELP),
    Press("snooze", ids.SNOOZE, option="{value}/1h"),
    Press("agreed", ids.AGREED),
    Press("not yet", ids.NOT_YET),
    Press("record follow-up", ids.RECORD_FOLLOW_UP, lazy=True),
    Press("approve", ids.APPROVE, lead=True),
    Press("decline", ids.DECLINE, lazy=True, lead=True),
    Press("card menu: edit", ids.CARD_MENU, lazy=True, option="{id}/" + ids.MENU_EDIT, seq=False),
    Press("card menu: cancel", ids.CARD_MENU, lazy=True, option="{id}/" + ids.MENU_CANCEL, seq=False),
    Press("add details", ids.ADD_DETAILS, lazy=True, seq=False),
    Press("lead: snooze 1 hour", ids.LEAD_SNOOZE, lead=True),
    Press("lead: assign", ids.LEAD_ASSIGN, lead=True, block_prefix=ids.LEAD_ESCALATION_BLOCK),
    Press("health: retry", ids.RETRY_STUCK, lead=True, seq=False),
    Press("health: give up", ids.GIVE_UP_STUCK, lead=True, seq=False),
]


def _press_from_t2(bot: ServedBot, press: Press, incident: Incident, *, user: str) -> None:
    value = ids.incident_value(incident.id, incident.step_seq if press.seq else None)
    if press.option is not None:
        chosen = press.option.format(value=value, id=incident.id)
        action = {"type": "static_select", "selected_option": {
            "value": chosen, "text": {"type": "plain_text", "text": "x"}}}
    elif press.action_id == ids.LEAD_ASSIGN:
        action = {"type": "users_select", "selected_user": T2.colleague}
    else:
        action = {"type": "button", "value": value}
    block_id = press.block_prefix + value if press.action_id == ids.LEAD_ASSIGN else press.block_prefix
    bot.slack.send_interaction({
        "type": "block_actions", "user": {"id": user, "team_id": T2.team}, "team": {"id": T2.team},
        "api_app_id": "A1", "trigger_id": f"{time.time_ns()}.trigger", "channel": {"id": T2.channel},
        "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": T2.channel,
                      "is_ephemeral": False},
        "actions": [{"action_id": press.action_id, "block_id": block_id, "action_ts": "1.2", **action}]})


@pytest.mark.parametrize("press", PRESSES, ids=[press.name for press in PRESSES])
def test_a_button_naming_another_workspaces_incident_is_refused(two_workspaces, press):
    bot = two_workspaces.bot
    user = LEAD if press.lead else T2.agent
    for number in (1, 2):  # T1's owned #1 and unclaimed #2
        unchanged = Unchanged(bot)
        _press_from_t2(bot, press, two_workspaces.incident(T1, number), user=user)
        unchanged.refused(user=user, where=T2.channel, lazy=press.lazy)


def test_a_home_button_naming_another_workspaces_incident_is_refused_by_dm(two_workspaces):
    bot = two_workspaces.bot
    bot.slack.open_home(user=T2.colleague, team=T2.team)
    unchanged = Unchanged(bot)
    bot.slack.press_on_home(ids.CLAIM, ids.incident_value(two_workspaces.ids[("T1", 2)]), user=T2.colleague,
                            team=T2.team)
    unchanged.refused(user=T2.colleague, where=T2.colleague)


FIX = {modals.ROOT_CAUSE: "delivery", modals.FIX_NOTE: "Reshipped"}
REASON = {modals.REASON: "Not ours"}
REMEDY = {modals.REMEDY_KIND: "gift", modals.AMOUNT: "10"}
FOLLOW_UP = {modals.CSAT: "9", modals.BUY_AGAIN: "yes"}
EDIT = {modals.SUMMARY: "Taken over"}


def _form(name: str, incident: Incident) -> tuple[dict, dict]:
    """A modal as the bot would draw it for ``incident``, and what a person typed into it."""
    seq = incident.step_seq
    if name == "assign":
        return modals.assign_modal(incident_id=incident.id, ref="#1").to_dict(), {ids.ASSIGN_USER_BLOCK: T2.colleague}
    if name == "fix":
        return modals.fix_modal(incident_id=incident.id, seq=seq, ref="#1", root_causes=ROOT_CAUSES).to_dict(), FIX
    if name == "remedy":
        return modals.remedy_modal(incident_id=incident.id, seq=seq, ref="#1", limit=Decimal(50),
                                   currency="USD").to_dict(), REMEDY
    if name == "follow_up":
        return modals.follow_up_modal(incident_id=incident.id, seq=seq, ref="#1").to_dict(), FOLLOW_UP
    if name == "edit":
        view = modals.edit_details_modal(to_state(incident), root_causes=ROOT_CAUSES).to_dict()
        return {**view, "private_metadata": json.dumps({"incident_id": incident.id})}, EDIT
    callback = {"skip": ids.SKIP_MODAL, "decline": ids.DECLINE_MODAL, "cancel": ids.CANCEL_MODAL}[name]
    return modals.reason_modal(callback_id=callback, incident_id=incident.id, seq=seq, title="t",
                               label="l").to_dict(), REASON


FORMS = ["assign", "fix", "remedy", "follow_up", "skip", "decline", "cancel", "edit"]


@pytest.mark.parametrize("name", FORMS)
def test_a_form_from_t2_naming_t1s_incident_is_refused_in_the_form(two_workspaces, name):
    bot = two_workspaces.bot
    for user in (T2.agent, LEAD):
        unchanged = Unchanged(bot)
        view, values = _form(name, two_workspaces.incident(T1, 1))
        unchanged.form_refused(bot.slack.submit(view, values, user=user, team=T2.team))


def test_t1s_own_buttons_still_work_after_t2s_forgeries(two_workspaces):
    """The refusals were about the workspace: the same claim from T1 goes through."""
    bot = two_workspaces.bot
    t1_second = two_workspaces.incident(T1, 2)
    _press_from_t2(bot, PRESSES[0], t1_second, user=T2.agent)
    bot.settle()
    card = next(m for m in bot.fake.messages(T1.channel) if m.text.startswith("Recovery #2:"))
    bot.slack.click(card, ids.LABEL_CLAIM, user=T1.colleague, team=T1.team)
    bot.settle()
    assert two_workspaces.incident(T1, 2).owner_id == T1.colleague
    assert bot.runtime.service.incident(Locator("T2", incident_id=t1_second.id)) is None


# --------------------------------------------------------------------------
# Walking an incident to its recorded follow-up, in its own workspace
# --------------------------------------------------------------------------

def _prompt(both: TwoWorkspaces, ws: Workspace, number: int):  # noqa: ANN202 - a Message
    card = next(m for m in both.bot.fake.messages(ws.channel) if m.text.startswith(f"Recovery #{number}:"))
    return both.bot.thread(card)[-1]


def walk_to_closed(both: TwoWorkspaces, ws: Workspace, number: int) -> None:
    bot = both.bot
    for label, values in (("Done", None), ("Done", None), ("Done", {"root_cause": "delivery", "fix_note": "x"}),
                          ("Done", {"remedy_kind": "gift", "amount": "10"}), ("Agreed", None)):
        prompt = _prompt(both, ws, number)
        if values is None:
            bot.slack.click(prompt, label, user=ws.agent, team=ws.team)
        else:
            opened = len(bot.fake.views())
            bot.slack.click(prompt, label, user=ws.agent, team=ws.team)
            assert bot.fake.wait_for(lambda: len(bot.fake.views()) > opened)
            answer = bot.slack.submit(bot.fake.views()[-1], values, user=ws.agent, team=ws.team)
            assert answer.body == "", answer.body
        bot.settle()
    bot.clock.advance(timedelta(days=3, minutes=1))
    bot.runtime.ticker.tick()
    bot.settle()
    prompt = _prompt(both, ws, number)
    opened = len(bot.fake.views())
    bot.slack.click(prompt, ids.LABEL_RECORD_FOLLOW_UP, user=ws.agent, team=ws.team)
    assert bot.fake.wait_for(lambda: len(bot.fake.views()) > opened)
    answer = bot.slack.submit(bot.fake.views()[-1], {"csat": "9", "buy_again": "yes"}, user=ws.agent, team=ws.team)
    assert answer.body == "", answer.body
    bot.settle()
    assert both.incident(ws, number).status == "closed"
