"""Plays Slack's side of the conversation: signed HTTP requests into a served bot, as
Slack would send them. The offline demo and the tests both drive the bot through it.

Payload shapes follow the real ones in shared/slack/payloads/. Every request comes from the
workspace ``team`` (T1 unless given), as Slack's would from any workspace that installed the app.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from itertools import count

from slack_sdk.signature import SignatureVerifier

from bot.devkit.slack_double import FakeSlack, Message

TEAM = "T1"
_ids = count(1)


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    seconds: float

    def json(self) -> dict:
        """Bolt answers a text-only ack as plain text, which Slack shows like ``{"text": ...}``."""
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except ValueError:
            return {"text": self.body}

    @property
    def text(self) -> str:
        """What the person sees of an ephemeral ack (text and block text)."""
        data = self.json()
        parts = [data.get("text") or ""]
        parts += [Message(channel="", ts="", blocks=data.get("blocks") or []).plain()]
        return "\n".join(part for part in parts if part)


class SlackDriver:
    def __init__(self, *, url: str, signing_secret: str, fake: FakeSlack) -> None:
        self.url = url
        self.secret = signing_secret
        self.fake = fake

    def post(self, body: str, *, content_type: str, secret: str | None = None, timestamp: int | None = None,
             signed: bool = True, headers: dict[str, str] | None = None) -> Answer:
        stamp = str(timestamp if timestamp is not None else int(time.time()))
        sent_headers = {"Content-Type": content_type, **(headers or {})}
        if signed:
            signature = SignatureVerifier(secret or self.secret).generate_signature(timestamp=stamp, body=body)
            sent_headers |= {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}
        request = urllib.request.Request(self.url, data=body.encode(), headers=sent_headers, method="POST")
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return Answer(response.status, response.read().decode(), time.perf_counter() - started)
        except urllib.error.HTTPError as error:
            return Answer(error.code, error.read().decode(), time.perf_counter() - started)

    def send_json(self, payload: dict, **options) -> Answer:
        return self.post(json.dumps(payload), content_type="application/json", **options)

    def send_form(self, fields: dict, **options) -> Answer:
        return self.post(urllib.parse.urlencode(fields), content_type="application/x-www-form-urlencoded", **options)

    def send_interaction(self, payload: dict, **options) -> Answer:
        return self.send_form({"payload": json.dumps(payload)}, **options)

    def react(self, *, channel: str, ts: str, user: str = "U1", reaction: str = "sos",
              event_id: str | None = None, retry: int | None = None, team: str = TEAM, **options) -> Answer:
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else None
        return self.send_json({
            "token": "legacy", "team_id": team, "api_app_id": "A1", "type": "event_callback",
            "event_id": event_id or f"Ev{next(_ids)}", "event_time": int(time.time()),
            "event": {"type": "reaction_added", "user": user, "reaction": reaction, "item_user": "UCUST",
                      "item": {"type": "message", "channel": channel, "ts": ts}, "event_ts": f"{time.time():.6f}"},
        }, headers=headers, **options)

    def uninstall(self, team_id: str = TEAM) -> Answer:
        """Someone removes the app from the workspace: its tokens die and Slack tells the app."""
        return self.send_json(self.fake.uninstall_app(team_id))

    def revoke_tokens(self, team_id: str = TEAM) -> Answer:
        """The workspace revokes the bot's token: it dies and Slack tells the app."""
        return self.send_json(self.fake.revoke_bot_token(team_id))

    def open_home(self, *, user: str = "U1", tab: str = "home", team: str = TEAM) -> Answer:
        """The person opens the app's Home tab (or, ``tab="messages"``, its Messages tab). As
        Slack's (shared/slack/payloads/app_home_opened_event_callback.json): the event carries
        the view last published for the person, once there is one."""
        event = {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": tab,
                 "event_ts": f"{time.time():.6f}"}
        published = self.fake.home(user)
        if tab == "home" and published is not None:
            event["view"] = published
        return self.send_json({
            "token": "legacy", "team_id": team, "api_app_id": "A1", "type": "event_callback",
            "event_id": f"Ev{next(_ids)}", "event_time": int(time.time()), "event": event,
        })

    def press_on_home(self, action_id: str, value: str, *, user: str = "U1", view: dict | None = None,
                      team: str = TEAM) -> Answer:
        """Press a button on the person's Home tab: a block_actions payload with a ``view``
        container and no channel (shared/slack/payloads/block_actions_home_tab_button.json).
        ``view``: the Home as the person sees it (default: the one last published for them), or
        a forged one."""
        shown = view if view is not None else self.fake.home(user) or {"id": f"V{next(_ids)}", "type": "home",
                                                                        "blocks": []}
        return self.send_interaction({
            "type": "block_actions", "user": {"id": user, "team_id": team}, "api_app_id": "A1",
            "team": {"id": team}, "trigger_id": f"{next(_ids)}.trigger",
            "container": {"type": "view", "view_id": shown.get("id")}, "view": shown,
            "actions": [{"action_id": action_id, "block_id": "home", "value": value, "type": "button",
                         "action_ts": f"{time.time():.6f}"}],
        })

    def command(self, text: str, *, user: str = "U1", channel: str = "C1", team: str = TEAM) -> Answer:
        name, _, rest = text.partition(" ")
        return self.send_form({
            "token": "legacy", "team_id": team, "team_domain": "acme", "channel_id": channel,
            "channel_name": "support", "user_id": user, "user_name": user.lower(), "command": name, "text": rest,
            "api_app_id": "A1", "is_enterprise_install": "false",
            "response_url": self.fake.response_url(f"cmd{next(_ids)}", user=user, channel=channel),
            "trigger_id": f"{next(_ids)}.trigger",
        })

    def command_answered_later(self, text: str, *, user: str = "U1", channel: str = "C1",
                               timeout: float = 10.0, team: str = TEAM) -> tuple[Answer, Message]:
        """A command answered after its ack, through its response URL (`/recovery digest`,
        `stats`): the ack, and the ephemeral that came through the URL."""
        before = len(self.fake.calls("response_url"))
        answer = self.command(text, user=user, channel=channel, team=team)
        if not self.fake.wait_for(lambda: len(self.fake.calls("response_url")) > before, timeout):
            raise AssertionError(f"{text!r} was answered by no response URL")
        return answer, self.fake.ephemerals(user)[-1]

    def click(self, message: Message, label: str, *, user: str = "U1", team: str = TEAM) -> Answer:
        """Press the button with this label on a message the bot posted."""
        for block in message.blocks:
            for element in block.get("elements", []) + ([block["accessory"]] if "accessory" in block else []):
                if element.get("type") == "button" and element["text"]["text"] == label:
                    return self.press(element["action_id"], element.get("value", ""), message=message, user=user,
                                      block_id=block.get("block_id", "b"), team=team)
        raise AssertionError(f"no button {label!r} on message: {message.plain()}")

    def choose(self, message: Message, placeholder: str, option: str, *, user: str = "U1",
               team: str = TEAM) -> Answer:
        """Pick an option from a select menu on a message (Snooze is one)."""
        for block in message.blocks:
            for element in block.get("elements", []):
                if element.get("type") == "static_select" and element["placeholder"]["text"] == placeholder:
                    chosen = next((item for item in element["options"] if item["text"]["text"] == option), None)
                    assert chosen is not None, f"no option {option!r} in {placeholder!r}"
                    return self.send_interaction(self._action_payload(message, user, {
                        "action_id": element["action_id"], "block_id": block.get("block_id", "b"),
                        "type": "static_select", "selected_option": chosen,
                        "action_ts": f"{time.time():.6f}"}, team=team))
        raise AssertionError(f"no menu {placeholder!r} on message: {message.plain()}")

    def pick_user(self, message: Message, placeholder: str, chosen: str, *, user: str = "U1",
                  team: str = TEAM) -> Answer:
        """Pick a person in a user picker on a message (a lead's Assign on an escalation)."""
        for block in message.blocks:
            for element in block.get("elements", []):
                if element.get("type") == "users_select" and element["placeholder"]["text"] == placeholder:
                    return self.send_interaction(self._action_payload(message, user, {
                        "action_id": element["action_id"], "block_id": block.get("block_id", "b"),
                        "type": "users_select", "selected_user": chosen, "action_ts": f"{time.time():.6f}"}, team=team))
        raise AssertionError(f"no user picker {placeholder!r} on message: {message.plain()}")

    def overflow(self, message: Message, option: str, *, user: str = "U1", team: str = TEAM) -> Answer:
        """Pick an option from the ⋯ menu on a message (the card's)."""
        for block in message.blocks:
            for element in block.get("elements", []) + ([block["accessory"]] if "accessory" in block else []):
                if element.get("type") != "overflow":
                    continue
                chosen = next((item for item in element["options"] if item["text"]["text"] == option), None)
                assert chosen is not None, f"no option {option!r} in the menu"
                return self.send_interaction(self._action_payload(message, user, {
                    "action_id": element["action_id"], "block_id": block.get("block_id", "b"), "type": "overflow",
                    "selected_option": chosen, "action_ts": f"{time.time():.6f}"}, team=team))
        raise AssertionError(f"no menu on message: {message.plain()}")

    def press(self, action_id: str, value: str, *, message: Message, user: str = "U1",
              block_id: str = "b", team: str = TEAM) -> Answer:
        return self.send_interaction(self._action_payload(message, user, {
            "action_id": action_id, "block_id": block_id, "value": value, "type": "button",
            "action_ts": f"{time.time():.6f}"}, team=team))

    def _action_payload(self, message: Message, user: str, action: dict, *, team: str = TEAM) -> dict:
        return {
            "type": "block_actions", "user": {"id": user, "team_id": team}, "api_app_id": "A1",
            "team": {"id": team}, "trigger_id": f"{next(_ids)}.trigger",
            "container": {"type": "message", "message_ts": message.ts, "channel_id": message.channel,
                          "is_ephemeral": False},
            "channel": {"id": message.channel}, "message": {"ts": message.ts, "blocks": message.blocks},
            "response_url": self.fake.response_url(f"act{next(_ids)}", user=user, channel=message.channel),
            "actions": [action],
        }

    def shortcut(self, *, callback_id: str, channel: str, message: Message, user: str = "U1",
                 team: str = TEAM) -> Answer:
        return self.send_interaction({
            "type": "message_action", "callback_id": callback_id, "trigger_id": f"{next(_ids)}.trigger",
            "team": {"id": team, "domain": "acme"}, "user": {"id": user, "name": user.lower()},
            "channel": {"id": channel, "name": "support"}, "message_ts": message.ts,
            "message": {"type": "message", "text": message.text, "user": message.user, "ts": message.ts},
            "response_url": self.fake.response_url(f"sc{next(_ids)}", user=user, channel=channel),
            "action_ts": f"{time.time():.6f}",
        })

    def type_into(self, view: dict, block_id: str, value: object, *, user: str = "U1",
                  team: str = TEAM) -> Answer | None:
        """Type ``value`` into (or pick it in) an input of an open modal, as a person does: the
        double keeps it in the view's state and, when the input's block dispatches actions,
        the bot gets Slack's block_actions payload with the view as it is now (its hash, its
        state). None when the block does not dispatch: the bot hears nothing."""
        element = next((block["element"] for block in view.get("blocks", [])
                        if block.get("type") == "input" and block.get("block_id") == block_id), None)
        assert element is not None, f"no input {block_id!r} in view {view.get('id')}"
        state = _element_state(element, value)
        current, action_id, dispatches = self.fake.type_into_view(view["id"], block_id, state)
        if not dispatches:
            return None
        return self.view_action(current, {**state, "block_id": block_id, "action_id": action_id}, user=user,
                                team=team)

    def view_action(self, view: dict, action: dict, *, user: str = "U1", team: str = TEAM) -> Answer:
        """A block_actions payload from an input of a modal, as ``view`` stood when it was sent."""
        return self.send_interaction({
            "type": "block_actions", "user": {"id": user, "team_id": team}, "api_app_id": "A1",
            "team": {"id": team}, "trigger_id": f"{next(_ids)}.trigger",
            "container": {"type": "view", "view_id": view["id"]}, "view": view,
            "actions": [{**action, "action_ts": f"{time.time():.6f}"}],
        })

    def submit(self, view: dict, values: dict[str, object], *, user: str = "U1", team: str = TEAM) -> Answer:
        """Submit a modal the bot opened; ``values`` maps block ids to a value (str for
        text, numbers and selects, or a ready ``{"type": ..., ...}`` element state). An input
        not in ``values`` sends what was typed into it (``type_into``), else its initial value
        or option, as Slack does, else nothing."""
        typed = (view.get("state") or {}).get("values") or {}
        state = {}
        for block in view.get("blocks", []):
            if block.get("type") != "input":
                continue
            element = block["element"]
            block_id, action_id = block["block_id"], element["action_id"]
            if block_id not in values:
                state[block_id] = typed.get(block_id) or {action_id: _initial_state(element)}
                continue
            state[block_id] = {action_id: _element_state(element, values[block_id])}
        submitted = {**view, "id": view.get("id", f"V{next(_ids)}"), "state": {"values": state}}
        return self.send_interaction({
            "type": "view_submission", "team": {"id": team}, "user": {"id": user, "team_id": team},
            "api_app_id": "A1", "trigger_id": f"{next(_ids)}.trigger", "view": submitted, "response_urls": [],
        })


def _initial_state(element: dict) -> dict:
    """What an input nobody touched submits: its initial option or value, or nothing."""
    kind = element["type"]
    if "initial_option" in element:
        return {"type": kind, "selected_option": element["initial_option"]}
    return {"type": kind, "value": element.get("initial_value")}


def _element_state(element: dict, value: object) -> dict:
    kind = element["type"]
    if isinstance(value, dict):
        return value
    if kind == "users_select":
        return {"type": kind, "selected_user": value}
    if kind == "static_select":
        return {"type": kind, "selected_option": {"value": value, "text": {"type": "plain_text", "text": value}}}
    return {"type": kind, "value": value}
