"""Where time comes from: the one door the service and the scheduler read it through.

The domain never reads a clock; tests move the devkit's FakeClock instead of sleeping.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """An aware UTC datetime."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)
