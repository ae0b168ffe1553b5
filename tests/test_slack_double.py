"""The Slack double answers the real WebClient like Slack does, refuses what Slack refuses when
switched to, and fails only when told to."""

import base64
import http.client
import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from urllib.error import URLError

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookClient

from bot.devkit.clock import FakeClock
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
    fake.add_user("U2", display_name="ana", real_name="Ana Lima")
    user = client.users_info(user="U2")
    client.reactions_add(channel="C1", timestamp="1700000000.000100", name="white_check_mark")
    opened = client.views_open(trigger_id="t", view={"type": "modal", "callback_id": "flag"})
    client.views_update(view_id=opened["view"]["id"], view={"type": "modal", "callback_id": "fix"})
    pushed = client.views_push(trigger_id="t", view={"type": "modal", "callback_id": "help"})

    assert link["permalink"] == "https://fake.slack.test/archives/C1/p1700000000000100"
    assert user["user"]["real_name"] == "Ana Lima" and user["user"]["profile"]["display_name"] == "ana"
    assert pushed["view"]["id"] != opened["view"]["id"]
    assert [v["callback_id"] for v in fake.views()] == ["fix", "help"]
    assert len(fake.calls("reactions.add")) == 1


def test_users_info_knows_only_the_people_added_and_the_bot(fake: FakeSlack, client: WebClient) -> None:
    fake.add_user("U2", display_name="ana", real_name="Ana Lima")
    fake.add_workspace("T2", token="xoxb-other")
    fake.add_user("U7", display_name="eve", team_id="T2")

    assert client.users_info(user="UBOT")["user"]["is_bot"] is True
    for unknown in ("U3", "U7"):  # never added; of another workspace
        with pytest.raises(SlackApiError) as refused:
            client.users_info(user=unknown)
        assert refused.value.response["error"] == "user_not_found"


def test_response_url_posts_are_ephemerals_for_the_one_who_asked(fake: FakeSlack) -> None:
    answer = WebhookClient(fake.response_url("cmd-1", user="U2", channel="C1")).send(text="Claimed R-1")

    assert answer.status_code == 200
    assert [c.params["text"] for c in fake.calls("response_url")] == ["Claimed R-1"]
    assert [(m.channel, m.text) for m in fake.ephemerals("U2")] == [("C1", "Claimed R-1")]
    assert fake.messages("C1") == []


def test_a_response_url_works_five_times_for_thirty_minutes_and_only_if_handed_out() -> None:
    clock = FakeClock()
    with FakeSlack(message_clock=lambda: clock.now().timestamp()) as fake:
        url = fake.response_url("cmd-1", user="U2", channel="C1")
        answers = [WebhookClient(url).send(text=str(n)) for n in range(6)]
        later = fake.response_url("cmd-2", user="U2", channel="C1")
        clock.advance(timedelta(minutes=30, seconds=1))
        expired = WebhookClient(later).send(text="late")
        forged = WebhookClient(fake.response_url_base + "never-issued").send(text="?")

    assert [answer.status_code for answer in answers] == [200] * 5 + [404]
    assert json.loads(answers[5].body)["error"] == "used_url"
    assert (expired.status_code, json.loads(expired.body)["error"]) == (404, "expired_url")
    assert (forged.status_code, json.loads(forged.body)["error"]) == (404, "invalid_url")
    assert [m.text for m in fake.ephemerals("U2")] == ["0", "1", "2", "3", "4"]


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


# History and replies, as Slack pages them


def _post(client: WebClient, texts: str, **params: object) -> list[str]:
    return [client.chat_postMessage(channel="C1", text=text, **params)["ts"] for text in texts]


def _texts(answer: SlackResponse) -> list[str]:
    return [m["text"] for m in answer["messages"]]


