"""Forged action values are refused by the server, not only hidden by the buttons.

A button's value names the incident and step instance it was drawn for (``42:3``), and a
modal's private_metadata does the same; Slack signs the request, but what is inside is
whatever the sender put there. Every test here sends such a forgery as a properly signed
request and then checks the database (nothing changed on any incident, no timeline
event, no step record) and the fake Slack (nothing posted or updated, no modal opened;
the person who acted is told why, in one ephemeral line or in the form).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlmodel import col, select

from bot.domain.playbook import ROOT_CAUSES
from bot.views import ids, modals
from storage.models import Incident, StepRecord, TimelineEvent
from tests.conftest import LEAD, ServedBot

OWNER = "U2"        # owns incident A
OTHER = "U3"        # owns incident B
BYSTANDER = "U9"
TEAM = "T1"
ELSEWHERE = "T2"    # another workspace that installed the same app

ALREADY_DONE = "That step is already done."


# --------------------------------------------------------------------------
# Signed requests, as Slack would send them (with whatever value the sender chose)
# --------------------------------------------------------------------------

def press(bot: ServedBot, action_id: str, value: str, *, user: str, team: str = TEAM,
          option: bool = False):  # noqa: ANN201
    action = {"action_id": action_id, "block_id": "b", "action_ts": "1.2"}
    if option:
        action |= {"type": "static_select", "selected_option": {
            "value": value, "text": {"type": "plain_text", "text": "1 hour"}}}
    else:
        action |= {"type": "button", "value": value}
    return bot.slack.send_interaction({
        "type": "block_actions", "user": {"id": user, "team_id": team}, "api_app_id": "A1", "team": {"id": team},
        "trigger_id": f"{time.time_ns()}.trigger", "channel": {"id": "C1"},
        "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": "C1",
                      "is_ephemeral": False},
        "response_url": bot.fake.response_url_base + "act", "actions": [action],
    })


def submit(bot: ServedBot, view: dict, values: dict, *, user: str, team: str = TEAM):  # noqa: ANN201
    return bot.slack.send_interaction({
        "type": "view_submission", "team": {"id": team}, "user": {"id": user, "team_id": team}, "api_app_id": "A1",
        "trigger_id": f"{time.time_ns()}.trigger",
        "view": {**view, "id": f"V{time.time_ns()}", "state": {"values": values}}, "response_urls": [],
    })


def command(bot: ServedBot, text: str, *, user: str, team: str = TEAM):  # noqa: ANN201
    return bot.slack.send_form({
        "token": "legacy", "team_id": team, "team_domain": "acme", "channel_id": "C1", "channel_name": "support",
        "user_id": user, "user_name": user.lower(), "command": "/recovery", "text": text, "api_app_id": "A1",
        "response_url": bot.fake.response_url_base + "cmd", "trigger_id": f"{time.time_ns()}.trigger",
    })


def text_input(block_id: str, value: str) -> dict:
    return {block_id: {block_id: {"type": "plain_text_input", "value": value}}}


def choice(block_id: str, value: str) -> dict:
    return {block_id: {block_id: {"type": "static_select", "selected_option": {
        "value": value, "text": {"type": "plain_text", "text": value}}}}}


# --------------------------------------------------------------------------
# Reading the database and the fake Slack
# --------------------------------------------------------------------------

def load(bot: ServedBot, incident_id: int) -> Incident:
    with bot.runtime.db.transaction() as session:
        row = session.get(Incident, incident_id)
    assert row is not None
    return row


def database(bot: ServedBot) -> tuple:
    """Everything a forged action could change: every incident, timeline event and step record."""
    with bot.runtime.db.transaction() as session:
        incidents = [row.model_dump() for row in session.exec(select(Incident).order_by(col(Incident.id))).all()]
        events = [(e.incident_id, e.kind, e.data) for e in session.exec(
            select(TimelineEvent).order_by(col(TimelineEvent.id))).all()]
        records = [(r.incident_id, r.seq, r.status, r.ended_by, r.note) for r in session.exec(
            select(StepRecord).order_by(col(StepRecord.id))).all()]
    for row in incidents:
        row.pop("card_ts", None)  # set when a card is (re)posted; not a state change
    return incidents, events, records


@dataclass
class Before:
    """The state before a forgery, to compare against once it has been handled."""

    bot: ServedBot
    user: str

    def __post_init__(self) -> None:
        self.bot.settle()
        self.db = database(self.bot)
        self.calls = len(self.bot.fake.calls())
        self.views = len(self.bot.fake.views())
        self.told = len(self.bot.fake.ephemerals(self.user))

    def unchanged(self, *, told: str | tuple[str, ...] | None = None, wait: bool = False) -> None:
        """Nothing changed in the database or in Slack, except (when ``told``) one
        ephemeral line to the person, saying one of ``told``."""
        bot = self.bot
        if told is not None and wait:  # the refusal of a lazy listener (a form opener) comes later
            def told_more() -> bool:
                bot.settle()  # the refusal is queued after the ack, and sent from the outbox
                return len(bot.fake.ephemerals(self.user)) > self.told

            assert bot.fake.wait_for(told_more), "the refusal never reached the person"
        time.sleep(0.05)
        bot.settle()
        assert database(bot) == self.db, "a forged action changed the database"
        assert len(bot.fake.views()) == self.views, "a forged action opened a modal"
        new_calls = bot.fake.calls()[self.calls:]
        assert all(call.method == "chat.postEphemeral" for call in new_calls), \
            [(call.method, call.params.get("text")) for call in new_calls]
        said = [message.text for message in bot.fake.ephemerals(self.user)[self.told:]]
        if told is None:
            assert said == [], said
            return
        assert len(said) == 1, said
        expected = (told,) if isinstance(told, str) else told
        assert any(text in said[0] for text in expected), f"{said[0]!r} says none of {expected}"
        assert "Traceback" not in said[0] and "Error" not in said[0]

    def form_refused(self, answer, *, says: str | tuple[str, ...]) -> None:  # noqa: ANN001
        """The modal stays open with an inline error, and nothing else happened."""
        assert answer.status == 200, answer
        body = answer.json()
        assert body.get("response_action") == "errors", answer.body
        errors = " ".join(body["errors"].values())
        expected = (says,) if isinstance(says, str) else says
        assert any(text in errors for text in expected), f"{errors!r} says none of {expected}"
        self.unchanged()


# --------------------------------------------------------------------------
# Incidents at every step, made with the same signed requests
# --------------------------------------------------------------------------

def flag(bot: ServedBot, summary: str = "Parcel arrived crushed") -> Incident:
    answer = command(bot, f"new {summary}", user="U1")
    assert "Flagged as" in answer.text, answer
    bot.settle()
    with bot.runtime.db.transaction() as session:
        return session.exec(select(Incident).order_by(col(Incident.id).desc())).first()


def value(incident: Incident, seq: int | None = None) -> str:
    return ids.incident_value(incident.id, incident.step_seq if seq is None else seq)


def walk(bot: ServedBot, action_id: str, incident: Incident, *, user: str) -> Incident:
    assert press(bot, action_id, value(incident), user=user).status == 200
    bot.settle()
    moved = load(bot, incident.id)
    assert moved.version > incident.version, f"{action_id} did not move #{incident.number}"
    return moved


def form(bot: ServedBot, view: dict, values: dict, incident: Incident, *, user: str) -> Incident:
    answer = submit(bot, view, values, user=user)
    assert answer.status == 200 and answer.body == "", answer
    bot.settle()
    moved = load(bot, incident.id)
    assert moved.version > incident.version
    return moved


def fix_view(incident: Incident, seq: int | None = None, *, incident_id: int | None = None) -> dict:
    return modals.fix_modal(incident_id=incident_id or incident.id, seq=incident.step_seq if seq is None else seq,
                            ref=f"#{incident.number}", root_causes=ROOT_CAUSES).to_dict()


def remedy_view(incident: Incident, seq: int | None = None, *, incident_id: int | None = None) -> dict:
    return modals.remedy_modal(incident_id=incident_id or incident.id,
                               seq=incident.step_seq if seq is None else seq, ref=f"#{incident.number}",
                               limit=Decimal(50), currency="USD").to_dict()


FIX = {**choice(modals.ROOT_CAUSE, "delivery"), **text_input(modals.FIX_NOTE, "Reshipped")}
SMALL_REMEDY = {**choice(modals.REMEDY_KIND, "gift"), **text_input(modals.AMOUNT, "10")}
BIG_REMEDY = {**choice(modals.REMEDY_KIND, "refund"), **text_input(modals.AMOUNT, "400")}
FOLLOW_UP = {**text_input(modals.CSAT, "9"), **choice(modals.BUY_AGAIN, "yes")}
REASON = text_input(modals.REASON, "Because I say so")

STEPS = ("claim", "acknowledge", "apologize", "fix", "make_it_right", "approval", "buy_in", "follow_up")


def make(bot: ServedBot, step: str, *, owner: str = OWNER) -> Incident:
    """A new incident, owned by ``owner``, at ``step`` (``approval``: a remedy over the limit
    waiting for a lead; ``follow_up``: due, and prompted)."""
    incident = flag(bot, f"Complaint at {step}")
    for here in STEPS[1:STEPS.index(step) + 1]:
        if here == "acknowledge":
            incident = walk(bot, ids.CLAIM, incident, user=owner)
        elif here in ("apologize", "fix"):
            incident = walk(bot, ids.DONE, incident, user=owner)
        elif here == "make_it_right":
            incident = form(bot, fix_view(incident), FIX, incident, user=owner)
        elif here == "approval":
            incident = form(bot, remedy_view(incident), BIG_REMEDY, incident, user=owner)
            assert incident.approval == "pending"
        elif here == "buy_in":
            if incident.approval == "pending":
                incident = walk(bot, ids.APPROVE, incident, user=LEAD)
            else:
                incident = form(bot, remedy_view(incident), SMALL_REMEDY, incident, user=owner)
        elif here == "follow_up":
            incident = walk(bot, ids.AGREED, incident, user=owner)
            bot.clock.advance(incident.step_due_at - bot.clock.now() + timedelta(seconds=1))
            bot.runtime.ticker.tick()
            bot.settle()
            incident = load(bot, incident.id)
    assert incident.current_step == step.replace("approval", "make_it_right"), incident.current_step
    return incident


def decoy_step(step: str) -> str:
    """B, another owner's incident, sits at a different step from A, so their seqs differ."""
    return "apologize" if step != "apologize" else "acknowledge"


