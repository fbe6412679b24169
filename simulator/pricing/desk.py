"""Timers that move prices and money without a command: marks, funding, expiry, ticker.

Work is proportional to what changed (DESIGN.md 4): a market is sampled at the next whole
second only after its book or its reference feed changed; the settlement mark refreshes only
while the liquidation mark moved within its window; tickers publish at most once per second
and only after a change; funding fires at the schedule's instants.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from functools import partial
from typing import Any

import msgspec

from simulator.core.events import FundingPaid, FundingRateSet, TickerChanged
from simulator.model.funding import funding_payment, impact_prices, premium_at
from simulator.model.market_data import FundingRecord, MarketData
from simulator.model.marks import liquidation_mark
from simulator.ports import BookEvents, MarkListener
from simulator.state import Effects, ExchangeState

__all__ = ["Pricing"]

_PREMIUM_LEVELS = 64
_PREMIUM_HISTORY_MS = 86_400_000
_ESTIMATE_MS = 60_000


def _next_boundary(ts_ms: int, interval_ms: int) -> int:
    return (ts_ms // interval_ms + 1) * interval_ms


def _average(running: tuple[int, int, int, int]) -> int:
    # the running premium average of `Pricing._running_sums`, rounded (0 with no weight)
    _, _, weighted, total = running
    return round(Fraction(weighted, total)) if total else 0


class Pricing:
    """Reference, liquidation-mark, settlement-mark, premium, funding and ticker timers."""

    def __init__(
        self,
        state: ExchangeState,
        effects: Effects,
        book_events: BookEvents,
        listeners: Sequence[MarkListener],
    ) -> None:
        self._state = state
        self._fx = effects
        self._entry = book_events
        self._listeners = tuple(listeners)
        self.funding_payments: list[FundingPaid] = []
        self._impact_cache: dict[str, tuple[int, Any]] = {}
        self._estimates: dict[str, tuple[int, int, int]] = {}
        self._published: dict[str, tuple[Any, ...]] = {}
        self._sample_due: dict[str, int] = {}
        self._published_at: dict[str, int] = {}
        self._running: dict[str, tuple[int, int, int, int]] = {}
        self._deferred: list[tuple[MarketData, int]] = []
        self._feed_callbacks: dict[str, Callable[[int], None]] = {}

    def rename_market(self, old: str, new: str) -> None:
        """Move the per-market caches of `old` to `new`."""
        caches: tuple[dict[str, Any], ...] = (
            self._feed_callbacks,
            self._impact_cache,
            self._estimates,
            self._published,
            self._published_at,
            self._sample_due,
            self._running,
        )
        for cache in caches:
            if old in cache:
                cache[new] = cache.pop(old)

    def start(self, data: MarketData, now: int) -> None:
        """Take the first sample of a new market and arm its feed and funding timers."""
        self._sample(data, now)
        self._arm_feed(data, now)
        self._arm_funding(data, now)

    # ------------------------------------------------------------- sampling

    def book_changed(self, data: MarketData) -> None:
        """Resample the market at the next mark interval and republish its ticker."""
        bid, ask = data.book.best_bid(), data.book.best_ask()
        data.quotes.record(
            self._fx.now(), bid[0] if bid else None, ask[0] if ask else None, data.open_interest
        )
        due = _next_boundary(self._fx.now(), self._state.config.mark_interval_ms)
        if self._sample_due.get(data.ticker) == due:
            return  # already armed for that second (the ticker is armed with it)
        self._sample_due[data.ticker] = due
        self._state.timers.arm_earlier(("mark", data.ticker), due, lambda t: self._sample(data, t))
        self._arm_ticker(data)

    def sample_now(self, data: MarketData) -> None:
        """Resample immediately (the control plane just set the reference)."""
        self._sample(data, self._fx.now())

    def feed_replaced(self, data: MarketData) -> None:
        """Re-arm the feed timer for the market's new feed (a pin or its release), resample."""
        now = self._fx.now()
        self._state.timers.cancel(("feed", data.ticker))
        self._arm_feed(data, now)
        self._sample(data, now)

    def _arm_feed(self, data: MarketData, now: int) -> None:
        nxt = data.feed.next_change_after(now)
        if nxt is not None:
            callback = self._feed_callbacks.get(data.ticker)
            if callback is None:
                callback = self._feed_callbacks[data.ticker] = partial(self._feed_tick, data)
            self._state.timers.arm(("feed", data.ticker), nxt, callback)

    def _feed_tick(self, data: MarketData, due: int) -> None:
        # arm the next tick first: at a shared instant it then fires before a ticker timer
        # armed during this sample, so that second's ticker shows the new reference
        self._arm_feed(data, due)
        self._sample(data, due)

    def _sample(self, data: MarketData, now: int) -> None:
        if not self._state.exchange_active:
            data.premium.record(now, None)  # marks are frozen while the exchange is closed
            return
        data.reference = data.feed.price_at(now)
        ref = data.reference[0] if data.reference else None
        best_bid = data.book.best_bid()
        best_ask = data.book.best_ask()
        lm = liquidation_mark(
            best_bid[0] if best_bid else None, best_ask[0] if best_ask else None, ref
        )
        if data.market.status == "active" and self._state.trading_active:
            value = premium_at(self._impact(data), ref)
        else:
            value = None
        data.premium.record(now, value)
        if lm is not None and lm != data.mark:
            previous = data.mark
            data.mark = lm
            data.mark_ts_ms = now
            data.settlement.record(now, lm)
            self._arm_settlement(data, now)
            if previous is not None:
                data.mark_path += abs(lm - previous)
                for listener in self._listeners:  # margin checks, then exit triggers
                    listener.mark_moved(data)
        self._arm_ticker(data)

    def _impact(self, data: MarketData) -> Any:
        # impact prices depend on the book only: keep them until the book changes
        seq = data.book.seq
        cached = self._impact_cache.get(data.ticker)
        if cached is not None and cached[0] == seq:
            return cached[1]
        impact_notional = data.funding_settings.impact_notional
        depth = data.book.depth(_PREMIUM_LEVELS)
        impact = impact_prices(depth.bids, depth.asks, impact_notional)
        if impact is None and _PREMIUM_LEVELS in (len(depth.bids), len(depth.asks)):
            full = data.book.depth()
            impact = impact_prices(full.bids, full.asks, impact_notional)
        self._impact_cache[data.ticker] = (seq, impact)
        return impact

    def _arm_settlement(self, data: MarketData, now: int) -> None:
        key = ("settlement", data.ticker)
        armed = self._state.timers.due(key)
        if armed is not None and armed > now:
            return  # the next refresh on the grid is already coming
        nxt = data.settlement.next_refresh_after(now)
        if nxt is not None and armed != nxt:
            self._state.timers.arm(key, nxt, lambda t: self._refresh_settlement(data, t))

    def _refresh_settlement(self, data: MarketData, due: int) -> None:
        data.settlement.refresh(due)
        self._arm_settlement(data, due)
        self._arm_ticker(data, immediate=False)

    def settlement_mark(self, data: MarketData) -> tuple[int, int] | None:
        """The settlement mark (price, ts_ms), computing a first value if none exists yet."""
        if data.settlement.value is None and data.mark is not None:
            data.settlement.refresh(self._fx.now())
        return data.settlement.value

    def peek_settlement_mark(self, data: MarketData) -> tuple[int, int] | None:
        """What `settlement_mark` returns now, without storing a first value (for reads)."""
        if data.mark is None:
            return data.settlement.value
        return data.settlement.value_at(self._fx.now())

    # --------------------------------------------------------------- ticker

    def _arm_ticker(self, data: MarketData, *, immediate: bool = True) -> None:
        # coalesce: publish now when on the second grid and not yet published this second
        # (immediate), else at the next second
        interval = self._state.config.ticker_interval_ms
        now = self._fx.now()
        key = ("ticker", data.ticker)
        armed = self._state.timers.due(key)
        on_grid = now % interval == 0 and self._published_at.get(data.ticker, -1) < now
        if immediate and on_grid:
            if armed is not None:
                self._state.timers.cancel(key)
            self._publish_ticker(data, now)
            return
        if armed is None:
            due = _next_boundary(now, interval)
            self._state.timers.arm(key, due, lambda t: self._publish_ticker(data, t))

    def _publish_ticker(self, data: MarketData, due: int) -> None:
        # coalesced: publish the latest state, and nothing when it did not change
        data.expire_volume(due)
        estimate = self.funding_estimate(data)
        volume_24h = (data.volume_24h, data.volume_24h_notional)
        event = self._ticker(data, due, volume_24h, self.settlement_mark(data), estimate)
        # what a subscriber sees change: every field but the times and the last trade's size
        fields = msgspec.structs.astuple(event)[2:-2]
        self._published_at[data.ticker] = due
        if self._published.get(data.ticker) == fields:
            return
        self._published[data.ticker] = fields
        self._fx.emit(event)

    def peek_ticker(self, data: MarketData) -> TickerChanged:
        """The ticker of `data` as it stands now, changing nothing (for reads and snapshots)."""
        now = self._fx.now()
        estimate = self.peek_funding_estimate(data)
        settlement = self.peek_settlement_mark(data)
        return self._ticker(data, now, data.volume_24h_at(now), settlement, estimate)

    def _ticker(
        self,
        data: MarketData,
        ts_ms: int,
        volume_24h: tuple[int, int],
        settlement: tuple[int, int] | None,
        estimate: tuple[int, int],
    ) -> TickerChanged:
        best_bid = data.book.best_bid()
        best_ask = data.book.best_ask()
        return TickerChanged(
            ts_ms,
            data.ticker,
            data.last_price,
            best_bid[0] if best_bid else None,
            best_bid[1] if best_bid else 0,
            best_ask[0] if best_ask else None,
            best_ask[1] if best_ask else 0,
            data.volume,
            data.volume_notional,
            volume_24h[0],
            volume_24h[1],
            data.open_interest,
            data.open_interest * (data.mark or 0),
            data.reference,
            (data.mark, data.mark_ts_ms) if data.mark is not None else None,
            settlement,
            estimate[0],
            self.next_funding_ms(data),
            estimate[1],
            last_trade_size=data.last_trade_size,
        )

    # -------------------------------------------------------------- funding

    def next_funding_ms(self, data: MarketData) -> int:
        """When the market next pays funding."""
        due = self._state.timers.due(("funding", data.ticker))
        return due if due is not None else data.schedule.next_after(self._fx.now())

    def funding_estimate(self, data: MarketData) -> tuple[int, int]:
        """Live rate over [last funding, now) after deadband and cap, and when it was computed.

        Assumption: the estimate is recomputed at most every `_ESTIMATE_MS` (Kalshi's estimate
        was observed to lag by up to minutes), which keeps per-second tickers cheap.
        """
        now = self._fx.now()
        cached = self._fresh_estimate(data, now)
        if cached is not None:
            return cached
        running = self._running_sums(data, now)
        self._running[data.ticker] = running
        mark = self.settlement_mark(data)
        rate = data.funding_settings.finalize_rate(_average(running), mark[0] if mark else None)
        self._estimates[data.ticker] = (data.funding_start_ms, rate, now)
        return rate, now

    def peek_funding_estimate(self, data: MarketData) -> tuple[int, int]:
        """What `funding_estimate` returns now, without keeping what it computes (for reads)."""
        now = self._fx.now()
        cached = self._fresh_estimate(data, now)
        if cached is not None:
            return cached
        mark = self.peek_settlement_mark(data)
        raw = _average(self._running_sums(data, now))
        return data.funding_settings.finalize_rate(raw, mark[0] if mark else None), now

    def _fresh_estimate(self, data: MarketData, now: int) -> tuple[int, int] | None:
        cached = self._estimates.get(data.ticker)
        if (
            cached is not None
            and cached[0] == data.funding_start_ms
            and now - cached[2] < _ESTIMATE_MS
        ):
            return cached[1], cached[2]
        return None

    def _running_sums(self, data: MarketData, now: int) -> tuple[int, int, int, int]:
        # (start, covered until, weighted sum, weight total) of the interval's premiums,
        # extended from the previous estimate instead of rescanned
        settings = data.funding_settings
        start = data.funding_start_ms
        running = self._running.get(data.ticker)
        if running is None or running[0] != start or running[1] > now:
            running = (start, start, 0, 0)
        _, covered, weighted, total = running
        more_weighted, more_total = data.premium.sums(
            covered,
            now,
            handling=settings.invalid_premium_handling,
            weighting=settings.weighting,
            first_second=-(-start // 1000),
        )
        return start, now, weighted + more_weighted, total + more_total

    def _arm_funding(self, data: MarketData, now: int) -> None:
        due = data.schedule.next_after(now)
        self._state.timers.arm(("funding", data.ticker), due, lambda t: self._fund(data, t))

    def resume(self) -> None:
        """The exchange reopened: resample every market, then pay funding that fell due."""
        for data in self._state.markets.values():
            self._sample(data, self._fx.now())
        deferred, self._deferred = self._deferred, []
        for data, due in deferred:
            self._fund(data, due)

    def _fund(self, data: MarketData, due: int) -> None:
        if not self._state.exchange_active:
            self._deferred.append((data, due))  # paid when the exchange reopens
            self._arm_funding(data, due)
            return
        settings = data.funding_settings
        raw = settings.average(data.premium, data.funding_start_ms, due)
        late = self._fx.now() > due
        value = data.settlement.value
        mark = value[0] if late and value else data.settlement.refresh(self._fx.now())
        rate = settings.finalize_rate(raw, mark)
        data.funding_history.append(FundingRecord(data.ticker, due, rate, mark))
        data.last_rate, data.last_rate_ts_ms = rate, due
        self._fx.emit(FundingRateSet(self._fx.now(), data.ticker, due, rate, mark))
        if rate:
            for user_id, number in list(self._state.holders[data.ticker]):
                sub = self._state.users[user_id].subaccounts[number]
                qty = sub.positions[data.ticker].qty
                amount = funding_payment(qty, mark, rate)
                if amount == 0:
                    continue
                sub.cash += amount
                self._state.house_cash -= amount
                paid = FundingPaid(
                    self._fx.now(), user_id, number, data.ticker, due, rate, mark, qty, amount
                )
                self.funding_payments.append(paid)
                self._fx.emit(paid)
                self._fx.touch((user_id, number))
        data.funding_start_ms = due
        data.premium.prune(due - _PREMIUM_HISTORY_MS)
        self._arm_funding(data, due)

    # --------------------------------------------------------------- expiry

    def arm_expiry(self, data: MarketData) -> None:
        """Arm the market's expiry timer at its book's next expiration."""
        nxt = data.book.next_expiry()
        if nxt is not None:
            self._state.timers.arm_earlier(
                ("expiry", data.ticker), nxt, lambda t: self._expire(data, t)
            )

    def _expire(self, data: MarketData, due: int) -> None:
        self._entry.apply_book_events(data, data.book.expire(due))
        self.arm_expiry(data)
