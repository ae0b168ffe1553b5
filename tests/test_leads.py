"""Leads from LEAD_USER_IDS and the LEAD_GROUP user group, through the served bot: group
members approve and are named in refusals, the group is read again after five minutes, and a
failed read keeps the members last known."""
from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

import pytest

from bot.devkit.slack_double import Message
from tests.conftest import LEAD, ServedBot
from tests.helpers import dms

OWNER = "U2"
LEE = "ULEE"
GROUP = "S0LEADS"
HEALTH_REFUSED = "Only a lead can see `/recovery health`."


@pytest.fixture
def group_bot(make_bot, settings, fake_slack) -> ServedBot:  # noqa: ANN001
    """Leads from the user group alone: LEE is in it."""
    fake_slack.add_usergroup(GROUP, [LEE])
    return make_bot(replace(settings, lead_user_ids=frozenset(), lead_group=GROUP))


def _prompt(bot: ServedBot) -> Message:
    return [m for m in bot.thread(bot.card(1)) if any(b.get("type") == "actions" for b in m.blocks)][-1]


def _click(bot: ServedBot, label: str, user: str) -> None:
    assert bot.slack.click(_prompt(bot), label, user=user).status == 200
    bot.settle()


def _remedy_over_the_limit(bot: ServedBot) -> Message:
    """Flag, claim and go through the fix, then ask for a refund of 120 (the limit is 50)."""
    complaint = bot.fake.add_user_message("C1", user="UCUST", text="Parcel arrived crushed")
    bot.slack.react(channel="C1", ts=complaint.ts)
    bot.settle()
    bot.slack.click(bot.card(1), "Claim", user=OWNER)
    bot.settle()
    _click(bot, "Done", OWNER)
    _click(bot, "Done", OWNER)
    for fields in ({"root_cause": "delivery", "fix_note": "Reshipped"}, {"remedy_kind": "refund", "amount": "120"}):
        opened = len(bot.fake.views())
        bot.slack.click(_prompt(bot), "Done", user=OWNER)
        assert bot.fake.wait_for(lambda: len(bot.fake.views()) > opened)  # noqa: B023 - waited for at once
        assert bot.slack.submit(bot.fake.views()[-1], fields, user=OWNER).body == ""
        bot.settle()
    return _prompt(bot)


def _health_answer(bot: ServedBot, user: str) -> str:
    return bot.slack.command("/recovery health", user=user).text


def test_a_group_member_is_asked_to_approve_approves_and_is_named_to_the_agent(group_bot):
    approval = _remedy_over_the_limit(group_bot)
    assert "[Approve] [Decline]" in approval.plain()
    assert [m.text.startswith("💶 Approval needed on #1") for m in dms(group_bot, LEE)] == [True]

    group_bot.slack.click(approval, "Approve", user=OWNER)
    group_bot.settle()
    assert group_bot.fake.ephemerals(OWNER)[-1].text == f"Only <@{LEE}> can approve this; they have been asked."

    group_bot.slack.click(approval, "Approve", user=LEE)
    group_bot.settle()
    decided = next(m for m in group_bot.thread(group_bot.card(1)) if m.ts == approval.ts)
    assert decided.text.startswith(f"✅ Approved: refund $ 120 on #1, by <@{LEE}> <!date^")
    assert dms(group_bot, LEE)[0].text == decided.text, "the lead's copy says so too, with nothing to press"
    assert "Customer buy-in" in _prompt(group_bot).plain()


def test_several_leads_are_named_from_both_settings(make_bot, settings, fake_slack):
    fake_slack.add_usergroup(GROUP, ["UZOE", "UADA"])
    bot = make_bot(replace(settings, lead_group=GROUP))
    approval = _remedy_over_the_limit(bot)
    assert all(len(dms(bot, lead)) == 1 for lead in ("UADA", LEAD, "UZOE")), "each lead asked once, by DM"

    bot.slack.click(approval, "Decline", user=OWNER)
    assert bot.fake.wait_for(lambda: bot.settle() > 0 or bot.fake.ephemerals(OWNER) != [])
    assert bot.fake.ephemerals(OWNER)[-1].text == (
        f"Only a lead (<@UADA>, <@{LEAD}>, <@UZOE>) can decline this; they have been asked.")
    assert _health_answer(bot, "UADA") != HEALTH_REFUSED
    assert _health_answer(bot, LEAD) != HEALTH_REFUSED


def test_a_change_of_the_group_in_slack_counts_after_five_minutes(group_bot):
    assert _health_answer(group_bot, LEE) != HEALTH_REFUSED
    assert _health_answer(group_bot, "UNEW") == HEALTH_REFUSED
    group_bot.fake.add_usergroup(GROUP, ["UNEW"])  # LEE hands over to UNEW

    group_bot.clock.advance(timedelta(minutes=4, seconds=59))
    assert _health_answer(group_bot, LEE) != HEALTH_REFUSED, "read at most every five minutes"
    assert _health_answer(group_bot, "UNEW") == HEALTH_REFUSED
    assert len(group_bot.fake.calls("usergroups.users.list")) == 1

    group_bot.clock.advance(timedelta(seconds=1))
    assert _health_answer(group_bot, "UNEW") != HEALTH_REFUSED
    assert _health_answer(group_bot, LEE) == HEALTH_REFUSED
    assert len(group_bot.fake.calls("usergroups.users.list")) == 2


def test_a_failed_read_keeps_the_last_members_and_is_logged_once(group_bot, caplog):
    assert _health_answer(group_bot, LEE) != HEALTH_REFUSED
    group_bot.fake.fail_next("usergroups.users.list", status=200, error="missing_scope", count=3)
    caplog.set_level(logging.INFO, logger="bot.leads")

    for _ in range(3):  # each a new read: one after five minutes, then retries 30 s on
        group_bot.clock.advance(timedelta(minutes=5))
        assert _health_answer(group_bot, LEE) != HEALTH_REFUSED
    assert len(group_bot.fake.attempts("usergroups.users.list")) == 4
    assert [record.getMessage() for record in caplog.records if record.name == "bot.leads"] == [
        f"could not read the members of lead group {GROUP} (missing_scope); keeping the 1 last known until "
        "Slack answers"]

    group_bot.fake.add_usergroup(GROUP, ["UNEW"])
    group_bot.clock.advance(timedelta(seconds=30))
    assert _health_answer(group_bot, "UNEW") != HEALTH_REFUSED
    assert caplog.records[-1].getMessage() == f"lead group {GROUP} read again: 1 members"


def test_a_group_slack_does_not_know_leaves_the_lead_user_ids(make_bot, settings):
    bot = make_bot(replace(settings, lead_group="S0GONE"))
    assert _health_answer(bot, LEAD) != HEALTH_REFUSED
    assert _health_answer(bot, "U9") == HEALTH_REFUSED