# --------------------------------------------------------------------------
# Buttons whose value names a step that is not current, or another incident
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Button:
    label: str
    action_id: str
    step: str            # where incident A is when the button is live
    clicker: str         # who may press it on A
    opens_form: bool = False
    option: bool = False  # a select menu (Snooze), whose value ends in /choice

    def value(self, incident_id: int, seq: int) -> str:
        raw = ids.incident_value(incident_id, seq)
        return f"{raw}/1h" if self.option else raw


BUTTONS = [
    Button(ids.LABEL_DONE, ids.DONE, "acknowledge", OWNER),
    Button("Done (fix form)", ids.DONE_FORM, "fix", OWNER, opens_form=True),
    Button("Done (remedy form)", ids.DONE_FORM, "make_it_right", OWNER, opens_form=True),
    Button(ids.LABEL_SKIP, ids.SKIP, "apologize", OWNER, opens_form=True),
    Button(ids.LABEL_NEED_HELP, ids.NEED_HELP, "acknowledge", OWNER),
    Button(ids.LABEL_SNOOZE, ids.SNOOZE, "acknowledge", OWNER, option=True),
    Button(ids.LABEL_APPROVE, ids.APPROVE, "approval", LEAD),
    Button(ids.LABEL_DECLINE, ids.DECLINE, "approval", LEAD, opens_form=True),
    Button(ids.LABEL_AGREED, ids.AGREED, "buy_in", OWNER),
    Button(ids.LABEL_NOT_YET, ids.NOT_YET, "buy_in", OWNER),
    Button(ids.LABEL_RECORD_FOLLOW_UP, ids.RECORD_FOLLOW_UP, "follow_up", OWNER, opens_form=True),
]


