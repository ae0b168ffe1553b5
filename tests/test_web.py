"""The HTTP edge: health check, unknown paths, and garbage that must not become a 500."""
from __future__ import annotations

import urllib.error
import urllib.request


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_healthz_is_200_while_the_database_answers(bot):
    base = bot.url.removesuffix("/slack/events")
    assert _get(base + "/healthz") == (200, "ok\n")


def test_healthz_is_503_when_the_database_is_gone(make_bot, settings):
    from dataclasses import replace
    served = make_bot(settings)
    base = served.url.removesuffix("/slack/events")
    served.runtime.db.engine.dispose()
    broken = replace(settings, database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    from storage.db import Database
    served.runtime.db.engine = Database.from_url(broken.database_url).engine
    status, body = _get(base + "/healthz")
    assert status == 503 and "database unreachable" in body


def test_unknown_path_is_404(bot):
    assert _get(bot.url.removesuffix("/slack/events") + "/nope")[0] == 404


def test_signed_garbage_bodies_never_get_a_500(bot):
    for body, kind in [("{not json", "application/json"), ("payload=%7Bbad", "application/x-www-form-urlencoded"),
                       ('{"type": "event_callback"}', "application/json"),
                       ('{"type": "event_callback", "event": {"type": "reaction_added", "item": 5}}',
                        "application/json"),
                       ("payload=" + "%22just+a+string%22", "application/x-www-form-urlencoded")]:
        answer = bot.slack.post(body, content_type=kind)
        assert answer.status < 500, (body, answer)
        assert "Traceback" not in answer.body