def test_history_honours_latest_oldest_and_inclusive(client: WebClient) -> None:
    a, b, c, d = _post(client, "abcd")

    assert _texts(client.conversations_history(channel="C1", latest=c)) == ["b", "a"]
    assert _texts(client.conversations_history(channel="C1", latest=c, inclusive=True)) == ["c", "b", "a"]
    assert _texts(client.conversations_history(channel="C1", oldest=a, latest=d)) == ["c", "b"]
    assert _texts(client.conversations_history(channel="C1", oldest=a, latest=d, inclusive=True)) == list("dcba")
    assert _texts(client.conversations_history(channel="C1", oldest=b)) == ["d", "c"]
    # The bot's excerpt lookup: exactly one message, by its own ts.
    one = client.conversations_history(channel="C1", latest=b, oldest=b, inclusive=True, limit=1)
    assert (_texts(one), one["has_more"]) == (["b"], False)


def test_history_pages_follow_the_cursor_newest_first(client: WebClient) -> None:
    a, b, c, d, e = _post(client, "abcde")

    first = client.conversations_history(channel="C1", limit=2)
    second = client.conversations_history(channel="C1", limit=2, cursor=first["response_metadata"]["next_cursor"])
    third = client.conversations_history(channel="C1", limit=2, cursor=second["response_metadata"]["next_cursor"])

    assert (_texts(first), first["has_more"]) == (["e", "d"], True)
    assert first["response_metadata"]["next_cursor"] == base64.b64encode(f"next_ts:{c}".encode()).decode()
    assert (_texts(second), second["has_more"]) == (["c", "b"], True)
    assert (_texts(third), third["has_more"]) == (["a"], False)
    assert "response_metadata" not in third.data
    # slack_sdk's own paginator walks the same pages.
    assert [t for page in client.conversations_history(channel="C1", limit=2) for t in _texts(page)] == list("edcba")


def test_history_pages_hold_100_by_default_and_999_at_most(fake: FakeSlack, client: WebClient) -> None:
    for i in range(1000):
        fake.add_user_message("C1", user="U9", text=str(i))

    default = client.conversations_history(channel="C1")
    widest = client.conversations_history(channel="C1", limit=5000)

    assert (len(default["messages"]), default["messages"][0]["text"], default["has_more"]) == (100, "999", True)
    assert (len(widest["messages"]), widest["messages"][-1]["text"], widest["has_more"]) == (999, "1", True)


def test_replies_of_a_reply_return_its_whole_thread_parent_first(fake: FakeSlack, client: WebClient) -> None:
    """What the bot's excerpt lookup meets (NEXT-WAVE §4.2): limit=1 with a reply's ts is the parent."""
    parent = fake.add_user_message("C1", user="U9", text="parent")
    first = fake.add_user_message("C1", user="U8", text="first", thread_ts=parent.ts)
    fake.add_user_message("C1", user="U9", text="second", thread_ts=parent.ts)

    one = client.conversations_replies(channel="C1", ts=first.ts, limit=1)
    whole = client.conversations_replies(channel="C1", ts=first.ts)

    assert (_texts(one), one["has_more"]) == (["parent"], True)
    assert (_texts(whole), whole["has_more"]) == (["parent", "first", "second"], False)
    assert whole["messages"][0]["reply_count"] == 2


def test_replies_continuation_pages_carry_replies_only(fake: FakeSlack, client: WebClient) -> None:
    parent = fake.add_user_message("C1", user="U9", text="parent")
    replies = [fake.add_user_message("C1", user="U9", text=f"r{i}", thread_ts=parent.ts) for i in range(1, 5)]

    first = client.conversations_replies(channel="C1", ts=parent.ts, limit=2)
    second = client.conversations_replies(channel="C1", ts=parent.ts, limit=2,
                                          cursor=first["response_metadata"]["next_cursor"])
    third = client.conversations_replies(channel="C1", ts=parent.ts, limit=2,
                                         cursor=second["response_metadata"]["next_cursor"])
    after = client.conversations_replies(channel="C1", ts=parent.ts, oldest=replies[1].ts)

    assert (_texts(first), _texts(second), _texts(third)) == (["parent", "r1"], ["r2", "r3"], ["r4"])
    assert third["has_more"] is False
    assert _texts(after) == ["parent", "r3", "r4"]


