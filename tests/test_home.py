"""The App Home published and kept current (issue 14 items 2 and 3): opening the Home tab
publishes it; a change republishes the Homes of the people it concerns who opened theirs,
debounced (several changes in a second: one publish), with Slack's hash; buttons pressed on
the Home go through the same rule book as the thread's, refusals by DM. Through signed
requests into the real app and the strict Slack double, on both databases.

What the Home shows is bot/home.py's; these tests assert the pipeline, and only that the
agent's Home names the incident they own."""
from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select

from bot import home_refresh
from bot.pacing import Limits, Rate
from bot.views import ids
from storage import outbox_store
from storage.models import HomeViewer, OutboxMessage
from tests.conftest import LEAD, ServedBot
from tests.helpers import claim_first, dms, flag_by_command, tick

OWNER = "U2"
OTHER = "U3"
DEBOUNCE = home_refresh.DEBOUNCE + timedelta(milliseconds=1)


def _publishes(bot: ServedBot, user: str | None = None) -> list[dict]:
    return [call.params for call in bot.fake.calls("views.publish") if user is None or call.params["user_id"] == user]


def _home_text(bot: ServedBot, user: str) -> str:
    home = bot.fake.home(user)
    assert home is not None, f"no Home published for {user}"
    return json.dumps(home["blocks"], ensure_ascii=False)


def _open(bot: ServedBot, user: str) -> None:
    assert bot.slack.open_home(user=user).status == 200
    bot.settle()


def _after_debounce(bot: ServedBot) -> None:
    bot.clock.advance(DEBOUNCE)
    bot.settle()


def _thread(bot: ServedBot) -> list:
    return bot.thread(bot.card(1))


def _prompt(bot: ServedBot):  # noqa: ANN202 - a Message
    return [m for m in _thread(bot) if any(b.get("block_id", "").startswith("step_") for b in m.blocks)][-1]


def _button(message, label: str) -> dict:  # noqa: ANN001 - a Message
    for block in message.blocks:
        for element in block.get("elements", []) + ([block["accessory"]] if "accessory" in block else []):
            if element.get("type") == "button" and element["text"]["text"] == label:
                return element
    raise AssertionError(f"no button {label!r} on: {message.plain()}")


def _form(bot: ServedBot, fields: dict, user: str = OWNER) -> None:
    opened = len(bot.fake.views())
    bot.slack.click(_prompt(bot), "Done", user=user)
    assert bot.fake.wait_for(lambda: len(bot.fake.views()) > opened)
    assert bot.slack.submit(bot.fake.views()[-1], fields, user=user).body == ""
    bot.settle()


def _waiting_for_approval(bot: ServedBot) -> dict:
    """#1 owned by OWNER, with a refund of 80 (over the limit of 50) waiting for a lead; the
    thread's Approve button."""
    flag_by_command(bot)
    claim_first(bot, OWNER)
    for _ in range(2):
        assert bot.slack.click(_prompt(bot), "Done", user=OWNER).status == 200
        bot.settle()
    _form(bot, {"root_cause": "delivery", "fix_note": "Reshipped by courier"})
    _form(bot, {"remedy_kind": "refund", "amount": "80", "remedy_note": "Second time this month"})
    waiting = [m for m in _thread(bot) if m.text.startswith("⏳")][-1]
    return _button(waiting, "Approve")


def _rows(bot: ServedBot, kind: str) -> list[OutboxMessage]:
    with bot.runtime.db.read() as session:
        return list(session.exec(select(OutboxMessage).where(OutboxMessage.kind == kind)
                                 .order_by(OutboxMessage.id)).scalars())


