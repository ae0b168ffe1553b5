"""Configuration from the environment (and `.env`), validated once at start-up.

Every value is parsed here so that a typo stops the bot with one line naming
the variable, instead of surfacing hours later as a traceback in a timer.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import load_dotenv

from bot.domain.insights import parse_satisfaction, parse_share
from bot.domain.parsing import WorkHours, parse_clock_time, parse_duration, parse_work_hours

_USER_ID_RE: Final = re.compile(r"[UW][A-Z0-9]+")
# Channel ids, not `#names`: the bot compares channels by id everywhere.
_CHANNEL_ID_RE: Final = re.compile(r"[CG][A-Z0-9]+")
_USERGROUP_ID_RE: Final = re.compile(r"S[A-Z0-9]+")
_CURRENCY_RE: Final = re.compile(r"[A-Z]{3}")
_SHOWN_VALUE_LIMIT: Final = 60


class SettingsError(Exception):
    """A bad configuration value; its text is the single line shown at start-up."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


def _shown(value: str) -> str:
    """Quote a bad value for the error line, one line and bounded in length."""
    if len(value) > _SHOWN_VALUE_LIMIT:
        value = value[: _SHOWN_VALUE_LIMIT - 1] + "…"
    return repr(value)


def _decimal_amount(text: str) -> Decimal:
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError("expected an amount like 50 or 49.99") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError("expected an amount of zero or more, like 50 or 49.99")
    return amount


def _escalate_factor(text: str) -> float:
    try:
        factor = float(text)
    except ValueError:
        raise ValueError("expected a number of at least 1, like 2 or 1.5") from None
    if not math.isfinite(factor) or factor < 1:
        raise ValueError("expected a number of at least 1, like 2 or 1.5")
    return factor


