"""Renders what the Slack double holds as a person in Slack would read it, for the demo.

Beyond the words: which mentions notify someone (🔔: a new message's @-mentions and @here,
and a DM's reader; an edit notifies nobody), how each button is styled, and, on request, the
Block Kit JSON Slack received. A person's Home tab is drawn the same way, framed like a
message, when the story shows it: a Home is republished after every change, and printing each
publish would drown the chat.
"""
from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping

from bot.devkit.slack_double import FakeSlack, Message

_DATE = re.compile(r"<!date\^\d+\^[^|>]*\|([^>]*)>")
_USER = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
_CHANNEL = re.compile(r"<#([A-Z0-9]+)(?:\|[^>]*)?>")
_LINK = re.compile(r"<(https?://[^|>]+)\|([^>]*)>")
_BROADCAST = re.compile(r"<!(here|channel|everyone)>")
_RULE = "─" * 40
_PNG = b"\x89PNG\r\n\x1a\n"


def readable(text: str, names: Mapping[str, str]) -> str:
    """Mentions become @names, dates their fallback, links their label: what Slack draws."""
    text = _DATE.sub(lambda match: match.group(1), text)
    text = _USER.sub(lambda match: "@" + names.get(match.group(1), match.group(1)), text)
    text = _CHANNEL.sub(lambda match: "#" + names.get(match.group(1), match.group(1)), text)
    text = _LINK.sub(lambda match: f"{match.group(2)} ({match.group(1)})", text)
    return html.unescape(text)


class Transcript:
    """Prints each message once when it appears and again, marked, when it changes."""

    def __init__(self, fake: FakeSlack, names: Mapping[str, str], *, out=print,  # noqa: ANN001
                 blocks: bool = False) -> None:
        self._fake = fake
        self._show_blocks = blocks
        self._names = names
        self._seen: dict[tuple[str, str], str] = {}
        self._reactions: dict[tuple[str, str], set[str]] = {}
        self._ephemerals_seen = 0
        self._homes_shown: set[str] = set()
        self._out = out

    def ephemeral(self, who: str, text: str, blocks: list[dict]) -> None:
        """An answer only one person sees (a slash command's ack)."""
        self._out(f"    (only visible to {self._names.get(who, who)}) recovery-bot:")
        lines = _block_lines(blocks) if blocks else text.splitlines()
        for line in lines:
            if line.strip():
                self._out(f"      │ {readable(line, self._names)}")

    def home(self, user: str) -> None:
        """The Home tab last published for ``user``, as they see it on opening it; "✎ republished"
        once it was printed before (a later publish replaced it, the person reopened nothing)."""
        view = self._fake.home(user)
        if view is None:
            raise AssertionError(f"no Home published for {user}")
        mark = " ✎ republished" if user in self._homes_shown else ""
        self._homes_shown.add(user)
        self._out(f"  [Home of {self._names.get(user, user)}] recovery-bot{mark}:")
        for line in _block_lines(view.get("blocks") or []):
            if line.strip():
                self._out(f"    │ {readable(line, self._names)}")
        self._print_json(view.get("blocks") or [], "  ")

    def catch_up(self) -> None:
        """Take everything the double holds now as read, without printing it: what the demo
        fast-forwards through is summed up in one line instead."""
        for message in self._fake.all_messages():
            self._seen[(message.channel, message.ts)] = self._body(message)
            self._reactions[(message.channel, message.ts)] = {
                name for name, users in self._fake.reactions(message.channel, message.ts).items()
                if self._fake.bot_user_id in users}
        self._ephemerals_seen = len(self._fake.ephemerals())

    def flush(self) -> None:
        for message in sorted(self._fake.all_messages(), key=lambda m: float(m.ts)):
            body = self._body(message)
            key = (message.channel, message.ts)
            previous = self._seen.get(key)
            if previous == body:
                continue
            self._seen[key] = body
            self._print(message, body, updated=previous is not None)
        for message in self._fake.all_messages():
            self._print_reactions(message)
        ephemerals = self._fake.ephemerals()
        for message in ephemerals[self._ephemerals_seen:]:
            who = self._names.get(message.visible_to or "", message.visible_to or "")
            self._out(f"    (only visible to {who}) recovery-bot: {readable(message.text, self._names)}")
            for block in message.blocks:
                if block.get("type") == "actions":
                    self._out("      " + " ".join(_control(element) for element in block.get("elements", [])))
        self._ephemerals_seen = len(ephemerals)

    def _print_reactions(self, message: Message) -> None:
        """The bot's receipts on a message (👀 while its incident is open, ✅ once closed)."""
        key = (message.channel, message.ts)
        now = {name for name, users in self._fake.reactions(*key).items() if self._fake.bot_user_id in users}
        before = self._reactions.get(key, set())
        if now == before:
            return
        self._reactions[key] = now
        author = self._names.get(message.user, "the bot")
        place = "#" + self._names.get(message.channel, message.channel)
        for name in sorted(now - before):
            self._out(f"  [{place}] recovery-bot reacted :{name}: to {author}'s message")
        for name in sorted(before - now):
            self._out(f"  [{place}] recovery-bot removed its :{name}: from {author}'s message")

    def _body(self, message: Message) -> str:
        lines = _block_lines(message.blocks) if message.blocks else message.text.splitlines()
        return "\n".join(readable(line, self._names) for line in lines if line.strip())

    def _print(self, message: Message, body: str, *, updated: bool) -> None:
        author = self._names.get(message.user, "recovery-bot")
        if message.channel.startswith("D"):
            place = "DM to " + self._names.get(message.channel[1:], message.channel[1:])
        else:
            place = "#" + self._names.get(message.channel, message.channel)
        indent = "      " if message.thread_ts and message.thread_ts != message.ts else "  "
        where = f"{place}, thread" if indent != "  " else place
        mark = "✎ updated" if updated else ""
        self._out(f"{indent}[{where}] {author} {mark}".rstrip() + ":")
        for line in body.splitlines():
            self._out(f"{indent}  │ {line}")
        files = {file["id"]: file for file in self._fake.files()} if message.files else {}
        for file_id in message.files:
            self._out(f"{indent}  [file in {place}] {_file_line(files[file_id])}")
        if not updated and message.user == self._fake.bot_user_id:
            notified = self._notified(message)
            if notified:
                self._out(f"{indent}  🔔 notifies {', '.join(notified)}")
        self._print_json(message.blocks, indent)

    def _print_json(self, blocks: list[dict], indent: str) -> None:
        if self._show_blocks and blocks:
            for line in json.dumps(blocks, indent=2, ensure_ascii=False).splitlines():
                self._out(f"{indent}  ┊ {line}")

    def _notified(self, message: Message) -> list[str]:
        """Who this new message notifies: in a DM its reader alone (nobody else is in it);
        elsewhere the @-mentions and @here of its mrkdwn (plain text is never parsed)."""
        if message.channel.startswith("D"):
            return [self._names.get(message.channel[1:], message.channel[1:]) + " (a DM)"]
        raw = "\n".join(message.mrkdwn_texts())
        who = [self._names.get(user, user) for user in dict.fromkeys(_USER.findall(raw))]
        return who + [f"@{word}" for word in dict.fromkeys(_BROADCAST.findall(raw))]