def test_opening_the_home_tab_publishes_it_and_remembers_the_person(bot):
    assert bot.slack.open_home(user=OWNER).status == 200
    assert _publishes(bot) == [], "the ack publishes nothing: the outbox does"
    bot.settle()

    [published] = _publishes(bot, OWNER)
    assert "hash" not in published, "a first publish has no hash to quote"
    assert bot.fake.home(OWNER)["type"] == "home"
    with bot.runtime.db.read() as session:
        [viewer] = session.exec(select(HomeViewer)).scalars().all()
    assert (viewer.workspace_id, viewer.user_id, viewer.first_opened_at) == ("T1", OWNER, bot.clock.now())
    assert viewer.last_hash == bot.fake.home(OWNER)["hash"]

    # Opened again: published again, quoting the hash of the view Slack holds.
    _open(bot, OWNER)
    assert _publishes(bot, OWNER)[-1]["hash"] == viewer.last_hash
    assert len(_publishes(bot, OWNER)) == 2


def test_the_messages_tab_publishes_nothing_and_remembers_nobody(bot):
    assert bot.slack.open_home(user=OWNER, tab="messages").status == 200
    bot.settle()
    bot.clock.advance(timedelta(minutes=1))
    bot.settle()
    assert _publishes(bot) == []
    with bot.runtime.db.read() as session:
        assert session.exec(select(HomeViewer)).scalars().all() == []


def test_the_agents_home_lists_the_owned_incident_and_is_republished_after_done_without_reopening(bot):
    _open(bot, OWNER)
    assert "#1" not in _home_text(bot, OWNER)
    flag_by_command(bot)
    claim_first(bot, OWNER)
    assert len(_publishes(bot, OWNER)) == 1, "debounced: nothing before a second has passed"
    _after_debounce(bot)
    assert len(_publishes(bot, OWNER)) == 2
    assert "#1" in _home_text(bot, OWNER)

    shown = bot.fake.home(OWNER)["hash"]
    assert bot.slack.click(_prompt(bot), "Done", user=OWNER).status == 200
    bot.settle()
    _after_debounce(bot)
    assert len(_publishes(bot, OWNER)) == 3, "republished after Done, the Home never reopened"
    assert _publishes(bot, OWNER)[-1]["hash"] == shown, "quoting the hash of the Home it replaces"
    assert bot.fake.home(OWNER)["hash"] != shown


def test_three_changes_within_a_second_are_one_publish(bot):
    flag_by_command(bot)
    _open(bot, OWNER)
    claim_first(bot, OWNER)
    for _ in range(2):
        bot.clock.advance(timedelta(milliseconds=300))
        assert bot.slack.click(_prompt(bot), "Done", user=OWNER).status == 200
        bot.settle()
    assert len(_publishes(bot, OWNER)) == 1
    assert [row.state for row in _rows(bot, home_refresh.KIND)] == ["sent", "pending"], \
        "the second and third change found the first one's row pending and added nothing"
    _after_debounce(bot)
    assert len(_publishes(bot, OWNER)) == 2
    bot.clock.advance(timedelta(minutes=1))
    bot.settle()
    assert len(_publishes(bot, OWNER)) == 2


def test_a_row_superseded_by_a_later_one_publishes_nothing(bot):
    """Two replicas may both find no pending row and queue one each: the earlier is skipped."""
    _open(bot, OWNER)
    now = bot.clock.now()
    with bot.runtime.db.transaction() as session:
        for _ in range(2):
            outbox_store.enqueue(session, workspace_id="T1", kind=home_refresh.KIND, now=now, user_id=OWNER,
                                 ordering_key=home_refresh.ordering_key("T1", OWNER))
    bot.settle()
    assert len(_publishes(bot, OWNER)) == 2, "the opening's publish and one more"
    first, second = _rows(bot, home_refresh.KIND)[1:]
    assert (first.state, first.last_error) == ("sent", "superseded by a later Home publish")
    assert (second.state, second.last_error) == ("sent", None)


def test_people_who_never_opened_their_home_are_never_published(bot):
    _waiting_for_approval(bot)
    bot.clock.advance(timedelta(hours=1))
    bot.settle()
    assert _publishes(bot) == []
    assert _rows(bot, home_refresh.KIND) == []


