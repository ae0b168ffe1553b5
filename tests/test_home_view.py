"""What a Home shows (issue 14 items 1 and 3): the agent's queue and their channels'
unclaimed incidents, the lead's approvals, escalations and overdue by owner, the week's
figures, and Slack's limits whatever the numbers. Incidents are flagged and claimed through
signed requests into the real app; the view is built by `bot.home.home_view` against the
real database and published to the Slack double, which checks it as Slack would."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain import recovery
from bot.domain.home import Capped, OwnerGroup, WeekFigures
from bot.domain.playbook import DEFAULT_PLAYBOOK
from bot.domain.types import IncidentState, Policy, Status, StepKey
from bot.home import CardLinks, home_view
from bot.service import Locator
from bot.views import ids
from bot.views.home import MAX_BLOCKS, Drawing, HomeContent, Leads
from bot.views.home import home_view as draw
from storage import repository
from tests.conftest import LEAD, ServedBot

AGENT = "U2"
FLAGGER = "U1"
WORKSPACE = "T1"
URL = "https://fake.slack.test/"


def _flag(bot: ServedBot, summary: str, *, channel: str = "C1", user: str = FLAGGER) -> None:
    assert bot.slack.command(f"/recovery new {summary}", channel=channel, user=user).status == 200


def _claim(bot: ServedBot, number: int, user: str = AGENT) -> None:
    assert bot.slack.command(f"/recovery claim {number}", user=user).status == 200


def _incident(bot: ServedBot, number: int):  # noqa: ANN202 - an IncidentState
    with bot.runtime.db.read() as session:
        return repository.load(session, workspace_id=WORKSPACE, number=number)[0]


def _home(bot: ServedBot, user: str = AGENT, *, lead: bool = False, url: str | None = URL) -> dict:
    service = bot.runtime.service
    return home_view(bot.runtime.db, workspace_id=WORKSPACE, user_id=user, is_lead=lead, now=bot.clock.now(),
                     playbook=service.playbook, policy=service.policy, links=CardLinks(url))


def _publish(bot: ServedBot, user: str, view: dict) -> dict:
    """Through views.publish on the double, which refuses what Slack would; what it now holds."""
    client = WebClient(token="xoxb-test", base_url=bot.fake.api_url)
    assert client.views_publish(user_id=user, view=view)["ok"]
    return bot.fake.home(user)


def _texts(view: dict) -> list[str]:
    """Each block as one line: a header's text, a section's or context's mrkdwn, a divider."""
    found = []
    for block in view["blocks"]:
        if block["type"] == "header":
            found.append(f"# {block['text']['text']}")
        elif block["type"] == "section":
            found.append(block["text"]["text"])
        elif block["type"] == "context":
            found.append("> " + " ".join(element["text"] for element in block["elements"]))
        elif block["type"] == "divider":
            found.append("---")
    return found


def _section(view: dict, starts: str) -> dict:
    [found] = [block for block in view["blocks"] if block["type"] == "section"
               and block["text"]["text"].startswith(starts)]
    return found


def _link(bot: ServedBot, number: int) -> str:
    card = bot.card(number)
    return f"{URL}archives/{card.channel}/p{card.ts.replace('.', '')}"


