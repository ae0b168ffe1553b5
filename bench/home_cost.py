"""The App Home: building and publishing one with 60 incidents, and a burst of changes debounced.

Issue 14: "the cost of building and publishing a Home with 60 incidents, and publishes per
second for 100 changes in a second across 20 people (debounced)".

In-process, on the real runtime (`bot.runtime.build`: service, outbox sender, HomeSender)
over a real database, the Slack double (`FakeSlack`) over HTTP in the same process, and a
clock moved by hand; pacing off, as in the other benchmarks (views.publish's own budget, 90
at once, would hold the 20 publishes of the burst anyway). Every incident is flagged,
claimed and walked through the real service, its card posted through the outbox.

Cost: one agent owns ``owned`` open incidents, and ``unclaimed`` more wait unclaimed in their
channels; ``approvals`` of the agent's wait for a lead's approval, and the clock is moved
until steps are overdue and the tick has escalated some. Timed, alternately, medians of
rounds: the agent's and the lead's Home built (`bot.home.home_view`) and sent
(`HomeSender.send` on a leased outbox row: built, then views.publish with Slack's hash,
through the bot's own client). The floors, in the same rounds: one read transaction of the
rows the agent's Home lists (their open incidents and the first unclaimed), and a
views.publish of a one-block Home through the same client and double (Slack's round trip).

Burst: ``people`` people each opened their Home; ``changes`` claims of unclaimed incidents
by them, round robin, evenly over one second of the clock, the sender draining after each
(as its wake-up would); then the clock moves on in the same steps while the debounced rows
fall due. Counted: the views.publish calls Slack received, per person, and whether each
person's last Home equals their Home rendered afresh, at the time it was sent, from the
final database (no Home older than the last change).
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from slack_sdk.models.blocks import SectionBlock
from slack_sdk.models.views import View
from sqlmodel import select

from bench import cli
from bench.rig import BOT_TOKEN, Rig, log
from bench.load import SIGNING_SECRET
from bot import home, home_refresh
from bot.devkit.clock import FakeClock
from bot.devkit.slack_double import FakeSlack
from bot.domain import home as rules
from bot.domain import recovery
from bot.domain.types import IncidentState, NewIncident
from bot.outbox_home import HomeSender
from bot.runtime import Runtime, build
from bot.service import Locator
from bot.settings import Settings
from bot.slack_api import make_client
from bot.views.home import MAX_BLOCKS
from storage import home_store, outbox_store
from storage.models import OutboxMessage
from storage.outbox_store import Leased

WORKSPACE = "T1"
AGENT, LEAD, FLAGGER, FLOOR_USER = "UAGENT", "ULEAD", "UFLAG", "UFLOOR"
CHANNELS = ("CHOME1", "CHOME2", "CHOME3")
BURST_CHANNEL = "CBURST"
LEASE = timedelta(minutes=5)
MINIMAL_HOME = View(type="home", blocks=[SectionBlock(text="Nothing here yet.")]).to_dict()


@dataclass
class Config:
    database: str = cli.database_field("both")
    owned: int = 60
    unclaimed: int = 200
    approvals: int = 10
    rounds: int = 15
    people: int = 20
    changes: int = 100
    quick: bool = False
    QUICK: ClassVar[dict[str, Any]] = dict(owned=20, unclaimed=30, approvals=3, rounds=2)


@contextmanager
def _world(rig: Rig, name: str) -> Iterator[tuple[Runtime, FakeSlack, FakeClock]]:
    """A fresh database, a Slack double and the bot's runtime on them, the clock by hand."""
    clock = FakeClock()
    with FakeSlack(team_id=WORKSPACE, message_clock=lambda: clock.now().timestamp()) as fake:
        settings = replace(Settings(), slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET,
                           slack_api_url=fake.api_url, database_url=rig.database(name),
                           lead_user_ids=frozenset({LEAD}), slack_pacing=False)
        runtime = build(settings, clock=clock)
        try:
            if not runtime.identity_check.attempt():  # auth.test: the workspace URL the Home links cards with
                raise RuntimeError("auth.test failed against the Slack double")
            yield runtime, fake, clock
        finally:
            runtime.stop()


def _flag(runtime: Runtime, number: int, channel: str) -> IncidentState:
    state, created = runtime.service.flag(NewIncident(
        workspace_id=WORKSPACE, origin_channel=channel, origin_ts=f"cmd-home-{number}", flagged_by=FLAGGER,
        summary=f"Parcel {number} arrived crushed and the customer wants it replaced"), fetch_details=False)
    if not created:
        raise RuntimeError(f"incident {number} flagged twice")
    return state