def _send(bot: ServedBot, button: Button, raw: str, *, user: str, team: str = TEAM):  # noqa: ANN202
    return press(bot, button.action_id, raw, user=user, team=team, option=button.option)


@pytest.mark.parametrize("button", BUTTONS, ids=[button.label for button in BUTTONS])
def test_forged_button_value_changes_nothing_and_is_refused(bot, button):
    a = make(bot, button.step)
    b = make(bot, decoy_step(button.step), owner=OTHER)
    assert a.step_seq != b.step_seq

    # A step instance of A that is not current: an old prompt, or a seq made up.
    if button.action_id != ids.SNOOZE:  # Snooze pauses the incident, whichever prompt it came from
        for seq in sorted({0, a.step_seq - 1, a.step_seq + 1, a.step_seq + 7}):
            before = Before(bot, button.clicker)
            assert _send(bot, button, button.value(a.id, seq), user=button.clicker).status == 200
            before.unchanged(told=ALREADY_DONE, wait=button.opens_form)

    # Another incident (B, owned by someone else, at another step), with A's seq: what a
    # click on A's message edited to name B sends. A form opener checks the seq before the
    # owner, a click the owner first: either refusal will do.
    before = Before(bot, button.clicker)
    _send(bot, button, button.value(b.id, a.step_seq), user=button.clicker)
    not_yours = f"Only the owner of #{b.number} or a lead"
    before.unchanged(told=ALREADY_DONE if button.clicker == LEAD else (ALREADY_DONE, not_yours),
                     wait=button.opens_form)

    # B's own current value. A's owner may not move B; a lead may act on any incident, but
    # B is not at the step this button is for.
    before = Before(bot, button.clicker)
    _send(bot, button, button.value(b.id, b.step_seq), user=button.clicker)
    before.unchanged(told=not_yours if button.clicker != LEAD else (f"#{b.number} is at", "no remedy waiting"),
                     wait=button.opens_form)

    # A's exact current value, sent from another workspace.
    before = Before(bot, button.clicker)
    _send(bot, button, button.value(a.id, a.step_seq), user=button.clicker, team=ELSEWHERE)
    before.unchanged(told="That incident was not found in this workspace.", wait=button.opens_form)

    # The genuine click still works: the refusals above were about the value.
    if button.opens_form:
        opened = len(bot.fake.views())
        _send(bot, button, button.value(a.id, a.step_seq), user=button.clicker)
        assert bot.fake.wait_for(lambda: len(bot.fake.views()) > opened), f"{button.label} opened no form"
    else:
        _send(bot, button, button.value(a.id, a.step_seq), user=button.clicker)
        bot.settle()
        assert load(bot, a.id).version > a.version, f"{button.label} with the right value did nothing"


