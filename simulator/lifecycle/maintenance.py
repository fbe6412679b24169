"""The weekly maintenance window (MECHANICS.md 1.4): Thursday 03:00-05:00 America/New_York.

While it lasts the exchange is closed: no new or amended orders, `cancel_order_on_pause`
orders are cancelled, marks are frozen, liquidation pauses, and funding that falls due is paid
when the exchange reopens.

Deviation: off by default (`ExchangeConfig.maintenance_window`), so a local run never pauses
unexpectedly; scenarios that want Kalshi's weekly pause turn it on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import partial
from typing import Protocol
from zoneinfo import ZoneInfo

from simulator.core.clock import Timers

__all__ = ["MaintenanceWindow", "Reopener", "arm_maintenance"]


class Reopener(Protocol):
    """What the window needs of the exchange: time, its timers, and closing and reopening."""

    @property
    def timers(self) -> Timers: ...

    def now(self) -> int: ...

    def set_exchange_active(self, active: bool, reason: str = "maintenance") -> None: ...


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """A weekly window: local `weekday` (Monday = 0) from `start` to `end` in `zone`."""

    weekday: int = 3
    start: time = time(3)
    end: time = time(5)
    zone: str = "America/New_York"

    def next_start_after(self, ts_ms: int) -> int:
        """The first window start strictly after `ts_ms` (epoch ms).

        >>> MaintenanceWindow().next_start_after(1_781_395_200_000)  # Sun 2026-06-14 00:00 UTC
        1781766000000
        """
        zone = ZoneInfo(self.zone)
        local = datetime.fromtimestamp(ts_ms / 1000, tz=UTC).astimezone(zone)
        day = local.date() + timedelta(days=(self.weekday - local.weekday()) % 7)
        for _ in range(3):
            start = datetime.combine(day, self.start, tzinfo=zone)
            start_ms = int(start.timestamp()) * 1000
            if start_ms > ts_ms:
                return start_ms
            day += timedelta(days=7)
        raise AssertionError("unreachable: a later window always exists")

    def end_of(self, start_ms: int) -> int:
        """When the window starting at `start_ms` ends (epoch ms)."""
        zone = ZoneInfo(self.zone)
        local = datetime.fromtimestamp(start_ms / 1000, tz=UTC).astimezone(zone)
        end = datetime.combine(local.date(), self.end, tzinfo=zone)
        return int(end.timestamp()) * 1000


def arm_maintenance(exchange: Reopener, window: MaintenanceWindow) -> None:
    """Arm the exchange's next maintenance window (and, from it, every later one)."""
    start = window.next_start_after(exchange.now())
    exchange.timers.arm(("maintenance", "start"), start, partial(_begin, exchange, window))


# module-level timer callbacks (not closures), so that a snapshot can pickle the armed timers


def _begin(exchange: Reopener, window: MaintenanceWindow, due: int) -> None:
    exchange.set_exchange_active(False, "maintenance")
    exchange.timers.arm(
        ("maintenance", "end"), window.end_of(due), partial(_finish, exchange, window)
    )


def _finish(exchange: Reopener, window: MaintenanceWindow, _due: int) -> None:
    exchange.set_exchange_active(True, "maintenance")
    arm_maintenance(exchange, window)