def test_replies_of_a_lone_message_is_that_message(fake: FakeSlack, client: WebClient) -> None:
    lone = fake.add_user_message("C1", user="U9", text="no thread")

    answer = client.conversations_replies(channel="C1", ts=lone.ts)

    assert (_texts(answer), answer["has_more"]) == (["no thread"], False)


def test_bad_cursors_and_timestamps_are_refused(client: WebClient) -> None:
    refusals = []
    for params in ({"cursor": "not a cursor"}, {"latest": "yesterday"}, {"oldest": "x.y"}):
        with pytest.raises(SlackApiError) as refused:
            client.conversations_history(channel="C1", **params)
        refusals.append(refused.value.response["error"])

    assert refusals == ["invalid_cursor", "invalid_ts_latest", "invalid_ts_oldest"]


def test_an_unknown_thread_is_empty_when_lenient_and_not_found_when_strict(fake: FakeSlack, client: WebClient) -> None:
    lenient = client.conversations_replies(channel="C1", ts="1700000001.000100")
    fake.add_channel("C1", members=["UBOT"])
    fake.strict(channels=True)

    with pytest.raises(SlackApiError) as strict:
        client.conversations_replies(channel="C1", ts="1700000001.000100")

    assert (lenient["messages"], lenient["has_more"]) == ([], False)
    assert strict.value.response["error"] == "thread_not_found"


# Channels, membership and workspaces


def _error(call: Callable[[], object]) -> str:
    with pytest.raises(SlackApiError) as refused:
        call()
    return str(refused.value.response["error"])


def test_strict_channels_refuse_unknown_archived_and_unjoined_channels(fake: FakeSlack, client: WebClient) -> None:
    fake.strict(channels=True)
    fake.add_channel("CJOINED", members=["UBOT", "U2"])
    fake.add_channel("COUT", members=["U2"])
    fake.add_channel("COLD", members=["UBOT"], is_archived=True)
    posted = client.chat_postMessage(channel="CJOINED", text="card")

    assert _error(lambda: client.chat_postMessage(channel="CNOPE", text="x")) == "channel_not_found"
    assert _error(lambda: client.chat_postMessage(channel="COLD", text="x")) == "is_archived"
    assert _error(lambda: client.chat_postMessage(channel="COUT", text="x")) == "not_in_channel"
    assert _error(lambda: client.chat_update(channel="COUT", ts=posted["ts"], text="x")) == "not_in_channel"
    assert _error(lambda: client.chat_postEphemeral(channel="COUT", user="U2", text="x")) == "not_in_channel"
    assert _error(lambda: client.reactions_add(channel="COUT", timestamp=posted["ts"], name="eyes")) == "not_in_channel"
    assert _error(lambda: client.conversations_history(channel="COUT")) == "not_in_channel"
    # DMs are always open: a user id as channel, or the D… id conversations.open gives.
    dm = client.conversations_open(users="U2")["channel"]["id"]
    client.chat_postMessage(channel="U2", text="to U2")
    client.chat_postMessage(channel=dm, text="again")
    assert [m.text for m in fake.messages("DU2")] == ["to U2", "again"]
    assert [m.text for m in fake.all_messages()] == ["card", "to U2", "again"]


