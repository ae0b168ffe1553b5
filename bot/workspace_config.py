"""The settings a workspace may set for itself, over the environment's: what each is called,
how its text is read (by bot/settings.py's own parser, so a value is valid in the Settings modal
exactly when it is valid in `.env`), how it is stored (structured JSON) and shown (plain words).

Pure: no database and no Slack. bot/workspace_scope.py reads the stored values and makes the
effective Settings and Playbook of a workspace from them with `apply`.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import time, timedelta
from decimal import Decimal
from typing import Final
from zoneinfo import ZoneInfo

from bot.domain.money import format_amount
from bot.domain.parsing import WorkHours, parse_duration
from bot.domain.playbook import Playbook
from bot.domain.types import StepKey
from bot.settings import Settings, parse_value, variable_of

_DAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
SLA_PREFIX: Final = "sla."
"""Step deadlines are stored one key per step: ``sla.claim``, ``sla.fix``..."""


@dataclass(frozen=True, slots=True)
class Field:
    """One editable setting. ``key``: the stored key and the modal's block id; ``label``: how
    the modal and the confirmation name it."""

    key: str
    label: str
    example: str

    @property
    def is_sla(self) -> bool:
        return self.key.startswith(SLA_PREFIX)

    @property
    def step(self) -> StepKey:
        return StepKey(self.key.removeprefix(SLA_PREFIX))


SETTING_FIELDS: Final[tuple[Field, ...]] = (
    Field("lead_user_ids", "Leads", "U012AB3CD, U045EF6GH"),
    Field("lead_group", "Lead group", "S012AB3CD"),
    Field("lead_channel", "Lead channel", "C012AB3CD"),
    Field("recovery_channel", "Recovery channel", "C012AB3CD"),
    Field("flag_emoji", "Flag emoji", "sos"),
    Field("empowerment_limit", "Empowerment limit", "50"),
    Field("currency", "Currency", "USD"),
    Field("tz", "Time zone", "Europe/Paris"),
    Field("work_hours", "Work hours", "09:00-18:00 Mon-Fri"),
    Field("digest_time", "Digest time", "09:00"),
)


def sla_fields(playbook: Playbook) -> tuple[Field, ...]:
    """One deadline field per step of the playbook, named by the step's title."""
    return tuple(Field(f"{SLA_PREFIX}{step.key.value}", f"Deadline: {step.title}", "15m")
                 for step in playbook.steps)


def parse(field: Field, text: str) -> object:
    """The value of ``text`` for ``field``; ValueError with a one-line reason if it is not one."""
    if field.is_sla:
        return parse_duration(text)
    return parse_value(field.key, text)


def to_text(value: object) -> str:
    """A value as people type it (in `.env` and in the modal); parses back to the same value."""
    if value is None:
        return ""
    if isinstance(value, frozenset):
        return ", ".join(sorted(value))
    if isinstance(value, ZoneInfo):
        return value.key
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, WorkHours):
        return _work_hours_text(value)
    if isinstance(value, timedelta):
        return _duration_text(value)
    return str(value)


def encode(field: Field, value: object) -> str:
    """The JSON text stored for a value: user ids a list, a deadline seconds, others their text."""
    if field.is_sla:
        assert isinstance(value, timedelta)
        return json.dumps(int(value.total_seconds()))
    if isinstance(value, frozenset):
        return json.dumps(sorted(value))
    return json.dumps(to_text(value))


def decode(field: Field, stored: str) -> object:
    """A stored value back, through the same parser as the modal's: ValueError if it no longer parses."""
    data = json.loads(stored)
    if field.is_sla:
        if not isinstance(data, int) or isinstance(data, bool):
            raise ValueError("a deadline is stored as seconds")
        return parse_duration(f"{data}s")
    if isinstance(data, list) and all(isinstance(item, str) for item in data):
        return parse(field, ", ".join(data))
    if not isinstance(data, str):
        raise ValueError("expected a list of ids or a text")
    return parse(field, data)


def current_value(field: Field, settings: Settings, playbook: Playbook) -> object:
    if field.is_sla:
        return playbook.step(field.step).sla
    return getattr(settings, field.key)


def apply(settings: Settings, playbook: Playbook,
          values: Mapping[str, object]) -> tuple[Settings, Playbook]:
    """The environment's settings and playbook with a workspace's values over them."""
    plain = {key: value for key, value in values.items() if not key.startswith(SLA_PREFIX)}
    slas = {StepKey(key.removeprefix(SLA_PREFIX)): value for key, value in values.items()
            if key.startswith(SLA_PREFIX)}
    steps = tuple(replace(step, sla=slas[step.key]) if step.key in slas else step for step in playbook.steps)
    return replace(settings, **plain), replace(playbook, steps=steps)


def from_environment(field: Field) -> str:
    """Where a default comes from, for the modal's hint: the variable people set."""
    return "the playbook" if field.is_sla else variable_of(field.key)


def described(field: Field, value: object, settings: Settings) -> str:
    """A value in plain words for the confirmation: leads as mentions, an amount with its currency."""
    if value is None or value == frozenset():
        return "none"
    if field.key == "lead_user_ids":
        assert isinstance(value, frozenset)
        return ", ".join(f"<@{user}>" for user in sorted(value))
    if field.key in ("lead_channel", "recovery_channel"):
        return f"<#{value}>"
    if field.key == "lead_group":
        return f"<!subteam^{value}>"
    if field.key == "flag_emoji":
        return f":{value}:"
    if field.key == "empowerment_limit":
        assert isinstance(value, Decimal)
        return format_amount(value, settings.currency)
    return to_text(value)


def _work_hours_text(hours: WorkHours) -> str:
    window = f"{hours.start:%H:%M}-{hours.end:%H:%M}"
    if hours.weekdays == frozenset(range(7)):
        return window
    runs: list[list[int]] = []
    for day in sorted(hours.weekdays):
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    days = ",".join(_DAYS[run[0]] if len(run) == 1 else f"{_DAYS[run[0]]}-{_DAYS[run[-1]]}" for run in runs)
    return f"{window} {days}"


def _duration_text(delta: timedelta) -> str:
    """Exact, unlike format_duration (which rounds for reading): ``1h30m``, ``2d4h``."""
    seconds, parts = int(delta.total_seconds()), []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
