"""Acks first (bot/acks_first.py): `serve`'s background sees the server's requests in flight
across the fork, holds its sending while there are any, and never longer than it may."""
from __future__ import annotations

import os
import threading

from bot.acks_first import AcksInFlight


def _seen_by_a_fork(acks: AcksInFlight) -> bool:
    """What a process forked from this one reads, as `serve`'s background is."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        os.write(write_fd, b"1" if acks.busy() else b"0")
        os._exit(0)
    os.close(write_fd)
    try:
        return os.read(read_fd, 1) == b"1"
    finally:
        os.close(read_fd)
        os.waitpid(pid, 0)


def test_a_forked_background_sees_each_request_in_flight_and_none_after():
    acks = AcksInFlight()
    assert not _seen_by_a_fork(acks)
    with acks.answering():
        assert _seen_by_a_fork(acks)
        with acks.answering():
            assert _seen_by_a_fork(acks)
        assert _seen_by_a_fork(acks), "one request still in flight"
    assert not _seen_by_a_fork(acks)


def test_a_request_that_fails_is_no_longer_in_flight():
    acks = AcksInFlight()
    try:
        with acks.answering():
            raise RuntimeError("the listener failed")
    except RuntimeError:
        pass
    assert not acks.busy()


def _holding(acks: AcksInFlight, stop: threading.Event, at_most: float) -> threading.Thread:
    thread = threading.Thread(target=acks.hold, args=(stop,), kwargs={"at_most": at_most}, daemon=True)
    thread.start()
    return thread


def test_the_sender_goes_once_the_last_ack_is_answered():
    acks, stop = AcksInFlight(), threading.Event()
    answering = acks.answering()
    answering.__enter__()
    held = _holding(acks, stop, at_most=600)
    held.join(timeout=0.2)
    assert held.is_alive(), "sending went ahead while an ack was in flight"
    answering.__exit__(None, None, None)
    held.join(timeout=10)
    assert not held.is_alive()


def test_a_request_that_never_ends_holds_the_sender_no_longer_than_allowed():
    acks, stop = AcksInFlight(), threading.Event()
    with acks.answering():
        held = _holding(acks, stop, at_most=0.05)
        held.join(timeout=10)
        assert not held.is_alive()
        assert acks.busy()


def test_stopping_ends_the_hold_at_once():
    acks, stop = AcksInFlight(), threading.Event()
    with acks.answering():
        held = _holding(acks, stop, at_most=600)
        stop.set()
        held.join(timeout=10)
        assert not held.is_alive()
