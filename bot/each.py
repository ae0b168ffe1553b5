"""The scheduler's loops over due work: one item failing for its own reasons (a row the code
cannot handle, a channel whose figures break) is logged and skipped, so the others still go
out; an unreachable database ends the loop, as it would fail every item alike."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TypeVar

from sqlalchemy.exc import InterfaceError, OperationalError

log = logging.getLogger(__name__)

Item = TypeVar("Item")


def each(items: Iterable[Item], do: Callable[[Item], bool], *, what: Callable[[Item], str]) -> tuple[int, int]:
    """``do`` for every item: (how many it did, how many failed). ``what`` names an item in
    the log line ("digest for C1")."""
    done = failed = 0
    for item in items:
        try:
            done += do(item)
        except (OperationalError, InterfaceError):
            raise
        except Exception:  # noqa: BLE001 - see the module's docstring
            failed += 1
            log.exception("%s failed; the next tick tries again", what(item))
    return done, failed
