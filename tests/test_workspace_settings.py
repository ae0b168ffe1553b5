"""Settings per workspace: the environment's values by default, a lead's own values from the
App Home's Settings modal, in force on every replica within seconds and in that workspace only."""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from bot.views import ids
from bot.workspace_scope import FRESH_SECONDS
from storage import repository
from storage.models import Incident, WorkspaceSetting, WorkspaceSettingChange
from tests.conftest import LEAD, ServedBot
from tests.helpers import dms

pytestmark = pytest.mark.workspaces  # their own CI step (pyproject.toml)

NEW_LEAD = "UNEW"
MONDAY_0659 = datetime(2026, 11, 2, 6, 59, tzinfo=timezone.utc)


def _open_settings(bot: ServedBot, user: str = LEAD) -> dict:
    before = len(bot.fake.views())
    assert bot.slack.press_on_home(ids.SETTINGS, "settings", user=user).status == 200
    assert bot.fake.wait_for(lambda: len(bot.fake.views()) > before), "the Settings modal did not open"
    return bot.fake.views()[-1]


def _inputs(view: dict) -> dict[str, tuple[str | None, str]]:
    """block id -> (prefilled value, hint) of each input."""
    return {block["block_id"]: (block["element"].get("initial_value"), block["hint"]["text"])
            for block in view["blocks"] if block["type"] == "input"}


def _react(bot: ServedBot, *, team: str, channel: str, ts: str, reaction: str, user: str = "U1") -> None:
    """A reaction_added event from ``team``, signed as Slack signs it."""
    answer = bot.slack.send_json({
        "token": "legacy", "team_id": team, "api_app_id": "A1", "type": "event_callback",
        "event_id": f"Ev{time.monotonic_ns()}", "event_time": int(time.time()),
        "event": {"type": "reaction_added", "user": user, "reaction": reaction, "item_user": "UCUST",
                  "item": {"type": "message", "channel": channel, "ts": ts}, "event_ts": f"{time.time():.6f}"}})
    assert answer.status == 200


def _incidents(bot: ServedBot, workspace_id: str) -> list[str]:
    with bot.runtime.db.read() as session:
        return list(session.exec(select(Incident.origin_ts).where(Incident.workspace_id == workspace_id)
                                 .order_by(Incident.id)).scalars())


def _save_new_values(bot: ServedBot) -> None:
    view = _open_settings(bot)
    answer = bot.slack.submit(view, {"lead_user_ids": f"{LEAD}, {NEW_LEAD}", "flag_emoji": ":fire:",
                                     "empowerment_limit": "100", "tz": "Europe/Paris", "digest_time": "08:00"},
                              user=LEAD)
    assert (answer.status, answer.body) == (200, "")
    bot.settle()


def test_a_lead_gets_the_settings_button_and_the_environments_values(bot):
    bot.slack.open_home(user=LEAD)
    bot.slack.open_home(user="U1")
    bot.settle()
    assert bot.fake.home(LEAD)["blocks"][0]["elements"][0]["text"]["text"] == "⚙️ Settings"
    assert all(block.get("block_id") != ids.SETTINGS for block in bot.fake.home("U1")["blocks"])
    inputs = _inputs(_open_settings(bot))
    assert inputs["lead_user_ids"] == (LEAD, "Default, from the environment. Like: U012AB3CD, U045EF6GH")
    assert inputs["flag_emoji"] == ("sos", "Default, from the environment. Like: sos")
    assert inputs["empowerment_limit"][0] == "50"
    assert inputs["tz"][0] == "UTC"
    assert inputs["digest_time"][0] == "09:00"
    assert inputs["lead_channel"][0] is None
    assert inputs["sla.claim"][0] == "10m"


