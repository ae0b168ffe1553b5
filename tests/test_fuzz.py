"""Fuzzing the served bot through real signed HTTP requests, on SQLite and PostgreSQL.

Each property drives a served bot (built as conftest's ``bot``, one per database and shared
by the module, so that each property also meets what the others left behind) with many
generated requests: slash-command text, ``reaction_added`` events, block_actions and
view_submission payloads for every action and callback id the app registers, the modal
fields, raw bodies; and ``Settings.from_env``. After every request it checks that

* no answer is a 5xx (401 for a bad signature and 400 for a body that cannot be parsed
  are fine); a signed event is answered 2xx, as the database is up here (Bolt's 404 for an
  event type nobody listens to aside);
* no answer, and nothing the bot then sends to the fake Slack, carries a traceback or
  Python exception text, or an unescaped ``<!channel>``/``<!here>``/``<!everyone>``;
* no listener failed (the polite "Sorry, that did not go through" is for outages, not
  for odd input), and no outbox row was given up as dead;
* the database holds no half-made incident: each has its ``created`` timeline event, its
  claim step record and a record of its current step; outbox rows name existing incidents.

CI runs it as a step of its own (`-m fuzz`, about a minute) after the default run, which must
stay under ten minutes: a few hundred requests per database. Scale every property up with
FUZZ_EXAMPLES (examples per property), for instance:

    FUZZ_EXAMPLES=5000 ./scripts/test -m fuzz
    FUZZ_EXAMPLES=2000 TEST_DATABASES=sqlite ./scripts/test -m fuzz
"""
from __future__ import annotations

import copy
import json
import logging
import os
import re
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from itertools import count
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy.engine import make_url
from sqlmodel import col, select

from bot.devkit.clock import FakeClock
from bot.domain.playbook import ROOT_CAUSES
from bot.domain.types import BUY_AGAIN_ANSWERS, CONTACT_CHANNELS, REMEDY_KINDS, Severity
from bot.settings import _VARIABLES, Settings, SettingsError
from bot.devkit.slack_double import FakeSlack
from bot.runtime import build
from bot.devkit.driver import SlackDriver
from bot.views import ids, modals
from bot.devkit.server import BackgroundServer
from bot.web import MAX_BODY_BYTES, make_wsgi
from storage.models import Incident, OutboxMessage, StepRecord, TimelineEvent
from tests.conftest import LEAD, SIGNING_SECRET, ServedBot, _conninfo, _databases
from tests.helpers import mrkdwn_texts

pytestmark = pytest.mark.fuzz

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or 0)

OWNER = "U2"
TEAM = "T1"


def fuzz(default: int) -> hypothesis_settings:
    """``default`` examples, or FUZZ_EXAMPLES when set. The bot outlives the examples on
    purpose, so the function-scoped fixture health check does not apply."""
    return hypothesis_settings(
        max_examples=FUZZ_EXAMPLES or default, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                               HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


# --------------------------------------------------------------------------
# What must never come out
# --------------------------------------------------------------------------

LEAK = re.compile(
    r"Traceback \(most recent call last\)|File \"[^\"]*\", line \d+|\b[A-Z]\w*(?:Error|Exception)\b"
    r"|object has no attribute|invalid literal for|not subscriptable|object is not|NoneType"
    r"|Exceeds the limit|unsupported operand|positional argument|unexpected keyword|sqlalchemy|psycopg"
    r"|sqlite3|\(Background on this error")
_PING = re.compile(r"<!(?:channel|here|everyone|subteam)")
# The one ping the bot itself sends: the nudge of an unclaimed incident (SPEC: "the channel
# while unclaimed"). Anything else that would notify a crowd came from someone's input.
_OWN_PING = re.compile(r"^⏰ <!here> #\d+ has no owner yet")


class _Pings:
    @staticmethod
    def search(text: str) -> re.Match | None:
        return _PING.search(_OWN_PING.sub("", text, count=1))


PING = _Pings()


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list | tuple):
        for item in node:
            yield from _strings(item)


_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_OURS = tuple(_REPO + name + os.sep for name in ("bot", "handlers", "storage"))


def _raised_in_our_code(record: logging.LogRecord) -> bool:
    """A logged failure that went through our listeners, service or storage. Bolt's own
    routing may trip over a payload of the wrong shape (``"event": []``) before any of our
    code runs: the answer is still checked, but that is not our listener failing."""
    if not record.exc_info or record.exc_info[1] is None:
        return True
    trace = record.exc_info[2]
    while trace is not None:
        filename = trace.tb_frame.f_code.co_filename
        if filename.startswith(_OURS) and not filename.endswith(os.path.join("handlers", "errors.py")):
            return True
        trace = trace.tb_next
    return False


