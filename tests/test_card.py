"""The card tells the truth at a glance: its status line comes first, is derived from the
state, and is redrawn within a tick of a nudge, an escalation or a snooze ending; then the
owner, the due time (relative, and in each reader's zone) and how far along the playbook."""
from __future__ import annotations

from datetime import datetime, timedelta

from bot.devkit.slack_double import Message
from tests.conftest import LEAD, ServedBot
from tests.helpers import claim_first, flag_by_command, tick

OWNER = "U2"


def _status(bot: ServedBot) -> str:
    """The card's first line under its header, as Slack receives it."""
    return bot.card(1).blocks[1]["text"]["text"]


def _fields(bot: ServedBot) -> list[str]:
    return [field["text"] for field in bot.card(1).blocks[2]["fields"]]


def _slack_date(moment: datetime, fallback: str) -> str:
    """Slack's date formatting: each reader sees their own zone, the team's is the fallback."""
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def _prompt(bot: ServedBot) -> Message:
    return [m for m in bot.thread(bot.card(1)) if any(b.get("type") == "actions" for b in m.blocks)][-1]


def _form(bot: ServedBot, message: Message, label: str, values: dict[str, str], *, user: str = OWNER) -> None:
    before = len(bot.fake.views())
    bot.slack.click(message, label, user=user)
    assert bot.fake.wait_for(lambda: len(bot.fake.views()) > before), f"{label} opened no form"
    assert bot.slack.submit(bot.fake.views()[-1], values, user=user).body == ""
    bot.settle()


def test_an_unclaimed_card_counts_up_and_reads_escalated_once_the_leads_are_told(bot):
    flagged = bot.clock.now()
    flag_by_command(bot)
    header = bot.card(1).blocks[0]["text"]["text"]
    assert header == "Recovery #1: Customer double charged", "normal severity goes unsaid"
    assert _status(bot) == "*Unclaimed for under a minute*"
    due = flagged + timedelta(minutes=10)
    assert _fields(bot) == ["*Owner*\n_unclaimed_", f"*Due*\nin 10 min · {_slack_date(due, 'Mon 02 Nov 10:10 UTC')}",
                            "*Step 1 of 7*\nClaim"]

    bot.clock.advance(timedelta(minutes=10, seconds=1))
    assert tick(bot) == 1
    assert _status(bot) == "*Unclaimed for 10 min*", "redrawn when the channel was nudged"
    assert _fields(bot)[1] == f"*Due*\nunder a minute late · {_slack_date(due, 'Mon 02 Nov 10:10 UTC')}"

    bot.clock.advance(timedelta(minutes=10))
    assert tick(bot) == 1
    assert _status(bot) == "*Escalated*", "redrawn when the leads were told"


def test_a_claimed_step_reads_overdue_within_the_tick_of_its_nudge_and_escalated_after_need_help(bot):
    flag_by_command(bot)
    claim_first(bot, OWNER)
    assert _status(bot) == "*On track*"
    assert _fields(bot)[0] == f"*Owner*\n<@{OWNER}>"
    assert _fields(bot)[2] == "*Step 2 of 7*\nAcknowledge and take ownership"
    assert _fields(bot)[1].startswith("*Due*\nin 15 min · <!date^")

    bot.clock.advance(timedelta(minutes=16))
    assert tick(bot) == 1
    assert _status(bot) == "*Overdue by 1 min*"
    assert _fields(bot)[1].startswith("*Due*\n1 min late · <!date^")

    bot.slack.click(_prompt(bot), "Need help", user=OWNER)
    bot.settle()
    assert _status(bot) == "*Escalated*", "Need help told the leads: no tick needed"


def test_a_snooze_shows_its_end_and_the_card_is_redrawn_within_a_tick_of_it_ending(bot):
    flag_by_command(bot)
    claim_first(bot, OWNER)
    snoozed_at = bot.clock.now()
    bot.slack.command("/recovery snooze 1 5m", user=OWNER)
    bot.settle()
    until = snoozed_at + timedelta(minutes=5)
    assert _status(bot) == f"*Snoozed until* {_slack_date(until, 'Mon 02 Nov 10:05 UTC')}"
    replies = len(bot.thread(bot.card(1)))

    bot.clock.advance(timedelta(minutes=5))
    assert tick(bot) == 0 and _status(bot).startswith("*Snoozed until*"), "snoozed up to its end"
    bot.clock.advance(timedelta(seconds=1))
    assert tick(bot) == 0, "a snooze ending is no reminder"
    assert _status(bot) == "*On track*", "the card no longer claims a snooze"
    assert len(bot.thread(bot.card(1))) == replies, "nobody is pinged for it"
    assert tick(bot) == 0 and bot.settle() == 0, "redrawn once"

    bot.clock.advance(timedelta(minutes=11))
    assert tick(bot) == 1
    assert _status(bot) == "*Overdue by 1 min*"


def test_a_snooze_that_ends_after_the_deadline_reads_overdue_then_escalated(bot):
    flag_by_command(bot)
    claim_first(bot, OWNER)
    bot.clock.advance(timedelta(minutes=16))
    tick(bot)
    bot.slack.command("/recovery snooze 1 1h", user=OWNER)
    bot.settle()
    assert _status(bot).startswith("*Snoozed until* <!date^")
    bot.clock.advance(timedelta(hours=1, seconds=1))
    assert tick(bot) == 1, "the escalation fell due during the snooze and goes out at its end"
    assert _status(bot) == "*Escalated*"


def test_a_remedy_over_the_limit_reads_waiting_for_approval_until_a_lead_decides_then_closed(bot):
    flag_by_command(bot)
    claim_first(bot, OWNER)
    for _ in range(2):
        bot.slack.click(_prompt(bot), "Done", user=OWNER)
        bot.settle()
    _form(bot, _prompt(bot), "Done", {"root_cause": "delivery", "fix_note": "Reshipped"})
    _form(bot, _prompt(bot), "Done", {"remedy_kind": "refund", "amount": "120"})
    assert _status(bot) == "*Waiting for approval*"
    assert _fields(bot)[2] == "*Step 5 of 7*\nGo above and beyond"

    bot.slack.click(_prompt(bot), "Approve", user=LEAD)
    bot.settle()
    assert _status(bot) == "*On track*" and _fields(bot)[2] == "*Step 6 of 7*\nCustomer buy-in"
    bot.slack.click(_prompt(bot), "Agreed", user=OWNER)
    bot.settle()
    assert _status(bot) == "*On track*" and _fields(bot)[1].startswith("*Due*\nin 4 days · ")

    bot.clock.advance(timedelta(days=3, minutes=1))
    bot.runtime.ticker.tick()
    bot.settle()
    _form(bot, _prompt(bot), "Record follow-up", {"csat": "9", "buy_again": "yes"})
    card = bot.card(1)
    assert _status(bot) == "*Closed*"
    assert _fields(bot)[0] == f"*Owner*\n<@{OWNER}>" and not any(field.startswith("*Due*") for field in _fields(bot))
    assert all(block["type"] != "actions" for block in card.blocks), "nothing left to press"


def test_a_cancelled_card_says_so_and_why(bot):
    flag_by_command(bot)
    claim_first(bot, OWNER)
    bot.slack.command("/recovery cancel 1 duplicate of #4", user=OWNER)
    bot.settle()
    assert _status(bot) == "*Cancelled*"
    assert _fields(bot) == [f"*Owner*\n<@{OWNER}>", "*Why cancelled*\nduplicate of #4"]
