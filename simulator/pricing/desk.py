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

from matching import OrderBook, Side
from simulator.core.events import FundingPaid, FundingRateSet, TickerChanged
from simulator.model.funding import ImpactPremium, funding_payment, impact_parts
from simulator.model.market_data import FundingRecord, MarketData
from simulator.model.marks import liquidation_mark
from simulator.ports import BookEvents, MarkListener
from simulator.state import Effects, ExchangeState

__all__ = ["Pricing"]

_BID = Side.BID
_ASK = Side.ASK
_PREMIUM_HISTORY_MS = 86_400_000
_ESTIMATE_MS = 60_000


def _next_boundary(ts_ms: int, interval_ms: int) -> int:
    return (ts_ms // interval_ms + 1) * interval_ms


class _BookTop:
    """What pricing reads of a market's book in one state, read again when the state changes.

    A book's seq moves with every change it reports, so (book, seq) names its state. One per
    market and book: a new state of the same book is read into it (`read`), in place.
    """

    __slots__ = ("ask", "ask_price", "bid", "bid_price", "book", "premium", "priced", "seq")

    def __init__(self, book: OrderBook) -> None:
        self.book = book
        self.read()

    def read(self) -> None:
        """Read the book's state now (a new state of the same book: this object is reused)."""
        book = self.book
        self.seq = book.seq
        bid = self.bid = book.best_bid()
        ask = self.ask = book.best_ask()
        self.bid_price = bid[0] if bid else None
        self.ask_price = ask[0] if ask else None
        self.priced = False  # `premium` is computed on first use: inactive markets skip it
        self.premium: ImpactPremium | None = None


class _Tracked:
    """What pricing keeps of one market between its timers.

    Attributes:
        ticker: The market's ticker (timer keys are `(kind, ticker)`).
        feed_key, ticker_key, mark_key, settlement_key, funding_key: Its timer keys.
        feed_callback: The feed timer's callback (one per market, armed every second).
        top: The book state last read.
        published: The fields of the last ticker published (`_publish_ticker`), or None.
        published_at: When a ticker was last due (published or found unchanged), or -1.
        sample_due: The second a book change last armed a resample for, or None.
        running: `(start, covered until, weighted sum, weight total)` of the funding
            interval's premiums as of the last estimate, or None.
        running_final: Whether no later premium record can change `running` (it covers only
            seconds before the premium's last record when it was taken).
        estimate: `(funding start, rate, computed at)` of the last estimate, or None.
    """

    __slots__ = (
        "estimate",
        "feed_callback",
        "feed_key",
        "funding_key",
        "mark_key",
        "published",
        "published_at",
        "running",
        "running_final",
        "sample_due",
        "settlement_key",
        "ticker",
        "ticker_key",
        "top",
    )

    def __init__(self, ticker: str, feed_callback: Callable[[int], None]) -> None:
        self.feed_callback = feed_callback
        self.top: _BookTop | None = None
        self.published: tuple[Any, ...] | None = None
        self.published_at = -1
        self.sample_due: int | None = None
        self.running: tuple[int, int, int, int] | None = None
        self.running_final = False
        self.estimate: tuple[int, int, int] | None = None
        self.rename(ticker)

    def rename(self, ticker: str) -> None:
        self.ticker = ticker
        self.feed_key = ("feed", ticker)
        self.ticker_key = ("ticker", ticker)
        self.mark_key = ("mark", ticker)
        self.settlement_key = ("settlement", ticker)
        self.funding_key = ("funding", ticker)


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
        self._tracked: dict[str, _Tracked] = {}
        self._deferred: list[tuple[MarketData, int]] = []

    def rename_market(self, old: str, new: str) -> None:
        """Move what is kept for market `old` to `new` (its timers are rekeyed alongside)."""
        tracked = self._tracked.pop(old, None)
        if tracked is not None:
            tracked.rename(new)
            self._tracked[new] = tracked

    def start(self, data: MarketData, now: int) -> None:
        """Take the first sample of a new market and arm its feed and funding timers."""
        self._tracked[data.ticker] = _Tracked(data.ticker, partial(self._feed_tick, data))
        self._sample(data, now)
        self._arm_feed(data, now)
        self._arm_funding(data, now)

    # ------------------------------------------------------------- sampling

    def book_changed(self, data: MarketData) -> None:
        """Resample the market at the next mark interval and republish its ticker."""
        # after every book command (the house maker's re-quotes included): kept flat
        tracked = self._tracked[data.ticker]
        book = data.book
        top = tracked.top
        if top is None or top.book is not book:  # `_top`, inlined
            top = tracked.top = _BookTop(book)
        elif top.seq != book.seq:
            top.read()
        fx = self._fx
        now = fx.held  # `fx.now()`, inlined
        if now is None:
            now = fx.clock.now_ms()
        data.quotes.record(now, top.bid_price, top.ask_price, data.open_interest)
        interval = self._state.config.mark_interval_ms
        due = (now // interval + 1) * interval
        if tracked.sample_due == due:
            return  # already armed for that second (the ticker is armed with it)
        tracked.sample_due = due
        self._state.timers.arm_earlier(tracked.mark_key, due, partial(self._sample, data))
        self._arm_ticker(data)

    def sample_now(self, data: MarketData) -> None:
        """Resample immediately (the control plane just set the reference)."""
        self._sample(data, self._fx.now())

    def feed_replaced(self, data: MarketData) -> None:
        """Re-arm the feed timer for the market's new feed (a pin or its release), resample."""
        now = self._fx.now()
        self._state.timers.cancel(self._tracked[data.ticker].feed_key)
        self._arm_feed(data, now)
        self._sample(data, now)

    def _arm_feed(self, data: MarketData, now: int) -> None:
        nxt = data.feed.next_change_after(now)
        if nxt is not None:
            tracked = self._tracked[data.ticker]
            self._state.timers.arm(tracked.feed_key, nxt, tracked.feed_callback)

    def _feed_tick(self, data: MarketData, due: int) -> None:
        # arm the next tick first: at a shared instant it then fires before a ticker timer
        # armed during this sample, so that second's ticker shows the new reference
        nxt = data.feed.next_change_after(due)
        if nxt is not None:
            tracked = self._tracked[data.ticker]
            self._state.timers.arm(tracked.feed_key, nxt, tracked.feed_callback)
        self._sample(data, due)

    def _sample(self, data: MarketData, now: int) -> None:
        # runs once per market per simulated second (each reference step): kept flat
        state = self._state
        if not state.exchange_active:
            data.premium.record(now, None)  # marks are frozen while the exchange is closed
            return
        reference = data.reference = data.feed.price_at(now)
        ref = reference[0] if reference is not None else None
        tracked = self._tracked[data.ticker]
        book = data.book
        top = tracked.top
        if top is None or top.seq != book.seq or top.book is not book:
            top = self._top(data, tracked)
        lm = liquidation_mark(top.bid_price, top.ask_price, ref)
        if data.market.status == "active" and state.trading_active:
            premium = top.premium if top.priced else self._price_impact(data, top)
            value = None if premium is None else premium.at(ref)
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
        # `_arm_ticker(data)`, its publishing branch inlined (and `fx.now()`)
        fx = self._fx
        held = fx.held
        at = fx.clock.now_ms() if held is None else held
        if at % state.config.ticker_interval_ms == 0 and tracked.published_at < at:
            state.timers.cancel(tracked.ticker_key)
            self._publish_ticker(data, at)
        else:
            self._arm_ticker(data)

    def _top(self, data: MarketData, tracked: _Tracked) -> _BookTop:
        book = data.book
        top = tracked.top
        if top is None or top.book is not book:
            top = tracked.top = _BookTop(book)
        elif top.seq != book.seq:
            top.read()
        return top

    def _price_impact(self, data: MarketData, top: _BookTop) -> ImpactPremium | None:
        # impact prices depend on the book only: priced once per book state, reading each
        # side's levels only as far as the impact notional reaches
        impact_notional = data.funding_settings.impact_notional
        book = top.book
        top.premium = None
        ibp = impact_parts(book.levels(_BID), impact_notional)
        if ibp is not None:
            iap = impact_parts(book.levels(_ASK), impact_notional)
            if iap is not None:
                top.premium = ImpactPremium((ibp, iap))
        top.priced = True
        return top.premium

    def _arm_settlement(self, data: MarketData, now: int) -> None:
        key = self._tracked[data.ticker].settlement_key
        armed = self._state.timers.due(key)
        if armed is not None and armed > now:
            return  # the next refresh on the grid is already coming
        nxt = data.settlement.next_refresh_after(now)
        if nxt is not None and armed != nxt:
            self._state.timers.arm(key, nxt, partial(self._refresh_settlement, data))

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
        timers = self._state.timers
        tracked = self._tracked[data.ticker]
        key = tracked.ticker_key
        if immediate and now % interval == 0 and tracked.published_at < now:
            timers.cancel(key)
            self._publish_ticker(data, now)
            return
        if timers.due(key) is None:
            due = _next_boundary(now, interval)
            timers.arm(key, due, partial(self._publish_ticker, data))

    def _publish_ticker(self, data: MarketData, due: int) -> None:
        # coalesced: publish the latest state, and nothing when it did not change; once per
        # market per second, so `_ticker` and the fresh-estimate check are inlined
        if data.recent_trades:
            data.expire_volume(due)
        tracked = self._tracked[data.ticker]
        fx = self._fx
        now = fx.held  # `fx.now()`, inlined
        if now is None:
            now = fx.clock.now_ms()
        cached = tracked.estimate
        if (
            cached is not None
            and cached[0] == data.funding_start_ms
            and now - cached[2] < _ESTIMATE_MS
        ):
            rate, computed = cached[1], cached[2]
        else:
            rate, computed = self.funding_estimate(data)
        settlement = data.settlement.value
        if settlement is None:
            settlement = self.settlement_mark(data)
        book = data.book
        top = tracked.top
        if top is None or top.seq != book.seq or top.book is not book:
            top = self._top(data, tracked)
        bid, ask, mark = top.bid, top.ask, data.mark
        funding_due = self._state.timers.due(tracked.funding_key)
        event = TickerChanged(
            due,
            data.ticker,
            data.last_price,
            bid[0] if bid else None,
            bid[1] if bid else 0,
            ask[0] if ask else None,
            ask[1] if ask else 0,
            data.volume,
            data.volume_notional,
            data.volume_24h,
            data.volume_24h_notional,
            data.open_interest,
            data.open_interest * (mark or 0),
            data.reference,
            (mark, data.mark_ts_ms) if mark is not None else None,
            settlement,
            rate,
            funding_due if funding_due is not None else data.schedule.next_after(now),
            computed,
            data.last_trade_size,
        )
        # what a subscriber sees change: every field but the times and the last trade's size
        fields = msgspec.structs.astuple(event)[2:-2]
        tracked.published_at = due
        if tracked.published == fields:
            return
        tracked.published = fields
        self._fx.journal.append(event)

    def peek_ticker(self, data: MarketData) -> TickerChanged:
        """The ticker of `data` as it stands now, changing nothing (for reads and snapshots)."""
        now = self._fx.now()
        estimate = self.peek_funding_estimate(data)
        settlement = self.peek_settlement_mark(data)
        volume_24h = data.volume_24h_at(now)
        top = self._top(data, self._tracked[data.ticker])
        best_bid, best_ask = top.bid, top.ask
        return TickerChanged(
            now,
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
        due = self._state.timers.due(self._tracked[data.ticker].funding_key)
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
        tracked = self._tracked[data.ticker]
        running = self._running_sums(data, now)
        tracked.running = running
        last = data.premium.last_record_ms
        tracked.running_final = last is not None and now <= last
        mark = self.settlement_mark(data)
        rate = data.funding_settings.finalize_rate(_average(running), mark[0] if mark else None)
        tracked.estimate = (data.funding_start_ms, rate, now)
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
        cached = self._tracked[data.ticker].estimate
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
        running = self._tracked[data.ticker].running
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

    def _interval_average(self, data: MarketData, due: int) -> int:
        # the raw rate of [funding start, due): the last estimate's sums extended to `due`
        # when no premium recorded since can have changed them, else a full scan
        tracked = self._tracked[data.ticker]
        running = tracked.running
        start = data.funding_start_ms
        if (
            running is not None
            and tracked.running_final
            and running[0] == start
            and running[1] <= due
        ):
            return _average(self._running_sums(data, due))
        return data.funding_settings.average(data.premium, start, due)

    def _arm_funding(self, data: MarketData, now: int) -> None:
        due = data.schedule.next_after(now)
        key = self._tracked[data.ticker].funding_key
        self._state.timers.arm(key, due, partial(self._fund, data))

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
        raw = self._interval_average(data, due)
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
                ("expiry", data.ticker), nxt, partial(self._expire, data)
            )

    def _expire(self, data: MarketData, due: int) -> None:
        self._entry.apply_book_events(data, data.book.expire(due))
        self.arm_expiry(data)