class Errors(logging.Handler):
    """Every ERROR the process logs while a test runs from our own code: a listener that
    raised, a body the web layer could not handle, an outbox row Slack would never take."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if _raised_in_our_code(record):
            self.records.append(record)

    def describe(self, since: int = 0) -> str:
        lines = []
        for record in self.records[since:]:
            text = f"{record.name}: {record.getMessage()}"
            if record.exc_info and record.exc_info[1] is not None:
                error = record.exc_info[1]
                text += f" [{type(error).__name__}: {str(error)[:300]}]"
            lines.append(text)
        return "\n".join(lines)


@dataclass
class Harness:
    """Sends fuzzed requests into one served bot and checks everything after each."""

    bot: ServedBot
    errors: Errors
    echoed: set[str] = field(default_factory=set)
    calls_checked: int = 0
    seeded: bool = False
    errors_checked: int = 0
    requests: int = 0
    _ids: count = field(default_factory=lambda: count(1))

    def unique(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids)}"

    # Sending -------------------------------------------------------------

    def _remember(self, sent: Any) -> None:
        """Leak-like words the fuzzer itself sent may come back quoted; nothing else may."""
        for text in _strings(sent):
            self.echoed.update(LEAK.findall(text))

    def event(self, body: Any):  # noqa: ANN201
        self._remember(body)
        self.requests += 1
        return self.bot.slack.send_json(body)

    def form(self, fields: dict[str, str]):  # noqa: ANN201
        self._remember(fields)
        self.requests += 1
        return self.bot.slack.send_form(fields)

    def interaction(self, payload: Any):  # noqa: ANN201
        self._remember(payload)
        self.requests += 1
        return self.bot.slack.send_form({"payload": json.dumps(payload)})

    def raw(self, body: str, content_type: str, **options):  # noqa: ANN003, ANN201
        self._remember(body)
        self.requests += 1
        return self.bot.slack.post(body, content_type=content_type, **options)

    def command(self, text: str, *, user: str = "U1", channel: str = "C1", **extra: str):  # noqa: ANN201
        return self.form(self.command_fields(text, user=user, channel=channel, **extra))

    def command_fields(self, text: str, *, user: str = "U1", channel: str = "C1", **extra: str) -> dict[str, str]:
        return {
            "token": "legacy", "team_id": TEAM, "team_domain": "acme", "channel_id": channel,
            "channel_name": "support", "user_id": user, "user_name": "someone", "command": "/recovery",
            "text": text, "api_app_id": "A1", "is_enterprise_install": "false",
            "response_url": self.bot.fake.response_url_base + self.unique("cmd"),
            "trigger_id": self.unique("trigger."), **extra,
        }

    # Checking ------------------------------------------------------------

    def check_answer(self, answer, *, context: Any) -> None:  # noqa: ANN001
        # Every status bot/web.py and Bolt give a request to the events path: 200 acked, 400
        # signed but unparseable, 401 unsigned or badly signed, 404 no listener for it.
        assert answer.status in (200, 400, 401, 404), (answer, context)
        self._check_text(answer.body, f"answer to {context!r}")
        try:
            data = json.loads(answer.body) if answer.body else {}
        except ValueError:
            data = {"text": answer.body}
        if isinstance(data, dict):  # what Slack parses for mentions: the text and mrkdwn, not plain_text
            said = [data["text"]] if isinstance(data.get("text"), str) else []
            for text in said + _mrkdwn(data.get("blocks")):
                assert not PING.search(text), f"answer pings a channel: {text[:300]!r} for {context!r}"

    def _check_text(self, text: str, where: str) -> None:
        for found in LEAK.findall(text):
            assert found in self.echoed, f"Python error text {found!r} in {where}: {text[:500]!r}"

    def settle(self, context: Any) -> None:
        """Send what the outbox owes, then check it, the logs and the database."""
        self.bot.settle()
        self.check_sent(context)
        self.check_logs(context)
        check_database(self.bot)

    def check_sent(self, context: Any) -> None:
        calls = self.bot.fake.calls()
        for call in calls[self.calls_checked:]:
            params = call.params
            for text in _strings(params):
                self._check_text(text, f"{call.method} after {context!r}")
            message_text = params.get("text") if isinstance(params.get("text"), str) else ""
            for text in [message_text, *_mrkdwn(params.get("blocks")), *_mrkdwn(params.get("view"))]:
                assert not PING.search(text), f"{call.method} pings a channel: {text[:300]!r} after {context!r}"
        self.calls_checked = len(calls)

    def check_logs(self, context: Any) -> None:
        if len(self.errors.records) > self.errors_checked:
            found = self.errors.describe(self.errors_checked)
            self.errors_checked = len(self.errors.records)
            raise AssertionError(f"errors logged after {context!r}:\n{found}")

    def finish(self) -> None:
        """Lazy listeners (views.open) may still be running: give them a moment, then sweep
        every stored message and ephemeral once more."""
        time.sleep(0.3)
        self.bot.settle()
        self.check_sent("the end of the run")
        self.check_logs("the end of the run")
        said = [message for message in self.bot.fake.all_messages() if message.user == self.bot.fake.bot_user_id]
        for message in said + self.bot.fake.ephemerals():
            for text in [message.text, *_strings(message.blocks)]:
                self._check_text(text, f"stored message {message.ts}")
            for text in mrkdwn_texts(message):
                assert not PING.search(text), f"stored message pings a channel: {text[:300]!r}"
        check_database(self.bot)
        with self.bot.runtime.db.transaction() as session:
            dead = session.exec(select(OutboxMessage).where(OutboxMessage.state == "dead")).all()
        assert not dead, [(row.kind, row.last_error) for row in dead]
        print(f"{self.requests} signed requests, {len(self.bot.fake.calls())} Slack calls checked")


def _mrkdwn(node: Any) -> list[str]:
    found: list[str] = []

    def walk(item: Any) -> None:
        if isinstance(item, dict):
            if item.get("type") == "mrkdwn" and isinstance(item.get("text"), str):
                found.append(item["text"])
            for value in item.values():
                walk(value)
        elif isinstance(item, list):
            for value in item:
                walk(value)

    walk(node)
    return found


def check_database(bot: ServedBot) -> None:
    """No half-made incident, and no outbox row about an incident that does not exist."""
    with bot.runtime.db.transaction() as session:
        incidents = {row[0]: row[1] for row in session.exec(select(Incident.id, Incident.step_seq)).all()}
        created = set(session.exec(select(TimelineEvent.incident_id).where(TimelineEvent.kind == "created")).all())
        records = set(session.exec(select(StepRecord.incident_id, StepRecord.seq)).all())
        mentioned = set(session.exec(select(OutboxMessage.incident_id)
                                     .where(col(OutboxMessage.incident_id).is_not(None))).all())
    for incident_id, seq in incidents.items():
        assert incident_id in created, f"incident {incident_id} has no 'created' timeline event"
        assert (incident_id, 0) in records, f"incident {incident_id} has no claim step record"
        assert (incident_id, seq) in records, f"incident {incident_id} has no record of its step {seq}"
    assert mentioned <= incidents.keys(), f"outbox rows name missing incidents {mentioned - incidents.keys()}"


def _snapshot(bot: ServedBot) -> list[tuple]:
    with bot.runtime.db.transaction() as session:
        rows = session.exec(select(Incident).order_by(col(Incident.id))).all()
        events = len(session.exec(select(TimelineEvent.id)).all())
    return [(row.id, row.version, row.status, row.owner_id, row.step_seq, row.approval) for row in rows] + [events]


@pytest.fixture(scope="module", params=_databases())
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedBot]:
    """Like conftest's ``bot``, but one per database for the whole module: the fuzzers share
    it (and the state they leave behind, which the checks must survive too), and the run
    pays for one start and one stop instead of one per test."""
    admin, name = None, f"fuzz_{uuid.uuid4().hex[:12]}"
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'recovery.db'}"
    else:
        admin = request.getfixturevalue("postgres_admin_url")
        with psycopg.connect(_conninfo(admin), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    try:
        with FakeSlack(team_id=TEAM) as fake:
            clock = FakeClock()
            settings = replace(Settings(), slack_bot_token="xoxb-test", slack_signing_secret=SIGNING_SECRET,
                               slack_api_url=fake.api_url, database_url=url, lead_user_ids=frozenset({LEAD}),
                               slack_pacing=False)  # as conftest: pacing runs on this clock, which only tests move
            runtime = build(settings, clock=clock)
            server = BackgroundServer(make_wsgi(runtime.app, runtime.db, signing_secret=SIGNING_SECRET)).start()
            try:
                yield ServedBot(runtime=runtime, fake=fake, clock=clock, url=server.events_url,
                                slack=SlackDriver(url=server.events_url, signing_secret=SIGNING_SECRET, fake=fake))
            finally:
                server.stop()
                runtime.stop()
    finally:
        if admin is not None:
            with psycopg.connect(_conninfo(admin), autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def errors() -> Iterator[Errors]:
    handler = Errors()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


@pytest.fixture(scope="module")
def harness(served: ServedBot, errors: Errors) -> Harness:
    return Harness(served, errors)


# --------------------------------------------------------------------------
# Getting incidents into every step, through the same signed requests
# --------------------------------------------------------------------------

def _incident(bot: ServedBot, incident_id: int) -> Incident:
    with bot.runtime.db.transaction() as session:
        row = session.get(Incident, incident_id)
    assert row is not None
    return row


def _newest_incident(bot: ServedBot) -> Incident:
    with bot.runtime.db.transaction() as session:
        row = session.exec(select(Incident).order_by(col(Incident.id).desc())).first()
    assert row is not None
    return row


def _press(h: Harness, action_id: str, value: str, *, user: str = OWNER) -> None:
    answer = h.interaction(_action_payload(action_id, {"value": value, "type": "button"}, user=user))
    assert answer.status == 200
    h.bot.settle()


def _action_payload(action_id: str, action: dict, *, user: str = OWNER, channel: str = "C1") -> dict:
    return {
        "type": "block_actions", "user": {"id": user, "team_id": TEAM}, "api_app_id": "A1", "team": {"id": TEAM},
        "trigger_id": f"{time.time_ns()}.trigger", "channel": {"id": channel},
        "container": {"type": "message", "message_ts": "1.000001", "channel_id": channel, "is_ephemeral": False},
        "response_url": "http://127.0.0.1:9/act",
        "actions": [{"action_id": action_id, "block_id": "b", "action_ts": "1.2", **action}],
    }


def _submission(view: dict, values: dict[str, dict], *, user: str = OWNER, team: str = TEAM) -> dict:
    return {
        "type": "view_submission", "team": {"id": team}, "user": {"id": user, "team_id": team}, "api_app_id": "A1",
        "trigger_id": f"{time.time_ns()}.trigger",
        "view": {**view, "id": view.get("id", f"V{time.time_ns()}"), "state": {"values": values}},
        "response_urls": [],
    }


def _text_state(block_id: str, value: Any) -> dict:
    return {block_id: {block_id: {"type": "plain_text_input", "value": value}}}


def _select_state(block_id: str, value: Any) -> dict:
    return {block_id: {block_id: {"type": "static_select", "selected_option": {
        "value": value, "text": {"type": "plain_text", "text": "x"}}}}}


def _submit(h: Harness, view: dict, values: dict, *, user: str = OWNER):  # noqa: ANN202
    answer = h.interaction(_submission(view, values, user=user))
    assert answer.status == 200
    h.bot.settle()
    return answer


def step_values(incident: Incident) -> str:
    return ids.incident_value(incident.id, incident.step_seq)


def drive_to(h: Harness, step: str) -> Incident:
    """A new incident owned by OWNER, walked by signed clicks and forms to ``step``:
    claim, acknowledge, apologize, fix, make_it_right, approval (pending), buy_in, follow_up."""
    answer = h.command(f"new Fuzz target for {step}", user="U1")
    assert answer.status == 200 and "Flagged as" in answer.text, answer
    h.bot.settle()
    incident = _newest_incident(h.bot)
    if step == "claim":
        return incident
    _press(h, ids.CLAIM, ids.incident_value(incident.id), user=OWNER)
    for action in (ids.DONE, ids.DONE):
        incident = _incident(h.bot, incident.id)
        if incident.current_step == step:
            return incident
        _press(h, action, step_values(incident))
    incident = _incident(h.bot, incident.id)
    if incident.current_step == step:
        return incident
    view = modals.fix_modal(incident_id=incident.id, seq=incident.step_seq, ref="#x", root_causes=ROOT_CAUSES)
    _submit(h, view.to_dict(), {**_select_state(modals.ROOT_CAUSE, "delivery"),
                                **_text_state(modals.FIX_NOTE, "Reshipped")})
    incident = _incident(h.bot, incident.id)
    if incident.current_step == step:
        return incident
    view = modals.remedy_modal(incident_id=incident.id, seq=incident.step_seq, ref="#x", limit=Decimal(50),
                               currency="USD")
    amount = "400" if step == "approval" else "10"
    _submit(h, view.to_dict(), {**_select_state(modals.REMEDY_KIND, "refund"), **_text_state(modals.AMOUNT, amount)})
    incident = _incident(h.bot, incident.id)
    if step == "approval":
        assert incident.approval == "pending"
        return incident
    if incident.current_step == step:
        return incident
    _press(h, ids.AGREED, step_values(incident))
    incident = _incident(h.bot, incident.id)
    assert incident.current_step == "follow_up"
    assert incident.step_due_at is not None
    wait = incident.step_due_at - h.bot.clock.now()
    if wait > timedelta(0):
        h.bot.clock.advance(wait + timedelta(seconds=1))
    h.bot.runtime.ticker.tick()
    h.bot.settle()
    return _incident(h.bot, incident.id)


def seed(h: Harness) -> None:
    """Incidents at every step (once per bot), so that fuzzed ids and seqs often name real ones."""
    if h.seeded:
        return
    for step in ("claim", "acknowledge", "fix", "approval", "buy_in", "follow_up"):
        drive_to(h, step)
    h.seeded = True
    h.settle("seeding")


# --------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------

NASTY = [
    "", " ", "\x00", "a\x00b", "\r\n", "\n\n\n", "\t", "\x1b[31m", "\x7f", "\u0085", "\u2028", "\u202e", "\ufeff",
    "\u200b", "<!channel>", "<!here>", "<!everyone>", "<!subteam^S1>", "<@U1>", "<@ULEAD|lead>", "<@U1|>",
    "<#C1|support>", "<https://evil.example|click>", "&lt;!channel&gt;", "&", "`", "```", "*bold*", "_", "~",
    "🆘", "👨‍👩‍👧", "Ω≈ç√", "ﷺ", "٤٢", "𝟗", "²", "①", "0", "00", "-0", "-1", "1", "42", "#42", "R-42", "r-1", "#",
    "R-", "1000000000", "1000000001", "2147483647", "2147483648", "9223372036854775807", "9223372036854775808",
    "99999999999999999999", "1e9", "1e999", "NaN", "Infinity", "-inf", "null", "None", "true", "{}", "[]",
    "%s", "%(x)s", "{0}", "{}{}", "\\", "\\u0000", "' OR 1=1 --", "'; DROP TABLE incident; --", "$", "€5",
    "$$$5", "5,", ",5", "49.999", "1.5.5", "+5", "0x10", "1_000", "7d", "30d", "1h1h", "0s",
]
HUGE = st.builds(lambda unit, times: unit * times,
                 st.sampled_from(["x", "é", "🆘", "<!channel>", "9", " ", "\x00", "ab "]),
                 st.integers(min_value=200, max_value=40_000))


def _oversized(form: dict[str, str]) -> bool:
    """Whether a form body is over the bot's limit, which answers 413 before reading it."""
    return len(urllib.parse.urlencode(form)) > MAX_BODY_BYTES


