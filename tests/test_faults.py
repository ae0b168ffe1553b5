"""The fault suite (issue 6): what a support lead would notice when the bot crashes, Slack
misbehaves, the database goes away, or several replicas race, and must never notice.

1. kill -9 at random moments during a burst of flags, claims, step clicks and ticks;
2. Slack answering 429, 500, 503, stalling and dropping connections;
3. PostgreSQL stopped and started under a running bot;
4. three replicas on one PostgreSQL, with and without one of them killed mid-tick.

Run alone with ``pytest -m fault``.
"""
from __future__ import annotations

import http.client
import random
import re
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from bot.domain.playbook import DEFAULT_PLAYBOOK
from bot.domain.types import StepKey
from bot.outbox import POST_KINDS, THREAD_KINDS
from bot.devkit.slack_double import FakeSlack, Message
from bot.devkit.driver import Answer, SlackDriver
from bot.views import ids
from bot.web import EVENTS_PATH
from storage import outbox_store
from storage.db import Database
from storage.models import Incident, Notification, OutboxMessage, StepRecord, TimelineEvent
from tests.conftest import SIGNING_SECRET, ServedBot
from bot.devkit.postgres import start_again, start_throwaway_postgres, stop_keeping_data
from bot.devkit.processes import BotProcess, ForkServer

pytestmark = [pytest.mark.fault, pytest.mark.wall_clock]

OWNER = "U2"
CARD = re.compile(r"^Recovery #(\d+):")
STEP_BY_TITLE = {step.title: step.key for step in DEFAULT_PLAYBOOK.steps}
# The timeline event that ends each kind of step (any other step: step_done).
STEP_ENDED_BY = {StepKey.CLAIM: "claimed", StepKey.BUY_IN: "buy_in_agreed", StepKey.FOLLOW_UP: "follow_up_recorded"}
STEP_END_EVENTS = ("claimed", "step_done", "buy_in_agreed", "follow_up_recorded", "step_skipped")


# Small helpers ---------------------------------------------------------------------------


def _wait(predicate: Callable[[], bool], timeout: float, every: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(every)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _driver(fake: FakeSlack, base_url: str) -> SlackDriver:
    return SlackDriver(url=base_url + EVENTS_PATH, signing_secret=SIGNING_SECRET, fake=fake)


def _button(message: Message, action_id: str) -> str | None:
    """The value of the button with this action id on a message, if it still has one."""
    for block in message.blocks:
        for element in block.get("elements", []) + ([block["accessory"]] if "accessory" in block else []):
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return element.get("value", "")
    return None


def _cards(fake: FakeSlack) -> dict[int, list[Message]]:
    """Incident number -> the top-level card messages the bot has in Slack for it."""
    found: dict[int, list[Message]] = defaultdict(list)
    for message in fake.all_messages():
        match = CARD.match(message.text)
        if match and message.user == fake.bot_user_id and message.thread_ts is None:
            found[int(match.group(1))].append(message)
    return found


def _outbox_ids(fake: FakeSlack) -> Counter:
    """How many messages in Slack carry each outbox id: a post shown twice counts 2."""
    counted: Counter = Counter()
    for message in fake.all_messages():
        payload = (message.metadata or {}).get("event_payload") or {}
        if "outbox_id" in payload:
            counted[payload["outbox_id"]] += 1
    return counted


def _alert_level_and_step(text: str) -> tuple[str, StepKey]:
    """(nudge | escalation, the step it is about), read from the message a person sees."""
    level = "nudge" if text.startswith("⏰") else "escalation"
    if "has no owner yet and was due to be claimed" in text:
        return level, StepKey.CLAIM
    title = re.search(r"\*([^*]+)\*", text)
    assert title, f"an alert that names no step: {text}"
    return level, STEP_BY_TITLE[title.group(1)]


@dataclass
class Snapshot:
    """The database as the tests check it, read in one transaction."""

    incidents: dict[int, Incident]
    events: dict[int, list[TimelineEvent]]
    records: dict[int, list[StepRecord]]
    notifications: list[Notification]
    outbox: list[OutboxMessage]

    @classmethod
    def read(cls, db: Database) -> Snapshot:
        with db.transaction() as session:
            incidents = {row.id: row for row in session.exec(select(Incident)).all()}
            events: dict[int, list[TimelineEvent]] = defaultdict(list)
            for event in session.exec(select(TimelineEvent).order_by(col(TimelineEvent.id))).all():
                events[event.incident_id].append(event)
            records: dict[int, list[StepRecord]] = defaultdict(list)
            for record in session.exec(select(StepRecord).order_by(col(StepRecord.seq))).all():
                records[record.incident_id].append(record)
            notifications = list(session.exec(select(Notification)).all())
            outbox = list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all())
        return cls(incidents, events, records, notifications, outbox)

    def by_number(self) -> dict[int, Incident]:
        return {row.number: row for row in self.incidents.values()}

    def by_card_ts(self) -> dict[str, Incident]:
        return {row.card_ts: row for row in self.incidents.values() if row.card_ts}

    def step_of(self, incident_id: int, seq: int) -> StepKey:
        return StepKey(next(record.step for record in self.records[incident_id] if record.seq == seq))


