from datetime import time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.parsing import (
    LIST_SCOPES,
    USAGE,
    Assign,
    Cancel,
    Claim,
    Digest,
    Help,
    ListIncidents,
    New,
    Show,
    Snooze,
    Stats,
    UsageError,
    WorkHours,
    format_duration,
    parse_clock_time,
    parse_command,
    parse_duration,
    parse_incident_ref,
    parse_user_mention,
    parse_work_hours,
)

# --- durations -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("4h", timedelta(hours=4)),
        ("3d", timedelta(days=3)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
        ("2d4h", timedelta(days=2, hours=4)),
        ("  4H ", timedelta(hours=4)),
        ("1D", timedelta(days=1)),
    ],
)
def test_duration_accepts_units_combos_case_and_whitespace(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "soon", "4", "h", "4x", "-4h", "1.5h", "30m1h", "1h1h", "4 hours", "99999999999d"])
def test_duration_rejects_junk_with_the_human_hint(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration like 90s, 15m, 4h or 3d"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["0s", "0m", "0d0h"])
def test_duration_must_be_longer_than_zero(text: str) -> None:
    with pytest.raises(ValueError, match="longer than zero"):
        parse_duration(text)


def test_duration_too_long_for_a_timedelta_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="too long"):
        parse_duration("999999999d 999999999h")


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(seconds=45), "45s"),
        (timedelta(minutes=15), "15m"),
        (timedelta(hours=4), "4h"),
        (timedelta(hours=1, minutes=30), "1h 30m"),
        (timedelta(days=3), "3d"),
        (timedelta(days=2, hours=4), "2d 4h"),
        (timedelta(days=2, hours=4, minutes=13, seconds=9), "2d 4h"),
        (timedelta(days=1, minutes=5), "1d"),
        (timedelta(minutes=2, seconds=5), "2m 5s"),
        (timedelta(0), "0s"),
        (timedelta(milliseconds=400), "0s"),
        (-timedelta(hours=1, minutes=30), "1h 30m"),
    ],
)
def test_format_duration_shows_at_most_two_units_largest_first(delta: timedelta, expected: str) -> None:
    assert format_duration(delta) == expected


@given(st.integers(min_value=1, max_value=10**8))
def test_formatted_duration_of_whole_units_parses_back(seconds: int) -> None:
    delta = timedelta(seconds=seconds)
    shown = parse_duration(format_duration(delta))
    # Only the largest unit and the next one down survive: what is lost is
    # always less than one of that next unit.
    largest = next(size for size in (86_400, 3_600, 60, 1) if seconds >= size)
    next_unit = {86_400: 3_600, 3_600: 60, 60: 1, 1: 1}[largest]
    assert timedelta(0) <= delta - shown < timedelta(seconds=next_unit)


# --- incident numbers and mentions -----------------------------------------


@pytest.mark.parametrize("text", ["42", "#42", "R-42", "r-42", " 42 ", "042"])
def test_incident_ref_accepts_plain_hash_and_r_prefix(text: str) -> None:
    assert parse_incident_ref(text) == 42


@pytest.mark.parametrize(
    "text", ["", "0", "#0", "-4", "R42", "R-", "#", "4 2", "42x", "x42", "##42", str(10**9 + 1), "1" * 40, "٤٢"]
)
def test_incident_ref_rejects_zero_negatives_junk_and_huge(text: str) -> None:
    assert parse_incident_ref(text) is None


def test_incident_ref_accepts_the_largest_allowed_number() -> None:
    assert parse_incident_ref(str(10**9)) == 10**9


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<@U123ABC>", "U123ABC"),
        ("<@U123ABC|alex>", "U123ABC"),
        ("<@W0XYZ|jo smith>", "W0XYZ"),
        ("U123ABC", "U123ABC"),
        (" W123 ", "W123"),
    ],
)
def test_user_mention_reads_slack_mentions_and_bare_ids(text: str, expected: str) -> None:
    assert parse_user_mention(text) == expected


@pytest.mark.parametrize("text", ["", "@alex", "alex", "<@u123>", "<#C123|general>", "<!channel>", "U1", "C123ABC", "<@U123"])
def test_user_mention_rejects_names_channels_and_broken_mentions(text: str) -> None:
    assert parse_user_mention(text) is None


# --- clock times and work hours --------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [("09:00", time(9)), ("9:05", time(9, 5)), ("23:59", time(23, 59)), ("00:00", time(0))])
def test_clock_time_reads_24_hour_times(text: str, expected: time) -> None:
    assert parse_clock_time(text) == expected


@pytest.mark.parametrize("text", ["", "9", "24:00", "12:60", "9am", "09:00:00", "noon"])
def test_clock_time_rejects_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match="24-hour time like 09:00"):
        parse_clock_time(text)


def test_work_hours_with_a_day_range() -> None:
    assert parse_work_hours("09:00-18:00 Mon-Fri") == WorkHours(time(9), time(18), frozenset({0, 1, 2, 3, 4}))


def test_work_hours_with_a_day_list_and_mixed_forms() -> None:
    assert parse_work_hours("08:30-17:00 Mon,Tue,Thu").weekdays == frozenset({0, 1, 3})
    assert parse_work_hours("08:30 - 17:00 mon-wed, Saturday").weekdays == frozenset({0, 1, 2, 5})


