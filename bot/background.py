"""`serve`'s background process: the outbox sender and the scheduler tick, forked off the acks.

Why a second process: in one process the waitress threads and the outbox senders share one
GIL. Measured (docs/PERFORMANCE.md), the senders starved under request load (cards lagged
far behind flags) and, while they ran, each ack waited for the GIL behind them. Forked, the
two use both cores; the background runs at a lower priority (BACKGROUND_NICENESS), so when
the CPU is short the acks win and the outbox catches up right after, which is the order
Slack's 3-second deadline asks for; and its senders wait while the server has requests in
flight (bot/acks_first.py). Nothing moves out of the database: the background reads
what is due from it, exactly as another replica would, so a crash of either process loses
nothing.

The two are tied by a pipe. The server writes a byte after each commit that queued a Slack
call (so a card goes out at once, not at the next poll); the background reads it. When the
server dies without saying goodbye (kill -9, a crash), the pipe reaches end-of-file and the
background dies too, at once and just as abruptly: a restarted server forks a new one, and
nothing half-done by the old one survives to run twice.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable

from bot.acks_first import AcksInFlight
from bot.domain.playbook import Playbook
from bot.settings import Settings

log = logging.getLogger(__name__)

# Linux CFS weights: nice 10 gets about a tenth of a core that request threads also want,
# and everything that is idle.
BACKGROUND_NICENESS = 10
STOP_TIMEOUT_SECONDS = 20
_ORPHANED_EXIT = 70


class Background:
    """The server's handle on its background process."""

    def __init__(self, pid: int, wake_fd: int) -> None:
        self.pid = pid
        self._wake_fd = wake_fd
        self._stopping = False

    def wake(self) -> None:
        """Tell the background that the outbox has rows. Never blocks a request: a full pipe
        already holds a wake-up."""
        try:
            os.write(self._wake_fd, b"!")
        except (BlockingIOError, BrokenPipeError):
            pass

    def watch(self, on_exit: Callable[[int], None]) -> None:
        """Call ``on_exit(status)`` from a daemon thread if the background ends unasked."""
        def wait() -> None:
            try:
                _, status = os.waitpid(self.pid, 0)
            except ChildProcessError:  # reaped by stop()
                return
            if not self._stopping:
                on_exit(status)
        threading.Thread(target=wait, name="background-watch", daemon=True).start()

    def stop(self) -> None:
        """Let the background finish the row or tick in hand, then close the pipe."""
        self._stopping = True
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while _alive(self.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(self.pid):
            os.kill(self.pid, signal.SIGKILL)
        os.close(self._wake_fd)


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    if waited == pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def fork_background(settings: Settings, playbook: Playbook, acks: AcksInFlight) -> Background:
    """Fork before the server starts any thread or opens any connection: a fork copies only
    the calling thread, and a connection must never be shared by two processes."""
    assert threading.active_count() == 1, "fork the background before starting threads"
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    pid = os.fork()
    if pid == 0:
        os.close(write_fd)
        code = 1
        try:
            code = run_background(settings, playbook, wake_fd=read_fd, acks=acks)
        except BaseException:  # a forked child must never return into the server's code
            log.exception("background process failed")
        finally:
            logging.shutdown()
            os._exit(code)
    os.close(read_fd)
    return Background(pid, write_fd)


def run_background(settings: Settings, playbook: Playbook, *, wake_fd: int, acks: AcksInFlight) -> int:
    from bot.runtime import build, freeze_startup_heap

    os.nice(BACKGROUND_NICENESS)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the server, which stops us in order
    runtime = build(settings, playbook=playbook, migrate=False, hold_sending=acks.hold)
    runtime.db.yield_writes()  # on SQLite the acks write first (storage/db.py)
    runtime.confirm_identity(quiet=True)
    runtime.start_background()

    def listen() -> None:
        while True:
            try:
                data = os.read(wake_fd, 4096)
            except InterruptedError:
                continue
            if not data:
                break
            runtime.sender.wake()
        if not stopping.is_set():
            log.error("the server process is gone; the background stops with it")
            os._exit(_ORPHANED_EXIT)

    threading.Thread(target=listen, name="background-wake", daemon=True).start()
    freeze_startup_heap()
    log.info("background process %s: outbox sender and scheduler running", os.getpid())
    while not stopping.wait(1.0):
        pass
    runtime.stop()
    return 0
