"""The bot's WSGI app served in a thread of the calling process, for the demo, tests and benchmarks."""
from __future__ import annotations

import threading

from bot.web import EVENTS_PATH, WsgiApp


class BackgroundServer:
    """The WSGI app under waitress in a daemon thread on a free port: for the demo and tests."""

    def __init__(self, wsgi: WsgiApp, *, host: str = "127.0.0.1", threads: int = 8) -> None:
        from waitress.server import create_server

        # A short select timeout: closing the sockets does not wake the loop, so stop() waits
        # for its next turn (waitress's default 1 s, once per test that serves the bot).
        self._server = create_server(wsgi, host=host, port=0, threads=threads, asyncore_loop_timeout=0.05)
        self._thread = threading.Thread(target=self._run, name="wsgi", daemon=True)
        self._stopping = False
        self.base_url = f"http://{host}:{self._server.effective_port}"
        self.events_url = self.base_url + EVENTS_PATH

    def start(self) -> BackgroundServer:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self._server.run()
        except (OSError, ValueError):
            # waitress has no graceful stop: closing its sockets under the select loop is
            # how it ends, and the loop then trips on the closed descriptors.
            if not self._stopping:
                raise

    def stop(self) -> None:
        """Let requests in hand finish, then close: a request still being answered when the
        sockets close would trip on waitress's closed wake-up pipe and print a traceback."""
        self._stopping = True
        self._server.task_dispatcher.shutdown(timeout=5)
        self._server.close()
        self._thread.join(timeout=5)
