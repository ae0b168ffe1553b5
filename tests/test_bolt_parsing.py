"""What Bolt's own request parsing does, that the form-body workaround in bot/web.py answers.

slack-bolt is pinned (pyproject.toml) to the releases these were checked on. Whoever widens
the pin runs this file first: a failure in the first part means Bolt changed the behaviour
the workaround (`_FormSafeHandler`, `FormRequest`) exists for or relies on, so it may now be
obsolete or wrong. The second part goes end to end through signed HTTP into the real app;
tests/test_commands.py::test_the_word_payload_in_a_command_is_just_a_word does too (a command
mentioning "payload" is answered, and a forged one refused with 401).
"""
from __future__ import annotations

import time
import urllib.parse

from slack_bolt import BoltRequest, BoltResponse
from slack_bolt.middleware.request_verification import RequestVerification
from slack_bolt.request.internals import parse_body
from slack_sdk.signature import SignatureVerifier

from bot.devkit.driver import TEAM
from bot.views import ids
from bot.web import FormRequest

FORM = "application/x-www-form-urlencoded"
SECRET = "bolt-parsing-secret"
COMMAND = {"team_id": TEAM, "channel_id": "C1", "channel_name": "support", "user_id": "U1", "command": "/recovery",
           "text": "new The payload of the parcel was crushed", "trigger_id": "1.trigger"}
OBSOLETE = ("Bolt now reads a form that merely mentions 'payload' as the form it is: "
            "_FormSafeHandler and FormRequest in bot/web.py are obsolete; remove them and this test")


def _signed(body: str, *, secret: str = SECRET) -> dict[str, str]:
    stamp = str(int(time.time()))
    return {"content-type": FORM, "x-slack-request-timestamp": stamp,
            "x-slack-signature": SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)}


def _verified(request: BoltRequest) -> int:
    """The status Bolt's own signature check gives the request: 200 when it lets it through."""
    return RequestVerification(SECRET).process(req=request, resp=BoltResponse(status=404),
                                               next=lambda: BoltResponse(status=200)).status


# 1. Bolt's behaviour, asserted directly -------------------------------------------------


def test_bolt_reads_a_form_that_merely_mentions_payload_as_an_empty_body():
    raw = urllib.parse.urlencode(COMMAND)
    assert parse_body(raw, FORM) == {}, OBSOLETE
    assert BoltRequest(body=raw, headers={"content-type": FORM}).body == {}, OBSOLETE
    plain = urllib.parse.urlencode({**COMMAND, "text": "new The parcel was crushed"})
    assert parse_body(plain, FORM) == {**COMMAND, "text": "new The parcel was crushed"}


def test_bolt_reads_an_interactive_payload_from_its_payload_field():
    """The workaround leaves a form with a `payload` field to Bolt."""
    raw = urllib.parse.urlencode({"payload": '{"type": "block_actions", "team": {"id": "T1"}}'})
    assert parse_body(raw, FORM) == {"type": "block_actions", "team": {"id": "T1"}}


def test_bolt_checks_a_request_with_fields_read_for_it_against_the_raw_body_slack_signed():
    raw = urllib.parse.urlencode(COMMAND)
    request = FormRequest(fields=dict(COMMAND), raw_body=raw, query={}, headers=_signed(raw))
    assert request.body == COMMAND
    assert (request.context.team_id, request.context.user_id, request.context.channel_id) == (TEAM, "U1", "C1")
    assert _verified(request) == 200
    forged = FormRequest(fields=dict(COMMAND), raw_body=raw, query={}, headers=_signed(raw, secret="not-the-secret"))
    assert _verified(forged) == 401
    altered = FormRequest(fields={**COMMAND, "user_id": "ULEAD"}, raw_body=raw.replace("U1", "ULEAD"), query={},
                          headers=_signed(raw))
    assert _verified(altered) == 401


def test_bolt_copies_a_request_for_a_lazy_listener_by_reading_its_raw_body_again():
    """Why FormRequest overrides `to_copyable`: Bolt's own copy would lose the fields."""
    raw = urllib.parse.urlencode(COMMAND)
    plain = BoltRequest(body=dict(COMMAND), headers={"content-type": FORM}, mode="socket_mode")
    plain.raw_body, plain.mode = raw, "http"
    assert plain.to_copyable().body == {}, "Bolt's copy keeps the fields now: FormRequest.to_copyable is obsolete"
    copy = FormRequest(fields=dict(COMMAND), raw_body=raw, query={}, headers=_signed(raw)).to_copyable()
    assert (copy.body, copy.raw_body, copy.mode, copy.context.user_id) == (COMMAND, raw, "http", "U1")


# 2. End to end: signed HTTP into the real app ------------------------------------------


def test_recovery_new_from_a_channel_named_payloads_opens_its_form(bot):
    """`/recovery new` with no summary opens the form from a lazy listener, which gets a copy
    of the request: from #payloads that copy once came out empty and no form opened."""
    answer = bot.slack.send_form({**COMMAND, "channel_id": "C7", "channel_name": "payloads", "text": "new",
                                  "response_url": bot.fake.response_url_base + "cmd-payloads"})
    assert answer.status == 200
    assert bot.fake.wait_for(lambda: len(bot.fake.views()) == 1)
    view = bot.fake.views()[0]
    assert view["callback_id"] == ids.NEW_MODAL
    accepted = bot.slack.submit(view, {"summary": "Payload of the parcel crushed"})
    assert accepted.status == 200
    bot.settle()
    card = bot.card(1)
    assert card.channel == "C7" and "Payload of the parcel crushed" in card.plain()