def texts(max_size: int = 80) -> st.SearchStrategy[str]:
    return st.one_of(st.text(max_size=max_size), st.sampled_from(NASTY), HUGE)


SUBCOMMANDS = ["", "help", "HELP", "new", "New", "claim", "assign", "list", "show", "snooze", "cancel", "digest",
               "stats", "sTaTs", "bogus"]
EDGE_NUMBERS = ["0", "1", "2", "3", "4", "5", "6", "7", "#1", "R-2", "r-3", "1000000000", "1000000001",
                "9999999999", "10000000000", "-1", "+1", "٤٢", "1.0", "2147483648", "9223372036854775808"]
MENTIONS = ["<@U1>", "<@U2>", f"<@{LEAD}>", "<@U9|nine>", "<@W1>", "U1", "@alex", "<@u1>", "<@U>", "<!channel>",
            "<!here>", "<@U1|<!channel>>", "<@U" + "A" * 60 + ">", "U" + "9" * 40]
TOKENS = st.one_of(st.sampled_from(SUBCOMMANDS), st.sampled_from(EDGE_NUMBERS), st.sampled_from(MENTIONS),
                   st.sampled_from(["open", "mine", "unclaimed", "overdue", "7d", "30d", "2h", "1h30m", "90s",
                                    "1d", "999999999d", "0m"]),
                   texts(20))
