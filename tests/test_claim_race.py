"""The claim race, lost on purpose: a rival claim is let in between a claim's load and its
conditional update, instead of hoping threads interleave that way.

On PostgreSQL the load takes no lock, so the rival commits first, the update finds no row at
the version it read, and the loser is told who won. On SQLite a writer holds the write lock
from before its load, so the rival waits its turn and is refused the ordinary way.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from bot.devkit.driver import Answer
from bot.service import Locator
from tests.conftest import ServedBot

# How long the hooked claim gives its rival to finish: on PostgreSQL the rival is done in
# milliseconds; on SQLite it cannot finish before the hooked claim commits, however long.
RIVAL_CHANCE_SECONDS = 1.0


class _Rival:
    """`/recovery claim 1` by ``user`` from another thread, started from inside the hook."""

    def __init__(self, bot: ServedBot, user: str) -> None:
        self.answer: Answer | None = None
        self._thread = threading.Thread(target=self._claim, args=(bot, user), name=f"rival-{user}")

    def _claim(self, bot: ServedBot, user: str) -> None:
        self.answer = bot.slack.command("/recovery claim 1", user=user)

    def start_and_give_a_chance(self) -> None:
        self._thread.start()
        self._thread.join(timeout=RIVAL_CHANCE_SECONDS)

    def finish(self) -> Answer:
        self._thread.join(timeout=30)
        assert self.answer is not None, "the rival's claim never answered"
        return self.answer


@contextmanager
def _rival_between_load_and_update(bot: ServedBot, rival: _Rival) -> Iterator[None]:
    """Start ``rival`` just before the first update of an incident's version runs (a
    decision's write): the claim that makes it has loaded the incident and decided, and has
    not written yet."""
    engines = bot.runtime.db.engines
    fired = threading.Lock()

    def before_execute(_conn, _cursor, statement: str, *_args: object) -> None:  # noqa: ANN001
        # A decision's write, alone or (PostgreSQL) at the head of the statement that writes its steps too.
        if "UPDATE incident SET" in statement and " version=" in statement \
                and fired.acquire(blocking=False):
            rival.start_and_give_a_chance()

    for engine in engines:
        event.listen(engine, "before_cursor_execute", before_execute)
    try:
        yield
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", before_execute)
    assert fired.locked(), "the hooked claim never reached its update"


def _flag(bot: ServedBot) -> None:
    bot.slack.command("/recovery new Package never arrived", channel="C1")
    bot.settle()


def _claim(bot: ServedBot, how: str, user: str) -> str | None:
    """Claim #1 as ``user``; the command's answer, or None for a click (it answers later)."""
    if how == "command":
        return bot.slack.command("/recovery claim 1", user=user).text
    assert bot.slack.click(bot.card(1), "Claim", user=user).status == 200
    return None


def _told(bot: ServedBot, how: str, user: str, answer: str | None) -> list[str]:
    """What ``user`` was told: the command's answer, or the ephemeral lines sent after a click."""
    if how == "command":
        return [answer or ""]
    return [message.text for message in bot.fake.ephemerals(user)]


def _is_postgresql(bot: ServedBot) -> bool:
    return bot.runtime.db.dialect == "postgresql"


def _one_owner(bot: ServedBot, owner: str) -> None:
    assert bot.runtime.service.incident(Locator("T1", number=1)).owner_id == owner
    card = bot.card(1).plain()
    assert f"<@{owner}>" in card and "[Claim]" not in card
    prompts = bot.thread(bot.card(1))
    assert len(prompts) == 1 and prompts[0].text == "Next step on #1: Acknowledge and take ownership", \
        "exactly one first-step prompt, without a ping to the owner who just claimed it"


def _race(bot: ServedBot, how: str) -> tuple[str, list[str]]:
    """U3 claims #1 (by ``how``) with U2's rival claim let in between load and update: what
    U2's command answered, and what U3 was told."""
    _flag(bot)
    rival = _Rival(bot, "U2")
    with _rival_between_load_and_update(bot, rival):
        answer = _claim(bot, how, "U3")
    rival_answer = rival.finish().text
    bot.settle()
    return rival_answer, _told(bot, how, "U3", answer)


@pytest.mark.parametrize("how", ["command", "click"])
def test_loser_of_a_claim_race_is_told_who_won(bot, how):
    if not _is_postgresql(bot):
        pytest.skip("on SQLite nothing commits between a writer's load and update: see the next test")
    assert _race(bot, how) == ("You now own #1. The first step is in its thread.",
                               ["Too late: <@U2> claimed #1 first."])
    _one_owner(bot, "U2")


@pytest.mark.parametrize("how", ["command", "click"])
def test_on_sqlite_a_rival_claim_waits_for_the_claim_in_hand_and_is_refused(bot, how):
    if _is_postgresql(bot):
        pytest.skip("PostgreSQL lets the rival commit first: see the previous test")
    told_the_claimer = ["You now own #1. The first step is in its thread."] if how == "command" else []
    assert _race(bot, how) == ("#1 is already owned by <@U3>.", told_the_claimer)
    _one_owner(bot, "U3")
