from dataclasses import replace
from datetime import time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.domain.parsing import WorkHours
from bot.settings import Settings, SettingsError, load_settings

VARIABLES = [
    "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_API_URL",
    "SLACK_BOT_USER_ID",
    "DATABASE_URL",
    "RECOVERY_CHANNEL",
    "FLAG_EMOJI",
    "LEAD_USER_IDS",
    "LEAD_GROUP",
    "LEAD_CHANNEL",
    "CURRENCY",
    "EMPOWERMENT_LIMIT",
    "FOLLOW_UP_AFTER",
    "ESCALATE_FACTOR",
    "TZ",
    "DIGEST_TIME",
    "DIGEST_CHANNELS",
    "WORK_HOURS",
    "PLAYBOOK_FILE",
    "SCHEDULER_TICK",
    "OUTBOX_KEEP",
]


def test_no_variables_gives_the_spec_defaults() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.slack_bot_token is None
    assert settings.slack_app_token is None
    assert settings.slack_signing_secret is None
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.database_url == "sqlite:///recovery.db"
    assert settings.recovery_channel is None
    assert settings.flag_emoji == "sos"
    assert settings.lead_user_ids == frozenset()
    assert settings.lead_group is None
    assert settings.lead_channel is None
    assert settings.currency == "USD"
    assert settings.empowerment_limit == Decimal(50)
    assert settings.follow_up_after == timedelta(days=3)
    assert settings.escalate_factor == 2
    assert settings.tz == ZoneInfo("UTC")
    assert settings.digest_time == time(9, 0)
    assert settings.digest_channels == ()
    assert settings.work_hours is None
    assert settings.playbook_file is None
    assert settings.scheduler_tick == timedelta(seconds=15)
    assert settings.slack_bot_user_id is None
    assert settings.outbox_keep == timedelta(days=7)


def test_empty_and_blank_values_count_as_unset() -> None:
    assert Settings.from_env({name: "" for name in VARIABLES}) == Settings()
    assert Settings.from_env({name: "   " for name in VARIABLES}) == Settings()


def test_every_variable_is_read(tmp_path: Path) -> None:
    playbook = tmp_path / "playbook.toml"
    playbook.write_text("")
    settings = Settings.from_env(
        {
            "SLACK_BOT_TOKEN": "xoxb-1-2",
            "SLACK_APP_TOKEN": "xapp-1-2",
            "SLACK_SIGNING_SECRET": "s3cret",
            "SLACK_API_URL": "http://127.0.0.1:8099/api",
            "SLACK_BOT_USER_ID": "U0BOT",
            "DATABASE_URL": "postgresql+psycopg://bot@db/recovery",
            "RECOVERY_CHANNEL": "C0RECOVER",
            "FLAG_EMOJI": ":Rotating_Light:",
            "LEAD_USER_IDS": " U1LEAD , W2LEAD,,",
            "LEAD_GROUP": "S0LEADS",
            "LEAD_CHANNEL": "G0LEADS",
            "CURRENCY": "eur",
            "EMPOWERMENT_LIMIT": "49.99",
            "FOLLOW_UP_AFTER": "1d12h",
            "ESCALATE_FACTOR": "1.5",
            "TZ": "Europe/Paris",
            "DIGEST_TIME": "08:30",
            "DIGEST_CHANNELS": "C1AAA, G2BBB, C1AAA",
            "WORK_HOURS": "09:00-18:00 Mon-Fri",
            "PLAYBOOK_FILE": str(playbook),
            "SCHEDULER_TICK": "5s",
            "OUTBOX_KEEP": "2d",
        }
    )
    assert settings == Settings(
        slack_bot_token="xoxb-1-2",
        slack_app_token="xapp-1-2",
        slack_signing_secret="s3cret",
        slack_api_url="http://127.0.0.1:8099/api/",
        slack_bot_user_id="U0BOT",
        database_url="postgresql+psycopg://bot@db/recovery",
        recovery_channel="C0RECOVER",
        flag_emoji="rotating_light",
        lead_user_ids=frozenset({"U1LEAD", "W2LEAD"}),
        lead_group="S0LEADS",
        lead_channel="G0LEADS",
        currency="EUR",
        empowerment_limit=Decimal("49.99"),
        follow_up_after=timedelta(days=1, hours=12),
        escalate_factor=1.5,
        tz=ZoneInfo("Europe/Paris"),
        digest_time=time(8, 30),
        digest_channels=("C1AAA", "G2BBB"),
        work_hours=WorkHours(time(9), time(18), frozenset(range(5))),
        playbook_file=playbook,
        scheduler_tick=timedelta(seconds=5),
        outbox_keep=timedelta(days=2),
    )


def test_api_url_that_already_ends_with_a_slash_is_kept() -> None:
    assert Settings.from_env({"SLACK_API_URL": "https://slack-gov.com/api/"}).slack_api_url == "https://slack-gov.com/api/"