def test_the_bot_added_to_a_channel_may_post_and_gets_slacks_event(fake: FakeSlack, client: WebClient) -> None:
    fake.strict(channels=True)
    fake.add_channel("CPRIV", name="vip-support", members=["U2"], is_private=True)
    assert _error(lambda: client.chat_postMessage(channel="CPRIV", text="x")) == "not_in_channel"

    event = fake.add_bot_to_channel("CPRIV", inviter="U2")
    client.chat_postMessage(channel="CPRIV", text="hello")

    assert {k: event[k] for k in ("type", "team_id", "api_app_id")} == {
        "type": "event_callback", "team_id": "T1", "api_app_id": "A1"}
    assert {k: v for k, v in event["event"].items() if k != "event_ts"} == {
        "type": "member_joined_channel", "user": "UBOT", "channel": "CPRIV", "channel_type": "G",
        "team": "T1", "inviter": "U2"}
    assert event["event_id"].startswith("Ev") and isinstance(event["event_time"], int)
    assert [m.text for m in fake.messages("CPRIV")] == ["hello"]


def test_an_ephemeral_needs_the_person_in_the_channel(fake: FakeSlack, client: WebClient) -> None:
    fake.strict(channels=True)
    fake.add_channel("C1", members=["UBOT", "U2"])

    client.chat_postEphemeral(channel="C1", user="U2", text="Only you")

    assert _error(lambda: client.chat_postEphemeral(channel="C1", user="U3", text="x")) == "user_not_in_channel"
    assert [m.visible_to for m in fake.ephemerals()] == ["U2"]


def test_strict_channels_know_every_message(fake: FakeSlack, client: WebClient) -> None:
    fake.add_channel("C1", members=["UBOT"])
    unseen = "1700000009.000100"
    lenient = client.chat_getPermalink(channel="C1", message_ts=unseen)
    fake.strict(channels=True)

    assert lenient["permalink"].endswith("/C1/p1700000009000100")
    assert _error(lambda: client.chat_getPermalink(channel="C1", message_ts=unseen)) == "message_not_found"
    assert _error(lambda: client.reactions_add(channel="C1", timestamp=unseen, name="eyes")) == "message_not_found"


def test_conversations_info_describes_registered_channels(fake: FakeSlack, client: WebClient) -> None:
    fake.add_channel("CX", name="acme-shared", members=["UBOT"], is_shared=True, is_ext_shared=True)
    fake.add_channel("CP", name="leads", members=["U2"], is_private=True)

    shared = client.conversations_info(channel="CX")["channel"]
    lenient = client.conversations_info(channel="CUNKNOWN")["channel"]
    fake.strict(channels=True)

    assert {k: shared[k] for k in ("id", "name", "is_channel", "is_private", "is_im", "is_archived", "is_member",
                                   "is_shared", "is_ext_shared", "is_org_shared")} == {
        "id": "CX", "name": "acme-shared", "is_channel": True, "is_private": False, "is_im": False,
        "is_archived": False, "is_member": True, "is_shared": True, "is_ext_shared": True, "is_org_shared": False}
    assert (lenient["is_channel"], lenient["is_private"], lenient["is_member"]) == (True, False, True)
    assert _error(lambda: client.conversations_info(channel="CUNKNOWN")) == "channel_not_found"
    assert _error(lambda: client.conversations_info(channel="CP")) == "channel_not_found"
    assert client.conversations_info(channel="CX")["channel"]["is_member"] is True


def test_tokens_speak_for_their_workspace(fake: FakeSlack, client: WebClient) -> None:
    fake.add_workspace("T2", token="xoxb-t2", bot_user_id="UBOT2")
    other = WebClient(base_url=fake.api_url, token="xoxb-t2", retry_handlers=[], timeout=2)
    stranger = WebClient(base_url=fake.api_url, token="xoxb-unknown", retry_handlers=[], timeout=2)

    lenient = stranger.auth_test()
    fake.strict(tokens=True)

    assert (other.auth_test()["team_id"], other.auth_test()["user_id"]) == ("T2", "UBOT2")
    assert (lenient["team_id"], lenient["user_id"]) == ("T1", "UBOT")
    assert _error(stranger.auth_test) == "invalid_auth"
    assert _error(client.auth_test) == "invalid_auth"  # T1's token was never registered
    fake.add_workspace("T1", token="xoxb-test")
    assert client.auth_test()["team_id"] == "T1"