def _alerts_in_slack(fake: FakeSlack, snapshot: Snapshot) -> Counter:
    """(incident id, step, level) -> how many such nudges or escalations Slack shows."""
    threads = snapshot.by_card_ts()
    counted: Counter = Counter()
    for message in fake.all_messages():
        if message.channel.startswith("D"):
            continue  # the leads' copies of an escalation: each escalation is counted in its thread
        if message.user == fake.bot_user_id and message.text.startswith(("⏰", "🚨")):
            assert message.thread_ts in threads, f"an alert outside any incident thread: {message.text}"
            level, step = _alert_level_and_step(message.text)
            counted[(threads[message.thread_ts].id, step, level)] += 1
    return counted


def _alerts_claimed(snapshot: Snapshot) -> Counter:
    """(incident id, step, level) -> notification rows: what the bot decided to send."""
    return Counter((row.incident_id, snapshot.step_of(row.incident_id, row.step_seq), row.kind)
                   for row in snapshot.notifications if row.kind in ("nudge", "escalation"))


def _assert_timeline_has_no_gaps(snapshot: Snapshot) -> None:
    """Each incident: one `created`; a `claimed` exactly when it has an owner; step records
    numbered without holes, the last one current, and every ended step matched by its event;
    one `nudged`/`escalated`/`follow_up_prompted` event per reminder claimed."""
    claimed = Counter((row.incident_id, row.kind) for row in snapshot.notifications)
    for incident in snapshot.incidents.values():
        kinds = Counter(event.kind for event in snapshot.events[incident.id])
        ref = f"#{incident.number}"
        assert kinds["created"] == 1, f"{ref}: {kinds['created']} created events"
        assert kinds["claimed"] == (1 if incident.owner_id else 0), f"{ref}: owner {incident.owner_id}, {kinds}"
        records = snapshot.records[incident.id]
        assert [record.seq for record in records] == list(range(incident.step_seq + 1)), f"{ref}: step records"
        current = records[-1]
        assert current.status == "current" and current.step == incident.current_step, f"{ref}: current step"
        ended = records[:-1]
        assert all(record.status in ("done", "skipped") and record.ended_at for record in ended), ref
        expected = Counter(STEP_ENDED_BY.get(record.step, "step_done") if record.status == "done" else "step_skipped"
                           for record in ended)
        assert expected == Counter({kind: kinds[kind] for kind in STEP_END_EVENTS if kinds[kind]}), \
            f"{ref}: ended steps {[(r.step, r.status) for r in ended]} vs events {kinds}"
        assert kinds["nudged"] == claimed[(incident.id, "nudge")], f"{ref}: nudged events"
        assert kinds["escalated"] == claimed[(incident.id, "escalation")], f"{ref}: escalated events"
        assert kinds["follow_up_prompted"] == claimed[(incident.id, "follow_up_prompt")], f"{ref}: follow-up"


def _live_prompt(bot: ServedBot, card: Message) -> Message:
    live = [m for m in bot.thread(card) if any(block.get("type") == "actions" for block in m.blocks)]
    assert live, f"no step prompt with buttons under {card.text}"
    return live[-1]


def _new_incident(bot: ServedBot, summary: str, channel: str) -> int:
    answer = bot.slack.command(f"/recovery new {summary}", channel=channel)
    match = re.search(r"Flagged as #(\d+)", answer.text)
    assert answer.status == 200 and match, answer.body
    return int(match.group(1))


def _first_flagged_a_day_earlier(bot: ServedBot) -> None:
    """A channel's first digest comes at the first DIGEST_TIME after its first incident: the
    incidents are dated a day back, so that today's digest is owed to every channel with
    incidents (their steps' clocks, and so the reminders, stay as they are)."""
    with bot.runtime.db.transaction() as session:
        for row in session.exec(select(Incident)).all():
            row.created_at -= timedelta(days=1)
            session.add(row)


def _walk_to_buy_in(bot: ServedBot, number: int) -> None:
    """Claim, acknowledge, apologize, fix, remedy and the customer's Agreed, on the bot's clock."""
    bot.slack.click(bot.card(number), "Claim", user=OWNER)
    bot.settle()
    for _ in range(2):
        bot.slack.click(_live_prompt(bot, bot.card(number)), "Done", user=OWNER)
        bot.settle()
    for values in ({"root_cause": "delivery", "fix_note": "Reshipped"}, {"remedy_kind": "gift", "amount": "10"}):
        before = len(bot.fake.views())
        bot.slack.click(_live_prompt(bot, bot.card(number)), "Done", user=OWNER)
        assert bot.fake.wait_for(lambda opened=before: len(bot.fake.views()) > opened), "no form opened"
        assert bot.slack.submit(bot.fake.views()[-1], values, user=OWNER).body == ""
        bot.settle()
    bot.slack.click(_live_prompt(bot, bot.card(number)), "Agreed", user=OWNER)
    bot.settle()