def test_work_hours_without_days_means_every_day() -> None:
    assert parse_work_hours("09:00-18:00").weekdays == frozenset(range(7))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "like 09:00-18:00 Mon-Fri"),
        ("9-5", "like 09:00-18:00 Mon-Fri"),
        ("09:00-25:00", "like 09:00-18:00 Mon-Fri"),
        ("18:00-09:00", "start before they end"),
        ("09:00-09:00", "start before they end"),
        ("09:00-18:00 Fri-Mon", "runs backwards"),
        ("09:00-18:00 Funday", "unknown day 'Funday'"),
        ("09:00-18:00 Mon,,Tue", "empty day"),
    ],
)
def test_work_hours_rejects_bad_values_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_work_hours(text)


# --- the /recovery command ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Help()),
        ("   ", Help()),
        ("help", Help()),
        ("HELP", Help()),
        ("new", New("")),
        ("new Order arrived broken", New("Order arrived broken")),
        ("NEW   spaced  out ", New("spaced  out")),
        ("claim 42", Claim(42)),
        ("Claim #42", Claim(42)),
        ("claim\tR-42", Claim(42)),
        ("assign 42 <@U123ABC|alex>", Assign(42, "U123ABC")),
        ("assign #7 <@W1AB|jo smith>", Assign(7, "W1AB")),
        ("list", ListIncidents("open")),
        ("list MINE", ListIncidents("mine")),
        ("list unclaimed", ListIncidents("unclaimed")),
        ("list overdue", ListIncidents("overdue")),
        ("show r-3", Show(3)),
        ("snooze 42 2h", Snooze(42, timedelta(hours=2))),
        ("snooze 42 1h 30m", Snooze(42, timedelta(hours=1, minutes=30))),
        ("cancel 42 customer withdrew", Cancel(42, "customer withdrew")),
        ("digest", Digest()),
        ("stats", Stats(7)),
        ("stats 7d", Stats(7)),
        ("stats 30D", Stats(30)),
    ],
)
def test_command_grammar(text: str, expected: object) -> None:
    assert parse_command(text) == expected


def test_new_keeps_the_summary_as_typed_for_later_escaping() -> None:
    assert parse_command("new <!channel> refund  now\nplease") == New("<!channel> refund  now\nplease")


def test_cancel_keeps_the_reason_verbatim_after_the_number() -> None:
    assert parse_command("cancel 42   duplicate of #41\nsee thread") == Cancel(42, "duplicate of #41\nsee thread")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("claim", "`/recovery claim` needs an incident number, like `/recovery claim 42`."),
        ("show", "`/recovery show` needs an incident number, like `/recovery show 42`."),
        ("claim abc", "`abc` is not an incident number"),
        ("claim 0", "`0` is not an incident number"),
        ("claim 42 now", "`/recovery claim` got unexpected `now`"),
        ("assign", "`/recovery assign` needs an incident number"),
        ("assign 42", "`/recovery assign` needs a person"),
        ("assign 42 @alex", "`@alex` is not someone Slack recognises"),
        ("assign 42 <@U1AB> <@U2CD>", "`/recovery assign` got unexpected"),
        ("list everything", "`/recovery list` takes one of `open`, `mine`, `unclaimed`, `overdue`, not `everything`."),
        ("list open mine", "`/recovery list` takes one of"),
        ("snooze", "`/recovery snooze` needs an incident number"),
        ("snooze 42", "`/recovery snooze` needs a duration"),
        ("snooze 42 soon", "`soon`: expected a duration like 90s, 15m, 4h or 3d"),
        ("snooze 42 0m", "longer than zero"),
        ("cancel", "`/recovery cancel` needs an incident number"),
        ("cancel 42", "`/recovery cancel` needs a reason"),
        ("cancel 42    ", "`/recovery cancel` needs a reason"),
        ("cancel because", "`because` is not an incident number"),
        ("digest now", "`/recovery digest` takes nothing after it"),
        ("stats 14d", "`/recovery stats` takes `7d` or `30d`, not `14d`."),
        ("stats 7d 30d", "`/recovery stats` takes `7d` or `30d`"),
        ("frobnicate 42", "Unknown subcommand `frobnicate`."),
    ],
)
def test_bad_invocations_get_one_line_usage_errors(text: str, message: str) -> None:
    result = parse_command(text)
    assert isinstance(result, UsageError)
    assert message in result.message
    assert "\n" not in result.message


def test_usage_errors_cannot_ping_or_break_out_of_code_spans() -> None:
    for text in ["<!channel>", "claim <!here>", "assign 4 <!channel>", "list `<!everyone>`"]:
        result = parse_command(text)
        assert isinstance(result, UsageError)
        assert "<" not in result.message and ">" not in result.message
        assert result.message.count("`") % 2 == 0


def test_usage_errors_do_not_echo_huge_input() -> None:
    result = parse_command("claim " + "x" * 5000)
    assert isinstance(result, UsageError)
    assert len(result.message) < 300


@given(st.text(max_size=200))
def test_parse_command_never_raises(text: str) -> None:
    parse_command(text)


def test_usage_lists_every_subcommand_without_raw_angle_brackets() -> None:
    for name in ["help", "new", "claim", "assign", "list", "show", "snooze", "cancel", "digest", "stats"]:
        assert f"`/recovery {name}" in USAGE
    for scope in LIST_SCOPES:
        assert scope in USAGE
    assert "<" not in USAGE and ">" not in USAGE