DURATIONS = ["2h", "1h30m", "90s", "1d", "0m", "3650d", "3651d", "999999999d", "999999999d 23h", "1h1h", "-1h",
             "2 h", "٢h"]
COMMAND_TEXT = st.one_of(
    st.builds(lambda name, number, rest: f"{name} {number} {rest}",
              st.sampled_from(["claim", "show", "snooze", "cancel", "assign"]), st.sampled_from(EDGE_NUMBERS),
              st.one_of(st.sampled_from(DURATIONS), st.sampled_from(MENTIONS), texts(40))),
    st.tuples(st.sampled_from(SUBCOMMANDS), st.lists(TOKENS, max_size=5),
              st.sampled_from([" ", "  ", "\t", "\n", "\u00a0", " \r\n"])).map(
        lambda parts: parts[2].join([parts[0], *parts[1]])),
    texts(200),
)
ODD_IDS = ["", " ", "U", "u1", "U1 ", "C1\x00", "C1><!channel", "U1> <!here", "<!channel>", "🆘", "T" + "1" * 40,
           "U" + "A" * 40, "C" + "1" * 80, "x" * 300, "../../etc", "null", "0"]
USERS = st.one_of(st.sampled_from(["U1", "U2", "U9", "W1", LEAD]), st.sampled_from(ODD_IDS))
CHANNELS = st.one_of(st.sampled_from(["C1", "C2", "G1", "D1"]), st.sampled_from(ODD_IDS))
TEAMS = st.one_of(st.just(TEAM), st.sampled_from(["T2", "T_OTHER", "E1"]), st.sampled_from(ODD_IDS))

JUNK = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2 ** 70), max_value=2 ** 70) | st.floats()
    | st.sampled_from(NASTY) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["id", "value", "type", "text", "action_id", "team_id", "channel", "ts", "values"])
        | st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)
DELETE = object()


def mutate(base: dict, mutations: list[tuple[tuple[str, ...], Any]]) -> dict:
    """Delete or replace fields at the given paths; a path whose parent is gone is skipped."""
    body = copy.deepcopy(base)
    for path, new in mutations:
        parent: Any = body
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            continue
        if new is DELETE:
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = new
    return body


def mutations(paths: list[tuple[str, ...]]) -> st.SearchStrategy:
    return st.lists(st.tuples(st.sampled_from(paths), st.one_of(st.just(DELETE), JUNK, texts(40))), max_size=4)


# --------------------------------------------------------------------------
# Slash command
# --------------------------------------------------------------------------

def test_slash_command_text_never_breaks_the_bot(harness: Harness):
    seed(harness)

    @fuzz(70)
    @given(text=COMMAND_TEXT, user=st.one_of(st.sampled_from(["U1", OWNER, LEAD, "U9"]), USERS))
    def run(text: str, user: str) -> None:
        fields = harness.command_fields(text, user=user)
        answer = harness.form(fields)
        if _oversized(fields):  # Slack never sends one (several huge tokens); nothing reads it
            assert (answer.status, answer.body) == (413, "request body too large\n"), answer
            return
        assert answer.status == 200, (answer, text)
        harness.check_answer(answer, context=text)
        harness.settle(text)

    run()
    harness.finish()


COMMAND_FIELDS = ["team_id", "user_id", "channel_id", "text", "command", "trigger_id", "response_url", "user_name",
                  "enterprise_id", "is_enterprise_install", "ssl_check", "type", "payload"]


def test_slash_command_with_odd_or_missing_fields(harness: Harness):
    seed(harness)

    @fuzz(30)
    @given(fields=st.dictionaries(st.sampled_from(COMMAND_FIELDS), st.one_of(texts(40), st.sampled_from(ODD_IDS)),
                                  max_size=8),
           dropped=st.lists(st.sampled_from(["team_id", "user_id", "channel_id", "text", "trigger_id"]), max_size=3))
    def run(fields: dict[str, str], dropped: list[str]) -> None:
        sent = {"command": "/recovery", "team_id": TEAM, "user_id": "U1", "channel_id": "C1", "text": "new Odd",
                "trigger_id": harness.unique("t."), **fields}
        for name in dropped:
            sent.pop(name, None)
        answer = harness.form(sent)
        if _oversized(sent):  # Slack never sends one; nothing reads it
            assert (answer.status, answer.body) == (413, "request body too large\n"), (answer, sent)
            return
        assert answer.status in ((200, 400, 404) if "payload" in sent else (200, 404)), (answer, sent)
        harness.check_answer(answer, context=sent)
        harness.settle(sent)

    run()
    harness.finish()


# --------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------

EVENT_PATHS = [
    ("type",), ("team_id",), ("api_app_id",), ("event_id",), ("event_time",), ("authorizations",), ("event",),
    ("event", "type"), ("event", "user"), ("event", "reaction"), ("event", "item"), ("event", "item", "type"),
    ("event", "item", "channel"), ("event", "item", "ts"), ("event", "item_user"), ("event", "event_ts"),
    ("event", "bot_id"), ("event", "subtype"),
]


# What customers write, as the card will quote it. NUL bytes are left out: see
# test_complaint_text_with_a_nul_byte_still_gets_its_card below.
CUSTOMER_TEXT = texts(300).map(lambda text: text.replace("\x00", ""))


def reaction(*, channel: str, ts: str, user: str, event_id: str, reaction_name: str = "sos") -> dict:
    return {
        "token": "legacy", "team_id": TEAM, "api_app_id": "A1", "type": "event_callback", "event_id": event_id,
        "event_time": 1_700_000_000,
        "event": {"type": "reaction_added", "user": user, "reaction": reaction_name, "item_user": "UCUST",
                  "item": {"type": "message", "channel": channel, "ts": ts}, "event_ts": "1700000000.000100"},
    }