# 1. kill -9 at random moments -----------------------------------------------------------

KILLS = 50
TICK_EVERY = 5        # every 5th crash is aimed at the scheduler tick
# The digest is due whatever the hour the suite runs (bot processes get only the variables given).
DIGEST_DUE = {"DIGEST_TIME": "00:00"}
PLAIN_EVERY = 10      # every 10th is a plain `python -m bot serve`; the others are forked (see ForkServer)
BACKLOG = 24          # unclaimed and overdue: nudge and escalation owed on the claim step
CLAIMED = 24          # claimed and overdue on "Acknowledge": owed to the owner
CONTROL = 12          # of each, never touched during the crashes: every reminder must arrive
FOLLOW_UPS = 3        # buy-in three days ago: the follow-up prompt is due
FRESH = 4             # overdue incidents added before each tick crash, so the tick has work
SLEEPERS = 6          # reminders that fall due while the bot is down
REQUEST_ERRORS = (OSError, http.client.HTTPException)


@dataclass
class Request:
    kind: str             # flag | claim | done
    key: object           # (channel, ts) | incident id | (incident id, seq)
    event_id: str = ""
    status: int | None = None

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _send(request: Request, call: Callable[[], Answer], jitter: float) -> None:
    time.sleep(jitter)
    try:
        request.status = call().status
    except REQUEST_ERRORS:
        request.status = None  # cut off by the kill: Slack saw no answer and will retry


def _ticks_started_and_finished(log) -> tuple[int, int]:  # noqa: ANN001
    """The tick's own runs: on PostgreSQL the statistics job runs beside it and logs the same way."""
    lines = (log.read_text(errors="replace") if log.exists() else "").splitlines()
    return (sum('Running job "Ticker.safe_tick' in line for line in lines),
            sum('Job "Ticker.safe_tick' in line and "executed successfully" in line for line in lines))


def _first_tick_end(log) -> datetime:  # noqa: ANN001
    """When the process's first scheduler tick was over, from its log (local time, ms)."""
    for line in log.read_text(errors="replace").splitlines():
        if 'Job "Ticker.safe_tick' in line and "executed successfully" in line:
            stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
            return stamp.astimezone(timezone.utc) + timedelta(milliseconds=1)
    raise AssertionError(f"no tick finished in {log}")


class Crashes:
    """The crash loop. Claims and Done clicks go to what Slack shows (cards, step prompts)."""

    def __init__(self, bot: ServedBot, settings, logs, rng: random.Random, forks: ForkServer,  # noqa: ANN001
                 protected: set[int]) -> None:
        self.bot, self.settings, self.logs, self.rng, self.forks = bot, settings, logs, rng, forks
        self.protected = protected
        self.requests: list[Request] = []
        self.targeted: set[object] = set()
        self.kills = 0
        self.mid_tick = 0
        self.pool = ThreadPoolExecutor(max_workers=8)

    def claim_targets(self) -> list[tuple[int, Message]]:
        found = []
        for cards in _cards(self.bot.fake).values():
            value = _button(cards[0], ids.CLAIM)
            if value and int(value) not in self.protected and int(value) not in self.targeted:
                found.append((int(value), cards[0]))
        return found

    def done_targets(self) -> list[tuple[tuple[int, int], Message]]:
        found = []
        for message in self.bot.fake.all_messages():
            value = _button(message, ids.DONE)
            if value and message.thread_ts:
                incident_id, _, seq = value.partition(":")
                key = (int(incident_id), int(seq))
                if key[0] not in self.protected and key not in self.targeted:
                    found.append((key, message))
        return found

    def burst(self, driver: SlackDriver) -> list[tuple[Request, Callable[[], Answer]]]:
        """Two flags of new complaints, a Claim on a card and a Done on a step prompt."""
        batch: list[tuple[Request, Callable[[], Answer]]] = []
        for _ in range(2):
            complaint = self.bot.fake.add_user_message("C4", user="UCUST", text="My order is wrong")
            request = Request("flag", ("C4", complaint.ts), event_id=f"EvCrash{complaint.ts}")
            batch.append((request, lambda ts=complaint.ts, event=request.event_id:
                          driver.react(channel="C4", ts=ts, event_id=event)))
        if claims := self.claim_targets():
            incident_id, card = self.rng.choice(claims)
            batch.append((Request("claim", incident_id), lambda: driver.click(card, "Claim", user=OWNER)))
        if dones := self.done_targets():
            key, prompt = self.rng.choice(dones)
            batch.append((Request("done", key), lambda: driver.click(prompt, "Done", user=OWNER)))
        for request, _ in batch:
            self.targeted.add(request.key)
            self.requests.append(request)
        return batch

    def cycle(self, *, at_tick: bool) -> None:
        log = self.logs / f"bot-{self.kills:02d}.log"
        if self.kills % PLAIN_EVERY == 0:
            process = BotProcess(self.settings, log=log, tick="1s", env=DIGEST_DUE)
        else:
            process = self.forks.start(self.settings, log=log, tick="1s", env=DIGEST_DUE)
        futures = []
        try:
            process.wait_healthy()
            driver = _driver(self.bot.fake, process.url)
            futures = [self.pool.submit(_send, request, call, self.rng.uniform(0, 0.05))
                       for request, call in self.burst(driver)]
            if at_tick:
                # The first tick comes one SCHEDULER_TICK after start-up: kill while it runs.
                assert _wait(lambda: _ticks_started_and_finished(log)[0] > 0, timeout=5, every=0.005), log
                time.sleep(self.rng.uniform(0, 0.06))
            else:
                time.sleep(self.rng.uniform(0, 0.3))
        finally:
            process.kill()
        self.kills += 1
        started, finished = _ticks_started_and_finished(log)
        self.mid_tick += started > finished
        for future in futures:
            future.result(timeout=15)