def test_a_new_flag_republishes_the_homes_of_those_whose_channels_include_its_card_channel(bot):
    flag_by_command(bot)  # #1 in C1, flagged by U1: C1 is one of U1's channels
    _open(bot, "U1")
    _open(bot, OTHER)  # has flagged and owned nothing
    bot.slack.command("/recovery new Refund never arrived", user="U9", channel="C1")
    bot.settle()
    _after_debounce(bot)
    assert len(_publishes(bot, "U1")) == 2
    assert len(_publishes(bot, OTHER)) == 1


def test_a_claim_pressed_on_the_home_by_two_people_at_once_makes_exactly_one_owner(bot):
    flag_by_command(bot)
    claim = _button(bot.card(1), "Claim")
    for user in (OWNER, OTHER):
        _open(bot, user)
    start = threading.Barrier(2)
    answers = {}

    def press(user: str) -> None:
        start.wait()
        answers[user] = bot.slack.press_on_home(claim["action_id"], claim["value"], user=user).status

    threads = [threading.Thread(target=press, args=(user,)) for user in (OWNER, OTHER)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert answers == {OWNER: 200, OTHER: 200}
    bot.settle()

    owner = bot.runtime.service.incident(_locator()).owner_id
    assert owner in (OWNER, OTHER)
    loser = OTHER if owner == OWNER else OWNER
    assert [m.text for m in dms(bot, owner)] == []
    assert [m.text for m in dms(bot, loser)] in (
        [f"#1 is already owned by <@{owner}>."], [f"Too late: <@{owner}> claimed #1 first."])
    assert bot.fake.ephemerals() == [], "a Home has no channel: refusals come by DM"
    _after_debounce(bot)
    assert "#1" in _home_text(bot, owner)


def _locator():  # noqa: ANN202
    from bot.service import Locator
    return Locator("T1", number=1)


def test_a_non_leads_approve_on_a_forged_home_payload_is_refused_by_dm_with_nothing_changed(bot):
    approve = _waiting_for_approval(bot)
    before = bot.runtime.service.incident(_locator())
    forged = {"id": "VFORGED", "type": "home", "blocks": [
        {"type": "actions", "block_id": "home", "elements": [approve]}]}
    assert bot.slack.press_on_home(approve["action_id"], approve["value"], user=OWNER, view=forged).status == 200
    bot.settle()
    assert [m.text for m in dms(bot, OWNER)] == [f"Only <@{LEAD}> can approve this; they have been asked."]
    after = bot.runtime.service.incident(_locator())
    assert after == before and after.approval == "pending"
    assert bot.fake.ephemerals(OWNER) == []


def test_a_leads_approve_on_the_home_moves_the_incident_on_and_republishes_the_leads_home(bot):
    _open(bot, LEAD)
    approve = _waiting_for_approval(bot)
    _after_debounce(bot)
    published = len(_publishes(bot, LEAD))
    assert published == 2, "the approval request republished the lead's Home"

    assert bot.slack.press_on_home(approve["action_id"], approve["value"], user=LEAD).status == 200
    bot.settle()
    assert bot.runtime.service.incident(_locator()).approval == "approved"
    assert "Customer buy-in" in _prompt(bot).plain()
    assert dms(bot, LEAD)[-1].text.startswith("✅ Approved: refund $ 80 on #1, by <@ULEAD>")
    _after_debounce(bot)
    assert len(_publishes(bot, LEAD)) == published + 1


def test_declines_reason_form_opens_from_the_home_and_declines(bot):
    approve = _waiting_for_approval(bot)
    opened = len(bot.fake.views())
    assert bot.slack.press_on_home(ids.DECLINE, approve["value"], user=LEAD).status == 200
    assert bot.fake.wait_for(lambda: len(bot.fake.views()) > opened)
    form = bot.fake.views()[-1]
    assert form["title"]["text"] == "Decline on #1"
    assert bot.slack.submit(form, {"reason": "Offer a replacement instead"}, user=LEAD).body == ""
    bot.settle()
    assert bot.runtime.service.incident(_locator()).approval == "declined"


def test_a_hash_conflict_is_published_again_without_the_hash_rendered_after_the_other_publish(bot):
    _open(bot, OWNER)
    # Another replica publishes meanwhile: Slack's view has a hash we never stored.
    client = WebClient(token="xoxb-test", base_url=bot.fake.api_url)
    client.views_publish(user_id=OWNER, view={"type": "home", "blocks": []}, hash=bot.fake.home(OWNER)["hash"])
    flag_by_command(bot)
    claim_first(bot, OWNER)
    _after_debounce(bot)

    stale, again = _publishes(bot, OWNER)[-2:]
    assert "hash" in stale and "hash" not in again
    assert [call.params.get("user_id") for call in bot.fake.calls("views.publish")].count(OWNER) == 3
    assert "#1" in _home_text(bot, OWNER)
    row = _rows(bot, home_refresh.KIND)[-1]
    assert (row.state, row.last_error) == (
        "sent", "hash conflict: published again, rendered after the other publish")
    with bot.runtime.db.read() as session:
        assert session.get(HomeViewer, ("T1", OWNER)).last_hash == bot.fake.home(OWNER)["hash"]


def test_with_the_home_tab_off_a_publish_is_dropped_with_a_note_and_never_retried(bot):
    bot.fake.strict(home_tab_off=True)
    _open(bot, OWNER)
    bot.clock.advance(timedelta(minutes=10))
    bot.settle()
    assert len(bot.fake.attempts("views.publish")) == 1
    [row] = _rows(bot, home_refresh.KIND)
    assert (row.state, row.last_error) == ("sent", "not published: the Home tab is not enabled")


def test_views_publish_is_paced_within_tier_4():
    assert Limits().rate("views.publish") == Rate.per_minute(100 * 0.9)


@pytest.mark.parametrize(("view", "error"), [
    ({"type": "home", "blocks": [{"type": "divider"}] * 101}, "invalid_arguments"),
    ({"type": "modal", "title": {"type": "plain_text", "text": "t"}, "blocks": []}, "invalid_arguments"),
    ({"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 2900}}] * 90},
     "view_too_large"),
])
def test_the_double_refuses_a_home_slack_would_refuse(fake_slack, view, error):
    client = WebClient(token="xoxb-test", base_url=fake_slack.api_url)
    with pytest.raises(SlackApiError) as refused:
        client.views_publish(user_id=OWNER, view=view)
    assert refused.value.response["error"] == error
    assert fake_slack.home(OWNER) is None
    client.views_publish(user_id=OWNER, view={"type": "home", "blocks": [{"type": "divider"}] * 100})
    fake_slack.strict(home_tab_off=True)
    with pytest.raises(SlackApiError) as off:
        client.views_publish(user_id=OWNER, view={"type": "home", "blocks": []})
    assert off.value.response["error"] == "not_enabled"


def test_a_nudge_republishes_the_flaggers_home_and_an_escalation_the_leads_too(bot):
    flag_by_command(bot)  # flagged by U1, unclaimed: the claim step's SLA is 10 min
    for user in ("U1", LEAD):
        _open(bot, user)
    bot.clock.advance(timedelta(minutes=11))
    assert tick(bot) == 1
    _after_debounce(bot)
    assert (len(_publishes(bot, "U1")), len(_publishes(bot, LEAD))) == (2, 1), "a nudge is not the leads' business"
    bot.clock.advance(timedelta(minutes=10))
    assert tick(bot) == 1
    _after_debounce(bot)
    assert (len(_publishes(bot, "U1")), len(_publishes(bot, LEAD))) == (3, 2)


def test_two_flags_within_a_second_queue_one_republish_of_the_flaggers_home(bot):
    """The flag's own statements queue the Home rows (on PostgreSQL, its single statement):
    one pending row for a person is enough, as for any other change."""
    _open(bot, "U1")
    for summary in ("Refund never arrived", "Parcel lost"):
        assert bot.slack.command(f"/recovery new {summary}", user="U1", channel="C1").status == 200
    assert [row.state for row in _rows(bot, home_refresh.KIND)] == ["sent", "pending"], \
        "the opening's publish, then one row for both flags"
    _after_debounce(bot)
    assert len(_publishes(bot, "U1")) == 2
    assert "#2" in _home_text(bot, "U1")