def test_approve_and_decline_by_anyone_but_a_lead_change_nothing(bot):
    a = make(bot, "approval")
    view = modals.reason_modal(callback_id=ids.DECLINE_MODAL, incident_id=a.id, seq=a.step_seq, title="t",
                               label="l").to_dict()
    for user in (OWNER, BYSTANDER):
        before = Before(bot, user)
        press(bot, ids.APPROVE, value(a), user=user)
        before.unchanged(told=f"Only <@{LEAD}> can approve this; they have been asked.")
        before = Before(bot, user)
        press(bot, ids.DECLINE, value(a), user=user)
        before.unchanged(told=f"Only <@{LEAD}> can decline this; they have been asked.", wait=True)
        # The Decline form itself, forged by the same person, is refused in the form.
        before = Before(bot, user)
        before.form_refused(submit(bot, view, REASON, user=user),
                            says=f"Only <@{LEAD}> can decline this; they have been asked.")
    assert load(bot, a.id).approval == "pending"
    # And the lead's Approve still goes through.
    press(bot, ids.APPROVE, value(a), user=LEAD)
    bot.settle()
    assert load(bot, a.id).approval == "approved"


# --------------------------------------------------------------------------
# Forms whose private_metadata names another incident or a stale seq
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Form:
    name: str
    step: str
    user: str
    values: dict

    def view(self, incident_id: int, seq: int) -> dict:
        if self.name == "fix":
            view = modals.fix_modal(incident_id=incident_id, seq=seq, ref="#x", root_causes=ROOT_CAUSES)
        elif self.name == "remedy":
            view = modals.remedy_modal(incident_id=incident_id, seq=seq, ref="#x", limit=Decimal(50), currency="USD")
        elif self.name == "follow_up":
            view = modals.follow_up_modal(incident_id=incident_id, seq=seq, ref="#x")
        else:
            callback = ids.SKIP_MODAL if self.name == "skip" else ids.DECLINE_MODAL
            view = modals.reason_modal(callback_id=callback, incident_id=incident_id, seq=seq, title="t",
                                       label="l")
        return view.to_dict()


