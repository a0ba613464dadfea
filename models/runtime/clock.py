"""The one clock, made at the edge and passed down. Domain code never reads the time itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FixedClock:
    """For tests and `--as-of`: time stands still unless moved."""

    at: datetime

    def now(self) -> datetime:
        return self.at
