"""The fake Slack answers the real WebClient like Slack does, and fails only when told to."""

import http.client
import json
from collections.abc import Iterator
from urllib.error import URLError

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot.devkit.slack_double import FakeSlack, Message

METADATA = {"event_type": "recovery_outbox", "event_payload": {"outbox_id": 7}}


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    """A client without retries, so each switch shows its raw failure."""
    return WebClient(base_url=fake.api_url, token="xoxb-test", retry_handlers=[], timeout=2)


def test_auth_test_names_the_bot_and_team(client: WebClient) -> None:
    answer = client.auth_test()
    assert (answer["user_id"], answer["team_id"], answer["bot_id"]) == ("UBOT", "T1", "B1")


def test_posts_get_increasing_ts_and_are_stored(fake: FakeSlack, client: WebClient) -> None:
    first = client.chat_postMessage(channel="C1", text="one", metadata=METADATA)
    second = client.chat_postMessage(channel="C1", text="two")

    assert first["channel"] == "C1"
    assert first["ts"] < second["ts"]
    assert first["message"]["metadata"] == METADATA
    assert [(m.text, m.metadata, m.user) for m in fake.messages("C1")] == [
        ("one", METADATA, "UBOT"),
        ("two", None, "UBOT"),
    ]


def test_update_replaces_given_fields_and_keeps_the_rest(fake: FakeSlack, client: WebClient) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "Open"}}]
    posted = client.chat_postMessage(channel="C1", text="card", blocks=blocks, metadata=METADATA)

    client.chat_update(channel="C1", ts=posted["ts"], text="card, claimed")

    (message,) = fake.messages("C1")
    assert (message.text, message.blocks, message.metadata) == ("card, claimed", blocks, METADATA)


