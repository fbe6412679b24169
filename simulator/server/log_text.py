"""How the server's log lines write instants, spans, speeds and event counts.

Shared by the sliced advance (`simulator.server.advancer`), the clock driver's lag warning
(`simulator.server.clock_driver`) and the stats line (`simulator.server.run_stats`), so that
they read alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

__all__ = ["counts", "instant", "span", "speed", "wall"]


def instant(ts_ms: int) -> str:
    """A simulated instant, RFC 3339 in UTC with milliseconds.

    >>> instant(1_781_481_600_000)
    '2026-06-15T00:00:00.000Z'
    """
    moment = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts_ms % 1000:03d}Z"


def span(ms: int) -> str:
    """A simulated duration: days, hours, minutes and seconds.

    >>> span(28_800_000), span(90_061_500), span(1_500), span(250)
    ('8h00m00s', '1d01h01m01.5s', '1.5s', '250ms')
    """
    if ms < 1_000:
        return f"{ms}ms"
    seconds, millis = divmod(ms, 1_000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    tail = f"{seconds}" if not millis else f"{seconds}.{millis:03d}".rstrip("0")
    if not (days or hours or minutes):
        return f"{tail}s"
    tail = f"0{tail}" if seconds < 10 else tail
    text = f"{hours}h{minutes:02d}m{tail}s" if hours or days else f"{minutes}m{tail}s"
    return f"{days}d{hours:02d}h{minutes:02d}m{tail}s" if days else text


def wall(seconds: float) -> str:
    """A real duration, to the millisecond under ten seconds.

    >>> wall(3.5213), wall(42.17)
    ('3.521 s', '42.2 s')
    """
    return f"{seconds:.3f} s" if seconds < 10 else f"{seconds:.1f} s"


def clock_speed(factor: float) -> str:
    """An accelerated clock's `--speed`, e.g. `x60`, `x100,000`, `x2.5`.

    >>> clock_speed(60), clock_speed(1e9), clock_speed(2.5)
    ('x60', 'x1,000,000,000', 'x2.5')
    """
    return f"x{factor:,.0f}" if factor == int(factor) else f"x{factor:,g}"


def speed(factor: float | None) -> str:
    """Simulated time per real time, e.g. `8,120x real time` (`?` when unknown).

    >>> speed(8119.6), speed(0.5), speed(None)
    ('8,120x real time', '0.50x real time', '?x real time')
    """
    if factor is None:
        return "?x real time"
    return f"{factor:,.0f}x real time" if factor >= 10 else f"{factor:.2f}x real time"


def counts(by_kind: Mapping[str, int]) -> str:
    """Counts by name, most first (then by name), as `name=count` words.

    >>> counts({"TickerChanged": 3, "BookDelta": 7, "FillExecuted": 3})
    'BookDelta=7 FillExecuted=3 TickerChanged=3'
    """
    ordered = sorted(by_kind.items(), key=lambda item: (-item[1], item[0]))
    return " ".join(f"{name}={count}" for name, count in ordered) or "none"