def _rate(text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        raise ValueError("expected a number above 0, like 1 or 0.5") from None
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError("expected a number above 0, like 1 or 0.5")
    return rate


def _ping_interval(text: str) -> timedelta:
    interval = parse_duration(text)
    if not timedelta(seconds=1) <= interval <= timedelta(minutes=1):
        raise ValueError("expected a duration from 1s to 60s, like 5s")
    return interval


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError("expected a TCP port number from 1 to 65535")
    return int(text)


def _days(text: str) -> int:
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 36500:
        raise ValueError("expected a whole number of days from 1, like 365")
    return int(text)


def _switch(text: str) -> bool:
    lowered = text.lower()
    if lowered not in ("on", "off", "true", "false", "1", "0"):
        raise ValueError("expected on or off")
    return lowered in ("on", "true", "1")


def _time_zone(text: str) -> ZoneInfo:
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError("expected an IANA time zone name like Europe/Paris or America/New_York") from None


def _api_url(text: str) -> str:
    if not text.startswith(("http://", "https://")) or any(c.isspace() for c in text):
        raise ValueError("expected a URL starting with http:// or https://, like https://slack.com/api/")
    # The Slack SDK joins method names onto the base URL, so it must end in "/".
    return text if text.endswith("/") else text + "/"


def _database_url(text: str) -> str:
    if "://" not in text:
        raise ValueError("expected an SQLAlchemy URL like sqlite:///recovery.db or postgresql+psycopg://host/db")
    return text


def _flag_emoji(text: str) -> str:
    # Slack reports reactions by lower-case name without colons.
    name = text.strip(":").lower()
    if not name or any(c.isspace() for c in name):
        raise ValueError("expected an emoji name like sos or :sos:")
    return name


def _user_ids(text: str) -> frozenset[str]:
    ids = [item.strip() for item in text.split(",") if item.strip()]
    for user_id in ids:
        if not _USER_ID_RE.fullmatch(user_id):
            raise ValueError(
                f"expected comma-separated Slack user IDs like U012AB3CD, but {_shown(user_id)} is not one"
            )
    return frozenset(ids)


def _user_id(text: str) -> str:
    if not _USER_ID_RE.fullmatch(text):
        raise ValueError("expected a Slack user ID like U012AB3CD")
    return text


def _channel_id(text: str) -> str:
    if not _CHANNEL_ID_RE.fullmatch(text):
        raise ValueError("expected a channel ID like C012AB3CD (not a #name)")
    return text


def _usergroup_id(text: str) -> str:
    # The handle (@support-leads) is what people see; the API wants the id.
    if not _USERGROUP_ID_RE.fullmatch(text):
        raise ValueError("expected a Slack user group ID like S012AB3CD (not a @handle)")
    return text


def _currency(text: str) -> str:
    code = text.upper()
    if not _CURRENCY_RE.fullmatch(code):
        raise ValueError("expected a three-letter ISO 4217 currency code like EUR or USD")
    return code


def _channel_ids(text: str) -> tuple[str, ...]:
    ids = [item.strip() for item in text.split(",") if item.strip()]
    for channel_id in ids:
        if not _CHANNEL_ID_RE.fullmatch(channel_id):
            raise ValueError(
                f"expected comma-separated channel IDs like C012AB3CD, but {_shown(channel_id)} is not one"
            )
    # Order kept (digests go out in the order written); duplicates dropped.
    return tuple(dict.fromkeys(ids))


def _playbook_file(text: str) -> Path:
    # `~nobody/x` (an unknown user) raises RuntimeError, and a name too long or a
    # directory we may not search raises OSError: all mean "no such file" here.
    try:
        path = Path(text).expanduser()
        found = path.is_file()
    except (RuntimeError, OSError):
        found = False
    if not found:
        raise ValueError("expected the path of an existing TOML file")
    return path


def _token(prefix: str, kind: str) -> Callable[[str], str]:
    """Catch the classic mix-up of bot and app tokens before Slack rejects them."""

    def parse(text: str) -> str:
        if not text.startswith(prefix):
            raise ValueError(f"expected {kind} starting with {prefix}")
        return text

    return parse


@dataclass(frozen=True, slots=True)
class Settings:
    """The validated configuration. Defaults match SPEC section 5, so
    `Settings()` is a usable offline configuration for tests and the demo."""

    # Kept out of repr so logging the settings never leaks credentials.
    slack_bot_token: str | None = field(default=None, repr=False)
    slack_app_token: str | None = field(default=None, repr=False)
    slack_signing_secret: str | None = field(default=None, repr=False)
    # Both set: installs in many workspaces through OAuth (bot/oauth.py), a token per workspace
    # from the installation store, instead of SLACK_BOT_TOKEN's one workspace; rotating bot
    # tokens are refreshed with them (bot/token_rotation.py).
    slack_client_id: str | None = None
    slack_client_secret: str | None = field(default=None, repr=False)
    slack_api_url: str = "https://slack.com/api/"
    # Known up front, the bot starts without asking Slack who it is (auth.test confirms it later).
    slack_bot_user_id: str | None = None
    database_url: str = "sqlite:///recovery.db"
    recovery_channel: str | None = None
    flag_emoji: str = "sos"
    lead_user_ids: frozenset[str] = frozenset()
    # Its members are leads too, read from Slack and refreshed (bot/leads.py).
    lead_group: str | None = None
    # Unset: escalations, approval requests and the leads' digest go to each lead by DM.
    lead_channel: str | None = None
    currency: str = "USD"
    empowerment_limit: Decimal = Decimal(50)
    follow_up_after: timedelta = timedelta(days=3)
    escalate_factor: float = 2.0
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    digest_time: time = time(9, 0)
    digest_channels: tuple[str, ...] = ()
    work_hours: WorkHours | None = None
    playbook_file: Path | None = None
    scheduler_tick: timedelta = timedelta(seconds=15)
    outbox_keep: timedelta = timedelta(days=7)
    # Slack's limits the outbox paces itself to (bot/pacing.py): posts a second per channel;
    # history and replies calls a minute (1 for apps distributed outside the Marketplace).
    slack_pacing: bool = True
    slack_posts_per_second: float = 1.0
    slack_history_per_minute: float = 50.0
    # Socket Mode: a ping this often; no pong for two and a half of them and the connection is
    # taken for deaf and replaced (bot/socket_mode.py). Bolt's client alone: 40 s of deafness.
    socket_mode_ping: timedelta = timedelta(seconds=5)
    # Socket Mode has no HTTP server; with a port, `run` serves GET /healthz there.
    health_port: int | None = None
    # What customers who never had a problem answer (the team's usual survey), for insights:
    # values without a count; `python -m bot baseline --csv` loads them with theirs.
    baseline_would_buy_again: float | None = None
    baseline_satisfaction: float | None = None
    # Unset: kept. Else customer names and quoted messages of incidents closed this many days
    # ago are erased, their figures kept (bot/retention.py).
    retention_days: int | None = None
    # On app_uninstalled / tokens_revoked: erase the workspace's data (bot/workspaces.py); else kept.
    uninstall_erase: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from variables named as in SPEC section 5.

        Empty (or blank) values count as unset, because `.env` templates are
        usually copied with `NAME=` lines left in. Raises SettingsError on the
        first bad value.
        """
        values: dict[str, object] = {}
        for field_name, (variable, parse, secret) in _VARIABLES.items():
            raw = (env.get(variable) or "").strip()
            if not raw:
                continue
            try:
                values[field_name] = parse(raw)
            except ValueError as exc:
                # Never echo a secret into logs; its first characters are enough to spot a mix-up.
                shown = f"a value starting with {raw[:5]!r}" if secret else _shown(raw)
                raise SettingsError(variable, f"{exc}, got {shown}") from None
        _check_slack_mode(values)
        return cls(**values)  # type: ignore[arg-type]  # each parser returns its field's type

    def missing_for_slack(self, *, socket_mode: bool) -> list[str]:
        """Names of the variables a real Slack connection still needs, for one start-up message."""
        missing: list[str] = []
        if self.slack_bot_token is None and not self.installs:
            missing.append("SLACK_BOT_TOKEN")
        if socket_mode and self.slack_app_token is None:
            missing.append("SLACK_APP_TOKEN")
        if not socket_mode and self.slack_signing_secret is None:
            missing.append("SLACK_SIGNING_SECRET")
        return missing

    @property
    def installs(self) -> bool:
        """Installed through OAuth in any number of workspaces (SLACK_CLIENT_ID and SECRET)."""
        return self.slack_client_id is not None and self.slack_client_secret is not None

    @property
    def names_leads(self) -> bool:
        """Whether anyone can approve and be escalated to: without a lead, a remedy over the
        limit waits forever and escalations ping nobody, so `run` and `serve` refuse to start."""
        return bool(self.lead_user_ids) or self.lead_group is not None


def _check_slack_mode(values: Mapping[str, object]) -> None:
    """One way to reach Slack: SLACK_BOT_TOKEN for one workspace, or SLACK_CLIENT_ID and
    SLACK_CLIENT_SECRET for installs in many, over HTTP only (Slack does not allow Socket Mode
    for apps distributed to other workspaces)."""
    has_id, has_secret = "slack_client_id" in values, "slack_client_secret" in values
    if has_id != has_secret:
        # Named: the one that is set, the line an admin finds in .env.
        present, absent = ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET") if has_id else ("SLACK_CLIENT_SECRET",
                                                                                     "SLACK_CLIENT_ID")
        raise SettingsError(present, f"is set without {absent}; installs in several workspaces need both "
                                     "(the app's Basic Information page shows them)")
    if not has_id:
        return
    if "slack_bot_token" in values:
        raise SettingsError("SLACK_BOT_TOKEN", "is set together with SLACK_CLIENT_ID and SLACK_CLIENT_SECRET; "
                                               "keep the bot token for one workspace or the client id and secret "
                                               "for installs in several, not both")
    if "slack_app_token" in values:
        raise SettingsError("SLACK_APP_TOKEN", "is set together with SLACK_CLIENT_ID and SLACK_CLIENT_SECRET; "
                                               "Slack allows Socket Mode for internal apps only, so installs in "
                                               "several workspaces run over HTTP: unset SLACK_APP_TOKEN and use "
                                               "`serve`")


def load_settings(env_file: str | None = ".env") -> Settings:
    """Load `env_file` into the process environment, then validate everything.

    Real environment variables win over the file, so a deployment can
    override one value without editing `.env`. A missing file is fine:
    production often has no `.env` at all.
    """
    if env_file is not None:
        load_dotenv(env_file, override=False)
    return Settings.from_env(os.environ)


def parse_value(field_name: str, text: str) -> object:
    """One setting's value from its text, exactly as `from_env` parses its variable: the
    Settings modal (bot/workspace_config.py) takes a value exactly when `.env` would. Raises
    ValueError whose text is the one-line reason, without the variable's name."""
    return _VARIABLES[field_name][1](text)


def variable_of(field_name: str) -> str:
    """The environment variable behind a Settings field, as people wrote it in `.env`."""
    return _VARIABLES[field_name][0]


# Settings field -> (environment variable, parser, whether the value is secret).
_VARIABLES: Final[dict[str, tuple[str, Callable[[str], object], bool]]] = {
    "slack_bot_token": ("SLACK_BOT_TOKEN", _token("xoxb-", "a bot token"), True),
    "slack_app_token": ("SLACK_APP_TOKEN", _token("xapp-", "an app-level token"), True),
    "slack_signing_secret": ("SLACK_SIGNING_SECRET", str, True),
    "slack_client_id": ("SLACK_CLIENT_ID", str, False),
    "slack_client_secret": ("SLACK_CLIENT_SECRET", str, True),
    "slack_api_url": ("SLACK_API_URL", _api_url, False),
    "slack_bot_user_id": ("SLACK_BOT_USER_ID", _user_id, False),
    "database_url": ("DATABASE_URL", _database_url, False),
    "recovery_channel": ("RECOVERY_CHANNEL", _channel_id, False),
    "flag_emoji": ("FLAG_EMOJI", _flag_emoji, False),
    "lead_user_ids": ("LEAD_USER_IDS", _user_ids, False),
    "lead_group": ("LEAD_GROUP", _usergroup_id, False),
    "lead_channel": ("LEAD_CHANNEL", _channel_id, False),
    "currency": ("CURRENCY", _currency, False),
    "empowerment_limit": ("EMPOWERMENT_LIMIT", _decimal_amount, False),
    "follow_up_after": ("FOLLOW_UP_AFTER", parse_duration, False),
    "escalate_factor": ("ESCALATE_FACTOR", _escalate_factor, False),
    "tz": ("TZ", _time_zone, False),
    "digest_time": ("DIGEST_TIME", parse_clock_time, False),
    "digest_channels": ("DIGEST_CHANNELS", _channel_ids, False),
    "work_hours": ("WORK_HOURS", parse_work_hours, False),
    "playbook_file": ("PLAYBOOK_FILE", _playbook_file, False),
    "scheduler_tick": ("SCHEDULER_TICK", parse_duration, False),
    "outbox_keep": ("OUTBOX_KEEP", parse_duration, False),
    "slack_pacing": ("SLACK_PACING", _switch, False),
    "slack_posts_per_second": ("SLACK_POSTS_PER_SECOND", _rate, False),
    "slack_history_per_minute": ("SLACK_HISTORY_PER_MINUTE", _rate, False),
    "socket_mode_ping": ("SOCKET_MODE_PING", _ping_interval, False),
    "health_port": ("HEALTH_PORT", _port, False),
    "baseline_would_buy_again": ("BASELINE_WOULD_BUY_AGAIN", parse_share, False),
    "baseline_satisfaction": ("BASELINE_SATISFACTION", parse_satisfaction, False),
    "retention_days": ("RETENTION_DAYS", _days, False),
    "uninstall_erase": ("UNINSTALL_ERASE", _switch, False),
}