def _act(runtime: Runtime, state: IncidentState, user: str, action: recovery.Action) -> IncidentState:
    outcome = runtime.service.act(Locator(WORKSPACE, incident_id=state.id), user, action)
    if not outcome.ok or outcome.state is None:
        raise RuntimeError(f"{type(action).__name__} on {state.ref} refused: {outcome.message}")
    return outcome.state


def _claim(runtime: Runtime, number: int, user: str) -> IncidentState:
    outcome = runtime.service.claim(Locator(WORKSPACE, number=number), user)
    if not outcome.ok or outcome.state is None:
        raise RuntimeError(f"claim of #{number} by {user} refused: {outcome.message}")
    return outcome.state


def _to_approval(runtime: Runtime, state: IncidentState) -> None:
    """Acknowledged, apologized, fixed, and a refund over the agent's limit asked: a lead's to decide."""
    for _ in range(2):
        state = _act(runtime, state, AGENT, recovery.CompleteStep(state.step_seq))
    state = _act(runtime, state, AGENT, recovery.RecordFix(state.step_seq, "delivery", "Reshipped by courier"))
    _act(runtime, state, AGENT, recovery.RecordRemedy(state.step_seq, "refund", Decimal(80), "Second time"))


def _open_homes(runtime: Runtime, users: list[str]) -> None:
    """As the app_home_opened handler does (handlers/home.py)."""
    with runtime.db.transaction() as session:
        for user in users:
            home_refresh.opened(session, workspace_id=WORKSPACE, user_id=user, now=runtime.service.clock.now())


def seed_cost(runtime: Runtime, clock: FakeClock, config: Config) -> dict[str, int]:
    """The agent's incidents and their channels' unclaimed, then late: what both Homes show."""
    numbers = iter(range(1, config.owned + config.unclaimed + 1))
    owned = [_flag(runtime, next(numbers), CHANNELS[i % len(CHANNELS)]) for i in range(config.owned)]
    for i in range(config.unclaimed):
        _flag(runtime, next(numbers), CHANNELS[i % len(CHANNELS)])
        clock.advance(timedelta(seconds=5))
    runtime.sender.drain()
    for state in owned:
        _claim(runtime, state.number, AGENT)
    for state in owned[:config.approvals]:
        _to_approval(runtime, runtime.service.incident(Locator(WORKSPACE, incident_id=state.id)))
    runtime.sender.drain()
    for _ in range(8):  # past the claim and first steps' due times, and their escalations
        clock.advance(timedelta(hours=1))
        runtime.ticker.tick()
        runtime.sender.drain()
    _open_homes(runtime, [AGENT, LEAD])
    runtime.sender.drain()
    now = clock.now()
    with runtime.db.read() as session:
        channels = home_store.my_channels(session, workspace_id=WORKSPACE, user_id=AGENT,
                                          since=now - timedelta(days=rules.MY_CHANNELS_DAYS))
        shown = {
            "owned_open": len(home_store.owned_open(session, workspace_id=WORKSPACE, user_id=AGENT)),
            "unclaimed_in_channels": home_store.unclaimed_in(session, workspace_id=WORKSPACE, channels=channels,
                                                             limit=1)[1],
            "waiting_approval": home_store.waiting_approval(session, workspace_id=WORKSPACE, limit=1)[1],
            "escalated": home_store.escalated(session, workspace_id=WORKSPACE, limit=1)[1],
            "past_due": home_store.past_due(session, workspace_id=WORKSPACE, now=now)[1],
        }
    wanted = {"owned_open": config.owned, "unclaimed_in_channels": config.unclaimed,
              "waiting_approval": config.approvals}
    if any(shown[name] != count for name, count in wanted.items()) or not (shown["escalated"] and shown["past_due"]):
        raise RuntimeError(f"the seeded workspace is not what the Homes are to show: {shown}")
    return shown


def _leased(runtime: Runtime, user: str) -> Leased:
    """A Home row for ``user``, queued and leased as the sender leases it (not timed)."""
    now = runtime.service.clock.now()
    with runtime.db.transaction() as session:
        outbox_store.enqueue(session, workspace_id=WORKSPACE, kind=home_refresh.KIND, now=now, user_id=user,
                             ordering_key=home_refresh.ordering_key(WORKSPACE, user))
        ids = session.exec(select(OutboxMessage.id).where(
            OutboxMessage.ordering_key == home_refresh.ordering_key(WORKSPACE, user), OutboxMessage.state == outbox_store.PENDING,
        )).all()
        [row] = outbox_store.lease_many(session, list(ids), now=now, lease_for=LEASE)
    return row