def test_the_agents_home_lists_their_incident_with_done_and_their_channels_unclaimed_with_claim(bot):
    _flag(bot, "Customer double charged")
    _flag(bot, "Parcel <b>crushed</b> & late")
    _flag(bot, "Elsewhere", channel="C9", user="U7")
    bot.settle()
    bot.clock.advance(timedelta(minutes=2))
    _claim(bot, 1)
    bot.settle()
    bot.clock.advance(timedelta(minutes=10))
    one, two = _incident(bot, 1), _incident(bot, 2)

    view = _publish(bot, AGENT, _home(bot))

    assert view["type"] == "home"
    assert _texts(view) == [
        "# 📋 My incidents (1)",
        "> Open incidents you own, most urgent first.",
        f"*<{_link(bot, 1)}|#1>* Customer double charged\nAcknowledge and take ownership · due in 5 min",
        "---",
        "# 🙋 Unclaimed in my channels (1)",
        "> Nobody owns these yet, longest waiting first. Your channels are those of the incidents you flagged "
        "or owned in the last 90 days: <#C1>.",
        f"*<{_link(bot, 2)}|#2>* Parcel &lt;b&gt;crushed&lt;/b&gt; &amp; late\n<#C1> · ⏰ Unclaimed for 12 min",
        "---",
        "# 📈 This week",
        "> The last 7 days: median times from the flag, steps ended within their SLA, and the customers' "
        "answers at the follow-up.",
        "*You* (the incidents you own)\ntime to claim 2m · to resolve none resolved · within SLA 100% of 1 "
        "step · satisfaction no answers · would buy again no answers",
    ]
    done = _section(view, f"*<{_link(bot, 1)}|#1>*")["accessory"]
    assert (done["action_id"], done["value"], done["text"]["text"], done["style"]) == (
        ids.DONE, f"{one.id}:{one.step_seq}", "Done", "primary")
    assert done["accessibility_label"] == "Done: Acknowledge and take ownership on incident #1"
    claim = _section(view, f"*<{_link(bot, 2)}|#2>*")["accessory"]
    assert (claim["action_id"], claim["value"], claim["accessibility_label"]) == (
        ids.CLAIM, f"{two.id}", "Claim incident #2: you will own it")


def test_without_the_workspace_url_no_card_is_linked(bot):
    _flag(bot, "Customer double charged")
    bot.settle()
    _claim(bot, 1)
    bot.settle()

    view = _home(bot, url=None)

    assert _texts(view)[2] == "*#1* Customer double charged\nAcknowledge and take ownership · due in 15 min"


def test_a_step_with_a_form_has_no_done_on_the_home_and_a_late_one_says_how_late(bot):
    _flag(bot, "Customer double charged")
    bot.settle()
    _claim(bot, 1)
    state = _incident(bot, 1)
    service = bot.runtime.service
    for _ in range(2):
        state = service.act(Locator(WORKSPACE, incident_id=state.id), AGENT,
                            recovery.CompleteStep(seq=state.step_seq)).state
    bot.clock.advance(timedelta(hours=4, minutes=4))

    view = _home(bot)

    line = _section(view, f"*<{_link(bot, 1)}|#1>*")
    assert line["text"]["text"] == (f"*<{_link(bot, 1)}|#1>* Customer double charged\n"
                                    "Understand and fix · ⏰ 4 min late")
    assert "accessory" not in line


def test_someone_with_nothing_sees_every_empty_state(bot):
    view = _publish(bot, "U5", _home(bot, "U5"))

    texts = _texts(view)
    assert "Nothing waiting on you. 🎉" in texts
    assert "Nothing unclaimed in your channels." in texts
    assert ("> Nobody owns these yet, longest waiting first. Your channels are those of the incidents you "
            "flagged or owned in the last 90 days: none yet.") in texts