def test_a_token_never_sees_another_workspaces_channel(fake: FakeSlack, client: WebClient) -> None:
    fake.add_workspace("T2", token="xoxb-t2")
    fake.add_channel("C1", members=["UBOT"])
    other = WebClient(base_url=fake.api_url, token="xoxb-t2", retry_handlers=[], timeout=2)

    client.chat_postMessage(channel="C1", text="ours")

    assert _error(lambda: other.chat_postMessage(channel="C1", text="theirs")) == "channel_not_found"
    assert _error(lambda: other.conversations_history(channel="C1")) == "channel_not_found"
    assert [m.text for m in fake.messages("C1")] == ["ours"]


# Rate limits, on a clock the test moves


@pytest.fixture
def limited(clock: FakeClock) -> Iterator[FakeSlack]:
    with FakeSlack(rate_limits=True, clock=lambda: clock.now().timestamp()) as fake:
        yield fake


def _status(call: Callable[[], object]) -> tuple[int, str | None, str]:
    with pytest.raises(SlackApiError) as refused:
        call()
    response = refused.value.response
    return response.status_code, response.headers.get("Retry-After"), response["error"]


def test_posts_to_a_channel_burst_three_then_one_a_second(limited: FakeSlack, clock: FakeClock) -> None:
    client = WebClient(base_url=limited.api_url, token="xoxb-test", retry_handlers=[], timeout=2)
    for text in "abc":
        client.chat_postMessage(channel="C1", text=text)

    assert _status(lambda: client.chat_postMessage(channel="C1", text="d")) == (429, "1", "ratelimited")
    client.chat_postMessage(channel="C2", text="elsewhere")
    clock.advance(timedelta(seconds=1))
    client.chat_postMessage(channel="C1", text="e")

    assert [m.text for m in limited.messages("C1")] == ["a", "b", "c", "e"]
    assert limited.rate_limited() == {"chat.postMessage": 1}
    assert len(limited.attempts("chat.postMessage")) == 6


def test_posts_also_meet_a_workspace_wide_limit(limited: FakeSlack) -> None:
    client = WebClient(base_url=limited.api_url, token="xoxb-test", retry_handlers=[], timeout=2)
    for i in range(30):
        client.chat_postMessage(channel=f"C{i // 3}", text="x")

    assert _status(lambda: client.chat_postMessage(channel="CFRESH", text="x")) == (429, "1", "ratelimited")


def test_tier_methods_take_their_per_minute_budget_per_workspace(limited: FakeSlack, clock: FakeClock) -> None:
    limited.add_usergroup("S1", ["U1"])
    limited.add_workspace("T2", token="xoxb-t2")
    limited.add_usergroup("S2", ["U7"], team_id="T2")
    client = WebClient(base_url=limited.api_url, token="xoxb-test", retry_handlers=[], timeout=2)
    other = WebClient(base_url=limited.api_url, token="xoxb-t2", retry_handlers=[], timeout=2)
    for _ in range(20):  # Tier 2: 20 a minute
        client.usergroups_users_list(usergroup="S1")

    # One token comes back every 3 s.
    assert _status(lambda: client.usergroups_users_list(usergroup="S1")) == (429, "3", "ratelimited")
    assert other.usergroups_users_list(usergroup="S2")["users"] == ["U7"]
    assert all(client.auth_test()["ok"] for _ in range(30))  # auth.test is not limited
    clock.advance(timedelta(seconds=3))
    assert client.usergroups_users_list(usergroup="S1")["users"] == ["U1"]
    assert limited.rate_limited() == {"usergroups.users.list": 1}


