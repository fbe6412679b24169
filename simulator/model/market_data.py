"""Per-market live state next to the book: prices, funding accumulators and trading stats.

Owned by the exchange; nothing here schedules timers or publishes events.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from matching import OrderBook
from simulator.model.candles import QuoteHistory
from simulator.model.feeds import ReferenceFeed
from simulator.model.funding import FundingSettings, PremiumAccumulator
from simulator.model.funding_schedule import FundingSchedule
from simulator.model.markets import Market
from simulator.model.marks import SettlementMark

__all__ = ["FundingRecord", "MarketData"]

_DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class FundingRecord:
    """A market's funding at one funding time (MarginFundingRate)."""

    ticker: str
    funding_time_ms: int
    rate: int
    mark_price: int


@dataclass(slots=True)
class MarketData:
    """Everything the exchange tracks for one market besides accounts."""

    market: Market
    ticker: str
    book: OrderBook
    feed: ReferenceFeed
    funding_settings: FundingSettings
    schedule: FundingSchedule
    premium: PremiumAccumulator
    settlement: SettlementMark
    funding_start_ms: int
    reference: tuple[int, int] | None = None
    unpinned_feed: ReferenceFeed | None = None
    """While the control plane pins the reference (`feed` is then a constant), the feed that
    moves it otherwise, resumed from the pinned price when the pin is released."""
    mark: int | None = None
    mark_ts_ms: int = 0
    mark_path: int = 0
    last_price: int | None = None
    last_trade_size: int = 0
    volume: int = 0
    volume_notional: int = 0
    open_interest: int = 0
    recent_trades: deque[tuple[int, int, int]] = field(default_factory=deque)
    volume_24h: int = 0
    volume_24h_notional: int = 0
    funding_history: list[FundingRecord] = field(default_factory=list)
    last_rate: int = 0
    last_rate_ts_ms: int = 0
    quotes: QuoteHistory = field(default_factory=QuoteHistory)

    @property
    def pinned(self) -> bool:
        """Whether the reference is pinned: it moves only when the control plane sets it."""
        return self.unpinned_feed is not None

    def risk_mark(self) -> int:
        """The price margin and notional usage are computed at.

        The liquidation mark, else the index, else the last trade price (0 before any).
        """
        mark = self.mark
        if mark is not None:
            return mark
        if self.reference is not None:
            return self.reference[0]
        return self.last_price or 0

    def record_trade(self, ts_ms: int, price: int, count: int) -> None:
        """Count a trade into the lifetime and rolling 24-hour volume."""
        value = price * count
        self.last_price = price
        self.last_trade_size = count
        self.volume += count
        self.volume_notional += value
        self.recent_trades.append((ts_ms, count, value))
        self.volume_24h += count
        self.volume_24h_notional += value
        self.expire_volume(ts_ms)

    def volume_24h_at(self, now_ms: int) -> tuple[int, int]:
        """The rolling 24-hour volume (count, notional) at `now_ms`, changing nothing.

        What `expire_volume(now_ms)` would leave in `volume_24h` and `volume_24h_notional`;
        it reads the trades that left the window since the last expiry.
        """
        count, notional = self.volume_24h, self.volume_24h_notional
        cutoff = now_ms - _DAY_MS
        for ts_ms, traded, value in self.recent_trades:
            if ts_ms > cutoff:
                break
            count -= traded
            notional -= value
        return count, notional

    def expire_volume(self, now_ms: int) -> None:
        """Drop trades older than 24 hours from the rolling volume."""
        trades = self.recent_trades
        while trades and trades[0][0] <= now_ms - _DAY_MS:
            _, count, value = trades.popleft()
            self.volume_24h -= count
            self.volume_24h_notional -= value