def test_kill_9_at_random_moments_loses_no_flag_and_sends_every_reminder_once(bot, settings, tmp_path):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    started = _utcnow()
    context = f"seed {seed}, logs in {tmp_path}"

    # Before: work the bot left undone, on an old clock (as if flagged earlier).
    bot.clock.set(started - timedelta(days=3, hours=1))
    follow_ups = [_new_incident(bot, f"Follow-up complaint {n}", "C3") for n in range(FOLLOW_UPS)]
    bot.settle()
    for number in follow_ups:
        _walk_to_buy_in(bot, number)
    bot.clock.set(started - timedelta(hours=3))
    backlog = [_new_incident(bot, f"Backlog complaint {n}", "C1") for n in range(BACKLOG)]
    claimed = [_new_incident(bot, f"Claimed complaint {n}", "C2") for n in range(CLAIMED)]
    bot.settle()
    for number in claimed:
        assert bot.slack.click(bot.card(number), "Claim", user=OWNER).status == 200
    bot.settle()
    before = Snapshot.read(bot.runtime.db).by_number()
    owed_claim = [before[n].id for n in backlog[:CONTROL]]
    owed_acknowledge = [before[n].id for n in claimed[:CONTROL]]
    control = set(owed_claim + owed_acknowledge + [before[n].id for n in follow_ups])

    # The crashes: each process serves a burst and is killed at a random moment, every
    # TICK_EVERY-th one while its scheduler tick runs.
    chaos_started = time.monotonic()
    with ForkServer() as forks:
        crashes = Crashes(bot, settings, tmp_path, rng, forks, control)
        try:
            for n in range(KILLS):
                at_tick = n % TICK_EVERY == TICK_EVERY - 1
                if at_tick:
                    bot.clock.set(_utcnow() - timedelta(hours=1))
                    fresh = [_new_incident(bot, f"Flagged while down {n}.{k}", "C6") for k in range(FRESH)]
                    ids_now = Snapshot.read(bot.runtime.db).by_number()
                    owed_claim += [ids_now[number].id for number in fresh]
                    control.update(ids_now[number].id for number in fresh)
                crashes.cycle(at_tick=at_tick)
        finally:
            crashes.pool.shutdown(wait=True)
    chaos_seconds = time.monotonic() - chaos_started
    assert crashes.kills >= 50
    assert crashes.mid_tick >= KILLS // TICK_EVERY // 2, f"only {crashes.mid_tick} kills landed mid-tick"

    # While it is down: incidents whose escalation falls due during the outage.
    escalation_due = _utcnow() + timedelta(seconds=1)
    bot.clock.set(escalation_due - timedelta(minutes=20))
    sleepers = [_new_incident(bot, f"Flagged before the outage {n}", "C5") for n in range(SLEEPERS)]
    bot.settle()
    time.sleep(max(0.0, (escalation_due - _utcnow()).total_seconds() + 0.2))
    _first_flagged_a_day_earlier(bot)

    final = BotProcess(settings, log=tmp_path / "bot-final.log", tick="1s", env=DIGEST_DUE)
    try:
        final.wait_healthy()
        healthy_at, healthy_wall = time.monotonic(), _utcnow()
        # Slack delivers again every event that got no 2xx.
        slack = _driver(bot.fake, final.url)
        for request in crashes.requests:
            if request.kind == "flag" and not request.acknowledged:
                channel, ts = request.key
                assert slack.react(channel=channel, ts=ts, event_id=request.event_id, retry=1).status == 200
        flags = [request.key for request in crashes.requests if request.kind == "flag"]
        sleeper_ids = {row.id for row in Snapshot.read(bot.runtime.db).incidents.values() if row.number in sleepers}

        def settled() -> bool:
            snapshot = Snapshot.read(bot.runtime.db)
            origins = {(row.origin_channel, row.origin_ts) for row in snapshot.incidents.values()}
            cards = _cards(bot.fake)
            outage_digest = [m for m in bot.fake.messages("C5") if m.text.startswith("Recovery digest")]
            return (all(key in origins for key in flags)
                    and all(row.number in cards for row in snapshot.incidents.values())
                    and all(row.state in ("sent", "dead") for row in snapshot.outbox)
                    and sum(row.incident_id in sleeper_ids for row in snapshot.notifications) == 2 * SLEEPERS
                    and len(outage_digest) == 1)

        assert _wait(settled, timeout=30), f"not settled 30 s after the final restart ({context})"
        settled_after = time.monotonic() - healthy_at
        time.sleep(2.2)  # two more ticks: anything sent twice would show now
    finally:
        final.stop()
    snapshot = Snapshot.read(bot.runtime.db)
    numbers = snapshot.by_number()

    # Every flag Slack got a 2xx for, or delivered again: one incident, one card.
    origins = Counter((row.origin_channel, row.origin_ts) for row in snapshot.incidents.values())
    for key in flags:
        assert origins[key] == 1, f"flag {key}: {origins[key]} incidents ({context})"
    cards = _cards(bot.fake)
    assert sorted(cards) == sorted(numbers), f"cards in Slack vs incidents ({context})"
    doubled = sorted(number for number, found in cards.items() if len(found) > 1)
    assert doubled == [], f"cards posted twice: {doubled} ({context})"

    # Nothing shown twice, nothing given up on.
    shown = _outbox_ids(bot.fake)
    posts = {row.id for row in snapshot.outbox if row.kind in POST_KINDS}
    assert [row.id for row in snapshot.outbox if row.state != "sent"] == [], f"outbox not all sent ({context})"
    assert set(shown) == posts and set(shown.values()) == {1}, f"a message lost or doubled ({context})"

    # Every reminder decided is in Slack exactly once, and every reminder owed was decided.
    in_slack, decided = _alerts_in_slack(bot.fake, snapshot), _alerts_claimed(snapshot)
    assert in_slack == decided and set(in_slack.values()) == {1}, context
    for incident_id in owed_claim + [numbers[n].id for n in sleepers]:
        assert {level for (i, step, level) in in_slack if i == incident_id and step == StepKey.CLAIM} == \
            {"nudge", "escalation"}, f"incident {incident_id} ({context})"
    for incident_id in owed_acknowledge:
        assert {level for (i, step, level) in in_slack if i == incident_id and step == StepKey.ACKNOWLEDGE} == \
            {"nudge", "escalation"}, f"incident {incident_id} ({context})"

    # Reminders that fell due during the outage: decided by the first tick after the restart
    # (which works through every overdue reminder, oldest first) and in Slack soon after, once.
    first_tick_ended = _first_tick_end(tmp_path / "bot-final.log")
    decided = [row.created_at for row in snapshot.notifications if row.incident_id in sleeper_ids]
    assert len(decided) == 2 * SLEEPERS and max(decided) <= first_tick_ended, \
        f"decided {sorted(decided)}, first tick over at {first_tick_ended} ({context})"
    sleeper_threads = {numbers[n].card_ts for n in sleepers}
    tick_over = healthy_at + (first_tick_ended - healthy_wall).total_seconds()
    sent_at = [call.at - tick_over for call in bot.fake.calls("chat.postMessage")
               if call.params.get("thread_ts") in sleeper_threads]
    assert len(sent_at) == 2 * SLEEPERS and max(sent_at) < 10, \
        f"sent {sorted(sent_at)} s after the first tick ({context})"

    # The follow-ups due: prompted once in the thread and once by DM.
    for number in follow_ups:
        incident = numbers[number]
        thread = bot.fake.thread(incident.card_channel, incident.card_ts)
        prompts = [m for m in thread if m.text.endswith(f"next step on #{number}: Follow up")]
        dms = [m for m in bot.fake.messages(f"D{OWNER}") if f"on #{number}:" in m.text]
        assert (len(prompts), len(dms)) == (1, 1), f"follow-up of #{number} ({context})"
        assert incident.current_step == StepKey.FOLLOW_UP

    # Acknowledged claims and clicks took effect (exactly once: see the timeline).
    for request in crashes.requests:
        if request.kind == "claim" and request.acknowledged:
            assert snapshot.incidents[request.key].owner_id == OWNER, context
        if request.kind == "done" and request.acknowledged:
            incident_id, seq = request.key
            record = next(r for r in snapshot.records[incident_id] if r.seq == seq)
            assert (record.status, record.ended_by) == ("done", OWNER), context
    _assert_timeline_has_no_gaps(snapshot)

    # One digest per channel with incidents, today.
    digests = Counter(m.channel for m in bot.fake.all_messages() if m.text.startswith("Recovery digest"))
    if _utcnow().date() == started.date():
        assert digests == Counter({row.card_channel for row in snapshot.incidents.values()}), context
    acknowledged = Counter(r.kind for r in crashes.requests if r.acknowledged)
    print(f"\n{settings.database_url.split(':')[0]}: {crashes.kills} kills ({crashes.mid_tick} mid-tick) in "
          f"{chaos_seconds:.0f}s; acknowledged {dict(acknowledged)} of {dict(Counter(r.kind for r in crashes.requests))}; "
          f"{len(snapshot.incidents)} incidents, {len(snapshot.notifications)} reminders, "
          f"{sum(row.attempts > 1 for row in snapshot.outbox)} messages retried; settled {settled_after:.1f}s "
          f"after the restart, first tick over {(first_tick_ended - healthy_wall).total_seconds():.1f}s after it, "
          f"outage reminders in Slack {max(sent_at):.1f}s after that (seed {seed})")


