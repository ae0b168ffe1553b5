"""Claiming and assigning: one owner, decided by the database, and the first step prompt."""
from __future__ import annotations

import threading

from tests.conftest import LEAD
from tests.helpers import mrkdwn_texts


def _flag(bot, text: str = "Package never arrived") -> None:  # noqa: ANN001
    complaint = bot.fake.add_user_message("C1", user="UCUST", text=text)
    bot.slack.react(channel="C1", ts=complaint.ts)
    bot.settle()


def test_claim_button_makes_clicker_owner_and_posts_first_step_in_thread(bot):
    _flag(bot)
    assert bot.slack.click(bot.card(1), "Claim", user="U2").status == 200
    bot.settle()
    card = bot.card(1)
    assert "<@U2>" in card.plain()
    assert "[Claim]" not in card.plain(), "a claimed card offers no Claim button"
    assert "Acknowledge and take ownership" in card.plain()
    prompts = bot.thread(card)
    assert len(prompts) == 1
    prompt = prompts[0].plain()
    assert "<@U2>" not in prompt, "U2 just pressed Claim: the prompt in front of them pings nobody"
    assert "Acknowledge and take ownership" in prompt
    assert "feel heard" in prompt, "the prompt says why the step matters"
    assert "<!date^" in prompt and "Customer contact channel" in prompt


def test_claim_by_command_accepts_all_number_forms(bot):
    for _ in range(3):
        _flag(bot)
    assert "You now own #1" in bot.slack.command("/recovery claim 1", user="U2").text
    assert "You now own #2" in bot.slack.command("/recovery claim #2", user="U2").text
    assert "You now own #3" in bot.slack.command("/recovery claim R-3", user="U2").text


def test_second_claim_is_told_who_owns_it_and_changes_nothing(bot):
    _flag(bot)
    bot.slack.command("/recovery claim 1", user="U2")
    answer = bot.slack.command("/recovery claim 1", user="U3")
    assert "already owned by <@U2>" in answer.text
    bot.settle()
    assert len(bot.thread(bot.card(1))) == 1, "no second step prompt"


def test_loser_of_a_claim_click_race_is_told_who_won(bot):
    _flag(bot)
    card = bot.card(1)
    barrier = threading.Barrier(6)
    answers = {}

    def click(user: str) -> None:
        barrier.wait()
        answers[user] = bot.slack.click(card, "Claim", user=user)

    users = [f"U{n}" for n in range(10, 16)]
    threads = [threading.Thread(target=click, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(answer.status == 200 for answer in answers.values())
    bot.settle()
    owner_line = bot.card(1).plain()
    winners = [user for user in users if f"<@{user}>" in owner_line]
    assert len(winners) == 1
    losers = set(users) - set(winners)
    offer, *refusals = bot.fake.ephemerals()
    assert offer.visible_to == "U1" and "[Add details]" in offer.plain(), "the flagger's offer, sent with the card"
    assert {message.visible_to for message in refusals} == losers
    assert all(f"<@{winners[0]}>" in message.text for message in refusals)
    assert len(bot.thread(bot.card(1))) == 1, "exactly one first-step prompt"


def test_claim_command_race_has_exactly_one_winner(bot):
    _flag(bot)
    barrier = threading.Barrier(6)
    texts = {}

    def claim(user: str) -> None:
        barrier.wait()
        texts[user] = bot.slack.command("/recovery claim 1", user=user).text

    threads = [threading.Thread(target=claim, args=(f"U{n}",)) for n in range(20, 26)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [user for user, text in texts.items() if "You now own" in text]
    assert len(winners) == 1
    assert all(f"<@{winners[0]}>" in text for user, text in texts.items() if user != winners[0])


def test_owner_can_assign_by_command_and_thread_says_so(bot):
    bot.fake.add_user("U2", display_name="Ben Ortiz")
    _flag(bot)
    bot.slack.command("/recovery claim 1", user="U2")
    answer = bot.slack.command("/recovery assign 1 <@U3|sam>", user="U2")
    assert "<@U3> now owns #1" in answer.text
    bot.settle()
    assert "<@U3>" in bot.card(1).plain()
    notices = [m.text for m in bot.thread(bot.card(1)) if "assigned by" in m.text]
    assert notices == ["<@U3> now owns #1, assigned by @Ben Ortiz."], "the new owner pinged, not who did it"


def test_someone_else_cannot_assign(bot):
    _flag(bot)
    bot.slack.command("/recovery claim 1", user="U2")
    answer = bot.slack.command("/recovery assign 1 <@U4>", user="U3")
    assert "Only the owner of #1 or a lead" in answer.text
    bot.settle()
    assert "<@U4>" not in bot.card(1).plain()


def test_lead_assigns_unclaimed_incident_with_the_picker(bot):
    _flag(bot)
    assert bot.slack.click(bot.card(1), "Assign", user=LEAD).status == 200
    assert bot.fake.wait_for(lambda: len(bot.fake.views()) == 1)
    view = bot.fake.views()[0]
    answer = bot.slack.submit(view, {"assignee": "U5"}, user=LEAD)
    assert answer.status == 200 and answer.body == ""
    bot.settle()
    card = bot.card(1)
    assert "<@U5>" in card.plain() and "[Claim]" not in card.plain()
    prompt = bot.thread(card)[-1].plain()
    assert "<@U5>" in prompt and "Acknowledge" in prompt


def test_assign_button_refuses_a_bystander_without_opening_the_picker(bot):
    _flag(bot)
    bot.slack.command("/recovery claim 1", user="U2")
    bot.settle()
    bot.slack.click(bot.card(1), "Assign", user="U9")
    assert bot.fake.wait_for(lambda: bot.settle() >= 0 and bot.fake.ephemerals("U9") != [])
    assert bot.fake.views() == []
    assert [m.visible_to for m in bot.fake.ephemerals()] == ["U1", "U9"], "the flagger's offer, then the refusal"


def test_step_prompt_escapes_customer_text(bot):
    bot.slack.command("/recovery new Angry customer <!here> & more", user="U1")
    bot.slack.command("/recovery claim 1", user="U2")
    bot.settle()
    for message in [bot.card(1), *bot.thread(bot.card(1))]:
        assert all("<!here>" not in text for text in mrkdwn_texts(message))
