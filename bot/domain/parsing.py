"""Parsing of everything people type: durations, incident numbers, mentions,
work hours, clock times and the `/recovery` command grammar.

Everything here is pure and stdlib-only so that the same rules apply to the
slash command, to configuration and to tests, and so that bad input becomes a
`ValueError` (or a `UsageError` value) with a message fit to show a person,
never an exception escaping into Slack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time, timedelta
from decimal import Decimal
from typing import Final, Literal, TypeAlias, get_args

from bot.domain.text import safe

# --------------------------------------------------------------------------
# Durations
# --------------------------------------------------------------------------

DURATION_HINT: Final = "expected a duration like 90s, 15m, 4h or 3d"
MAX_DURATION: Final = timedelta(days=3650)

# Units must come largest first and at most once each ("1h30m", "1d 4h"), so
# that "1h1h" or "30m1h" are rejected as typos rather than silently summed.
_DURATION_RE: Final = re.compile(
    r"(?:(?P<d>[0-9]{1,9})\s*d)?\s*"
    r"(?:(?P<h>[0-9]{1,9})\s*h)?\s*"
    r"(?:(?P<m>[0-9]{1,9})\s*m)?\s*"
    r"(?:(?P<s>[0-9]{1,9})\s*s)?",
    re.IGNORECASE,
)


def parse_duration(text: str) -> timedelta:
    """Parse `90s`, `15m`, `4h`, `3d` or combinations such as `1h30m`.

    Raises ValueError with a message a person can act on; the message does
    not repeat the input so callers can add their own context (a variable
    name, a subcommand).
    """
    match = _DURATION_RE.fullmatch(text.strip())
    if match is None or not any(match.groupdict().values()):
        raise ValueError(DURATION_HINT)
    parts = {unit: int(value or 0) for unit, value in match.groupdict().items()}
    try:
        delta = timedelta(days=parts["d"], hours=parts["h"], minutes=parts["m"], seconds=parts["s"])
    except OverflowError:
        raise ValueError("that duration is too long") from None
    if delta > MAX_DURATION:
        # Every duration is added to a date (a snooze, a follow-up, an SLA): past year 9999
        # that addition raises OverflowError, far from here.
        raise ValueError(f"that duration is too long; at most {MAX_DURATION.days}d")
    if delta <= timedelta(0):
        raise ValueError("a duration must be longer than zero")
    return delta


_UNITS: Final = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))


def format_duration(delta: timedelta) -> str:
    """Render a duration the way people write it in chat.

    Shows the largest unit plus the next one down when it is non-zero
    (`1h 30m`, `2d 4h`); smaller remainders are dropped because "2d 4h" is
    what a reader wants, not "2d 4h 13m 9s". Sign is ignored so callers can
    pass "time until" or "time since" alike.
    """
    seconds = int(abs(delta).total_seconds())
    for index, (unit, size) in enumerate(_UNITS):
        if seconds >= size:
            major, rest = divmod(seconds, size)
            text = f"{major}{unit}"
            if index + 1 < len(_UNITS):
                next_unit, next_size = _UNITS[index + 1]
                minor = rest // next_size
                if minor:
                    text += f" {minor}{next_unit}"
            return text
    return "0s"


# --------------------------------------------------------------------------
# Incident numbers and user mentions
# --------------------------------------------------------------------------

MAX_INCIDENT_NUMBER: Final = 10**9

# ASCII digits only: `int()` would otherwise accept e.g. Arabic-Indic digits.
_INCIDENT_REF_RE: Final = re.compile(r"(?:#|[rR]-)?([0-9]{1,10})")


def parse_incident_ref(text: str) -> int | None:
    """Read an incident number written as `42`, `#42` or `R-42`.

    Returns None instead of raising because callers always turn a miss into
    their own usage message.
    """
    match = _INCIDENT_REF_RE.fullmatch(text.strip())
    if match is None:
        return None
    number = int(match.group(1))
    return number if 0 < number <= MAX_INCIDENT_NUMBER else None


# Bounded: a user id is stored in 32 characters; a longer "id" names nobody.
_MENTION_RE: Final = re.compile(r"<@([UW][A-Z0-9]{1,31})(?:\|[^>]*)?>")
_USER_ID_RE: Final = re.compile(r"[UW][A-Z0-9]{2,31}")


def parse_user_mention(text: str) -> str | None:
    """Extract a user id from a Slack mention (`<@U123>`, `<@U123|name>`) or a bare id.

    A plain `@name` cannot be resolved without an API call, so it is a miss.
    """
    text = text.strip()
    match = _MENTION_RE.fullmatch(text)
    if match is not None:
        return match.group(1)
    return text if _USER_ID_RE.fullmatch(text) else None


# --------------------------------------------------------------------------
# Clock times and work hours
# --------------------------------------------------------------------------

_CLOCK_RE: Final = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")


def parse_clock_time(text: str) -> time:
    """Parse a 24-hour `HH:MM` time (a single-digit hour such as `9:00` is accepted)."""
    match = _CLOCK_RE.fullmatch(text.strip())
    if match is None:
        raise ValueError("expected a 24-hour time like 09:00")
    return time(int(match.group(1)), int(match.group(2)))


_DAY_NAMES: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAY_NAMES: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ALL_WEEKDAYS: Final = frozenset(range(7))


@dataclass(frozen=True, slots=True)
class WorkHours:
    """The team's working window; nudges are only sent inside it.

    `weekdays` uses `date.weekday()` numbering (Monday=0) so callers can test
    membership directly.
    """

    start: time
    end: time
    weekdays: frozenset[int]


def _quoted(text: str, limit: int = 40) -> str:
    """A piece of bad input quoted in an error message: one line, bounded in length."""
    text = text.strip()
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _parse_day(name: str) -> int:
    key = name.strip().lower()
    for names in (_DAY_NAMES, _FULL_DAY_NAMES):
        if key in names:
            return names.index(key)
    raise ValueError(f"unknown day {_quoted(name)}; use Mon, Tue, Wed, Thu, Fri, Sat or Sun")


def _parse_days(text: str) -> frozenset[int]:
    days: set[int] = set()
    for item in text.split(","):
        if not item.strip():
            raise ValueError("empty day in the day list; write days like Mon-Fri or Mon,Tue,Thu")
        first, sep, last = item.partition("-")
        if not sep:
            days.add(_parse_day(first))
            continue
        start, end = _parse_day(first), _parse_day(last)
        if start > end:
            raise ValueError(f"day range {_quoted(item)} runs backwards; write it Monday-first, like Mon-Fri")
        days.update(range(start, end + 1))
    return frozenset(days)


_WORK_HOURS_RE: Final = re.compile(r"([0-9:]+)\s*-\s*([0-9:]+)(?:\s+(.+))?")
_WORK_HOURS_HINT: Final = "expected work hours like 09:00-18:00 Mon-Fri"


def parse_work_hours(text: str) -> WorkHours:
    """Parse `09:00-18:00 Mon-Fri`, `08:30-17:00 Mon,Tue,Thu` or `09:00-18:00` (every day).

    Windows crossing midnight and day ranges wrapping past Sunday are
    rejected rather than guessed at.
    """
    match = _WORK_HOURS_RE.fullmatch(text.strip())
    if match is None:
        raise ValueError(_WORK_HOURS_HINT)
    try:
        start = parse_clock_time(match.group(1))
        end = parse_clock_time(match.group(2))
    except ValueError:
        raise ValueError(_WORK_HOURS_HINT) from None
    if start >= end:
        raise ValueError("work hours must start before they end, like 09:00-18:00")
    days = match.group(3)
    weekdays = ALL_WEEKDAYS if days is None else _parse_days(days)
    return WorkHours(start=start, end=end, weekdays=weekdays)


# --------------------------------------------------------------------------
# The /recovery command
# --------------------------------------------------------------------------

ListScope: TypeAlias = Literal["open", "mine", "unclaimed", "overdue"]
LIST_SCOPES: Final[tuple[ListScope, ...]] = get_args(ListScope)
STATS_WINDOWS: Final = (7, 30)
INSIGHTS_WINDOWS: Final = (30, 90, 365)


@dataclass(frozen=True, slots=True)
class Help:
    pass


@dataclass(frozen=True, slots=True)
class New:
    summary: str


@dataclass(frozen=True, slots=True)
class Claim:
    number: int


@dataclass(frozen=True, slots=True)
class Assign:
    number: int
    user_id: str


@dataclass(frozen=True, slots=True)
class ListIncidents:
    scope: ListScope = "open"


@dataclass(frozen=True, slots=True)
class Show:
    number: int


@dataclass(frozen=True, slots=True)
class Snooze:
    number: int
    duration: timedelta


@dataclass(frozen=True, slots=True)
class Cancel:
    number: int
    reason: str


@dataclass(frozen=True, slots=True)
class Digest:
    pass


@dataclass(frozen=True, slots=True)
class Stats:
    days: int = 7


@dataclass(frozen=True, slots=True)
class Health:
    pass


EXPORT_PERIODS: Final[dict[str, int | None]] = {"30d": 30, "90d": 90, "all": None}
"""What `/recovery export` and `python -m bot export --since` take: days back, or None for all."""


@dataclass(frozen=True, slots=True)
class Export:
    period: str = "30d"


@dataclass(frozen=True, slots=True)
class Insights:
    days: int = 90


@dataclass(frozen=True, slots=True)
class UsageError:
    """A wrong `/recovery` invocation, returned rather than raised so handlers
    must answer it (ephemerally) instead of letting it escape as an error."""

    message: str


Command: TypeAlias = (Help | New | Claim | Assign | ListIncidents | Show | Snooze | Cancel | Digest | Stats | Health
                      | Insights | Export)

# mrkdwn: `<` and `>` are escaped because Slack reads them as control
# sequences even inside code spans.
USAGE: Final = """\
*Usage:* `/recovery &lt;subcommand&gt;`
• `/recovery help`: show this message
• `/recovery new [summary]`: flag a complaint by hand
• `/recovery claim &lt;n&gt;`: become the owner of incident _n_
• `/recovery assign &lt;n&gt; &lt;@user&gt;`: hand incident _n_ to someone else (owner or lead)
• `/recovery list [open|mine|unclaimed|overdue]`: incidents, newest first (max 20)
• `/recovery show &lt;n&gt;`: the incident card and its timeline
• `/recovery snooze &lt;n&gt; &lt;duration&gt;`: pause nudges, e.g. `30m`, `2h`, `1d`
• `/recovery cancel &lt;n&gt; &lt;reason&gt;`: cancel incident _n_ (owner or lead)
• `/recovery digest`: preview today's digest for this channel
• `/recovery stats [7d|30d]`: recovery metrics for the last 7 or 30 days
• `/recovery health`: messages Slack would not take, and the incidents they hold up (leads)
• `/recovery insights [30d|90d|365d]`: what wins customers back, from the follow-ups (leads)
• `/recovery export [30d|90d|all]`: the incidents as a CSV file, sent to you by DM (leads)
Incident numbers can be written `42`, `#42` or `R-42`."""

# A Slack mention such as `<@U1|jo smith>` stays one token even if it has spaces.
_TOKEN_RE: Final = re.compile(r"<[^>]*>|\S+")
_ECHO_LIMIT: Final = 40


def _echo(text: str) -> str:
    """Make user input safe to quote inside a code span of a usage message: an echoed
    `<!channel>` must never ping anyone, and a backtick would end the span."""
    return safe(text, _ECHO_LIMIT).replace("`", "'")


def _number(name: str, example: str, token: str | None) -> int | UsageError:
    if token is None:
        return UsageError(f"`/recovery {name}` needs an incident number, like `/recovery {name} {example}`.")
    number = parse_incident_ref(token)
    if number is None:
        return UsageError(
            f"`{_echo(token)}` is not an incident number; write it like `42`, `#42` or `R-42`, "
            f"as in `/recovery {name} {example}`."
        )
    return number


def _no_extra(name: str, example: str, extra: list[str]) -> UsageError | None:
    if extra:
        return UsageError(f"`/recovery {name}` got unexpected `{_echo(' '.join(extra))}`; try `/recovery {name} {example}`.")
    return None


def _parse_claim_or_show(name: str, args: list[str]) -> Claim | Show | UsageError:
    number = _number(name, "42", args[0] if args else None)
    if isinstance(number, UsageError):
        return number
    if error := _no_extra(name, "42", args[1:]):
        return error
    return Claim(number) if name == "claim" else Show(number)


def _parse_assign(args: list[str]) -> Assign | UsageError:
    number = _number("assign", "42 @alex", args[0] if args else None)
    if isinstance(number, UsageError):
        return number
    if len(args) < 2:
        return UsageError("`/recovery assign` needs a person, like `/recovery assign 42 @alex`.")
    user_id = parse_user_mention(args[1])
    if user_id is None:
        return UsageError(
            f"`{_echo(args[1])}` is not someone Slack recognises; pick them from the @ menu, "
            "like `/recovery assign 42 @alex`."
        )
    if error := _no_extra("assign", "42 @alex", args[2:]):
        return error
    return Assign(number, user_id)


def _parse_list(args: list[str]) -> ListIncidents | UsageError:
    if not args:
        return ListIncidents()
    if len(args) == 1:
        for scope in LIST_SCOPES:
            if scope == args[0].lower():
                return ListIncidents(scope)
    choices = ", ".join(f"`{choice}`" for choice in LIST_SCOPES)
    return UsageError(f"`/recovery list` takes one of {choices}, not `{_echo(' '.join(args))}`.")


def _parse_snooze(args: list[str]) -> Snooze | UsageError:
    number = _number("snooze", "42 2h", args[0] if args else None)
    if isinstance(number, UsageError):
        return number
    if len(args) < 2:
        return UsageError("`/recovery snooze` needs a duration, like `/recovery snooze 42 2h`.")
    duration_text = " ".join(args[1:])
    try:
        duration = parse_duration(duration_text)
    except ValueError as exc:
        return UsageError(f"`{_echo(duration_text)}`: {exc}; try `/recovery snooze 42 2h`.")
    return Snooze(number, duration)


def _parse_cancel(rest: str) -> Cancel | UsageError:
    # The reason is kept verbatim (line breaks and spacing included), so it is
    # split off the raw text rather than rebuilt from tokens.
    head, *tail = rest.split(None, 1) or [""]
    number = _number("cancel", "42 customer withdrew", head or None)
    if isinstance(number, UsageError):
        return number
    reason = tail[0].strip() if tail else ""
    if not reason:
        return UsageError("`/recovery cancel` needs a reason, like `/recovery cancel 42 customer withdrew`.")
    return Cancel(number, reason)


def _parse_stats(args: list[str]) -> Stats | UsageError:
    if not args:
        return Stats()
    window = args[0].lower().removesuffix("d")
    if len(args) > 1 or not window.isascii() or not window.isdigit() or int(window) not in STATS_WINDOWS:
        return UsageError(f"`/recovery stats` takes `7d` or `30d`, not `{_echo(' '.join(args))}`.")
    return Stats(int(window))


def _parse_insights(args: list[str]) -> Insights | UsageError:
    if not args:
        return Insights()
    window = args[0].lower().removesuffix("d")
    if len(args) > 1 or not window.isascii() or not window.isdigit() or int(window) not in INSIGHTS_WINDOWS:
        return UsageError(f"`/recovery insights` takes `30d`, `90d` or `365d`, not `{_echo(' '.join(args))}`.")
    return Insights(int(window))
def _parse_export(args: list[str]) -> Export | UsageError:
    if not args:
        return Export()
    if len(args) == 1 and args[0].lower() in EXPORT_PERIODS:
        return Export(args[0].lower())
    return UsageError(f"`/recovery export` takes `30d`, `90d` or `all`, not `{_echo(' '.join(args))}`.")


def _bare(name: str, args: list[str], command: Digest | Health) -> Digest | Health | UsageError:
    """A subcommand that takes no arguments."""
    if args:
        return UsageError(f"`/recovery {name}` takes nothing after it; just type `/recovery {name}`.")
    return command


def parse_command(text: str) -> Command | UsageError:
    """Turn the text after `/recovery` into a command, or a one-line usage error.

    Never raises: every mistake a person can type maps to a `UsageError`
    whose message says what to type instead.
    """
    # Split on any whitespace: people paste tabs and line breaks too.
    name, *tail = text.split(None, 1) or [""]
    name = name.lower()
    rest = tail[0] if tail else ""
    args = _TOKEN_RE.findall(rest)
    match name:
        case "" | "help":
            return Help()
        case "new":
            return New(rest.strip())
        case "claim" | "show":
            return _parse_claim_or_show(name, args)
        case "assign":
            return _parse_assign(args)
        case "list":
            return _parse_list(args)
        case "snooze":
            return _parse_snooze(args)
        case "cancel":
            return _parse_cancel(rest)
        case "digest":
            return _bare(name, args, Digest())
        case "stats":
            return _parse_stats(args)
        case "health":
            return _bare(name, args, Health())
        case "insights":
            return _parse_insights(args)
        case "export":
            return _parse_export(args)
        case _:
            return UsageError(f"Unknown subcommand `{_echo(name)}`. Try `/recovery help` to see them all.")


# --------------------------------------------------------------------------
# Modal fields
# --------------------------------------------------------------------------

# ASCII digits only, as for incident numbers: `\d` would take any script's digits.
_AMOUNT_RE: Final = re.compile(r"[0-9]{1,9}(?:[.,][0-9]{1,2})?")
MAX_TYPED_AMOUNT: Final = Decimal("999999999.99")
"""The largest amount `parse_amount` reads (nine digits and cents): the remedy form's number
field stops there, so Slack refuses a longer one before it is sent."""


def parse_amount(text: str | None) -> Decimal:
    """A remedy amount as people type it: `120`, `49.99`, `49,99`, `$20`; never negative."""
    cleaned = (text or "0").strip().lstrip("$€£").strip()
    if not _AMOUNT_RE.fullmatch(cleaned):
        raise ValueError("Enter an amount of zero or more, like 20 or 49.99.")
    return Decimal(cleaned.replace(",", "."))


_CSAT_RE: Final = re.compile(r"0*([1-9]|10)")
CSAT_RANGE: Final = (1, 10)
"""The scores `parse_csat` reads: the follow-up form's number field has the same bounds."""


def parse_csat(text: str | None) -> int:
    # A regex, not isdigit() + int(): `²` is a digit to isdigit() but not to int(), and
    # int() of thousands of digits raises; either would put Python's message in the form.
    match = _CSAT_RE.fullmatch((text or "").strip())
    if match is None:
        raise ValueError("Enter a whole number from 1 to 10.")
    return int(match.group(1))