# 2. Slack misbehaving ---------------------------------------------------------------------


class TimeLapse:
    """Moves the bot's clock 1 s every 0.1 s while Slack is failing, so that Retry-After and
    backoff delays run out the way they would, ten times faster."""

    def __init__(self, bot: ServedBot) -> None:
        self._bot = bot
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="time-lapse", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self._bot.clock.advance(timedelta(seconds=1))

    def __enter__(self) -> TimeLapse:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _expected_calls(rows: list[OutboxMessage], prompts: dict[tuple[int, int], str], card_ts: str) -> list:
    """What Slack must have accepted for one incident, in order: each post once (by outbox id),
    each update of the card or of a step prompt (by message ts) unless the sender skipped it."""
    expected = []
    for row in rows:
        if row.kind in POST_KINDS:
            expected.append(("post", row.id))
        elif row.kind == "update_card" and not row.last_error:
            expected.append(("update", card_ts))
        elif row.kind == "update_step" and not row.last_error:
            expected.append(("update", prompts[(row.incident_id, row.step_seq)]))
    return expected


def _accepted_calls(fake: FakeSlack, outbox_ids: set[int], message_ts: set[str]) -> list:
    accepted = []
    for call in fake.calls():
        if call.method == "chat.postMessage":
            outbox_id = ((call.params.get("metadata") or {}).get("event_payload") or {}).get("outbox_id")
            if outbox_id in outbox_ids:
                accepted.append(("post", outbox_id))
        elif call.method == "chat.update" and call.params.get("ts") in message_ts:
            accepted.append(("update", call.params["ts"]))
    return accepted