def test_unlisted_apps_get_pages_of_15_and_one_call_a_minute(clock: FakeClock) -> None:
    with FakeSlack(unlisted_app=True, clock=lambda: clock.now().timestamp()) as fake:
        client = WebClient(base_url=fake.api_url, token="xoxb-test", retry_handlers=[], timeout=2)
        parent = fake.add_user_message("C1", user="U9", text="0")
        for i in range(1, 20):
            fake.add_user_message("C1", user="U9", text=str(i))

        first = client.conversations_history(channel="C1")
        refused = _status(lambda: client.conversations_history(channel="C1", limit=100))
        replies = client.conversations_replies(channel="C1", ts=parent.ts)  # its own budget
        clock.advance(timedelta(seconds=60))
        wide = client.conversations_history(channel="C1", limit=100)

        assert (len(first["messages"]), first["has_more"]) == (15, True)
        assert refused == (429, "60", "ratelimited")
        assert _texts(replies) == ["0"]
        assert (len(wide["messages"]), wide["has_more"]) == (15, True)
        assert fake.rate_limited() == {"conversations.history": 1}
        assert client.chat_postMessage(channel="C1", text="posts are not limited here")["ok"]


# Answered then dropped, and healing


def test_a_post_dropped_after_its_answer_is_posted_all_the_same(fake: FakeSlack, client: WebClient) -> None:
    fake.drop_after_answer("chat.postMessage")

    with pytest.raises((URLError, ConnectionError, http.client.HTTPException)):
        client.chat_postMessage(channel="C1", text="did it post?", metadata=METADATA)
    client.chat_postMessage(channel="C1", text="next")

    assert [(m.text, m.metadata) for m in fake.messages("C1")] == [("did it post?", METADATA), ("next", None)]
    assert len(fake.calls("chat.postMessage")) == 2


def test_heal_stops_every_failure_and_keeps_what_slack_holds(fake: FakeSlack, client: WebClient) -> None:
    client.chat_postMessage(channel="C1", text="before")
    fake.fail_next("chat.postMessage", status=500, count=5)
    fake.drop_connections(5)
    fake.drop_after_answer("chat.postMessage", count=5)
    fake.stall(None, 30)
    fake.set_down(True)

    fake.heal()
    client.chat_postMessage(channel="C1", text="after")

    assert [m.text for m in fake.messages("C1")] == ["before", "after"]
    assert [c.method for c in fake.calls()] == ["chat.postMessage", "chat.postMessage"]


# Methods for the next features


