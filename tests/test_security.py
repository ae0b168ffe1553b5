"""Signatures: a bad, stale or missing one gets 401 and changes nothing."""
from __future__ import annotations

import time

import pytest
from sqlmodel import select

from storage.models import Incident, OutboxMessage


def _nothing_written(bot) -> bool:  # noqa: ANN001
    with bot.runtime.db.transaction() as session:
        return not session.exec(select(Incident)).all() and not session.exec(select(OutboxMessage)).all()


@pytest.mark.parametrize("options", [
    {"secret": "wrong-secret"},
    {"timestamp": int(time.time()) - 301},
    {"signed": False},
], ids=["wrong secret", "older than five minutes", "unsigned"])
def test_bad_signature_is_refused_and_changes_nothing(bot, options):
    message = bot.fake.add_user_message("C1", user="UCUST", text="Broken")
    assert bot.slack.react(channel="C1", ts=message.ts, **options).status == 401
    assert bot.slack.send_form({"command": "/recovery", "text": "new Forged", "team_id": "T1",
                                "user_id": "U1", "channel_id": "C1"}, **options).status == 401
    bot.settle()
    assert _nothing_written(bot)
    assert bot.fake.calls("chat.postMessage") == []


def test_tampered_body_is_refused(bot):
    body = "command=%2Frecovery&text=new+Hello&team_id=T1&user_id=U1&channel_id=C1"
    answer = bot.slack.post(body, content_type="application/x-www-form-urlencoded",
                            headers={"X-Slack-Signature": "v0=" + "0" * 64,
                                     "X-Slack-Request-Timestamp": str(int(time.time()))}, signed=False)
    assert answer.status == 401
    assert _nothing_written(bot)


def test_forged_claim_for_an_incident_of_another_workspace_is_refused(bot):
    bot.slack.command("/recovery new Real complaint")
    bot.settle()
    card = bot.card(1)
    forged = bot.slack.send_interaction({
        "type": "block_actions", "user": {"id": "U9"}, "team": {"id": "T_OTHER"},
        "channel": {"id": "C1"}, "container": {"channel_id": "C1", "message_ts": card.ts},
        "actions": [{"action_id": "recovery.claim", "value": "1", "type": "button"}],
        "trigger_id": "1.t",
    })
    assert forged.status == 200
    bot.settle()
    assert "<@U9>" not in bot.card(1).plain()


@pytest.mark.parametrize("value", ["", "abc", "-1", "1:2:3", "99999999999999999999"])
def test_malformed_button_values_change_nothing(bot, value):
    bot.slack.command("/recovery new Real complaint")
    bot.settle()
    answer = bot.slack.press("recovery.claim", value, message=bot.card(1), user="U9")
    assert answer.status == 200
    bot.settle()
    assert "<@U9>" not in bot.card(1).plain()
