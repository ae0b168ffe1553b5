"""The HTTP edge: health check, unknown paths, and garbage that gets the status its kind
deserves (bot/web.py and Bolt), never a 500."""
from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import replace

import pytest
from sqlmodel import select

from storage.db import Database
from storage.models import Incident, OutboxMessage

JSON, FORM = "application/json", "application/x-www-form-urlencoded"


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_healthz_is_200_while_the_database_answers(bot):
    base = bot.url.removesuffix("/slack/events")
    assert _get(base + "/healthz") == (
        200, '{"database": "ok", "slack": "unconfirmed", "parked": 0, "dead": 0, "pending": 0, "workspaces": 0}\n')


def test_healthz_is_503_when_the_database_is_gone(make_bot, settings):
    served = make_bot(settings)
    base = served.url.removesuffix("/slack/events")
    served.runtime.db.engine.dispose()
    broken = replace(settings, database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    served.runtime.db.engine = Database.from_url(broken.database_url).engine
    assert _get(base + "/healthz") == (503, '{"database": "unreachable", "slack": "unconfirmed"}\n')


def test_unknown_path_is_404(bot):
    assert _get(bot.url.removesuffix("/slack/events") + "/nope")[0] == 404


# Each garbage body with the status a correctly signed copy gets. Unsigned or badly signed,
# every one of them is 401, whichever of Bolt or bot/web.py turns it away.
GARBAGE = [
    pytest.param("{not json", JSON, 400, "bad request\n", id="json that does not parse"),
    pytest.param("[]", JSON, 400, "bad request\n", id="json that is not an object"),
    pytest.param("payload=%7Bbad", FORM, 400, "bad request\n", id="form payload that does not parse"),
    pytest.param("payload=%22just+a+string%22", FORM, 400, "bad request\n", id="form payload that is a string"),
    pytest.param('{"type": "block_actions", "actions": []}', JSON, 400, "bad request\n",
                 id="a click without an action"),
    # Slack redelivers an event it did not see acked; one whose shape trips Bolt would come
    # back forever, so it is acked and dropped.
    pytest.param('{"type": "event_callback", "event": {"type": "reaction_added", "item": 5}}', JSON, 200, "",
                 id="event whose shape trips Bolt"),
    # Bolt parses these fine and finds no listener: its own 404.
    pytest.param('{"type": "event_callback"}', JSON, 404, '{"error": "unhandled request"}',
                 id="event without an event"),
    pytest.param("", JSON, 404, '{"error": "unhandled request"}', id="empty body"),
]


def _nothing_written(bot) -> bool:  # noqa: ANN001
    with bot.runtime.db.read() as session:
        return not session.exec(select(Incident)).all() and not session.exec(select(OutboxMessage)).all()


@pytest.mark.parametrize(("body", "kind", "status", "answer"), GARBAGE)
def test_signed_garbage_gets_its_exact_status_and_changes_nothing(bot, body, kind, status, answer):
    got = bot.slack.post(body, content_type=kind)
    assert (got.status, got.body) == (status, answer)
    assert _nothing_written(bot)


@pytest.mark.parametrize(("body", "kind", "status", "answer"), GARBAGE)
@pytest.mark.parametrize("options", [{"signed": False}, {"secret": "wrong-secret"}], ids=["unsigned", "wrong secret"])
def test_unsigned_or_badly_signed_garbage_is_401(bot, body, kind, status, answer, options):
    got = bot.slack.post(body, content_type=kind, **options)
    assert got.status == 401 and "invalid request" in got.body
    assert _nothing_written(bot)
