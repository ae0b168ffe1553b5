import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.text import cut, escape_mrkdwn, excerpt, safe

# Text rich in the characters that matter here.
tricky_text = st.lists(
    st.sampled_from([*"ab &<>;!@#`*_\n\t", "&amp;", "&lt", "<!channel>", "é", "🙂"]), max_size=40
).map("".join) | st.text(max_size=80)


def test_escape_neutralises_channel_pings_and_mentions() -> None:
    assert escape_mrkdwn("hey <!channel> and <@U1>") == "hey &lt;!channel&gt; and &lt;@U1&gt;"


def test_escape_handles_ampersand_first_so_entities_are_not_double_escaped_wrongly() -> None:
    assert escape_mrkdwn("a & b") == "a &amp; b"
    assert escape_mrkdwn("&lt;") == "&amp;lt;"


def test_escape_leaves_formatting_characters_alone() -> None:
    assert escape_mrkdwn("*bold* _it_ ~s~ `code` \"q\" 'q'") == "*bold* _it_ ~s~ `code` \"q\" 'q'"


def test_cut_leaves_short_text_alone() -> None:
    assert cut("hello", 5) == "hello"
    assert cut("", 0) == ""


def test_cut_shortens_and_ends_with_an_ellipsis() -> None:
    assert cut("hello world", 8) == "hello w…"
    assert cut("hello world", 1) == "…"


def test_cut_does_not_leave_a_space_before_the_ellipsis() -> None:
    assert cut("hello world", 7) == "hello…"


def test_cut_to_zero_or_less_gives_nothing() -> None:
    assert cut("hello", 0) == ""
    assert cut("hello", -3) == ""


@pytest.mark.parametrize("limit", [3, 4, 5, 6, 7])
def test_cut_never_splits_an_escape_entity(limit: int) -> None:
    # "ab&amp;cd": any cut landing inside "&amp;" must move before it.
    result = cut("ab&amp;cd", limit)
    assert result in {"ab…", "ab&amp;…"}
    assert len(result) <= limit


def test_cut_keeps_an_entity_that_fits_whole() -> None:
    assert cut("ab&lt;cdef", 8) == "ab&lt;c…"


def test_cut_does_not_treat_a_plain_ampersand_as_an_entity() -> None:
    assert cut("ab&cdefgh", 5) == "ab&c…"


def test_safe_escapes_then_cuts_and_accepts_none() -> None:
    assert safe(None, 10) == ""
    assert safe("<!here> now", 100) == "&lt;!here&gt; now"
    assert safe("<!here> now", 5) == "&lt;…"
    assert safe("a<b", 6) == "a&lt;b"
    assert safe("a<b", 5) == "a…"


def test_excerpt_collapses_whitespace_without_escaping() -> None:
    assert excerpt("  Order\n\n  arrived\tbroken  ") == "Order arrived broken"
    assert excerpt("<!channel>") == "<!channel>"


def test_excerpt_defaults_to_200_characters() -> None:
    result = excerpt("word " * 100)
    assert len(result) == 200
    assert result.endswith("…")


@given(tricky_text)
def test_escaped_text_never_contains_angle_brackets(text: str) -> None:
    escaped = escape_mrkdwn(text)
    assert "<" not in escaped and ">" not in escaped


@given(tricky_text, st.integers(min_value=-5, max_value=100))
def test_cut_never_exceeds_the_limit(text: str, limit: int) -> None:
    assert len(cut(text, limit)) <= max(limit, 0)


@given(tricky_text, st.integers(min_value=0, max_value=100))
def test_safe_output_is_bounded_pingless_and_has_only_whole_entities(text: str, limit: int) -> None:
    result = safe(text, limit)
    assert len(result) <= limit
    assert "<" not in result and ">" not in result
    # Every "&" left must begin a complete entity.
    assert all(re.match(r"&(?:amp|lt|gt);", result[i:]) for i, c in enumerate(result) if c == "&")


@given(tricky_text, st.integers(min_value=1, max_value=100))
def test_cut_keeps_a_prefix_of_the_original(text: str, limit: int) -> None:
    result = cut(text, limit)
    assert result == text or (result.endswith("…") and text.startswith(result[:-1]))