def test_slack_outage_keeps_acks_fast_and_then_delivers_every_message_once_in_order(bot, caplog):
    fake = bot.fake
    bot.runtime.start_background()
    answers: list[tuple[str, Answer]] = []

    def flag(n: int) -> None:
        complaint = fake.add_user_message("C1", user="UCUST", text=f"Complaint {n}: the parcel is lost")
        answers.append((f"flag {n}", bot.slack.react(channel="C1", ts=complaint.ts)))

    targeted: set[str] = set()

    def claim_one() -> None:
        unclaimed = [cards[0] for cards in _cards(fake).values()
                     if _button(cards[0], ids.CLAIM) and cards[0].ts not in targeted]
        if unclaimed:
            targeted.add(unclaimed[0].ts)
            answers.append((f"claim {unclaimed[0].text[:12]}", bot.slack.click(unclaimed[0], "Claim", user=OWNER)))

    def done_one() -> None:
        prompts = [m for m in fake.all_messages() if m.thread_ts and _button(m, ids.DONE) and m.ts not in targeted]
        if prompts:
            targeted.add(prompts[0].ts)
            answers.append((f"done {_button(prompts[0], ids.DONE)}", bot.slack.click(prompts[0], "Done", user=OWNER)))

    def burst(n: int) -> None:
        flag(n)
        new = bot.slack.command(f"/recovery new Complaint by phone {n}", channel="C2")
        answers.append((f"new {n}", new))
        number = re.search(r"Flagged as (#\d+)", new.text)
        if number:  # its card may not be in Slack yet: the agent claims it by command
            answers.append((f"claim {number[1]}", bot.slack.command(f"/recovery claim {number[1]}", user=OWNER)))
        claim_one()
        done_one()
        answers.append(("list", bot.slack.command("/recovery list open")))

    # Healthy Slack first, so there are cards to claim and prompts to click during the outage.
    for n in range(4):
        flag(n)
    assert fake.wait_for(lambda: len(_cards(fake)) == 4, timeout=10)
    for _ in range(3):
        claim_one()
    assert fake.wait_for(lambda: sum(1 for m in fake.all_messages() if m.thread_ts and _button(m, ids.DONE)) == 3,
                         timeout=10)

    with TimeLapse(bot):
        fake.fail_next("chat.postMessage", status=429, retry_after=3, count=3)
        fake.fail_next("chat.postMessage", status=500, count=2)
        fake.fail_next("chat.update", status=503, count=4)
        fake.fail_next("conversations.history", status=500, count=2)
        fake.fail_next("chat.getPermalink", status=429, retry_after=1, count=1)
        for n in range(10, 13):
            burst(n)
            time.sleep(0.2)
        fake.set_down(True)             # an outage: every call answers 503
        for n in range(20, 23):
            burst(n)
            time.sleep(0.4)
        fake.set_down(False)
        fake.stall(None, 2)             # Slack answers, slowly: every call takes 2 s
        for n in range(30, 33):
            burst(n)
            time.sleep(0.4)
        fake.unstall()
        fake.drop_connections(6)        # connections cut without an answer
        for n in range(40, 43):
            burst(n)
            time.sleep(0.2)

        def delivered() -> bool:
            with bot.runtime.db.transaction() as session:
                return outbox_store.backlog(session) == 0
        assert fake.wait_for(delivered, timeout=30), "the outbox did not drain after Slack recovered"

    slow = [(what, round(answer.seconds, 2)) for what, answer in answers if answer.seconds >= 1]
    refused = [(what, answer.status) for what, answer in answers if not 200 <= answer.status < 300]
    assert slow == [] and refused == [], f"slow acks {slow}, refused {refused}"
    met = caplog.text
    for fault in ("rate limited (429)", "Slack answered 500", "Slack answered 503", "network: RemoteDisconnected"):
        assert fault in met, f"the sender never met {fault!r}: the test did not test it"

    snapshot = Snapshot.read(bot.runtime.db)
    assert [row.id for row in snapshot.outbox if row.state != "sent"] == [], "a message was given up on"
    shown = _outbox_ids(fake)
    posts = {row.id for row in snapshot.outbox if row.kind in POST_KINDS}
    assert set(shown) == posts and set(shown.values()) == {1}, "a message lost or shown twice"
    prompts = {(incident_id, record.seq): record.message_ts for incident_id, records in snapshot.records.items()
               for record in records if record.message_ts}
    owned = 0
    for incident in snapshot.incidents.values():
        rows = [row for row in snapshot.outbox if row.incident_id == incident.id]
        card, thread = _cards(fake)[incident.number], fake.thread(incident.card_channel, incident.card_ts)
        assert len(card) == 1 and card[0].ts == incident.card_ts
        thread_ids = [message.metadata["event_payload"]["outbox_id"] for message in thread]
        assert thread_ids == [row.id for row in rows if row.kind in THREAD_KINDS], \
            f"#{incident.number}: thread out of order"
        assert all(message.ts > incident.card_ts for message in thread)
        mine = {ts for (incident_id, _), ts in prompts.items() if incident_id == incident.id}
        assert _accepted_calls(fake, {row.id for row in rows}, mine | {incident.card_ts}) == \
            _expected_calls(rows, prompts, incident.card_ts), f"#{incident.number}: calls out of order"
        if incident.owner_id:
            owned += 1
            assert f"<@{OWNER}>" in card[0].plain(), f"#{incident.number}: the card does not show its owner"
    assert len(snapshot.incidents) == 4 + 4 * 6 and owned >= 3 + 4 * 3