def test_reactions_are_kept_per_message(fake: FakeSlack, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C1", text="card")["ts"]

    client.reactions_add(channel="C1", timestamp=ts, name="eyes")
    twice = _error(lambda: client.reactions_add(channel="C1", timestamp=ts, name="eyes"))
    shown = client.conversations_history(channel="C1")["messages"][0]["reactions"]
    client.reactions_remove(channel="C1", timestamp=ts, name="eyes")
    gone = _error(lambda: client.reactions_remove(channel="C1", timestamp=ts, name="eyes"))

    assert twice == "already_reacted"
    assert shown == [{"name": "eyes", "users": ["UBOT"], "count": 1}]
    assert gone == "no_reaction"
    assert fake.reactions("C1", ts) == {}


def test_home_tab_publish_honours_the_hash(fake: FakeSlack, client: WebClient) -> None:
    home = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Mine: 0"}}]}
    first = client.views_publish(user_id="U2", view=home)["view"]
    second = client.views_publish(user_id="U2", view={**home, "callback_id": "v2"}, hash=first["hash"])["view"]

    stale = _error(lambda: client.views_publish(user_id="U2", view=home, hash=first["hash"]))

    assert stale == "hash_conflict"
    assert first["hash"] != second["hash"] and first["id"] == second["id"]
    assert fake.home("U2") == second and fake.home("U3") is None
    assert fake.views() == []


def test_files_upload_v2_shares_the_bytes_in_the_channel(fake: FakeSlack, client: WebClient) -> None:
    csv = b"number,status\n1,open\n"
    answer = client.files_upload_v2(channel="C1", content=csv, filename="incidents.csv", title="Incidents",
                                    initial_comment="Your export")
    reserved = client.files_getUploadURLExternal(filename="never.csv", length=3)

    assert answer["file"]["name"] == "incidents.csv"
    assert _error(lambda: client.files_completeUploadExternal(files=[{"id": reserved["file_id"]}])) == "file_not_found"
    assert fake.files()[0] == {"id": answer["file"]["id"], "name": "incidents.csv", "title": "Incidents",
                               "bytes": csv, "channel": "C1", "alt_txt": None}
    (message,) = fake.messages("C1")
    assert (message.text, message.files) == ("Your export", (answer["file"]["id"],))
    assert [c.method for c in fake.calls()] == [
        "files.getUploadURLExternal", "file_upload", "files.completeUploadExternal", "files.getUploadURLExternal"]


def test_an_images_description_is_kept_and_one_over_slacks_limit_refused(fake: FakeSlack, client: WebClient) -> None:
    answer = client.files_upload_v2(channel="C1", content=b"\x89PNG", filename="chart.png", title="Chart",
                                    alt_txt="Bars: 80% would buy again")

    assert _error(lambda: client.files_upload_v2(channel="C1", content=b"\x89PNG", filename="chart.png",
                                                 title="Chart", alt_txt="x" * 1001)) == "alt_txt_too_large"
    assert [(f["id"], f["alt_txt"]) for f in fake.files()] == [(answer["file"]["id"], "Bars: 80% would buy again")]


def test_usergroup_members_are_listed(fake: FakeSlack, client: WebClient) -> None:
    fake.add_usergroup("S1", ["U1", "U2"])

    assert client.usergroups_users_list(usergroup="S1")["users"] == ["U1", "U2"]
    assert _error(lambda: client.usergroups_users_list(usergroup="S9")) == "no_such_subteam"


def test_an_oauth_code_is_exchanged_once(fake: FakeSlack) -> None:
    fake.add_workspace("T2", token="xoxb-t2", bot_user_id="UBOT2", name="Acme")
    fake.add_oauth_code("code-1", team_id="T2")
    app = WebClient(base_url=fake.api_url, retry_handlers=[], timeout=2)

    granted = app.oauth_v2_access(client_id="1.2", client_secret="s", code="code-1")

    assert {k: granted[k] for k in ("access_token", "token_type", "bot_user_id", "team")} == {
        "access_token": "xoxb-t2", "token_type": "bot", "bot_user_id": "UBOT2", "team": {"id": "T2", "name": "Acme"}}
    assert "refresh_token" not in granted.data
    assert _error(lambda: app.oauth_v2_access(client_id="1.2", client_secret="s", code="code-1")) == "invalid_code"


def test_rotated_tokens_expire_after_12_hours_and_refresh_once(clock: FakeClock) -> None:
    with FakeSlack(clock=lambda: clock.now().timestamp()) as fake:
        fake.add_oauth_code("code-1", token_rotation=True)
        app = WebClient(base_url=fake.api_url, retry_handlers=[], timeout=2)
        granted = app.oauth_v2_access(client_id="1.2", client_secret="s", code="code-1")
        bot = WebClient(base_url=fake.api_url, token=granted["access_token"], retry_handlers=[], timeout=2)

        assert (granted["expires_in"], granted["access_token"][:5]) == (43200, "xoxe.")
        assert bot.auth_test()["team_id"] == "T1"
        clock.advance(timedelta(hours=12))
        assert _error(bot.auth_test) == "token_expired"
        refreshed = app.oauth_v2_access(client_id="1.2", client_secret="s", grant_type="refresh_token",
                                        refresh_token=granted["refresh_token"])
        again = _error(lambda: app.oauth_v2_access(client_id="1.2", client_secret="s", grant_type="refresh_token",
                                                   refresh_token=granted["refresh_token"]))
        assert WebClient(base_url=fake.api_url, token=refreshed["access_token"]).auth_test()["team_id"] == "T1"
        assert again == "invalid_refresh_token"