def test_reaction_events_with_missing_wrong_and_huge_fields(harness: Harness):
    seed(harness)

    @fuzz(60)
    @given(channel=st.sampled_from(["C1", "C2", "G1"]), seconds=st.integers(1, 2 ** 31),
           micros=st.integers(0, 999_999), user=st.sampled_from(["U1", "U2", "W1", LEAD]),
           reaction_name=st.sampled_from(["sos", "sos", "SOS", "thumbsup", ":sos:"]), changes=mutations(EVENT_PATHS),
           complaint=st.one_of(st.none(), CUSTOMER_TEXT))
    def run(channel: str, seconds: int, micros: int, user: str, reaction_name: str, changes: list,
            complaint: str | None) -> None:
        ts = f"{seconds}.{micros:06d}"
        if complaint is not None:  # a message the fake knows, so its text lands on the card
            ts = harness.bot.fake.add_user_message(channel, user="UCUST", text=complaint).ts
            harness._remember(complaint)
        body = mutate(reaction(channel=channel, ts=ts, user=user, event_id=harness.unique("Ev"),
                               reaction_name=reaction_name), changes)
        answer = harness.event(body)
        context = body
        # A signed event is acknowledged whatever is inside (a redelivery could not fare
        # better), except that an event type nobody listens to gets Bolt's 404; a body that
        # is no longer an event may be refused (400). Never a 5xx.
        event = body.get("event")
        if body.get("type") == "event_callback" and isinstance(event, dict) and event.get("type") == "reaction_added":
            assert 200 <= answer.status < 300, (answer, context)
        elif body.get("type") == "event_callback":
            assert 200 <= answer.status < 300 or answer.status == 404, (answer, context)
        else:
            assert answer.status in (200, 400, 404), (answer, context)
        harness.check_answer(answer, context=context)
        harness.settle(context)
        if not changes and reaction_name == "sos":
            with harness.bot.runtime.db.transaction() as session:
                stored = session.exec(select(Incident).where(
                    Incident.origin_channel == channel, Incident.origin_ts == ts)).first()
            assert stored is not None, "a flag answered 200 was not stored"
            assert stored.card_ts is not None, "the flag's card was never posted"
            assert len(stored.excerpt) <= 500 and len(stored.summary) <= 500

    run()
    harness.finish()


def test_complaint_text_with_a_nul_byte_still_gets_its_card(bot: ServedBot):
    """On its own bot: on PostgreSQL the failing outbox row would trip every later settle."""
    harness = Harness(bot, Errors())
    complaint = harness.bot.fake.add_user_message("C1", user="UCUST", text="Broken\x00 item")
    assert harness.event(reaction(channel="C1", ts=complaint.ts, user="U1", event_id="EvNul")).status == 200
    harness.settle("a complaint with a NUL byte")
    with harness.bot.runtime.db.transaction() as session:
        stored = session.exec(select(Incident).where(Incident.origin_ts == complaint.ts)).one()
    assert stored.card_ts is not None


# --------------------------------------------------------------------------
# Raw bodies: whatever arrives, never a 500
# --------------------------------------------------------------------------

RAW_BODIES = st.one_of(
    st.text(max_size=300),
    JUNK.map(json.dumps),
    st.builds(lambda junk: "payload=" + urllib.parse.quote(json.dumps(junk)), JUNK),
    st.builds(lambda text: "payload=" + text, st.text(max_size=100)),
    st.integers(min_value=1, max_value=200_000).map(lambda depth: "[" * depth),
    st.integers(min_value=1, max_value=200_000).map(lambda depth: "payload=" + "%5B" * depth),
    st.integers(min_value=1, max_value=50_000).map(lambda depth: '{"a":' * depth + "1" + "}" * depth),
    st.integers(min_value=4000, max_value=20_000).map(lambda digits: '{"type": ' + "9" * digits + "}"),
    st.sampled_from(['{"type": "event_callback"}', '{"type": "event_callback", "event": null}',
                     '{"type": "event_callback", "event": []}', '{"type": "url_verification"}',
                     '{"type": "url_verification", "challenge": {"x": 1}}', '"just a string"', "null", "[]",
                     "payload=null", "payload=%5B%5D", "payload=%22x%22", "payload=1", "command=%2Frecovery",
                     "ssl_check=1", "payload=%7B%22type%22%3A%22block_actions%22%7D",
                     "payload=%7B%22type%22%3A%22view_submission%22%2C%22view%22%3A5%7D",
                     '{"type": "block_actions", "actions": 5}', "\x00", "\ufeff{}", "payload=%FF%FE"]),
)


def test_raw_bodies_signed_or_not_never_get_a_500(harness: Harness):
    @fuzz(40)
    @given(body=RAW_BODIES, content_type=st.sampled_from([
        "application/json", "application/x-www-form-urlencoded", "text/plain", "application/json; charset=utf-8",
        "multipart/form-data; boundary=x", ""]), signing=st.sampled_from(["signed", "wrong", "unsigned"]))
    def run(body: str, content_type: str, signing: str) -> None:
        options = {"signed": signing != "unsigned"}
        if signing == "wrong":
            options["secret"] = SIGNING_SECRET + "-not"
        before = _snapshot(harness.bot)
        answer = harness.raw(body, content_type, **options)
        assert answer.status in (200, 400, 401, 404), (answer, body[:200])
        if signing != "signed":
            # Bolt answers Slack's unsigned SSL check itself, and touches nothing for it.
            ssl_check = answer.status == 200 and answer.body == "" and body.startswith("ssl_check=")
            assert answer.status in (400, 401) or ssl_check, (answer, body[:200])
        harness.check_answer(answer, context=body[:200])
        harness.settle(body[:200])
        if signing != "signed":
            assert _snapshot(harness.bot) == before, "an unsigned request changed the database"

    run()
    harness.finish()


# --------------------------------------------------------------------------
# Interactions: block_actions for every action id, with odd shapes
# --------------------------------------------------------------------------

ACTION_IDS = [ids.CLAIM, ids.ASSIGN, ids.DONE, ids.DONE_FORM, ids.SKIP, ids.SNOOZE, ids.NEED_HELP, ids.AGREED,
              ids.NOT_YET, ids.APPROVE, ids.DECLINE, ids.RECORD_FOLLOW_UP, modals.REMEDY_KIND, modals.AMOUNT]
VALUES = st.one_of(
    st.builds(lambda i, s: f"{i}:{s}", st.integers(1, 8), st.integers(0, 8)),
    st.integers(1, 8).map(str),
    st.builds(lambda i, s: f"{i}:{s}", st.sampled_from(EDGE_NUMBERS), st.sampled_from(EDGE_NUMBERS)),
    st.sampled_from(["", ":", "1:", ":1", "1:2:3", "1::2", " 1", "1 :1", "1:1/1h", "0:0", "-1:-1",
                     "99999999999999999999", "1:99999999999999999999", "9223372036854775808:0",
                     "2147483648:1", "1:2147483648", "1e3", "١:١", "1:²"]),
    texts(30), JUNK,
)
OPTIONS = st.one_of(
    st.builds(lambda v, c: {"value": f"{v}/{c}", "text": {"type": "plain_text", "text": c}}, VALUES.filter(
        lambda v: isinstance(v, str)), st.sampled_from(["1h", "4h", "tomorrow", "0h", "999999999d", "", "x", "-1h",
                                                      "1h30m", "99999999h"])),
    st.fixed_dictionaries({}, optional={"value": JUNK, "text": JUNK}), JUNK,
)
ACTION = st.fixed_dictionaries(
    {"action_id": st.one_of(st.sampled_from(ACTION_IDS), st.sampled_from(ACTION_IDS), st.just("recovery.nope"))},
    optional={"value": VALUES, "selected_option": OPTIONS, "type": st.sampled_from(["button", "static_select"]) | JUNK,
              "block_id": texts(10), "action_ts": JUNK},
)
ACTION_PATHS = [("user",), ("user", "id"), ("user", "team_id"), ("team",), ("team", "id"), ("channel",),
                ("channel", "id"), ("container",), ("container", "channel_id"), ("trigger_id",), ("message",),
                ("response_url",), ("type",), ("api_app_id",)]


