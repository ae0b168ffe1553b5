"""SlackDriver over Socket Mode: the same helpers (react, command, click, choose, press,
shortcut, submit), with the payloads pushed as envelopes by the Socket Mode double instead of
signed HTTP requests, so one scenario can run against a bot in either mode."""
from __future__ import annotations

import json
import time
from typing import Any

from bot.devkit.driver import Answer, SlackDriver
from bot.devkit.socket_double import SocketModeDouble

# As long as SlackDriver waits for an HTTP answer: a slow ack shows as slow, not as lost.
ACK_WAIT_SECONDS = 10.0


class SocketDriver(SlackDriver):
    """Pushes through ``double`` and answers with its ack: status 200 and the ack's payload as
    JSON ("" for a bare ack), or status 0 and "" when no ack came. Signing options are ignored:
    Socket Mode is not signed."""

    def __init__(self, double: SocketModeDouble, *, ack_wait: float = ACK_WAIT_SECONDS) -> None:
        super().__init__(url=double.address, signing_secret="", fake=double.slack)
        self.double = double
        self.ack_wait = ack_wait

    def send_json(self, payload: dict, *, headers: dict[str, str] | None = None, **signing: Any) -> Answer:
        """An Events API payload; ``X-Slack-Retry-Num: n`` sends it as Slack's n-th retry."""
        retry = int((headers or {}).get("X-Slack-Retry-Num") or 0)
        started = time.perf_counter()
        return self._answer(self.double.send_events_payload(payload, retry_attempt=retry), started)

    def send_form(self, fields: dict, **signing: Any) -> Answer:
        started = time.perf_counter()
        return self._answer(self.double.send_slash_command({k: str(v) for k, v in fields.items()}), started)

    def send_interaction(self, payload: dict, **signing: Any) -> Answer:
        started = time.perf_counter()
        return self._answer(self.double.send_interactive(payload), started)

    def _answer(self, envelope_id: str, started: float) -> Answer:
        ack = self.double.wait_ack(envelope_id, timeout=self.ack_wait)
        seconds = time.perf_counter() - started
        if ack is None:
            return Answer(0, "", seconds)
        return Answer(200, "" if ack.payload is None else json.dumps(ack.payload), seconds)