def test_a_leads_values_hold_in_their_workspace_only(bot):
    _save_new_values(bot)
    assert dms(bot, LEAD)[-1].text == (
        f"Saved. From now on: leads <@{LEAD}>, <@{NEW_LEAD}>; flag emoji :fire:; empowerment limit $ 100; "
        "time zone Europe/Paris; digest time 08:00.")
    inputs = _inputs(_open_settings(bot))
    assert inputs["flag_emoji"] == ("fire", "Set for this workspace. Like: sos")
    assert inputs["currency"] == ("USD", "Default, from the environment. Like: USD")

    ignored = bot.fake.add_user_message("C1", user="UCUST", text="Late again")
    _react(bot, team="T1", channel="C1", ts=ignored.ts, reaction="sos")
    flagged = bot.fake.add_user_message("C1", user="UCUST", text="Broken on arrival")
    _react(bot, team="T1", channel="C1", ts=flagged.ts, reaction="fire")
    assert _incidents(bot, "T1") == [flagged.ts], "T1 flags with its own emoji only"
    _react(bot, team="T2", channel="C9", ts="1700000000.000100", reaction="fire")
    _react(bot, team="T2", channel="C9", ts="1700000000.000200", reaction="sos")
    assert _incidents(bot, "T2") == ["1700000000.000200"], "T2 keeps the environment's emoji"

    bot.settle()
    service = bot.runtime.service
    with service.in_workspace("T1"):
        assert service.leads.is_lead(NEW_LEAD) and str(service.settings.empowerment_limit) == "100"
    with service.in_workspace("T2"):
        assert not service.leads.is_lead(NEW_LEAD) and service.settings.tz.key == "UTC"

    with bot.runtime.db.read() as session:
        changes = session.exec(select(WorkspaceSettingChange).order_by(WorkspaceSettingChange.id)).scalars().all()
    assert [(c.workspace_id, c.key, c.old, c.new, c.changed_by) for c in changes] == [
        ("T1", "lead_user_ids", None, json.dumps([LEAD, NEW_LEAD]), LEAD),
        ("T1", "flag_emoji", None, '"fire"', LEAD),
        ("T1", "empowerment_limit", None, '"100"', LEAD),
        ("T1", "tz", None, '"Europe/Paris"', LEAD),
        ("T1", "digest_time", None, '"08:00"', LEAD),
    ]


def test_the_digest_goes_out_at_the_workspaces_own_time(bot):
    bot.clock.set(MONDAY_0659 - timedelta(days=1))
    _save_new_values(bot)
    bot.slack.command("/recovery new Late parcel", channel="C1")
    bot.settle()
    bot.clock.set(MONDAY_0659)
    assert bot.runtime.ticker.tick().digests == 0, "08:00 in Paris is 07:00 UTC"
    bot.clock.set(MONDAY_0659 + timedelta(minutes=1))
    assert bot.runtime.ticker.tick().digests == 1
    bot.settle()
    assert [m.text.split(":")[0] for m in bot.fake.messages("C1") if m.text.startswith("Recovery digest")] == [
        "Recovery digest for <#C1>, Mon 2 Nov"]


def test_bad_values_are_refused_inline_and_nothing_is_saved(bot):
    view = _open_settings(bot)
    answer = bot.slack.submit(view, {"flag_emoji": "two words", "tz": "Mars/Base", "digest_time": "25:00",
                                     "empowerment_limit": "-5", "lead_user_ids": "bob", "sla.fix": "soon"},
                              user=LEAD)
    assert answer.status == 200
    assert answer.json() == {"response_action": "errors", "errors": {
        "lead_user_ids": "Expected comma-separated Slack user IDs like U012AB3CD, but 'bob' is not one.",
        "flag_emoji": "Expected an emoji name like sos or :sos:.",
        "empowerment_limit": "Expected an amount of zero or more, like 50 or 49.99.",
        "tz": "Expected an IANA time zone name like Europe/Paris or America/New_York.",
        "digest_time": "Expected a 24-hour time like 09:00.",
        "sla.fix": answer.json()["errors"]["sla.fix"],
    }}
    with bot.runtime.db.read() as session:
        assert session.exec(select(WorkspaceSetting)).scalars().all() == []
        assert session.exec(select(WorkspaceSettingChange)).scalars().all() == []


def test_someone_not_a_lead_is_refused_and_nothing_changes(bot):
    before = len(bot.fake.views())
    assert bot.slack.press_on_home(ids.SETTINGS, "settings", user="U1").status == 200
    assert bot.fake.wait_for(lambda: bool(dms(bot, "U1")) or bot.settle() > 0)
    bot.settle()
    assert [m.text for m in dms(bot, "U1")] == ["Only a lead or a workspace admin can change this workspace's settings."]
    assert len(bot.fake.views()) == before
    forged = _open_settings(bot)
    assert bot.slack.submit(forged, {"flag_emoji": "fire"}, user="U1").status == 200
    bot.settle()
    assert [m.text for m in dms(bot, "U1")][-1] == "Only a lead or a workspace admin can change this workspace's settings."
    with bot.runtime.db.read() as session:
        assert session.exec(select(WorkspaceSetting)).scalars().all() == []