def test_a_leads_home_leads_with_the_approval_the_escalation_and_the_overdue_by_owner(make_bot, settings):
    bot = make_bot(replace(settings, currency="EUR"))
    _flag(bot, "Parcel arrived crushed")
    _flag(bot, "Wrong size delivered")
    bot.settle()
    _claim(bot, 1)
    _claim(bot, 2, user="U3")
    _to_approval(bot, 1, amount="80", note="Second time <this> month")
    bot.clock.advance(timedelta(minutes=31))
    bot.runtime.ticker.tick()
    bot.settle()
    one = _incident(bot, 1)

    view = _publish(bot, LEAD, _home(bot, LEAD, lead=True))

    two_link = _link(bot, 2)
    assert _texts(view) == [
        "# 💶 Waiting for your approval (1)",
        "> Remedies over the € 50 an agent may give alone, waiting longest first.",
        f"*<{_link(bot, 1)}|#1>* Parcel arrived crushed\n*Customer:* not recorded · *Remedy:* refund € 80 · "
        "asked by <@U2>\n*Agent's note:* Second time &lt;this&gt; month",
        "---",
        "# 🚨 Escalated (1)",
        "> Open incidents whose current step the leads were alerted about, longest past due first.",
        f"*<{two_link}|#2>* Wrong size delivered\nAcknowledge and take ownership · ⏰ 16 min late · <@U3>",
        "---",
        "# ⏰ Overdue by owner (1)",
        "> Open, past due and not snoozed, by owner, worst first.",
        f"*<@U3>* · 1 overdue\n• *<{two_link}|#2>* Wrong size delivered · Acknowledge and take ownership · "
        "⏰ 16 min late",
        "---",
        "# 📋 My incidents",
        "> Open incidents you own, most urgent first.",
        "Nothing waiting on you. 🎉",
        "---",
        "# 🙋 Unclaimed in my channels",
        "> Nobody owns these yet, longest waiting first. Your channels are those of the incidents you flagged "
        "or owned in the last 90 days: none yet.",
        "Nothing unclaimed in your channels.",
        "---",
        "# 📈 This week",
        "> The last 7 days: median times from the flag, steps ended within their SLA, and the customers' "
        "answers at the follow-up.",
        "*You* (the incidents you own)\ntime to claim no claims · to resolve none resolved · within SLA no steps "
        "ended · satisfaction no answers · would buy again no answers",
        "*The team*\ntime to claim 0s · to resolve none resolved · within SLA 100% of 5 steps · satisfaction no "
        "answers · would buy again no answers",
    ]
    actions = view["blocks"][3]
    assert actions["type"] == "actions"
    assert [(b["text"]["text"], b["action_id"], b["value"], b.get("style"), b["accessibility_label"])
            for b in actions["elements"]] == [
        ("Approve", ids.APPROVE, f"{one.id}:{one.step_seq}", "primary", "Approve refund € 80 on incident #1"),
        ("Decline", ids.DECLINE, f"{one.id}:{one.step_seq}", None, "Decline refund € 80 on incident #1")]


def test_an_agent_sees_no_lead_sections(bot):
    texts = _texts(_home(bot, AGENT))
    assert not [text for text in texts if "approval" in text or "Escalated" in text or "Overdue" in text]


def _to_approval(bot: ServedBot, number: int, *, amount: str, note: str = "", owner: str = AGENT) -> None:
    """#number, claimed by ``owner``, taken by them to a remedy over the limit (the rule book's
    own actions, as the thread's buttons and forms call them)."""
    service = bot.runtime.service
    state = _incident(bot, number)
    where = Locator(WORKSPACE, incident_id=state.id)
    for action in (recovery.CompleteStep, recovery.CompleteStep):
        state = service.act(where, owner, action(seq=state.step_seq)).state
    state = service.act(where, owner, recovery.RecordFix(seq=state.step_seq, root_cause="delivery",
                                                         note="Reshipped")).state
    outcome = service.act(where, owner, recovery.RecordRemedy(seq=state.step_seq, kind="refund",
                                                              amount=Decimal(amount), note=note))
    assert outcome.ok and outcome.state.approval == "pending", outcome.message


def test_sixty_of_ones_own_and_two_hundred_unclaimed_stay_within_a_hundred_blocks(bot):
    for number in range(1, 261):
        _flag(bot, f"Complaint {number}")
    for number in range(1, 61):
        _claim(bot, number)
    bot.settle()

    view = _publish(bot, AGENT, _home(bot, AGENT, lead=True))

    assert len(view["blocks"]) <= MAX_BLOCKS
    texts = _texts(view)
    assert "# 📋 My incidents (60)" in texts and "> …and 50 more: `/recovery list mine`" in texts
    assert "# 🙋 Unclaimed in my channels (200)" in texts and "> …and 190 more: `/recovery list unclaimed`" in texts
    assert "> …and 195 more: `/recovery list overdue`" not in texts
    mine = [text for text in texts if text.startswith(f"*<{URL}") and "Acknowledge" in text]
    assert len(mine) == 10
    unclaimed = [text for text in texts if "Unclaimed for" in text]
    assert [text.split("|")[1].split(">")[0] for text in unclaimed] == [f"#{n}" for n in range(61, 71)]


def test_a_lead_with_twenty_approvals_waiting_sees_the_five_longest_waiting_and_the_count(bot):
    for number in range(1, 21):
        _flag(bot, f"Complaint {number}")
    bot.settle()
    for number in range(1, 21):
        _claim(bot, number)
        _to_approval(bot, number, amount="80", note=f"note {number}")
        bot.clock.advance(timedelta(seconds=1))
    bot.settle()

    view = _publish(bot, LEAD, _home(bot, LEAD, lead=True))

    assert len(view["blocks"]) <= MAX_BLOCKS
    texts = _texts(view)
    assert texts[0] == "# 💶 Waiting for your approval (20)"
    shown = [text for text in texts if "*Agent's note:*" in text]
    assert [text.rsplit(" ", 1)[1] for text in shown] == ["1", "2", "3", "4", "5"]
    assert "> …and 15 more: `/recovery list open`" in texts
    assert sum(block["type"] == "actions" for block in view["blocks"]) == 5