FORMS = [
    Form("fix", "fix", OWNER, FIX),
    Form("remedy", "make_it_right", OWNER, SMALL_REMEDY),
    Form("follow_up", "follow_up", OWNER, FOLLOW_UP),
    Form("skip", "apologize", OWNER, REASON),
    Form("decline", "approval", LEAD, REASON),
]


@pytest.mark.parametrize("form_", FORMS, ids=[form_.name for form_ in FORMS])
def test_forged_form_metadata_changes_nothing_and_errors_inline(bot, form_):
    a = make(bot, form_.step)
    b = make(bot, decoy_step(form_.step), owner=OTHER)
    # A stale or made-up seq of A.
    for seq in sorted({0, a.step_seq - 1, a.step_seq + 1}):
        before = Before(bot, form_.user)
        before.form_refused(submit(bot, form_.view(a.id, seq), form_.values, user=form_.user), says=ALREADY_DONE)
    # Another incident: with A's seq, and with its own.
    not_yours = f"Only the owner of #{b.number} or a lead"
    before = Before(bot, form_.user)
    before.form_refused(submit(bot, form_.view(b.id, a.step_seq), form_.values, user=form_.user),
                        says=ALREADY_DONE if form_.user == LEAD else not_yours)
    before = Before(bot, form_.user)
    before.form_refused(submit(bot, form_.view(b.id, b.step_seq), form_.values, user=form_.user),
                        says=(not_yours, f"#{b.number} is at", "no remedy waiting"))
    # From another workspace, even naming A exactly.
    before = Before(bot, form_.user)
    before.form_refused(submit(bot, form_.view(a.id, a.step_seq), form_.values, user=form_.user, team=ELSEWHERE),
                        says="That incident was not found in this workspace.")
    # The genuine form goes through, so the refusals were about the metadata.
    answer = submit(bot, form_.view(a.id, a.step_seq), form_.values, user=form_.user)
    assert answer.body == "", answer.body
    bot.settle()
    assert load(bot, a.id).version > a.version


UNREADABLE_METADATA = [
    "", "not json", "[]", "null", "42", json.dumps({"incident_id": "1", "seq": "2"}),
    json.dumps({"incident_id": 1.0, "seq": 2}), json.dumps({"incident_id": True, "seq": 2}),
    json.dumps({"incident_id": 1}), json.dumps({"seq": 2}), json.dumps({"incident_id": 2 ** 63, "seq": 2}),
    json.dumps({"incident_id": 1, "seq": -1}), json.dumps({"incident_id": 1, "seq": 2 ** 40}), "[" * 5000,
]


def test_form_with_unreadable_metadata_changes_nothing(bot):
    a = make(bot, "apologize")
    assert (a.id, a.step_seq) == (1, 2), "the metadata above is written for incident 1 at seq 2"
    for metadata in UNREADABLE_METADATA:
        view = {**Form("skip", "apologize", OWNER, REASON).view(a.id, a.step_seq), "private_metadata": metadata}
        before = Before(bot, OWNER)
        answer = submit(bot, view, REASON, user=OWNER)
        assert answer.status == 200 and answer.body == "", (metadata[:40], answer)
        before.unchanged()