def _sent(runtime: Runtime, row: Leased, note: str | None) -> None:
    with runtime.db.transaction() as session:
        outbox_store.mark_sent(session, row.id, now=runtime.service.clock.now(), ts=None, note=note)


def _first_difference(built: list[dict], published: list[dict] | None) -> str:
    """Where two Homes part, for the error that says they do."""
    if published is None:
        return "nothing was published"
    for index, (one, other) in enumerate(zip(built, published)):
        if one != other:
            return f"block {index}: built {json.dumps(one)[:400]} published {json.dumps(other)[:400]}"
    return f"{len(built)} blocks built, {len(published)} published"


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _view(params: dict) -> dict:
    view = params["view"]
    return json.loads(view) if isinstance(view, str) else view


def _view_size(view: dict) -> dict[str, int]:
    return {"blocks": len(view["blocks"]), "bytes": len(json.dumps(view, ensure_ascii=False).encode())}


def cost(rig: Rig, config: Config) -> dict[str, Any]:
    with _world(rig, "home_cost") as (runtime, fake, clock):
        log(f"home cost: seeding {config.owned} owned, {config.unclaimed} unclaimed, {config.approvals} approvals")
        started = time.monotonic()
        shown = seed_cost(runtime, clock, config)
        log(f"home cost: seeded in {time.monotonic() - started:.1f} s: {shown}")
        service, db = runtime.service, runtime.db
        client = make_client(runtime.settings)
        sender = HomeSender(db=db, clock=clock, playbook=lambda: service.playbook, policy=lambda: service.policy,
                            is_lead=service.leads.is_lead, workspace_url=lambda _workspace: runtime.identity.known.url)
        links = home.CardLinks(runtime.identity.known.url)

        def publish(**kwargs: Any) -> dict:
            return client.views_publish(**kwargs).data

        def build_home(user: str, lead: bool) -> dict:
            return home.home_view(db, workspace_id=WORKSPACE, user_id=user, is_lead=lead, now=clock.now(),
                                  playbook=service.playbook, policy=service.policy, links=links,
                                  settings_button=lead)  # a lead may edit the workspace's Settings

        def read_floor() -> object:
            now = clock.now()
            with db.read() as session:
                mine = home_store.owned_open(session, workspace_id=WORKSPACE, user_id=AGENT)
                channels = home_store.my_channels(session, workspace_id=WORKSPACE, user_id=AGENT,
                                                  since=now - timedelta(days=rules.MY_CHANNELS_DAYS))
                return mine, home_store.unclaimed_in(session, workspace_id=WORKSPACE, channels=channels,
                                                     limit=rules.UNCLAIMED)

        def send(user: str) -> float:
            row = _leased(runtime, user)
            started = time.perf_counter()
            _, note = sender.send(row, publish)
            seconds = time.perf_counter() - started
            _sent(runtime, row, note)
            return seconds

        views = {"agent": build_home(AGENT, False), "lead": build_home(LEAD, True)}
        timings: dict[str, list[float]] = {name: [] for name in (
            "read_floor", "build_agent", "build_lead", "publish_floor", "send_agent", "send_lead")}
        for _ in range(config.rounds):
            timings["read_floor"].append(_timed(read_floor))
            timings["build_agent"].append(_timed(lambda: build_home(AGENT, False)))
            timings["build_lead"].append(_timed(lambda: build_home(LEAD, True)))
            timings["publish_floor"].append(_timed(lambda: publish(user_id=FLOOR_USER, view=MINIMAL_HOME)))
            timings["send_agent"].append(send(AGENT))
            timings["send_lead"].append(send(LEAD))
        published = {name: fake.home(user) for name, user in (("agent", AGENT), ("lead", LEAD))}
        for name, view in published.items():
            if view is None or view["blocks"] != views[name]["blocks"]:
                raise RuntimeError(f"the {name}'s published Home is not the one built: "
                                   f"{_first_difference(views[name]['blocks'], view['blocks'] if view else None)}")
    median = {name: statistics.median(values) for name, values in timings.items()}
    result: dict[str, Any] = {f"{name}_s": value for name, value in median.items()}
    result.update(shown=shown, sizes={name: _view_size(view) for name, view in views.items()})
    for who in ("agent", "lead"):
        result[f"build_{who}_over_floor"] = median[f"build_{who}"] / median["read_floor"]
        result[f"send_{who}_over_floor"] = median[f"send_{who}"] / median["publish_floor"]
    log(f"home cost on {rig.kind}: build agent {median['build_agent'] * 1000:.1f} ms, lead "
        f"{median['build_lead'] * 1000:.1f} ms (read floor {median['read_floor'] * 1000:.1f} ms); send agent "
        f"{median['send_agent'] * 1000:.1f} ms, lead {median['send_lead'] * 1000:.1f} ms (publish floor "
        f"{median['publish_floor'] * 1000:.1f} ms)")
    return result