def test_block_actions_with_odd_shapes_for_every_action(harness: Harness):
    seed(harness)

    @fuzz(80)
    @given(actions=st.one_of(st.lists(ACTION, min_size=1, max_size=2), st.lists(ACTION, max_size=0), JUNK),
           user=st.one_of(st.sampled_from(["U1", OWNER, LEAD, "U9"]), USERS),
           channel=CHANNELS, team=TEAMS, changes=mutations(ACTION_PATHS))
    def run(actions: Any, user: str, channel: str, team: str, changes: list) -> None:
        payload = _action_payload(ids.CLAIM, {}, user=user, channel=channel)
        payload["team"] = {"id": team}
        payload["user"]["team_id"] = team
        payload["actions"] = actions
        payload = mutate(payload, changes)
        answer = harness.interaction(payload)
        if _oversized({"payload": json.dumps(payload)}):  # Slack never sends one; nothing reads it
            assert (answer.status, answer.body) == (413, "request body too large\n"), answer
            return
        assert answer.status in (200, 400, 404), (answer, payload)
        harness.check_answer(answer, context=payload)
        time.sleep(0.005)  # lazy listeners (forms) run after the ack
        harness.settle(payload)

    run()
    harness.finish()


# --------------------------------------------------------------------------
# Interactions: the message shortcut (Flag as complaint), with odd shapes
# --------------------------------------------------------------------------

SHORTCUT_PATHS = [("message",), ("message", "text"), ("message", "ts"), ("message_ts",), ("channel",),
                  ("channel", "id"), ("trigger_id",), ("team",), ("user",), ("callback_id",), ("type",)]


def test_message_shortcut_with_odd_shapes_opens_a_valid_form_or_nothing(harness: Harness):
    @fuzz(40)
    @given(text=CUSTOMER_TEXT, channel=CHANNELS, changes=mutations(SHORTCUT_PATHS))
    def run(text: str, channel: str, changes: list) -> None:
        bot = harness.bot
        message = bot.fake.add_user_message("C1", user="UCUST", text=text)
        payload = mutate({
            "type": "message_action", "callback_id": ids.FLAG_SHORTCUT, "trigger_id": harness.unique("sc."),
            "team": {"id": TEAM, "domain": "acme"}, "user": {"id": "U1", "name": "u1"},
            "channel": {"id": channel, "name": "support"}, "message_ts": message.ts,
            "message": {"type": "message", "text": text, "user": "UCUST", "ts": message.ts},
            "response_url": bot.fake.response_url_base + "sc", "action_ts": "1.2",
        }, changes)
        answer = harness.interaction(payload)
        if _oversized({"payload": json.dumps(payload)}):  # Slack never sends one; nothing reads it
            assert (answer.status, answer.body) == (413, "request body too large\n"), answer
            return
        assert answer.status in (200, 400, 404), (answer, payload)
        harness.check_answer(answer, context=payload)
        time.sleep(0.01)  # views.open runs in a lazy listener, after the ack
        harness.settle(payload)
        # Whichever example opened it (lazy listeners finish late): every form is one that
        # Slack takes, and its metadata names a real channel and message.
        for view in bot.fake.views():
            if view.get("callback_id") == ids.FLAG_MODAL:
                meta = json.loads(view["private_metadata"])
                assert len(view["private_metadata"]) <= 3000 and len(meta["excerpt"]) <= 200
                assert re.fullmatch(r"[A-Za-z0-9_-]{1,32}", meta["channel"]), meta
                assert re.fullmatch(r"[0-9]+\.[0-9]+", meta["ts"]), meta

    run()
    harness.finish()


# --------------------------------------------------------------------------
# Interactions: view_submission for every callback id, with odd state and metadata
# --------------------------------------------------------------------------

def _views() -> dict[str, dict]:
    step = {"incident_id": 1, "seq": 1}
    return {
        ids.ASSIGN_MODAL: modals.assign_modal(incident_id=1, ref="#1").to_dict(),
        ids.FLAG_MODAL: modals.flag_modal(callback_id=ids.FLAG_MODAL, metadata={"channel": "C1", "ts": "1.2"},
                                          excerpt="x", summary_required=False,
                                          root_causes=ROOT_CAUSES).to_dict(),
        ids.NEW_MODAL: modals.flag_modal(callback_id=ids.NEW_MODAL, metadata={"channel": "C1"}, excerpt=None,
                                         summary_required=True, root_causes=ROOT_CAUSES).to_dict(),
        ids.FIX_MODAL: modals.fix_modal(ref="#1", root_causes=ROOT_CAUSES, **step).to_dict(),
        ids.REMEDY_MODAL: modals.remedy_modal(ref="#1", limit=Decimal(50), currency="USD", **step).to_dict(),
        ids.FOLLOW_UP_MODAL: modals.follow_up_modal(ref="#1", **step).to_dict(),
        ids.SKIP_MODAL: modals.reason_modal(callback_id=ids.SKIP_MODAL, title="t", label="l", **step).to_dict(),
        ids.DECLINE_MODAL: modals.reason_modal(callback_id=ids.DECLINE_MODAL, title="t", label="l",
                                               **step).to_dict(),
    }


VIEWS = _views()
BLOCK_IDS = sorted({block["block_id"] for view in VIEWS.values() for block in view["blocks"] if "block_id" in block})
METADATA_VALUES = st.one_of(st.integers(-3, 10), st.sampled_from([0, 2 ** 31, 2 ** 63, 10 ** 30, -(2 ** 63)]),
                            st.sampled_from(["1", "2", " 3 ", "x", "", "1.5", "1e3", "٤"]), st.floats(), JUNK)
METADATA = st.one_of(
    st.fixed_dictionaries({}, optional={"incident_id": METADATA_VALUES, "seq": METADATA_VALUES,
                                        "channel": st.one_of(CHANNELS, JUNK), "ts": st.one_of(texts(20), JUNK),
                                        "excerpt": st.one_of(texts(100), JUNK)}).map(json.dumps),
    st.builds(lambda i, s: json.dumps({"incident_id": i, "seq": s}), st.integers(1, 8), st.integers(0, 8)),
    JUNK.map(json.dumps), texts(60), JUNK,
)
ELEMENT = st.one_of(
    st.fixed_dictionaries({"type": st.just("plain_text_input")}, optional={"value": st.one_of(texts(100), JUNK)}),
    st.fixed_dictionaries({"type": st.just("static_select")}, optional={"selected_option": OPTIONS}),
    st.fixed_dictionaries({"type": st.just("users_select")},
                          optional={"selected_user": st.one_of(USERS, JUNK)}),
    JUNK,
)
STATE_VALUES = st.one_of(
    st.dictionaries(st.sampled_from(BLOCK_IDS), st.one_of(
        st.builds(lambda block, element: {block: element}, st.sampled_from(BLOCK_IDS + [ids.ASSIGN_USER_ACTION]),
                  ELEMENT), JUNK), max_size=6),
    JUNK,
)
VIEW_PATHS = [("view", "state"), ("view", "private_metadata"), ("view", "blocks"), ("view", "id"), ("view",),
              ("user",), ("user", "id"), ("team",), ("team", "id"), ("type",), ("trigger_id",),
              ("view", "callback_id")]


