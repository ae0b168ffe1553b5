"""The demo's "rest of the quarter": enough recoveries, followed up, for insights to say something.

Forty-eight incidents over four weeks go through the real flow, as people would drive it:
flagged with `/recovery new`, claimed, each step done from its buttons and forms, agreed, and
followed up when the bot asks three days later. Nothing here writes to the database or decides a
figure: the plan only says when each person presses what, and what the customer answered.

The plan tells a story a lead could act on: the team acknowledged within the step's SLA more
often as the weeks went by, and customers acknowledged quickly and resolved fast said they
would buy again far more often than those kept waiting.
"""
from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import count

from bot.devkit.clock import FakeClock
from bot.devkit.driver import SlackDriver
from bot.devkit.slack_double import FakeSlack, Message

PER_DAY = 3
# Per week (Monday to Thursday, three a day), whether each incident is acknowledged within the
# step's SLA (F) or late (L): the team gets faster as the weeks go by.
ACKNOWLEDGED = ("FLLFLLFLLFLL", "FLFLFLFLFLFL", "FFLFFLFFLFFL", "FFFLFFFLFFFL")
COMPLAINTS = ("My order arrived damaged", "I was charged twice this month", "The replacement never came",
              "Your agent hung up on me", "Wrong size again, third time")
CAUSES = ("delivery", "billing", "product defect", "staff behaviour", "process")
REMEDIES = (("discount", "20"), ("replacement", "45"), ("refund", "35"), ("gift", "15"))


@dataclass(frozen=True, slots=True)
class Recovery:
    """One planned incident: when it is flagged, by whom, how fast each thing happens after."""

    flagged: datetime
    owner: str
    acknowledge_after: timedelta
    resolve_after: timedelta
    satisfaction: int
    buy_again: str
    cause: str
    remedy: tuple[str, str]

    @property
    def on_time(self) -> bool:
        return self.acknowledge_after <= timedelta(minutes=15)


def plan(start: datetime, owners: tuple[str, str]) -> list[Recovery]:
    """Three incidents a day, Monday to Thursday, for four weeks from ``start`` (a Monday morning)."""
    planned = []
    for week, pattern in enumerate(ACKNOWLEDGED):
        for index, mark in enumerate(pattern):
            day = start + timedelta(days=7 * week + index // PER_DAY)
            number = week * len(pattern) + index
            planned.append(_recovery(number, mark == "F", day + timedelta(hours=2 * (index % PER_DAY)), owners))
    return planned


def _recovery(number: int, on_time: bool, flagged: datetime, owners: tuple[str, str]) -> Recovery:
    if on_time:
        resolve = timedelta(hours=2) if number % 3 else timedelta(hours=9)
        happy = number % 7 != 3
    else:
        resolve = (timedelta(hours=9), timedelta(hours=30), timedelta(hours=80))[number % 3]
        happy = number % 3 == 0
    return Recovery(flagged=flagged, owner=owners[number % 2],
                    acknowledge_after=timedelta(minutes=5) if on_time else timedelta(minutes=50),
                    resolve_after=resolve, satisfaction=(9 if number % 2 else 8) if happy else (4 + number % 3),
                    buy_again="yes" if happy else ("maybe" if number % 2 else "no"),
                    cause=CAUSES[number % len(CAUSES)], remedy=REMEDIES[number % len(REMEDIES)])


class Quarter:
    """Drives the planned recoveries through the served bot, in the order of their moments:
    one incident's follow-up may come between another's flag and its claim. The outbox is
    drained only before a message is looked for, as a sender that falls behind would: card
    redraws queued meanwhile are superseded, which keeps the demo quick."""

    def __init__(self, *, slack: SlackDriver, fake: FakeSlack, clock: FakeClock, channel: str,
                 settle: Callable[[], None], tick: Callable[[], None], follow_up_after: timedelta) -> None:
        self._slack, self._fake, self._clock = slack, fake, clock
        self._channel = channel
        self._settle, self._tick = settle, tick
        self._follow_up_after = follow_up_after

    def play(self, recoveries: list[Recovery], *, first_number: int) -> None:
        order = count()
        moments: list[tuple[datetime, int, Iterator[datetime]]] = []
        for offset, recovery in enumerate(recoveries):
            steps = self._steps(recovery, first_number + offset)
            heapq.heappush(moments, (next(steps), next(order), steps))
        while moments:
            at, _, steps = heapq.heappop(moments)
            self._clock.set(max(at, self._clock.now()))
            following = next(steps, None)
            if following is not None:
                heapq.heappush(moments, (following, next(order), steps))
        self._settle()

    def _steps(self, recovery: Recovery, number: int) -> Iterator[datetime]:
        """Each yield is the moment of the next action; the action runs once the clock is there."""
        owner, start = recovery.owner, recovery.flagged
        yield start
        self._slack.command(f"/recovery new {COMPLAINTS[number % len(COMPLAINTS)]}", user=owner,
                            channel=self._channel)
        yield start + timedelta(minutes=2)
        self._press(self._card(number), "Claim", owner)
        acknowledged = start + recovery.acknowledge_after
        yield acknowledged
        self._press(self._prompt(number), "Done", owner)
        yield acknowledged + timedelta(minutes=5)
        self._press(self._prompt(number), "Done", owner)
        yield acknowledged + timedelta(minutes=20)
        self._fill(number, "Done", owner, {"root_cause": recovery.cause, "fix_note": "Found and fixed"})
        yield acknowledged + timedelta(minutes=30)
        kind, amount = recovery.remedy
        self._fill(number, "Done", owner, {"remedy_kind": kind, "amount": amount})
        agreed = start + recovery.resolve_after
        yield agreed
        self._press(self._prompt(number), "Agreed", owner)
        yield agreed + self._follow_up_after + timedelta(hours=1)
        self._tick()
        self._fill(number, "Record follow-up", owner,
                   {"csat": str(recovery.satisfaction), "buy_again": recovery.buy_again})

    def _card(self, number: int) -> Message:
        self._settle()
        return next(message for message in self._fake.messages(self._channel)
                    if message.text.startswith(f"Recovery #{number}:"))

    def _prompt(self, number: int) -> Message:
        thread = self._fake.thread(self._channel, self._card(number).ts)
        return [message for message in thread if any(block.get("type") == "actions" for block in message.blocks)][-1]

    def _press(self, message: Message, label: str, who: str) -> None:
        self._slack.click(message, label, user=who)

    def _fill(self, number: int, label: str, who: str, values: dict[str, object]) -> None:
        before = len(self._fake.views())
        self._slack.click(self._prompt(number), label, user=who)
        self._fake.wait_for(lambda: len(self._fake.views()) > before)
        self._slack.submit(self._fake.views()[-1], values, user=who)