def test_update_of_an_unknown_message_is_refused(fake: FakeSlack, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as refused:
        client.chat_update(channel="C1", ts="1.000000", text="x")
    assert refused.value.response["error"] == "message_not_found"
    assert fake.calls("chat.update") == []
    assert len(fake.attempts("chat.update")) == 1


def test_history_is_newest_first_and_shows_metadata_only_when_asked(client: WebClient) -> None:
    for text in ("a", "b", "c"):
        client.chat_postMessage(channel="C1", text=text, metadata=METADATA)

    plain = client.conversations_history(channel="C1", limit=2)
    full = client.conversations_history(channel="C1", include_all_metadata=True)

    assert [m["text"] for m in plain["messages"]] == ["c", "b"]
    assert plain["has_more"] is True
    assert all("metadata" not in m for m in plain["messages"])
    assert [m["metadata"] for m in full["messages"]] == [METADATA] * 3


def test_replies_list_parent_then_replies_in_order(fake: FakeSlack, client: WebClient) -> None:
    parent = fake.add_user_message("C1", user="U9", text="My order never came")
    client.chat_postMessage(channel="C1", thread_ts=parent.ts, text="first", metadata=METADATA)
    client.chat_postMessage(channel="C1", thread_ts=parent.ts, text="second")

    replies = client.conversations_replies(channel="C1", ts=parent.ts, include_all_metadata=True)
    history = client.conversations_history(channel="C1")

    assert [m["text"] for m in replies["messages"]] == ["My order never came", "first", "second"]
    assert replies["messages"][1]["metadata"] == METADATA
    assert [m.text for m in fake.thread("C1", parent.ts)] == ["first", "second"]
    assert [m["reply_count"] for m in history["messages"]] == [2]


def test_form_bodies_have_json_fields_decoded(fake: FakeSlack, client: WebClient) -> None:
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": "Hi"}}]
    client.api_call(
        "chat.postMessage",
        params={"channel": "C1", "blocks": json.dumps(blocks), "metadata": json.dumps(METADATA)},
    )

    (call,) = fake.calls("chat.postMessage")
    assert call.params["blocks"] == blocks
    assert fake.messages("C1")[0].metadata == METADATA


def test_a_user_id_as_channel_posts_to_their_dm(fake: FakeSlack, client: WebClient) -> None:
    opened = client.conversations_open(users="U2")
    posted = client.chat_postMessage(channel="U2", text="You own R-1 now")

    assert opened["channel"]["id"] == posted["channel"] == "DU2"
    assert [m.text for m in fake.messages("DU2")] == ["You own R-1 now"]


def test_ephemerals_are_kept_apart_per_user(fake: FakeSlack, client: WebClient) -> None:
    answer = client.chat_postEphemeral(channel="C1", user="U2", text="Only you")

    assert answer["message_ts"]
    assert [m.text for m in fake.ephemerals("U2")] == ["Only you"]
    assert fake.ephemerals("U3") == [] and fake.messages("C1") == []


def test_permalink_users_reactions_and_views(fake: FakeSlack, client: WebClient) -> None:
    link = client.chat_getPermalink(channel="C1", message_ts="1700000000.000100")
    user = client.users_info(user="U2")
    client.reactions_add(channel="C1", timestamp="1700000000.000100", name="white_check_mark")
    opened = client.views_open(trigger_id="t", view={"type": "modal", "callback_id": "flag"})
    client.views_update(view_id=opened["view"]["id"], view={"type": "modal", "callback_id": "fix"})
    pushed = client.views_push(trigger_id="t", view={"type": "modal", "callback_id": "help"})

    assert link["permalink"] == "https://fake.slack.test/archives/C1/p1700000000000100"
    assert user["user"]["real_name"] == "User U2"
    assert pushed["view"]["id"] != opened["view"]["id"]
    assert [v["callback_id"] for v in fake.views()] == ["fix", "help"]
    assert len(fake.calls("reactions.add")) == 1


def test_response_url_posts_are_recorded(fake: FakeSlack) -> None:
    answer = WebhookClient(fake.response_url_base + "cmd-1").send(text="Claimed R-1")

    assert answer.status_code == 200
    assert [c.params["text"] for c in fake.calls("response_url")] == ["Claimed R-1"]


def test_unknown_method_and_missing_channel_are_refused(fake: FakeSlack, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as unknown:
        client.api_call("chat.nothing")
    with pytest.raises(SlackApiError) as no_channel:
        client.chat_postMessage(channel="", text="x")

    assert unknown.value.response["error"] == "unknown_method"
    assert no_channel.value.response["error"] == "channel_not_found"
    assert fake.calls() == []


def test_rate_limit_answers_429_with_retry_after(fake: FakeSlack, client: WebClient) -> None:
    fake.fail_next("chat.postMessage", status=429, retry_after=3)

    with pytest.raises(SlackApiError) as limited:
        client.chat_postMessage(channel="C1", text="x")
    client.chat_postMessage(channel="C1", text="y")

    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "3"
    assert [m.text for m in fake.messages("C1")] == ["y"]
    assert len(fake.attempts("chat.postMessage")) == 2
    assert len(fake.calls("chat.postMessage")) == 1


def test_failures_count_down_and_touch_only_their_method(fake: FakeSlack, client: WebClient) -> None:
    fake.fail_next("chat.update", status=200, error="cant_update_message", count=2)
    posted = client.chat_postMessage(channel="C1", text="card")

    for _ in range(2):
        with pytest.raises(SlackApiError) as refused:
            client.chat_update(channel="C1", ts=posted["ts"], text="new")
        assert refused.value.response["error"] == "cant_update_message"
    client.chat_update(channel="C1", ts=posted["ts"], text="new")

    assert fake.messages("C1")[0].text == "new"
    assert len(fake.calls("chat.update")) == 1


def test_server_error_and_outage(fake: FakeSlack, client: WebClient) -> None:
    fake.fail_next("chat.postMessage")
    with pytest.raises(SlackApiError) as failed:
        client.chat_postMessage(channel="C1", text="x")
    fake.set_down(True)
    with pytest.raises(SlackApiError) as down:
        client.auth_test()
    fake.set_down(False)

    assert (failed.value.response.status_code, down.value.response.status_code) == (500, 503)
    assert client.auth_test()["ok"]
    assert fake.all_messages() == []
    assert [c.method for c in fake.calls()] == ["auth.test"]


def test_a_dropped_connection_raises_and_posts_nothing(fake: FakeSlack, client: WebClient) -> None:
    fake.drop_connections(1)

    with pytest.raises((URLError, ConnectionError, http.client.HTTPException)):
        client.chat_postMessage(channel="C1", text="x")

    assert fake.calls() == [] and fake.all_messages() == []
    assert len(fake.attempts("chat.postMessage")) == 1
    client.chat_postMessage(channel="C1", text="y")
    assert [m.text for m in fake.messages("C1")] == ["y"]


def test_a_stalled_post_lands_after_the_client_gave_up(fake: FakeSlack) -> None:
    impatient = WebClient(base_url=fake.api_url, token="xoxb-test", retry_handlers=[], timeout=0.2)
    fake.stall("chat.postMessage", 5)

    with pytest.raises((TimeoutError, URLError)):
        impatient.chat_postMessage(channel="C1", text="maybe", metadata=METADATA)
    assert fake.calls("chat.postMessage") == []
    assert len(fake.attempts("chat.postMessage")) == 1

    fake.unstall()
    assert fake.wait_for(lambda: len(fake.messages("C1")) == 1)
    assert fake.messages("C1")[0].metadata == METADATA


def test_stall_of_all_methods_ends_after_its_seconds(fake: FakeSlack, client: WebClient) -> None:
    fake.stall(None, 0.1)

    assert client.auth_test()["ok"]
    assert fake.calls()[0].at - fake.attempts()[0].at >= 0.1


def test_wait_for_gives_up_after_its_timeout(fake: FakeSlack) -> None:
    assert fake.wait_for(lambda: False, timeout=0.05) is False


def test_plain_flattens_text_blocks_and_buttons() -> None:
    button = {"type": "button", "text": {"type": "plain_text", "text": "Claim"}, "action_id": "a"}
    assign = {**button, "text": {"type": "plain_text", "text": "Assign"}}
    message = Message(
        channel="C1",
        ts="1.0",
        text="New incident",
        blocks=[
            {"type": "header", "text": {"type": "plain_text", "text": "R-1 Late order"}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "*Status:* open"},
                "fields": [{"type": "mrkdwn", "text": "Owner: nobody"}],
                "accessory": button,
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "Due in 15m"}, {"type": "image"}]},
            {"type": "divider"},
            {"type": "actions", "elements": [button, assign]},
        ],
    )

    assert message.plain().splitlines() == [
        "New incident",
        "R-1 Late order",
        "*Status:* open",
        "Owner: nobody",
        "[Claim]",
        "Due in 15m",
        "[Claim] [Assign]",
    ]
