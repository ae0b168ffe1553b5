"""`python -m bot demo`: a whole recovery, offline, time compressed, printed as a chat.

Everything real runs: the Bolt app behind waitress, signed HTTP requests, the SQLite
database with its migrations, the outbox and its sender. Only Slack is the local double,
and the clock is moved by hand so hours pass in a second.
"""
from __future__ import annotations

import logging
import secrets
import tempfile
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.devkit import demo_quarter
from bot.devkit.clock import FakeClock
from bot.devkit.slack_double import FakeSlack
from bot.home_refresh import DEBOUNCE
from bot.identity import CONFIRMED
from bot.runtime import Runtime, build
from bot.service import Locator
from bot.settings import Settings
from bot.devkit.driver import SlackDriver
from bot.devkit.transcript import Transcript
from bot.devkit.server import BackgroundServer
from bot.web import make_wsgi

CUSTOMER, AMY, BEN, LEE = "UDANA", "UAMY", "UBEN", "ULEE"
SUPPORT = "CSUPPORT"
NAMES = {CUSTOMER: "dana (customer)", AMY: "amy", BEN: "ben", LEE: "lee (lead)", SUPPORT: "support"}


class Demo:
    def __init__(self, *, runtime: Runtime, fake: FakeSlack, clock: FakeClock, slack: SlackDriver,
                 out: Callable[[str], None], chart_dir: Path, blocks: bool = False) -> None:
        self.runtime, self.fake, self.clock, self.slack = runtime, fake, clock, slack
        self.transcript = Transcript(fake, NAMES, out=out, blocks=blocks)
        self.out = out
        self.chart_dir = chart_dir

    def narrate(self, line: str) -> None:
        self.out("")
        self.out(f"▶ {line}")

    def settle(self) -> None:
        self.runtime.sender.drain()
        self.transcript.flush()

    def later(self, delta: timedelta, why: str) -> None:
        self.clock.advance(delta)
        self.narrate(f"… {why} (clock now {self.clock.now().astimezone(self.runtime.settings.tz):%a %H:%M})")

    def card(self):  # noqa: ANN201
        return next(message for message in self.fake.messages(SUPPORT) if message.text.startswith("Recovery #1"))

    def reply(self, answer, who: str) -> None:  # noqa: ANN001
        data = answer.json()
        if data:
            self.transcript.ephemeral(who, data.get("text") or "", data.get("blocks") or [])

    def play(self) -> None:
        self.narrate("A customer complains in #support.")
        complaint = self.fake.add_user_message(
            SUPPORT, user=CUSTOMER, text="Third time my order arrives damaged. I want my money back <!channel>")
        self.transcript.flush()

        self.narrate("Amy reacts with :sos: to flag it. Slack delivers the event twice (a retry).")
        first = self.slack.react(channel=SUPPORT, ts=complaint.ts, user=AMY, event_id="Ev1")
        self.slack.react(channel=SUPPORT, ts=complaint.ts, user=AMY, event_id="Ev1", retry=1)
        self.out(f"    (Slack got HTTP {first.status} in {first.seconds * 1000:.0f} ms; one incident is stored)")
        self.settle()

        self.narrate("Amy presses Add details on the bot's private offer; the flag form opens, filled in so far.")
        offer = self.fake.ephemerals(AMY)[-1]
        before = len(self.fake.views())
        self.slack.click(offer, "Add details", user=AMY)
        self.fake.wait_for(lambda: len(self.fake.views()) > before)
        self.submit(self.fake.views()[-1], {"customer_name": "Dana Reyes", "contact_channel": "email",
                                            "severity": "high", "category": "delivery"},
                    who=AMY, shown="customer Dana Reyes, by email, severity high, category delivery")

        self.narrate("Amy and Ben both press Claim at the same moment.")
        card = self.card()
        answers: dict[str, object] = {}
        barrier = threading.Barrier(2)

        def press(user: str) -> None:
            barrier.wait()
            answers[user] = self.slack.click(card, "Claim", user=user)

        threads = [threading.Thread(target=press, args=(user,)) for user in (AMY, BEN)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.settle()

        # The race's winner hands #1 over, and later flags the customer's second message.
        self.other = self.runtime.service.incident(Locator("T1", number=1)).owner_id or AMY
        self.owner = BEN if self.other == AMY else AMY
        name = NAMES[self.owner]
        self.narrate(f"Lee, a lead, hands it to {name}, who knows this customer: `/recovery assign 1 @{name}`.")
        self.reply(self.slack.command(f"/recovery assign 1 <@{self.owner}>", user=LEE, channel=SUPPORT), LEE)
        self.settle()

        self.later(timedelta(minutes=3), "three minutes later")
        self.narrate(f"{name.capitalize()} checks their queue with `/recovery list mine`.")
        self.reply(self.slack.command("/recovery list mine", user=self.owner, channel=SUPPORT), self.owner)

        self.walk_the_playbook(name)

        self.narrate("Lee reads the incident's timeline with `/recovery show 1`.")
        self.reply(self.slack.command("/recovery show 1", user=LEE, channel=SUPPORT), LEE)

        self.rest_of_the_quarter()
        self.insights()

    def rest_of_the_quarter(self) -> None:
        """Forty-eight more recoveries through the real flow, not printed: the answers insights need."""
        settings = self.runtime.settings
        local = self.clock.now().astimezone(settings.tz)
        monday = local.date() + timedelta(days=7 - local.weekday())
        start = datetime.combine(monday, time(9, 30), tzinfo=settings.tz).astimezone(timezone.utc)
        recoveries = demo_quarter.plan(start, (AMY, BEN))
        demo_quarter.Quarter(slack=self.slack, fake=self.fake, clock=self.clock, channel=SUPPORT, settle=self.runtime.sender.drain, tick=self.quietly_tick,
                             follow_up_after=settings.follow_up_after).play(recoveries, first_number=3)
        self.transcript.catch_up()
        on_time = sum(recovery.on_time for recovery in recoveries)
        self.narrate(f"… {len(recoveries)} more recoveries over the next four weeks (not printed): {on_time} "
                     f"acknowledged within the step's SLA, {len(recoveries) - on_time} late, each followed up when "
                     "the bot asked (clock now "
                     f"{self.clock.now().astimezone(settings.tz):%a %d %b %H:%M})")

    def quietly_tick(self) -> None:
        self.runtime.ticker.tick()
        self.runtime.sender.drain()

    def insights(self) -> None:
        """Lee asks for the quarter's insights; on Monday morning the weekly post brings the chart."""
        settings = self.runtime.settings
        local = self.clock.now().astimezone(settings.tz)
        monday = datetime.combine(local.date() + timedelta(days=7 - local.weekday()), settings.digest_time,
                                  tzinfo=settings.tz)
        self.clock.set(monday.astimezone(timezone.utc) - timedelta(minutes=30))
        self.narrate(f"Monday {monday - timedelta(minutes=30):%H:%M}: Lee asks what wins customers back with "
                     "`/recovery insights 90d`.")
        ack, answer = self.slack.command_answered_later("/recovery insights 90d", user=LEE, channel=SUPPORT)
        self.reply(ack, LEE)
        self.transcript.ephemeral(LEE, answer.text, answer.blocks)
        self.transcript.catch_up()  # the answer just printed, as Lee reads it
        self.clock.set(monday.astimezone(timezone.utc) + timedelta(minutes=1))
        self.narrate(f"… {monday:%H:%M}, the scheduler ticks: on Mondays it brings the leads the weekly insights, "
                     "with their chart")
        self.tick()
        chart = [file for file in self.fake.files() if file["name"].startswith("insights-")][-1]
        saved = self.chart_dir / chart["name"]
        saved.write_bytes(chart["bytes"])
        self.out(f"    (the chart Lee got is saved as {saved})")

    def prompt(self):  # noqa: ANN201
        thread = self.fake.thread(SUPPORT, self.card().ts)
        return [message for message in thread if any(block.get("type") == "actions" for block in message.blocks)][-1]

    def press(self, label: str, who: str, message=None) -> None:  # noqa: ANN001
        self.narrate(f"{NAMES[who].capitalize()} presses {label}.")
        self.slack.click(message or self.prompt(), label, user=who)
        self.settle()

    def fill(self, label: str, who: str, values: dict[str, object], *, shown: str) -> dict:
        """Press a button that opens a modal, and submit it with ``values``."""
        before = len(self.fake.views())
        self.narrate(f"{NAMES[who].capitalize()} presses {label}; a form opens.")
        self.slack.click(self.prompt(), label, user=who)
        self.fake.wait_for(lambda: len(self.fake.views()) > before)
        view = self.fake.views()[-1]
        self.submit(view, values, who=who, shown=shown)
        return view

    def submit(self, view: dict, values: dict[str, object], *, who: str, shown: str) -> None:
        self.out(f"    ({NAMES[who]} fills in “{view['title']['text']}”: {shown}, and submits)")
        answer = self.slack.submit(view, values, user=who)
        errors = answer.json().get("errors") if answer.body else None
        if errors:
            for field, problem in errors.items():
                self.out(f"    (the form stays open and says under {field}: {problem})")
        self.settle()

    def open_home(self, who: str) -> None:
        """``who`` opens the bot's Home tab: the bot publishes it, and it is printed as they see it."""
        self.slack.open_home(user=who)
        self.settle()
        self.transcript.home(who)

    def press_on_home(self, label: str, who: str) -> None:
        """Press the first ``label`` on ``who``'s Home; print what it changed, then the Home as
        republished once the debounce has passed, without the person reopening it."""
        blocks = (self.fake.home(who) or {}).get("blocks", [])
        elements = [element for block in blocks
                    for element in [*block.get("elements", []), *filter(None, [block.get("accessory")])]]
        button = next(element for element in elements
                      if element.get("type") == "button" and element["text"]["text"] == label)
        self.narrate(f"{NAMES[who].capitalize()} presses {label} on the Home.")
        self.slack.press_on_home(button["action_id"], button.get("value", ""), user=who)
        self.settle()
        self.clock.advance(DEBOUNCE)
        self.settle()
        self.out(f"    (a second later the bot republishes {NAMES[who].split()[0]}'s Home; nobody reopened it)")
        self.transcript.home(who)

    def tick(self) -> None:
        self.runtime.ticker.tick()
        self.settle()

    def lead_dm(self):  # noqa: ANN201
        """The newest message in Lee's DM with the bot: where escalations and approvals reach him."""
        return self.fake.messages(f"D{LEE}")[-1]

    def walk_the_playbook(self, name: str) -> None:
        owner = self.owner
        self.later(timedelta(minutes=16), f"{name} is stuck on another call; the scheduler ticks")
        self.narrate("The step is overdue: the nudge carries the step's buttons, and the card says so.")
        self.tick()
        self.later(timedelta(minutes=15), "still nothing; the scheduler ticks and escalates to Lee")
        self.tick()
        self.later(timedelta(minutes=1), "Lee reads the escalation in his DM")
        self.narrate(f"Lee has just spoken to {name}, who is on it: he presses Snooze 1 hour on the escalation.")
        self.slack.click(self.lead_dm(), "Snooze 1 hour", user=LEE)
        self.settle()
        self.later(timedelta(minutes=1), "Dana writes again in #support")
        again = self.fake.add_user_message(
            SUPPORT, user=CUSTOMER, text="Hello?? Is anyone reading this? Still no answer about my damaged order")
        self.transcript.flush()
        other = NAMES[self.other]
        self.narrate(f"{other.capitalize()} flags that message too, not seeing it is the same customer.")
        self.slack.react(channel=SUPPORT, ts=again.ts, user=self.other)
        self.settle()
        self.later(timedelta(minutes=1), f"{name} has reached the customer by email")
        self.narrate(f"{name.capitalize()} opens the bot's Home tab in Slack: what waits on them, in one place.")
        self.open_home(owner)
        self.press_on_home("Done", owner)
        self.narrate("Lee sees #2 is Dana's second message about the same order: one complaint, one recovery. "
                     "`/recovery cancel 2 Dana wrote twice; handled in #1`.")
        self.reply(self.slack.command("/recovery cancel 2 Dana wrote twice; handled in #1", user=LEE,
                                      channel=SUPPORT), LEE)
        self.settle()
        self.later(timedelta(minutes=6), "they apologise on the phone")
        self.press("Done", owner)
        self.later(timedelta(hours=2), "the warehouse finds the cause")
        self.fill("Done", owner, {"root_cause": "delivery", "fix_note": "Courier crushed it; repacked and resent"},
                  shown="root cause delivery, what was done")
        self.later(timedelta(minutes=20), f"{name} wants to refund the last order in full")
        self.fill("Done", owner, {"remedy_kind": "refund", "amount": "120",
                                  "remedy_note": "Third damaged order in a row; they are a loyal customer"},
                  shown="refund, amount 120, a note for the lead")
        approval = self.prompt()
        self.press("Approve", owner, approval)
        self.later(timedelta(minutes=12), "Lee sees the request in his DM")
        self.narrate("Lee opens the bot's Home tab: what waits on a lead comes first.")
        self.open_home(LEE)
        self.press_on_home("Approve", LEE)
        self.later(timedelta(hours=5), "the customer accepts the refund")
        self.press("Agreed", owner)

        self.later(timedelta(days=1), "a day passes; the scheduler ticks")
        self.runtime.ticker.tick()
        self.settle()
        self.out("    (nothing yet: the follow-up is not asked for early)")
        self.later(timedelta(days=2), "the follow-up falls due; the scheduler ticks")
        self.runtime.ticker.tick()
        self.runtime.ticker.tick()
        self.settle()
        self.later(timedelta(hours=25), "a busy day: the follow-up is still not recorded; the scheduler ticks")
        self.tick()
        self.later(timedelta(minutes=20), f"{name} calls the customer back")
        before = len(self.fake.views())
        self.narrate(f"{name.capitalize()} presses Record follow-up; a form opens.")
        self.slack.click(self.prompt(), "Record follow-up", user=owner)
        self.fake.wait_for(lambda: len(self.fake.views()) > before)
        view = self.fake.views()[-1]
        self.submit(view, {"csat": "11", "buy_again": "yes"}, who=owner, shown="satisfaction 11")
        self.submit(view, {"csat": "9", "buy_again": "yes", "follow_up_note": "Will order again"}, who=owner,
                    shown="satisfaction 9, would buy again yes")

        local = self.clock.now().astimezone(self.runtime.settings.tz)
        next_morning = datetime.combine(local.date() + timedelta(days=1), self.runtime.settings.digest_time,
                                        tzinfo=self.runtime.settings.tz)
        self.clock.set(next_morning.astimezone(timezone.utc) + timedelta(minutes=1))
        self.narrate(f"… the next morning at {next_morning:%H:%M}, the scheduler ticks: the daily digest")
        self.tick()
        self.tick()

        self.narrate("Lee asks for the week's numbers with `/recovery stats`.")
        ack, answer = self.slack.command_answered_later("/recovery stats", user=LEE, channel=SUPPORT)
        self.reply(ack, LEE)
        self.transcript.ephemeral(LEE, answer.text, answer.blocks)


def run_demo(out: Callable[[str], None] = print, *, blocks: bool = False, chart_dir: Path | None = None) -> int:
    """``blocks``: print each message's Block Kit JSON under it, as Slack received it.
    ``chart_dir``: where the weekly post's chart is saved; a new temporary directory by
    default (the demo never writes into the repository)."""
    logging.getLogger().setLevel(logging.WARNING)
    clock = FakeClock(datetime(2026, 11, 2, 9, 55, tzinfo=timezone.utc))
    with (tempfile.TemporaryDirectory(prefix="recovery-demo-") as workdir,
          FakeSlack(team_id="T1", message_clock=lambda: clock.now().timestamp()) as fake):
        settings = replace(
            Settings(), slack_bot_token="xoxb-demo", slack_signing_secret=secrets.token_hex(16),
            slack_api_url=fake.api_url, database_url=f"sqlite:///{workdir}/demo.db",
            lead_user_ids=frozenset({LEE}), tz=ZoneInfo("Europe/London"), currency="GBP",
            # Pacing counts Slack's rate limits on the bot's clock, which the demo moves by hand:
            # paced, a message would wait for the next jump in time instead of showing at once.
            slack_pacing=False)
        for user in (AMY, BEN, LEE):
            fake.add_user(user, display_name=NAMES[user].split()[0])
        runtime = build(settings, clock=clock)
        # As `run` and `serve` do: auth.test gives the workspace's URL, which the Home's card links use.
        runtime.confirm_identity()
        fake.wait_for(lambda: runtime.identity.status == CONFIRMED)
        server = BackgroundServer(make_wsgi(runtime.app, runtime.db, signing_secret=runtime.settings.slack_signing_secret)).start()
        try:
            out("recovery-bot demo: a real bot, a local Slack double, a temporary SQLite database.")
            out("Times are Europe/London; the clock is moved by hand.")
            Demo(runtime=runtime, fake=fake, clock=clock, out=out, blocks=blocks,
                 chart_dir=chart_dir or Path(tempfile.mkdtemp(prefix="recovery-demo-chart-")),
                 slack=SlackDriver(url=server.events_url, signing_secret=settings.slack_signing_secret or "",
                                   fake=fake)).play()
        finally:
            server.stop()
            runtime.stop()
    out("")
    out("Demo finished. Run `./scripts/test` for the tests; see README.md to connect real Slack.")
    return 0
