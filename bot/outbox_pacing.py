"""Which due outbox rows go now, and the tokens each spends (the buckets are bot/pacing.py's).

A row is leased only once the bucket of its main call (a post's channel, chat.update, ...)
gave it a token, taken before the lease and given back if another sender got the row.
A row whose bucket is empty stays pending, unleased, and is left out of the due query
until a token is back, so it holds no other channel's rows back. Among rows that may go,
cards, step prompts and updates come first, thread replies (reminders, notices) next,
digests last. The other calls a row makes (the quote, the permalink, the lookup of an
uncertain post) spend when they are made; with their bucket empty they are not made.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from bot import receipts, uploads
from bot.home_refresh import KIND as HOME
from bot.outbox_details import KIND as DETAILS
from bot.outbox_export import KIND as EXPORT
from bot.pacing import HISTORY_METHODS, POST, Key, Pacer, key
from storage.outbox_store import Due, Leased

# Lower goes first; kinds not named here are 0 with cards and step prompts.
PRIORITY: dict[str, int] = {"reply": 1, "post": 2, HOME: 2, DETAILS: 3, EXPORT: 3}
# The main call of each kind, beside posts: the row waits, unleased, until its bucket has a token.
MAIN_CALLS = {"update_card": ("chat.update",), "update_step": ("chat.update",), "update_approval": ("chat.update",),
           "ephemeral": ("chat.postEphemeral",), DETAILS: tuple(sorted(HISTORY_METHODS)),
           receipts.ADD: ("reactions.add",), receipts.REMOVE: ("reactions.remove",), HOME: ("views.publish",),
           EXPORT: uploads.METHODS}
# A sender that finds nothing to do waits at least this long, however soon a token is back.
MIN_WAIT_SECONDS = 0.005


@dataclass(slots=True)
class _Ticket:
    """The tokens taken for one row before its lease, spent by its calls or given back."""

    workspace: str
    reserved: list[Key] = field(default_factory=list)


class RowPacing:
    """The outbox's side of the pacing; shared by the sender threads of a process."""

    def __init__(self, pacer: Pacer, *, post_kinds: frozenset[str]) -> None:
        self._pacer = pacer
        self._main = {kind: (POST,) for kind in post_kinds} | MAIN_CALLS
        self._lock = threading.Lock()
        self._tickets: dict[int, _Ticket] = {}
        self._local = threading.local()

    def skips(self) -> dict[str, list]:
        """What the due query leaves out now: rows whose main bucket is empty."""
        empty = self._pacer.empty()
        channels = {channel for _, method, channel in empty if method == POST}
        methods = {method for _, method, _ in empty if method != POST}
        return {"skip_channels": [(kind, channel) for channel in sorted(channels) for kind, calls in self._main.items()
                                  if calls == (POST,)],
                "skip_kinds": [kind for kind, calls in self._main.items() if methods.intersection(calls)]}

    @staticmethod
    def order(due: list[Due]) -> list[Due]:
        """By priority, then in due order."""
        return sorted(due, key=lambda row: PRIORITY.get(row.kind, 0))

    def pick(self, due: Iterable[Due]) -> list[int]:
        """The rows whose main call has its tokens now, taken for them."""
        picked = []
        for row in due:
            keys = [key(row.workspace_id, method, row.channel) for method in self._main.get(row.kind, ())]
            if self._pacer.take(keys) == 0.0:
                with self._lock:
                    self._tickets[row.id] = _Ticket(row.workspace_id, keys)
                picked.append(row.id)
        return picked

    def forget(self, row_ids: Iterable[int]) -> None:
        """Rows picked but not sent (another sender leased them, or this one is stopping)."""
        with self._lock:
            tickets = [self._tickets.pop(row_id) for row_id in row_ids if row_id in self._tickets]
        for ticket in tickets:
            self._pacer.give_back(ticket.reserved)

    @contextmanager
    def sending(self, row: Leased) -> Iterator[None]:
        """While this thread sends ``row``, its calls spend the row's ticket first; what the
        row did not spend is given back at the end (a superseded card update spends nothing)."""
        with self._lock:
            ticket = self._tickets.pop(row.id, None) or _Ticket(row.workspace_id)
        self._local.ticket = ticket
        try:
            yield
        finally:
            self._local.ticket = None
            self._pacer.give_back(ticket.reserved)

    def spend(self, method: str, channel: str | None) -> float:
        """Before a call: 0.0 when it may go now, else the seconds until its bucket has a token."""
        ticket: _Ticket | None = getattr(self._local, "ticket", None)
        wanted = key(ticket.workspace if ticket else "", method, channel)
        if ticket is not None and wanted in ticket.reserved:
            ticket.reserved.remove(wanted)
            return 0.0
        return self._pacer.take([wanted])

    def refused(self, method: str, channel: str | None, retry_after: float) -> None:
        """Slack answered 429: the whole bucket waits Retry-After, for every sender thread."""
        ticket: _Ticket | None = getattr(self._local, "ticket", None)
        self._pacer.hold(key(ticket.workspace if ticket else "", method, channel), retry_after)

    def idle_wait(self, poll: float) -> float:
        """How long a sender sleeps when not woken: until the first token is back, at most ``poll``."""
        soonest = self._pacer.soonest()
        return poll if soonest is None else max(MIN_WAIT_SECONDS, min(poll, soonest))