def _fix_assign_keys(values: Any) -> Any:
    """The assign modal's input uses a different action id from its block id."""
    if isinstance(values, dict) and isinstance(values.get(ids.ASSIGN_USER_BLOCK), dict):
        inner = values[ids.ASSIGN_USER_BLOCK]
        if ids.ASSIGN_USER_BLOCK in inner:
            inner[ids.ASSIGN_USER_ACTION] = inner.pop(ids.ASSIGN_USER_BLOCK)
    return values


def test_view_submissions_for_every_callback_with_odd_state_and_metadata(harness: Harness):
    seed(harness)

    @fuzz(80)
    @given(callback=st.sampled_from(sorted(VIEWS)), metadata=METADATA, values=STATE_VALUES,
           user=st.one_of(st.sampled_from(["U1", OWNER, LEAD]), USERS), team=TEAMS, changes=mutations(VIEW_PATHS))
    def run(callback: str, metadata: Any, values: Any, user: str, team: str, changes: list) -> None:
        view = {**VIEWS[callback], "private_metadata": metadata}
        payload = mutate(_submission(view, _fix_assign_keys(values), user=user, team=team), changes)
        answer = harness.interaction(payload)
        if _oversized({"payload": json.dumps(payload)}):  # Slack never sends one; nothing reads it
            assert (answer.status, answer.body) == (413, "request body too large\n"), answer
            return
        assert answer.status in (200, 400, 404), (answer, payload)
        harness.check_answer(answer, context=payload)
        if answer.status == 200 and answer.body:
            data = json.loads(answer.body)
            assert data.get("response_action") == "errors" and isinstance(data.get("errors"), dict), answer.body
            assert all(isinstance(key, str) and isinstance(text, str) and text for key, text in data["errors"].items())
        harness.settle(payload)

    run()
    harness.finish()


# --------------------------------------------------------------------------
# The modal fields themselves, on incidents at the right step
# --------------------------------------------------------------------------

def typed(text: str | None) -> str:
    """A text field as the bot reads it: NUL bytes dropped (PostgreSQL cannot store them),
    surrounding whitespace stripped."""
    return (text or "").replace("\x00", "").strip()


def chosen(value: str | None) -> str:
    return (value or "").replace("\x00", "")


def amount_ok(text: str | None) -> bool:
    """What the remedy form must accept: a plain amount in ASCII digits, optionally after a
    currency sign; an empty field means 0."""
    cleaned = (typed(text) or "0").lstrip("$€£").strip()
    return re.fullmatch(r"[0-9]{1,9}(?:[.,][0-9]{1,2})?", cleaned) is not None


def csat_ok(text: str | None) -> bool:
    """A whole number from 1 to 10 in ASCII digits (leading zeros allowed)."""
    return re.fullmatch(r"0*(?:[1-9]|10)", typed(text)) is not None


FIELD_TEXT = st.one_of(texts(120), st.sampled_from(["Reshipped", "  ", "ok", "a" * 2000, "a" * 2001]))
AMOUNTS = st.one_of(st.sampled_from(NASTY), st.integers(-5, 10 ** 12).map(str),
                    st.decimals(allow_nan=True, allow_infinity=True).map(str),
                    st.builds(lambda sign, n, d: f"{sign}{n}{d}", st.sampled_from(["", "$", "€ ", "£", " "]),
                              st.integers(0, 10 ** 10), st.sampled_from(["", ".5", ",25", ".999", ".", ",", ".00"])),
                    texts(30), st.none())
CSATS = st.one_of(st.integers(-2, 12).map(str), st.sampled_from(NASTY), texts(10), st.none(),
                  st.sampled_from(["²", "①", "٥", "𝟗", " 7 ", "07", "0010", "9" * 5000, "10.0", "1e1"]))
SELECTS = {
    modals.ROOT_CAUSE: st.one_of(st.sampled_from(ROOT_CAUSES), texts(20), st.none()),
    modals.REMEDY_KIND: st.one_of(st.sampled_from(REMEDY_KINDS), st.sampled_from(["REFUND", " refund"]), texts(20),
                                  st.none()),
    modals.BUY_AGAIN: st.one_of(st.sampled_from(BUY_AGAIN_ANSWERS), texts(10), st.none()),
    modals.SEVERITY: st.one_of(st.sampled_from([s.value for s in Severity]), texts(10), st.none()),
    modals.CONTACT: st.one_of(st.sampled_from(CONTACT_CHANNELS), texts(10), st.none()),
}


@dataclass
class Targets:
    """One incident per form, at the step the form is for; replaced once a valid
    submission has moved it on."""

    h: Harness
    at: dict[str, Incident] = field(default_factory=dict)

    def get(self, step: str) -> Incident:
        current = self.at.get(step)
        if current is not None:
            fresh = _incident(self.h.bot, current.id)
            still = fresh.status == "open" and fresh.owner_id == OWNER and (
                fresh.approval == "pending" if step == "approval"
                else fresh.current_step == step and fresh.approval != "pending")
            if still:
                self.at[step] = fresh
                return fresh
        self.at[step] = drive_to(self.h, step)
        return self.at[step]


FORMS = ["fix", "remedy", "follow_up", "skip", "decline", "new", "flag", "assign"]


