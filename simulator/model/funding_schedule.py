"""Funding instants of each market's schedule, anchored to New York wall-clock time.

A schedule is a set of local wall-clock times on a set of weekdays in `America/New_York`
(MECHANICS §5.1, §9 #14). Instants go in and out as integer epoch milliseconds; the conversion
goes through exact `timedelta` arithmetic, never floats or the wall clock.

- `crypto_8h`: 00:00, 08:00 and 16:00 ET every day (04:00/12:00/20:00 UTC under EDT,
  05:00/13:00/21:00 UTC under EST).
- `metals_daily`: 10:00 ET Monday to Friday (Monday's funding covers the weekend).

Assumption: schedule times never fall in New York's DST gap or overlap (01:00-03:00 local on
transition days); were one to, `zoneinfo`'s `fold=0` reading would apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["SCHEDULE_NAMES", "FundingSchedule"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_NEW_YORK = "America/New_York"
_SEARCH_DAYS = 8  # any non-empty weekday set recurs within a week

SCHEDULE_NAMES: tuple[str, ...] = ("crypto_8h", "metals_daily")
"""Names accepted by `FundingSchedule.from_name`."""


@dataclass(frozen=True)
class FundingSchedule:
    """Funding instants: local `times` on local `weekdays` in the time zone `zone`.

    Attributes:
        name: The schedule's name (see `SCHEDULE_NAMES`).
        times: Local wall-clock times of day, strictly ascending.
        weekdays: Local weekdays on which funding happens (Monday = 0 ... Sunday = 6).
        zone: IANA time zone key the times are read in.

    >>> crypto = FundingSchedule.from_name("crypto_8h")
    >>> crypto.next_after(1_781_395_200_000)  # 2026-06-14 00:00 UTC -> 04:00 UTC (00:00 EDT)
    1781409600000
    """

    name: str
    times: tuple[time, ...]
    weekdays: frozenset[int]
    zone: str = _NEW_YORK

    def __post_init__(self) -> None:
        if not self.times or list(self.times) != sorted(set(self.times)):
            raise ValueError("schedule times must be non-empty and strictly ascending")
        if not self.weekdays or not self.weekdays <= frozenset(range(7)):
            raise ValueError("schedule weekdays must be a non-empty subset of 0..6")
        if any(t.tzinfo is not None for t in self.times):
            raise ValueError("schedule times are naive local wall-clock times")

    @classmethod
    def from_name(cls, name: str) -> FundingSchedule:
        """Build a named schedule.

        Args:
            name: One of `SCHEDULE_NAMES`.

        Returns:
            The schedule.

        Raises:
            ValueError: The name is unknown.
        """
        if name == "crypto_8h":
            return cls(name, (time(0), time(8), time(16)), frozenset(range(7)))
        if name == "metals_daily":
            return cls(name, (time(10),), frozenset(range(5)))
        raise ValueError(f"unknown funding schedule {name!r}; known: {', '.join(SCHEDULE_NAMES)}")

    def next_after(self, ts_ms: int) -> int:
        """The first funding instant strictly after `ts_ms`.

        Args:
            ts_ms: Epoch milliseconds.

        Returns:
            Epoch milliseconds of the next funding instant.
        """
        today = self._local_date(ts_ms)
        for offset in range(_SEARCH_DAYS + 1):
            for instant in self._instants_on(today + timedelta(days=offset)):
                if instant > ts_ms:
                    return instant
        raise AssertionError("unreachable: a non-empty weekday set recurs within a week")

    def last_at_or_before(self, ts_ms: int) -> int:
        """The latest funding instant at or before `ts_ms`.

        Args:
            ts_ms: Epoch milliseconds.

        Returns:
            Epoch milliseconds of that funding instant (`ts_ms` itself if it is one).
        """
        today = self._local_date(ts_ms)
        for offset in range(_SEARCH_DAYS + 1):
            for instant in reversed(self._instants_on(today - timedelta(days=offset))):
                if instant <= ts_ms:
                    return instant
        raise AssertionError("unreachable: a non-empty weekday set recurs within a week")

    def _local_date(self, ts_ms: int) -> date:
        return (_EPOCH + ts_ms * _ONE_MS).astimezone(ZoneInfo(self.zone)).date()

    def _instants_on(self, day: date) -> list[int]:
        """Funding instants on local calendar `day`, ascending, in epoch milliseconds."""
        if day.weekday() not in self.weekdays:
            return []
        zone = ZoneInfo(self.zone)
        return [
            (datetime.combine(day, local, tzinfo=zone) - _EPOCH) // _ONE_MS for local in self.times
        ]