# 3. The database goes away -----------------------------------------------------------------


def _health(base_url: str) -> int:
    try:
        with urllib.request.urlopen(base_url + "/healthz", timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def test_database_outage_answers_try_again_and_recovers_without_a_restart(settings, tmp_path, fake_slack):
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("stopping the database server needs PostgreSQL")
    server = start_throwaway_postgres(tmp_path / "own-pg")
    own = replace(settings, database_url=server.url)
    process = BotProcess(own, log=tmp_path / "bot.log", tick="1s")
    try:
        process.wait_healthy()
        pid = process.process.pid
        slack = _driver(fake_slack, process.url)
        before = fake_slack.add_user_message("C1", user="UCUST", text="Charged twice")
        assert slack.react(channel="C1", ts=before.ts).status == 200
        assert "Flagged as #2" in slack.command("/recovery new Rude agent on the phone").text
        assert _wait(lambda: 2 in _cards(fake_slack), timeout=15), "card #2 never posted"

        stop_keeping_data(server)
        assert _health(process.url) == 503, "healthy while the database is down"
        during = fake_slack.add_user_message("C1", user="UCUST", text="Wrong size delivered")
        event = slack.react(channel="C1", ts=during.ts, event_id="EvDuringOutage")
        command = slack.command("/recovery new Refund never arrived")
        listing = slack.command("/recovery list")
        assert not 200 <= event.status < 300, "an event Slack would not retry, lost"
        for answer in (command, listing):
            assert answer.status == 200 and answer.seconds < 3
            assert "please try again" in answer.text and "Traceback" not in answer.body, answer.body
        click = slack.click(_cards(fake_slack)[2][0], "Claim", user="UAGENT")
        assert click.status == 200 and click.seconds < 3
        assert _wait(lambda: any("please try again" in str(call.params) for call in fake_slack.calls("response_url")),
                     timeout=5), "a click during the outage, and the person saw nothing"
        assert _health(process.url) == 503

        start_again(server)
        assert _wait(lambda: _health(process.url) == 200, timeout=15), "not healthy after the database came back"
        retried = slack.react(channel="C1", ts=during.ts, event_id="EvDuringOutage", retry=1)
        assert retried.status == 200, "Slack's retry of the refused event"
        assert "Flagged as #4" in slack.command("/recovery new Late delivery, again").text
        assert process.process.poll() is None and process.process.pid == pid, "restarted"

        db = Database.from_url(server.url)
        try:
            def all_cards() -> bool:
                cards = _cards(fake_slack)
                return sorted(cards) == [1, 2, 3, 4] and all(len(found) == 1 for found in cards.values())
            assert _wait(all_cards, timeout=30), f"cards: {sorted(_cards(fake_slack))}"
            with db.transaction() as session:
                summaries = session.exec(select(Incident.number, Incident.origin_ts, Incident.summary)
                                         .order_by(col(Incident.number))).all()
        finally:
            db.dispose()
        assert [(n, ts) for n, ts, _ in summaries if n in (1, 3)] == [(1, before.ts), (3, during.ts)]
        assert all("Refund never arrived" not in summary for _, _, summary in summaries), "sorry, yet changed"
    finally:
        process.stop()
        server.stop()


# 4. Three replicas -------------------------------------------------------------------------

REPLICA_INCIDENTS = 300
REPLICA_CHANNELS = ("C1", "C2", "C3")


@pytest.mark.parametrize("kill_one", [False, True], ids=["all-up", "one-killed-mid-tick"])
def test_three_replicas_send_300_nudges_300_escalations_and_one_digest_per_channel(
        bot, settings, tmp_path, kill_one):
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("several replicas need PostgreSQL")
    started = _utcnow()
    # Flagged 20 minutes ago, all at once: every claim SLA (10 min) lapsed in the same minute,
    # and the escalations (at 2x) fall due a few seconds from now, while the replicas run.
    bot.clock.set(started - timedelta(minutes=20) + timedelta(seconds=5))
    with ThreadPoolExecutor(max_workers=4) as pool:
        numbers = list(pool.map(lambda n: _new_incident(bot, f"Complaint {n}", REPLICA_CHANNELS[n % 3]),
                                range(REPLICA_INCIDENTS)))
    assert sorted(numbers) == list(range(1, REPLICA_INCIDENTS + 1))
    _first_flagged_a_day_earlier(bot)

    def reminders() -> int:
        with bot.runtime.db.transaction() as session:
            return session.exec(select(func.count()).select_from(Notification)).one()

    def alerts() -> int:
        """Nudges and escalations in incident threads; the leads' DM copies of an escalation
        would otherwise let the wait end while thread posts are still on their way."""
        return sum(1 for m in bot.fake.all_messages()
                   if not m.channel.startswith("D") and m.text.startswith(("⏰", "🚨")))

    def digests() -> Counter:
        return Counter(m.channel for m in bot.fake.all_messages() if m.text.startswith("Recovery digest"))

    logs = [tmp_path / f"replica{n}.log" for n in range(3)]
    with ForkServer() as forks:
        replicas = [forks.start(settings, log=log, tick="1s", env=DIGEST_DUE) for log in logs]
        for replica in replicas:
            replica.wait_healthy()
        if kill_one:
            assert _wait(lambda: reminders() >= 60, timeout=30, every=0.01)
            replicas[0].kill()
            ticks_started, ticks_finished = _ticks_started_and_finished(logs[0])
            assert ticks_started > ticks_finished, "the replica was not ticking when killed"
            killed_at = reminders()
            assert killed_at < 2 * REPLICA_INCIDENTS, "the reminders were all out before the kill"
        done = _wait(lambda: alerts() >= 2 * REPLICA_INCIDENTS and len(digests()) == 3, timeout=90)
        assert done, f"{alerts()} alerts and digests {dict(digests())} after 90 s; logs in {tmp_path}"
        time.sleep(2.2)  # two more ticks on each replica: anything doubled would show now
        for replica in replicas:
            if replica.alive():
                replica.stop()
    snapshot = Snapshot.read(bot.runtime.db)
    in_slack = _alerts_in_slack(bot.fake, snapshot)
    expected = Counter({(incident_id, StepKey.CLAIM, level): 1
                        for incident_id in snapshot.incidents for level in ("nudge", "escalation")})
    assert in_slack == expected, "nudges and escalations: exactly one of each per incident"
    assert reminders() == 2 * REPLICA_INCIDENTS
    cards = _cards(bot.fake)
    assert len(cards) == REPLICA_INCIDENTS and all(len(found) == 1 for found in cards.values())
    assert set(_outbox_ids(bot.fake).values()) == {1}, "a message shown twice"
    if _utcnow().date() == started.date():
        assert digests() == Counter(REPLICA_CHANNELS), "one digest per channel today"
