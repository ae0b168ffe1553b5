"""Our buttons and forms, wired into Bolt as three listeners instead of one per id.

Why: Bolt tries its listeners in order until one matches, and every try builds the full
set of listener arguments (say, respond, the payload views...): about 35 µs each. With a
listener per button and form, a click tried up to 23 of them before its own, most of a
millisecond on every ack (docs/PERFORMANCE.md). Here a click meets one pattern per kind of
payload and is then looked up by its id in a dict.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from slack_bolt import Ack, App
from slack_sdk import WebClient

from handlers.payload import text

ActionListener = Callable[[Ack, dict], None]
FormOpener = Callable[[dict, WebClient], None]
ViewListener = Callable[[Ack, dict, dict], None]


class Routes:
    def __init__(self) -> None:
        self._actions: dict[str, ActionListener] = {}
        self._forms: dict[str, FormOpener] = {}
        self._views: dict[str, ViewListener] = {}

    def action(self, action_id: str, listener: ActionListener) -> None:
        """A button or menu handled within the ack (the database, no Slack call)."""
        self._actions[action_id] = listener

    def form(self, action_id: str, opener: FormOpener) -> None:
        """A button that opens a modal: acked at once, the modal opened after the ack
        (views.open is a Slack call, and a trigger lives 3 seconds)."""
        self._forms[action_id] = opener

    def view(self, callback_id: str, listener: ViewListener) -> None:
        """A modal submission, answered within the ack so that field errors show inline."""
        self._views[callback_id] = listener

    def wire_clicks(self, app: App) -> None:
        """The buttons and menus handled within the ack: the most frequent payload, so its
        listener is best registered first (handlers/__init__.py)."""
        app.action(_one_of(self._actions))(self._on_action)

    def wire_forms(self, app: App) -> None:
        app.action(_one_of(self._forms))(ack=_ack_only, lazy=[self._open_form])
        app.view(_one_of(self._views))(self._on_view)

    def _on_action(self, ack: Ack, body: dict) -> None:
        self._actions[text(body, "actions", 0, "action_id") or ""](ack, body)

    def _open_form(self, body: dict, client: WebClient) -> None:
        self._forms[text(body, "actions", 0, "action_id") or ""](body, client)

    def _on_view(self, ack: Ack, body: dict, view: dict) -> None:
        self._views[text(view, "callback_id") or ""](ack, body, view)


def _ack_only(ack: Ack) -> None:
    ack()


def _one_of(ids: Iterable[str]) -> re.Pattern[str]:
    return re.compile("^(?:" + "|".join(re.escape(one) for one in sorted(ids)) + ")$")
