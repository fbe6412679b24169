"""How far each replayed reference feed has got: the finite part of a dry run.

A market whose reference is a `replay` feed (a `ts_ms,price` CSV) runs out: after its last
point the reference stays at the last price until the control plane sets another. Random walks
and constants never end, so only replays have progress. What shows it:

- `replay_progress(exchange)`: a `ReplayProgress` per replayed market, in market order, read at
  the time the exchange has reached (`clock_driver.position`: behind a wall or accelerated
  clock when it lags), a pinned market's replay too (its points keep passing under the pin);
  `GET /sim/v1/clock` carries them as `replays`, and the dashboard shows them by the clock;
- `progress_text`: the same, for the advance's progress lines and summary and the stats line
  (`replay KXBTCPERP 45.2% (14 of 31 points)`, then `replay KXBTCPERP ran out`);
- `banner_lines`: each replay's points and span, for the startup banner;
- `ReplayWatch`: a subscriber of the runtime's event bus that logs one line at info when a
  replay passes its last point (once per replay; again after a reset, which starts it over).

The percentage is of the replay's time span (first to last point), which is what the clock
moves through; the point counts say how much of the series was used.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import msgspec

from simulator.core.bus import Batch, Reset
from simulator.core.money import format_price
from simulator.model.feeds import ReplayFeed
from simulator.model.market_data import MarketData
from simulator.server import log_text
from simulator.server.clock_driver import position

if TYPE_CHECKING:
    from simulator.exchange import Exchange

__all__ = [
    "ReplayProgress",
    "ReplayWatch",
    "banner_lines",
    "progress_now",
    "progress_text",
    "replay_progress",
]

_LOG = logging.getLogger("perps_sim.replay")


class ReplayProgress(msgspec.Struct, frozen=True):
    """One replayed market's progress at a simulated instant (`GET /sim/v1/clock` `replays`)."""

    ticker: str
    points_reached: int
    points_total: int
    first_ts_ms: int
    last_ts_ms: int
    percent: float
    done: bool


def _replay_of(data: MarketData) -> ReplayFeed | None:
    feed = data.unpinned_feed if data.unpinned_feed is not None else data.feed
    return feed if isinstance(feed, ReplayFeed) else None


def _progress(ticker: str, feed: ReplayFeed, now_ms: int) -> ReplayProgress:
    first, last = feed.first_ts_ms, feed.last_ts_ms
    if now_ms >= last:
        share = 1.0
    elif now_ms <= first:
        share = 0.0
    else:
        share = (now_ms - first) / (last - first)
    return ReplayProgress(
        ticker=ticker,
        points_reached=feed.points_reached(now_ms),
        points_total=len(feed),
        first_ts_ms=first,
        last_ts_ms=last,
        percent=round(100 * share, 1),
        done=now_ms >= last,
    )


def replay_progress(exchange: Exchange) -> list[ReplayProgress]:
    """Every replayed market's progress at the time the exchange has reached (empty without
    replays): a wall or accelerated clock's exchange that lags has not played the points
    between there and the clock's time yet."""
    now = position(exchange)[0]
    found = []
    for ticker, data in exchange.markets.items():
        feed = _replay_of(data)
        if feed is not None:
            found.append(_progress(ticker, feed, now))
    return found


def progress_text(progress: Iterable[ReplayProgress]) -> str:
    """`replay KXBTCPERP 45.2% (14 of 31 points)` (`replay KXBTCPERP ran out` once done),
    joined by `, `; empty without replays.

    >>> progress_text([ReplayProgress("KXBTCPERP", 14, 31, 0, 1_000, 45.2, False),
    ...                ReplayProgress("KXETHPERP", 31, 31, 0, 1_000, 100.0, True)])
    'replay KXBTCPERP 45.2% (14 of 31 points), replay KXETHPERP ran out'
    """
    return ", ".join(
        f"replay {p.ticker} ran out"
        if p.done
        else f"replay {p.ticker} {p.percent:.1f}% ({p.points_reached:,} of {p.points_total:,} "
        "points)"
        for p in progress
    )


def progress_now(exchange: Exchange) -> str:
    """`progress_text` of `replay_progress(exchange)`: the log lines' replay text."""
    return progress_text(replay_progress(exchange))


def banner_lines(exchange: Exchange) -> list[str]:
    """`  replay      KXBTCPERP: 31 points, <first> to <last> (<span>)` for each replay."""
    return [
        f"  replay      {p.ticker}: {p.points_total:,} points, {log_text.instant(p.first_ts_ms)}"
        f" to {log_text.instant(p.last_ts_ms)} ({log_text.span(p.last_ts_ms - p.first_ts_ms)})"
        for p in replay_progress(exchange)
    ]


class ReplayWatch:
    """Logs when a replayed reference passes its last point (see the module docstring).

    Args:
        exchange: The runtime's current exchange (a reset or state import replaces it).
    """

    def __init__(self, exchange: Callable[[], Exchange]) -> None:
        self._exchange = exchange
        self._pending = self._running()  # the replays that have not run out yet

    def _running(self) -> list[str]:
        return [p.ticker for p in replay_progress(self._exchange()) if not p.done]

    def deliver(self, batch: Batch, /) -> None:
        pending = self._pending
        if not pending:
            return
        exchange = self._exchange()
        now = position(exchange)[0]
        for ticker in list(pending):
            data = exchange.markets.get(ticker)
            feed = None if data is None else _replay_of(data)
            if feed is None:
                pending.remove(ticker)
            elif now >= feed.last_ts_ms:
                pending.remove(ticker)
                price = feed.price_at(feed.last_ts_ms)
                last = "" if price is None else f" at {format_price(price[0])}"
                _LOG.info(
                    "replay of %s ran out at %s (%s points over %s): its reference stays%s "
                    "until set",
                    ticker,
                    log_text.instant(feed.last_ts_ms),
                    f"{len(feed):,}",
                    log_text.span(feed.last_ts_ms - feed.first_ts_ms),
                    last,
                )

    def reset(self, notice: Reset, /) -> None:
        self._pending = self._running()  # the new exchange's replays, from where it is