# --------------------------------------------------------------------------
# Claim across workspaces, and Assign by someone who may not
# --------------------------------------------------------------------------

def test_claim_of_an_incident_of_another_workspace_changes_nothing(bot):
    a = make(bot, "claim")
    before = Before(bot, BYSTANDER)
    press(bot, ids.CLAIM, ids.incident_value(a.id), user=BYSTANDER, team=ELSEWHERE)
    before.unchanged(told="That incident was not found in this workspace.")
    before = Before(bot, BYSTANDER)
    answer = command(bot, f"claim {a.number}", user=BYSTANDER, team=ELSEWHERE)
    assert f"There is no incident #{a.number}" in answer.text
    before.unchanged()
    # The team id may also come only from the user object; it is checked all the same.
    before = Before(bot, BYSTANDER)
    bot.slack.send_interaction({
        "type": "block_actions", "user": {"id": BYSTANDER, "team_id": ELSEWHERE}, "channel": {"id": "C1"},
        "actions": [{"action_id": ids.CLAIM, "value": ids.incident_value(a.id), "type": "button"}],
        "trigger_id": "1.t", "api_app_id": "A1"})
    before.unchanged(told="That incident was not found in this workspace.")
    assert load(bot, a.id).owner_id is None
    card = next(card for card in bot.cards() if card.text.startswith(f"Recovery #{a.number}:"))
    assert "[Claim]" in card.plain() and f"<@{BYSTANDER}>" not in card.plain()
    # In its own workspace the incident is still there to claim.
    press(bot, ids.CLAIM, ids.incident_value(a.id), user=BYSTANDER)
    bot.settle()
    assert load(bot, a.id).owner_id == BYSTANDER


@pytest.mark.parametrize("step", ["claim", "acknowledge"], ids=["unclaimed", "owned"])
def test_assign_by_someone_neither_owner_nor_lead_is_refused(bot, step):
    a = make(bot, step)
    not_allowed = f"Only the owner of #{a.number} or a lead can assign it."
    # The Assign button: no picker opens, one polite line.
    before = Before(bot, BYSTANDER)
    press(bot, ids.ASSIGN, ids.incident_value(a.id), user=BYSTANDER)
    before.unchanged(told=not_allowed, wait=True)
    # The picker's submission, forged without ever being opened.
    view = modals.assign_modal(incident_id=a.id, ref=f"#{a.number}").to_dict()
    picked = {ids.ASSIGN_USER_BLOCK: {ids.ASSIGN_USER_ACTION: {"type": "users_select", "selected_user": BYSTANDER}}}
    before = Before(bot, BYSTANDER)
    before.form_refused(submit(bot, view, picked, user=BYSTANDER), says=not_allowed)
    # The command.
    before = Before(bot, BYSTANDER)
    answer = command(bot, f"assign {a.number} <@{BYSTANDER}>", user=BYSTANDER)
    assert not_allowed in answer.text, answer.text
    before.unchanged()
    assert load(bot, a.id).owner_id == (None if step == "claim" else OWNER)
    # The owner (or a lead) may.
    by = LEAD if step == "claim" else OWNER
    assert submit(bot, view, picked, user=by).body == ""
    bot.settle()
    assert load(bot, a.id).owner_id == BYSTANDER


def test_assign_picker_with_a_forged_user_is_refused_in_the_form(bot):
    a = make(bot, "acknowledge")
    view = modals.assign_modal(incident_id=a.id, ref=f"#{a.number}").to_dict()
    for forged in ["<!channel>", "U1> <!here", "U" + "A" * 40, "", "\x00"]:
        picked = {ids.ASSIGN_USER_BLOCK: {ids.ASSIGN_USER_ACTION: {"type": "users_select", "selected_user": forged}}}
        before = Before(bot, OWNER)
        before.form_refused(submit(bot, view, picked, user=OWNER), says="Pick who should own it.")
    assert load(bot, a.id).owner_id == OWNER