def _file_line(file: Mapping) -> str:
    """A shared file as Slack previews it: its name, what it is (an image's size, read from
    its PNG header) and the description a screen reader gets."""
    data = file.get("bytes") or b""
    if data.startswith(_PNG):
        kind = f"PNG, {int.from_bytes(data[16:20], 'big')}×{int.from_bytes(data[20:24], 'big')}"
    else:
        kind = f"{len(data):,} bytes"
    alt = f" — alt: {file['alt_txt']}" if file.get("alt_txt") else ""
    return f"{file['name']} ({kind}){alt}"


def _block_lines(blocks: list[dict]) -> list[str]:
    """Blocks as a reader scans them: fields side by side as ``Title: value``; a section's
    accessory at the end of its first line, where Slack draws it (top right); a divider as a
    rule."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind in ("header", "section"):
            if block.get("text"):
                text = block["text"].get("text", "").splitlines() or [""]
                if block.get("accessory"):
                    text[0] = f"{text[0]}  {_control(block['accessory'])}"
                lines.extend(text)
            fields = [field.get("text", "").replace("*", "").replace("\n", ": ", 1)
                      for field in block.get("fields", [])]
            if fields:
                lines.append(" · ".join(fields))
        elif kind == "context":
            lines.extend(element.get("text", "") for element in block.get("elements", []) if "text" in element)
        elif kind == "actions":
            lines.append(" ".join(_control(element) for element in block.get("elements", [])))
        elif kind == "divider":
            lines.append(_RULE)
    return lines


def _control(element: dict) -> str:
    """A control as it looks: menus with ▾, a link button with ↗, a styled button with its
    style (Slack draws primary green and danger red)."""
    kind = element.get("type")
    if kind in ("static_select", "users_select"):
        return f"[{element.get('placeholder', {}).get('text', 'Choose')} ▾]"
    if kind == "overflow":
        return f"[⋯ {' · '.join(option['text']['text'] for option in element.get('options', []))}]"
    label = element.get("text", {}).get("text", "")
    if element.get("url"):
        return f"[{label} ↗]"
    style = element.get("style")
    return f"[{label} ({style})]" if style else f"[{label}]"
