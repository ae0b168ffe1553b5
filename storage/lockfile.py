"""Lock files that processes on one host (`serve`'s server and background, replicas sharing a
SQLite file) use to tell each other they are busy, without a round trip through the database.

A ``Crowd`` counts the threads of this process doing something (waiting for SQLite's writer,
answering Slack) and, while there is at least one, holds a shared flock on its file; another
process's ``wait_while_crowded`` sees that flock and waits, up to a limit, for it to go. The
kernel drops a dead process's flocks, so a crash never leaves anyone waiting.
"""
from __future__ import annotations

import fcntl
import os
import threading
import time


class PerProcessFile:
    """A lock file opened once per process: a forked child sharing its parent's open file would
    share its locks."""

    def __init__(self, path: str) -> None:
        self._path = path
        self.fd: int | None = None
        self._pid = 0

    def open(self) -> int:
        if self.fd is None or self._pid != os.getpid():
            self.fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            self._pid = os.getpid()
        return self.fd

    def close(self) -> None:
        if self.fd is not None and self._pid == os.getpid():
            os.close(self.fd)
        self.fd = None


class Crowd:
    """``with crowd:`` around what others should let go first."""

    def __init__(self, path: str) -> None:
        self.file = PerProcessFile(path)
        self._lock = threading.Lock()
        self._inside = 0

    def __enter__(self) -> None:
        with self._lock:
            self._inside += 1
            if self._inside == 1:
                fcntl.flock(self.file.open(), fcntl.LOCK_SH)

    def __exit__(self, *_exc: object) -> None:
        with self._lock:
            self._inside -= 1
            if self._inside == 0:
                fcntl.flock(self.file.open(), fcntl.LOCK_UN)


def wait_while_crowded(file: PerProcessFile, max_seconds: float) -> None:
    """Until no other process is inside its Crowd on ``file``, or ``max_seconds``."""
    deadline = time.monotonic() + max_seconds
    fd = file.open()
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return
            time.sleep(0.001)
            continue
        fcntl.flock(fd, fcntl.LOCK_UN)
        return