def test_long_texts_are_cut_to_block_kits_limits(bot):
    _flag(bot, "x" * 5000)
    bot.settle()
    _claim(bot, 1)

    view = _publish(bot, AGENT, _home(bot))

    line = _section(view, f"*<{_link(bot, 1)}|#1>*")["text"]["text"]
    assert line.startswith(f"*<{_link(bot, 1)}|#1>* {'x' * 100}") and len(line) < 3000


def test_the_double_refuses_a_home_slack_would_not_draw(bot):
    client = WebClient(token="xoxb-test", base_url=bot.fake.api_url)
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}
    button = {"type": "button", "text": {"type": "plain_text", "text": "Done"}, "action_id": "a", "value": "1"}
    refused = [
        {"type": "modal", "blocks": [section]},
        {"type": "home", "blocks": [section] * 101},
        {"type": "home", "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]},
        {"type": "home", "blocks": [{**section, "text": {"type": "mrkdwn", "text": "x" * 3001}}]},
        {"type": "home", "blocks": [{**section, "accessory": {**button, "accessibility_label": "a" * 76}}]},
        {"type": "home", "blocks": [{"type": "actions", "block_id": "b", "elements": [button]}] * 2},
    ]
    for view in refused:
        with pytest.raises(SlackApiError) as error:
            client.views_publish(user_id=AGENT, view=view)
        assert error.value.response["error"] == "invalid_arguments"
    assert client.views_publish(user_id=AGENT, view={"type": "home", "blocks": [section] * 100})["ok"]


def test_every_section_full_of_the_longest_texts_stays_within_slacks_limits(fake_slack):
    """The caps' worst case, drawn without a database: a lead's Home with every section over its
    cap, every owner over theirs, every text as long as storage holds."""
    now = datetime(2026, 11, 2, 12, 0, tzinfo=timezone.utc)
    long = "&<" * 250

    def state(number: int, owner: str | None = AGENT) -> IncidentState:
        return IncidentState(id=number, workspace_id=WORKSPACE, number=number, status=Status.OPEN,
                             current_step=StepKey.ACKNOWLEDGE, step_seq=2, step_started_at=now,
                             step_due_at=now - timedelta(hours=number), created_at=now - timedelta(days=1),
                             flagged_by=FLAGGER, summary=long, origin_channel="C1", origin_ts=f"{number}.0",
                             card_channel="C1", card_ts=f"{number}.000100", owner_id=owner, customer_name=long,
                             remedy_kind="refund", remedy_amount=Decimal("123456789.99"), approval="pending")

    many = [state(number) for number in range(1, 100)]
    groups = tuple(OwnerGroup(f"U{owner}", Capped(tuple((item, timedelta(days=3)) for item in many[:5]), 40))
                   for owner in range(5))
    week = WeekFigures(timedelta(days=400), timedelta(days=900), 10**9, 10**9 - 1, 10**10, 10**9, 1, 3)
    content = HomeContent(
        mine=Capped(tuple(many[:10]), 10**6), unclaimed=Capped(tuple(state(n, None) for n in range(10)), 10**6),
        channels=tuple(f"C{n}" for n in range(50)), week=week,
        leads=Leads(approvals=Capped(tuple(many[:5]), 10**6), notes={item.id: long * 4 for item in many},
                    escalated=Capped(tuple(many[:5]), 10**6), overdue=groups, overdue_more=10**6, team_week=week))

    view = draw(content, Drawing(now=now, playbook=DEFAULT_PLAYBOOK, policy=Policy(currency="EUR"),
                                 links=CardLinks(URL)))

    assert len(view["blocks"]) == 64 <= MAX_BLOCKS
    client = WebClient(token="xoxb-test", base_url=fake_slack.api_url)
    assert client.views_publish(user_id=LEAD, view=view)["ok"]