def burst(rig: Rig, config: Config) -> dict[str, Any]:
    people = [f"UP{i:02d}" for i in range(config.people)]
    with _world(rig, "home_burst") as (runtime, fake, clock):
        for number in range(1, config.changes + 1):
            _flag(runtime, number, BURST_CHANNEL)
        runtime.sender.drain()
        _open_homes(runtime, people)
        runtime.sender.drain()
        before = len(fake.calls("views.publish"))
        step = timedelta(seconds=1) / config.changes
        first_change = clock.now() + step
        started = time.perf_counter()
        for i in range(config.changes):
            clock.advance(step)
            _claim(runtime, i + 1, people[i % len(people)])
            runtime.sender.drain()
        burst_wall = time.perf_counter() - started
        last_change = clock.now()
        sent_at: dict[str, datetime] = {}
        tail_wall, published = 0.0, before
        while clock.now() < last_change + 3 * home_refresh.DEBOUNCE:
            clock.advance(step)
            started = time.perf_counter()
            runtime.sender.drain()
            calls = fake.calls("views.publish")
            if len(calls) > published:
                tail_wall += time.perf_counter() - started
                for call in calls[published:]:
                    sent_at[call.params["user_id"]] = clock.now()
                published = len(calls)
        calls = fake.calls("views.publish")[before:]
        per_person = Counter(call.params["user_id"] for call in calls)
        service = runtime.service
        links = home.CardLinks(runtime.identity.known.url)
        stale = [user for user in people if fake.home(user) is None or user not in sent_at
                 or fake.home(user)["blocks"] != home.home_view(
                     runtime.db, workspace_id=WORKSPACE, user_id=user, is_lead=False, now=sent_at[user],
                     playbook=service.playbook, policy=service.policy, links=links)["blocks"]]
        blocks = [len(_view(call.params)["blocks"]) for call in fake.calls("views.publish")]
        publish_times = sorted(sent_at.values())
    if not publish_times:
        raise RuntimeError("no Home was published after the burst")
    span = (last_change - first_change + step).total_seconds()
    result = {
        "people": config.people, "changes": config.changes, "burst_clock_s": span,
        "publishes": len(calls), "publishes_per_person": sorted(set(per_person.values())),
        "people_published": len(per_person), "publishes_per_clock_second": len(calls) / span,
        "publishes_per_change": len(calls) / config.changes,
        "first_publish_after_last_change_s": (publish_times[0] - last_change).total_seconds(),
        "last_publish_after_last_change_s": (publish_times[-1] - last_change).total_seconds(),
        "stale_homes": len(stale), "max_blocks": max(blocks), "burst_wall_s": burst_wall,
        "changes_per_wall_second": config.changes / burst_wall, "publish_wall_s": tail_wall,
        "publishes_per_wall_second": len(calls) / tail_wall if tail_wall else None,
    }
    log(f"home burst on {rig.kind}: {config.changes} changes over {span:.2f} s of clock across {config.people} "
        f"people -> {len(calls)} publishes ({per_person.most_common(1)}), {len(stale)} stale; the sender published "
        f"them in {tail_wall * 1000:.0f} ms")
    return result


def run(config: Config) -> dict[str, Any]:
    with Rig(config.database) as rig:
        result = {"database": config.database, "config": {"owned": config.owned, "unclaimed": config.unclaimed,
                                                          "approvals": config.approvals, "rounds": config.rounds},
                  "cost": cost(rig, config), "burst": burst(rig, config)}
    result["max_blocks"] = max(result["burst"]["max_blocks"], *(s["blocks"] for s in result["cost"]["sizes"].values()))
    result["within_limits"] = result["max_blocks"] <= MAX_BLOCKS
    return result


if __name__ == "__main__":
    sys.exit(cli.main("home_cost", Config, run, __doc__))