def test_modal_fields_are_validated_inline_and_never_half_saved(harness: Harness):
    targets = Targets(harness)

    @fuzz(60)
    @given(form=st.sampled_from(FORMS), data=st.data())
    def run(form: str, data: st.DataObject) -> None:
        bot = harness.bot
        if form == "fix":
            target = targets.get("fix")
            view = modals.fix_modal(incident_id=target.id, seq=target.step_seq, ref="#x", root_causes=ROOT_CAUSES)
            cause, note = data.draw(SELECTS[modals.ROOT_CAUSE]), data.draw(FIELD_TEXT)
            values = {**_select_state(modals.ROOT_CAUSE, cause), **_text_state(modals.FIX_NOTE, note)}
            valid = chosen(cause) in ROOT_CAUSES and bool(typed(note))
        elif form == "remedy":
            target = targets.get("make_it_right")
            view = modals.remedy_modal(incident_id=target.id, seq=target.step_seq, ref="#x", limit=Decimal(50),
                                       currency="USD")
            kind, amount, note = data.draw(SELECTS[modals.REMEDY_KIND]), data.draw(AMOUNTS), data.draw(FIELD_TEXT)
            values = {**_select_state(modals.REMEDY_KIND, kind), **_text_state(modals.AMOUNT, amount),
                      **_text_state(modals.REMEDY_NOTE, note)}
            valid = chosen(kind) in REMEDY_KINDS and amount_ok(amount)
            if valid and chosen(kind) == "none":
                valid = None  # refused unless the amount is 0: checked by the domain's own tests
        elif form == "follow_up":
            target = targets.get("follow_up")
            view = modals.follow_up_modal(incident_id=target.id, seq=target.step_seq, ref="#x")
            csat, answer_, note = data.draw(CSATS), data.draw(SELECTS[modals.BUY_AGAIN]), data.draw(FIELD_TEXT)
            values = {**_text_state(modals.CSAT, csat), **_select_state(modals.BUY_AGAIN, answer_),
                      **_text_state(modals.FOLLOW_UP_NOTE, note)}
            valid = csat_ok(csat) and chosen(answer_) in BUY_AGAIN_ANSWERS
        elif form in ("skip", "decline"):
            target = targets.get("approval" if form == "decline" else "acknowledge")
            callback = ids.SKIP_MODAL if form == "skip" else ids.DECLINE_MODAL
            view = modals.reason_modal(callback_id=callback, incident_id=target.id, seq=target.step_seq,
                                       title="t", label="l")
            reason = data.draw(st.one_of(FIELD_TEXT, st.none()))
            values = _text_state(modals.REASON, reason)
            valid = bool(typed(reason))
        elif form == "assign":
            target = targets.get("acknowledge")
            view = modals.assign_modal(incident_id=target.id, ref="#x")
            assignee = data.draw(st.one_of(st.sampled_from(["U3", "U4", "W5", OWNER]), USERS, st.none()))
            values = {ids.ASSIGN_USER_BLOCK: {ids.ASSIGN_USER_ACTION: {"type": "users_select",
                                                                       "selected_user": assignee}}}
            valid = None
        else:
            summary, customer, category = data.draw(FIELD_TEXT), data.draw(FIELD_TEXT), data.draw(FIELD_TEXT)
            severity, contact = data.draw(SELECTS[modals.SEVERITY]), data.draw(SELECTS[modals.CONTACT])
            metadata = {"channel": "C1"} if form == "new" else {
                "channel": "C1", "ts": f"{time.time_ns() // 1000}.000001", "excerpt": data.draw(FIELD_TEXT)}
            view = modals.flag_modal(callback_id=ids.NEW_MODAL if form == "new" else ids.FLAG_MODAL,
                                     metadata={}, excerpt=None, summary_required=form == "new",
                                     root_causes=ROOT_CAUSES)
            values = {**_text_state(modals.SUMMARY, summary), **_text_state(modals.CUSTOMER, customer),
                      **_text_state(modals.CATEGORY, category), **_select_state(modals.SEVERITY, severity),
                      **_select_state(modals.CONTACT, contact)}
            valid = bool(typed(summary)) or form == "flag"
        view_dict = view.to_dict()
        if form in ("new", "flag"):  # as Slack hands it back, whatever its length
            view_dict["private_metadata"] = json.dumps(metadata)
        if form == "new":
            view_dict["id"] = harness.unique("VNEW")
        user = LEAD if form == "decline" else OWNER
        before = _snapshot(bot)
        incidents_before = len(before) - 1
        submission = _submission(view_dict, values, user=user)
        answer = harness.interaction(submission)
        context = (form, values)
        if _oversized({"payload": json.dumps(submission)}):  # Slack never sends one; nothing reads it
            assert (answer.status, _snapshot(bot)) == (413, before), (answer, context)
            return
        assert answer.status == 200, (answer, context)
        harness.check_answer(answer, context=context)
        harness.settle(context)
        after = _snapshot(bot)
        if valid is True:
            assert answer.body == "", (answer.body, context)
            assert after != before, f"a valid {form} form changed nothing: {context!r}"
        elif valid is False:
            body = json.loads(answer.body)
            assert body["response_action"] == "errors" and body["errors"], (answer.body, context)
            assert after == before, f"an invalid {form} form changed the database: {context!r}"
        if form in ("new", "flag") and valid:
            assert len(after) - 1 == incidents_before + 1, "one incident per flag form"
            stored = _newest_incident(bot)
            assert len(stored.summary) <= modals.SUMMARY_MAX and len(stored.excerpt) <= 500
            assert stored.customer_name is None or len(stored.customer_name) <= 200
            assert stored.category is None or len(stored.category) <= 100

    run()
    harness.finish()


# --------------------------------------------------------------------------
# Settings: a SettingsError naming the variable, or Settings; nothing else
# --------------------------------------------------------------------------

VARIABLES = {variable: secret for variable, _, secret in _VARIABLES.values()}
ANY_TEXT = st.text(alphabet=st.characters(blacklist_categories=()), max_size=60)
PLAUSIBLE = st.sampled_from([
    "xoxb-1", "xapp-1", "xoxb-", "https://slack.com/api", "http://x y", "sqlite:///x.db", "postgresql+psycopg://h/db",
    "C012AB3CD", "#general", "G1,C2", "C1,,C1", ",", "sos", ":sos:", "::", ": :", "U1,W2", "U1, x", "50", "49.99",
    "-1", "1e999999", "sNaN", "NaN", "Infinity", "1_000", "٥", "3d", "1h30m", "1h1h", "0s", "999999999d",
    "999999999d 23h", "2", "1", "0.5", "1e308", "1e309", "inf", "Europe/Paris", "UTC", "../etc/passwd",
    "Europe/../UTC", "/etc/localtime", "America", "09:00", "24:00", "9:5", "09:00-18:00 Mon-Fri",
    "18:00-09:00", "09:00-18:00 Fri-Mon", "09:00-18:00 ,", "09:00-18:00 Mon,,Tue", "09:00-18:00 Moon",
    "~", "~/nope.toml", "~nosuchuser/playbook.toml", "~" + "x" * 300, "/", "/etc", "/dev/null", "/proc/self/environ",
    "/root/nope.toml", "x" * 5000, "a/" * 3000, "\x00", "a\x00b", "15s", "1s",
])


@hypothesis_settings(max_examples=FUZZ_EXAMPLES or 300, deadline=None)
@given(env=st.dictionaries(st.sampled_from(sorted(VARIABLES)), st.one_of(ANY_TEXT, PLAUSIBLE, HUGE),
                           max_size=6))
def test_settings_from_env_gives_settings_or_one_line_naming_the_variable(env: dict[str, str]):
    try:
        result = Settings.from_env(env)
    except SettingsError as error:
        text = str(error)
        assert error.variable in env and (env[error.variable] or "").strip(), (text, env)
        assert text.startswith(f"{error.variable}: "), text
        assert len(text.splitlines()) == 1 and "\n" not in text and "\r" not in text, text
        assert len(text) < 600, f"{len(text)} characters"
        raw = env[error.variable].strip()
        if VARIABLES[error.variable] and len(raw) > 12:
            assert raw[5:] not in text, "a secret was echoed"
    else:
        assert isinstance(result, Settings)
        # Usable, not only accepted: every duration is added to a date at run time.
        now = datetime.now(timezone.utc)
        for delta in (result.follow_up_after, result.scheduler_tick):
            assert now + delta > now