def test_zero_empowerment_limit_is_allowed() -> None:
    assert Settings.from_env({"EMPOWERMENT_LIMIT": "0"}).empowerment_limit == 0


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("SLACK_BOT_TOKEN", "xapp-1-secret", "expected a bot token starting with xoxb-"),
        ("SLACK_BOT_TOKEN", "hunter2", "expected a bot token starting with xoxb-"),
        ("SLACK_APP_TOKEN", "xoxb-1-secret", "expected an app-level token starting with xapp-"),
        ("SLACK_API_URL", "slack.com/api", "expected a URL starting with http:// or https://"),
        ("SLACK_API_URL", "ftp://slack.com/api/", "expected a URL starting with http:// or https://"),
        ("SLACK_API_URL", "https://slack .com/api/", "expected a URL starting with http:// or https://"),
        ("DATABASE_URL", "recovery.db", "expected an SQLAlchemy URL"),
        ("RECOVERY_CHANNEL", "#support", "expected a channel ID"),
        ("RECOVERY_CHANNEL", "U123ABC", "expected a channel ID"),
        ("FLAG_EMOJI", "::", "expected an emoji name"),
        ("FLAG_EMOJI", "red circle", "expected an emoji name"),
        ("LEAD_USER_IDS", "alex", "'alex' is not one"),
        ("LEAD_USER_IDS", "U1LEAD, u2lead", "'u2lead' is not one"),
        ("LEAD_GROUP", "@support-leads", "expected a Slack user group ID like S012AB3CD (not a @handle), "
                                         "got '@support-leads'"),
        ("LEAD_GROUP", "U1LEAD", "expected a Slack user group ID like S012AB3CD"),
        ("LEAD_CHANNEL", "#leads", "expected a channel ID like C012AB3CD (not a #name), got '#leads'"),
        ("CURRENCY", "€", "expected a three-letter ISO 4217 currency code like EUR or USD, got '€'"),
        ("CURRENCY", "EURO", "expected a three-letter ISO 4217 currency code"),
        ("CURRENCY", "E1R", "expected a three-letter ISO 4217 currency code"),
        ("EMPOWERMENT_LIMIT", "fifty", "expected an amount"),
        ("EMPOWERMENT_LIMIT", "$50", "expected an amount"),
        ("EMPOWERMENT_LIMIT", "-1", "expected an amount of zero or more"),
        ("EMPOWERMENT_LIMIT", "NaN", "expected an amount of zero or more"),
        ("EMPOWERMENT_LIMIT", "Infinity", "expected an amount of zero or more"),
        ("FOLLOW_UP_AFTER", "soon", "expected a duration like 90s, 15m, 4h or 3d, got 'soon'"),
        ("FOLLOW_UP_AFTER", "3", "expected a duration like 90s, 15m, 4h or 3d, got '3'"),
        ("FOLLOW_UP_AFTER", "0d", "a duration must be longer than zero, got '0d'"),
        ("ESCALATE_FACTOR", "two", "expected a number of at least 1"),
        ("ESCALATE_FACTOR", "0.5", "expected a number of at least 1"),
        ("ESCALATE_FACTOR", "nan", "expected a number of at least 1"),
        ("ESCALATE_FACTOR", "inf", "expected a number of at least 1"),
        ("TZ", "Mars/Olympus_Mons", "expected an IANA time zone name"),
        ("TZ", "America", "expected an IANA time zone name"),
        ("TZ", "../../etc/passwd", "expected an IANA time zone name"),
        ("DIGEST_TIME", "9am", "expected a 24-hour time like 09:00, got '9am'"),
        ("DIGEST_TIME", "24:00", "expected a 24-hour time like 09:00"),
        ("DIGEST_CHANNELS", "#general", "'#general' is not one"),
        ("DIGEST_CHANNELS", "C1AAA,general", "'general' is not one"),
        ("WORK_HOURS", "whenever", "expected work hours like 09:00-18:00 Mon-Fri"),
        ("WORK_HOURS", "18:00-09:00", "work hours must start before they end"),
        ("WORK_HOURS", "09:00-18:00 Fri-Mon", "runs backwards"),
        ("WORK_HOURS", "09:00-18:00 Mon-Fun", "unknown day 'Fun'"),
        ("PLAYBOOK_FILE", "/nonexistent/playbook.toml", "expected the path of an existing TOML file"),
        ("PLAYBOOK_FILE", "/", "expected the path of an existing TOML file"),
        ("SCHEDULER_TICK", "fast", "expected a duration like 90s, 15m, 4h or 3d, got 'fast'"),
        ("SCHEDULER_TICK", "0s", "a duration must be longer than zero"),
        ("SLACK_BOT_USER_ID", "@recovery", "expected a Slack user ID like U012AB3CD, got '@recovery'"),
        ("OUTBOX_KEEP", "a week", "expected a duration like 90s, 15m, 4h or 3d, got 'a week'"),
        ("OUTBOX_KEEP", "0d", "a duration must be longer than zero, got '0d'"),
        ("SOCKET_MODE_PING", "500ms", "expected a duration like 90s, 15m, 4h or 3d, got '500ms'"),
        ("SOCKET_MODE_PING", "2m", "expected a duration from 1s to 60s, like 5s, got '2m'"),
        ("HEALTH_PORT", "http", "expected a TCP port number from 1 to 65535, got 'http'"),
        ("HEALTH_PORT", "70000", "expected a TCP port number from 1 to 65535, got '70000'"),
    ],
)
def test_bad_value_raises_one_line_naming_the_variable(variable: str, value: str, expected: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({variable: value})
    message = str(caught.value)
    assert message.startswith(f"{variable}: ")
    assert expected in message
    assert "\n" not in message
    assert caught.value.variable == variable
    # Shown as the whole start-up error: no chained exception to print.
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_settings_error_matches_the_documented_wording() -> None:
    with pytest.raises(SettingsError, match=r"^FOLLOW_UP_AFTER: expected a duration like 90s, 15m, 4h or 3d, got 'soon'$"):
        Settings.from_env({"FOLLOW_UP_AFTER": "soon"})


def test_bad_token_error_does_not_reveal_the_secret() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"SLACK_BOT_TOKEN": "xapp-1-A0123-supersecretvalue"})
    assert "supersecret" not in str(caught.value)
    assert "'xapp-'" in str(caught.value)