def test_a_second_replica_sees_a_change_within_seconds(make_bot, settings, bot):
    """The replica that saved has it at once (the modal's own test); another reads a
    workspace's settings at most every FRESH_SECONDS, and has it by then."""
    other = make_bot(settings)
    complaint = bot.fake.add_user_message("C1", user="UCUST", text="Charged twice")
    _react(other, team="T1", channel="C1", ts=complaint.ts, reaction="sos")
    _save_new_values(bot)
    bot.clock.advance(timedelta(seconds=FRESH_SECONDS))
    again = bot.fake.add_user_message("C1", user="UCUST", text="Charged three times")
    _react(other, team="T1", channel="C1", ts=again.ts, reaction="sos")
    _react(other, team="T1", channel="C1", ts=again.ts, reaction="fire")
    with other.runtime.db.read() as session:
        found = repository.find_by_origin(session, workspace_id="T1", channel="C1", ts=again.ts)
    assert found is not None and _incidents(other, "T1") == [complaint.ts, again.ts]


def test_a_workspace_admin_who_is_not_a_lead_may_edit_and_a_member_may_not(bot):
    """users.info's is_admin / is_owner, as Slack answers them, let an admin or owner in."""
    bot.fake.add_user("UADMIN", real_name="Ada Admin", role="admin")
    bot.fake.add_user("UOWNER", real_name="Owen Owner", role="owner")
    bot.fake.add_user("UMEMBER", real_name="Mo Member")
    for user in ("UADMIN", "UOWNER", "UMEMBER"):
        bot.slack.open_home(user=user)
    bot.settle()
    shows_settings = {user: any(block.get("block_id") == ids.SETTINGS for block in bot.fake.home(user)["blocks"])
                      for user in ("UADMIN", "UOWNER", "UMEMBER")}
    assert shows_settings == {"UADMIN": True, "UOWNER": True, "UMEMBER": False}
    view = _open_settings(bot, user="UADMIN")
    answer = bot.slack.submit(view, {"flag_emoji": ":fire:"}, user="UADMIN")
    assert (answer.status, answer.body) == (200, "")
    bot.settle()
    assert dms(bot, "UADMIN")[-1].text == "Saved. From now on: flag emoji :fire:."
    with bot.runtime.db.read() as session:
        changes = [(c.key, c.new, c.changed_by) for c in session.exec(select(WorkspaceSettingChange)).scalars()]
    assert changes == [("flag_emoji", '"fire"', "UADMIN")]


def test_each_workspaces_rollup_goes_out_at_its_own_time_to_its_own_leads(bot):
    """T1's leads set 08:00 in Paris; T2 keeps the environment's 09:00 UTC and leads."""
    bot.clock.set(MONDAY_0659 - timedelta(days=1))
    _save_new_values(bot)
    bot.slack.command("/recovery new Late parcel", channel="C1")
    bot.slack.command("/recovery new Wrong invoice", channel="C9", team="T2")
    bot.settle()
    bot.clock.set(MONDAY_0659 + timedelta(minutes=1))
    assert bot.runtime.ticker.tick().rollups == 1
    bot.settle()
    rollups = [(m.channel, m.text.split("\n")[0]) for m in bot.fake.all_messages()
               if m.text.startswith("Leads' roll-up")]
    assert len(rollups) == 2 and {channel for channel, _ in rollups} == {f"D{LEAD}", f"D{NEW_LEAD}"}
    bot.clock.set(MONDAY_0659 + timedelta(hours=2))
    assert bot.runtime.ticker.tick().rollups == 0, "T2's DIGEST_TIME, 09:00 UTC, has not passed"
    bot.clock.set(MONDAY_0659 + timedelta(hours=2, minutes=2))
    assert bot.runtime.ticker.tick().rollups == 1
    assert bot.runtime.ticker.tick().rollups == 0, "once a day"