def test_bad_value_with_line_breaks_or_huge_length_still_gives_one_short_line() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"DIGEST_TIME": "09:00\n" + "x" * 500})
    message = str(caught.value)
    assert "\n" not in message
    assert len(message) < 200


def test_secrets_are_kept_out_of_repr() -> None:
    settings = Settings(slack_bot_token="xoxb-secret", slack_app_token="xapp-secret", slack_signing_secret="sig-secret")
    assert "secret" not in repr(settings)


def test_replace_gives_an_adjusted_copy() -> None:
    settings = Settings.from_env({"LEAD_USER_IDS": "U1LEAD"})
    changed = replace(settings, database_url="sqlite://")
    assert changed.database_url == "sqlite://"
    assert changed.lead_user_ids == frozenset({"U1LEAD"})
    assert settings.database_url == "sqlite:///recovery.db"


@pytest.mark.parametrize(
    ("settings", "socket_mode", "missing"),
    [
        (Settings(), False, ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"]),
        (Settings(), True, ["SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"]),
        (Settings(slack_bot_token="xoxb-1", slack_signing_secret="s"), False, []),
        (Settings(slack_bot_token="xoxb-1", slack_app_token="xapp-1"), True, []),
        (Settings(slack_bot_token="xoxb-1", slack_app_token="xapp-1"), False, ["SLACK_SIGNING_SECRET"]),
    ],
)
def test_missing_for_slack_names_what_a_real_run_lacks(settings: Settings, socket_mode: bool, missing: list[str]) -> None:
    assert settings.missing_for_slack(socket_mode=socket_mode) == missing


@pytest.mark.parametrize(
    ("env", "names_leads"),
    [
        ({}, False),
        ({"LEAD_USER_IDS": " , "}, False),
        ({"LEAD_USER_IDS": "U1LEAD"}, True),
        ({"LEAD_GROUP": "S0LEADS"}, True),
        ({"LEAD_CHANNEL": "C0LEADS"}, False),
    ],
)
def test_leads_are_named_by_user_ids_or_a_group(env: dict[str, str], names_leads: bool) -> None:
    assert Settings.from_env(env).names_leads is names_leads


@pytest.fixture
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset every setting for the test and restore the real environment after,
    including values that load_dotenv writes into os.environ."""
    for name in VARIABLES:
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


@pytest.mark.usefixtures("clean_environ")
def test_load_settings_reads_the_env_file_but_real_variables_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("FLAG_EMOJI=fire\nDIGEST_TIME=07:45\n")
    monkeypatch.setenv("FLAG_EMOJI", "sos_button")
    settings = load_settings(str(env_file))
    assert settings.flag_emoji == "sos_button"
    assert settings.digest_time == time(7, 45)


@pytest.mark.usefixtures("clean_environ")
def test_load_settings_without_an_env_file_uses_defaults(tmp_path: Path) -> None:
    assert load_settings(str(tmp_path / "absent.env")) == Settings()
    assert load_settings(None) == Settings()


@pytest.mark.usefixtures("clean_environ")
def test_load_settings_reports_a_bad_env_file_value(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("ESCALATE_FACTOR=0\n")
    with pytest.raises(SettingsError, match=r"^ESCALATE_FACTOR: "):
        load_settings(str(env_file))


def test_env_example_documents_every_variable() -> None:
    example = (Path(__file__).parent.parent / ".env.example").read_text()
    for name in VARIABLES:
        assert f"{name}=" in example
