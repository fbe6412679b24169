"""Candlesticks of a market (GET /margin/markets/{ticker}/candlesticks): trades, quotes, OI.

`QuoteHistory` keeps, per minute, the range of best bid and best ask in force and the open
interest at the minute's end; the exchange records into it after every command that changed
a book. `candles(...)` combines it with the market's public trades into `Candle`s of 1, 60 or
1440 minutes. Integer units: prices in ticks, counts in 1/100 contract, money in micro-dollars,
times in epoch ms (`end_ms`, a multiple of the period).

A period covers `(end - period, end]` (its end is inclusive, as `end_period_ts` says) and
periods are aligned to the Unix epoch, so daily candles end at 00:00 UTC. Only periods with
activity (a trade, or a change of top of book or open interest) produce a candle.

Assumption: bid/ask OHLC are those of the best quotes in force during the period (the quote
in force when it began included); a side that had no quote at all during the period shows 0.
Assumption: `price.previous` is the last trade price before the period, `price.mean` the
volume-weighted trade price (micro-dollars per contract, rounded half to even).
Assumption: the open-interest notional is valued at the last trade price at or before the
period's end (the market's mark history is not kept), 0 before the first trade.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from simulator.core import errors
from simulator.core.events import TradeRecord
from simulator.core.money import COUNT_SCALE, ceil_div, round_half_even

__all__ = ["PERIOD_MINUTES", "Candle", "CandleSource", "Ohlc", "QuoteHistory", "candles"]

PERIOD_MINUTES = (1, 60, 1440)
_MINUTE_MS = 60_000


class _Range:
    """The quotes of one side in force during a stretch of time (None: no quote yet)."""

    __slots__ = ("close", "high", "low", "open")

    def __init__(self, price: int | None) -> None:
        self.open = self.high = self.low = self.close = price

    def add(self, price: int | None) -> None:
        if price is None:
            return
        if self.open is None or self.high is None or self.low is None:
            self.open = self.high = self.low = self.close = price
            return
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.close = price

    def merge(self, other: _Range) -> None:
        if other.open is None or other.high is None or other.low is None:
            return
        if self.open is None or self.high is None or self.low is None:
            self.open, self.high, self.low = other.open, other.high, other.low
        else:
            self.high = max(self.high, other.high)
            self.low = min(self.low, other.low)
        self.close = other.close


class _Minute:
    # one minute with changes: quote ranges, the state at its end, the open interest at its end
    __slots__ = ("ask", "bid", "end_ask", "end_bid", "open_interest")

    def __init__(self, bid: int | None, ask: int | None, open_interest: int) -> None:
        self.bid = _Range(bid)
        self.ask = _Range(ask)
        self.end_bid = bid
        self.end_ask = ask
        self.open_interest = open_interest


class _Buckets:
    # the quotes of one market per period of `period_ms`, bucket `k` covering
    # ((k - 1) * period_ms, k * period_ms]: one entry per period in which something changed,
    # the newest `retain` kept (dropped in batches, once a quarter more have built up)
    __slots__ = ("_keys", "_limit", "_minutes", "_period_ms", "_retain")

    def __init__(self, period_ms: int, retain: int | None) -> None:
        self._period_ms = period_ms
        self._keys: list[int] = []
        self._minutes: list[_Minute] = []
        self._retain = retain
        self._limit = None if retain is None else retain + retain // 4 + 1  # size that trims

    def __len__(self) -> int:
        return len(self._keys)

    def current(self, ts_ms: int, bid: int | None, ask: int | None, oi: int) -> _Minute:
        # the bucket of ts_ms, opened with the state in force until now if it is new
        key = -(-ts_ms // self._period_ms)  # `ceil_div`, inlined: per period per change
        keys = self._keys
        if keys and key <= keys[-1]:
            return self._minutes[-1]
        return self._append(key, _Minute(bid, ask, oi))

    def fold(self, key: int, minute: _Minute) -> None:
        # merge a minute of bucket `key` in (again, if it has changed since: merging is
        # idempotent, as a minute's ranges only widen and its end state is the latest)
        keys = self._keys
        if keys and key <= keys[-1]:
            bucket = self._minutes[-1]
        else:  # the period's first minute with changes: its ranges start as that minute's
            bucket = self._append(key, _Minute(None, None, 0))
        bucket.bid.merge(minute.bid)
        bucket.ask.merge(minute.ask)
        bucket.end_bid, bucket.end_ask = minute.end_bid, minute.end_ask
        bucket.open_interest = minute.open_interest

    def _append(self, key: int, bucket: _Minute) -> _Minute:
        # a new newest bucket; past the limit, the oldest go down to `retain`
        keys = self._keys
        keys.append(key)
        self._minutes.append(bucket)
        if self._limit is not None and len(keys) > self._limit:
            drop = len(keys) - (self._retain or 0)
            del keys[:drop]
            del self._minutes[:drop]
        return bucket

    def buckets(self, first: int, last: int) -> list[_Minute]:
        lo = bisect_left(self._keys, first)
        hi = bisect_right(self._keys, last)
        return self._minutes[lo:hi]

    def keys(self, first: int, last: int) -> list[int]:
        return self._keys[bisect_left(self._keys, first) : bisect_right(self._keys, last)]

    def state_at(self, key: int) -> tuple[int | None, int | None, int]:
        index = bisect_right(self._keys, key) - 1
        if index < 0:
            return None, None, 0
        found = self._minutes[index]
        return found.end_bid, found.end_ask, found.open_interest

    def last_key_at_or_before(self, key: int) -> int | None:
        index = bisect_right(self._keys, key) - 1
        return self._keys[index] if index >= 0 else None


class QuoteHistory:
    """Best bid, best ask and open interest of one market, summarised per candle period.

    For each period of `PERIOD_MINUTES` it keeps one entry per period in which something
    changed: the range of best bid and best ask in force and the state at the period's end
    (a period's summary is what merging its minutes would give, so every period length reads
    its own). Minute `k` covers `((k - 1) * 60_000, k * 60_000]` ms, hour and day periods the
    same way. With `retain`, only the newest `retain` entries of each period length are kept
    (dropped in batches, once a quarter more have built up): older periods read as unrecorded,
    as if nothing had been quoted then.

    A change is recorded into its minute only; the hour and day periods take each minute in
    when the next minute with changes begins, or when they are read (`level`). Merging a
    minute in gives what recording each change into them would have, and merging the same
    minute again after it changed is idempotent.

    >>> history = QuoteHistory()
    >>> history.record(1_000, 100, 110, 0)
    >>> history.record(2_000, 104, None, 500)
    >>> history.record(61_000, 99, 112, 500)
    >>> history.state_at(1)
    (104, None, 500)
    >>> [m.bid.low for m in history.minutes(1, 2)], [m.bid.high for m in history.minutes(1, 2)]
    ([100, 99], [104, 104])
    >>> [(m.bid.low, m.bid.high) for m in history.level(60).buckets(1, 1)]
    [(99, 104)]
    """

    __slots__ = ("_ask", "_bid", "_levels", "_longer", "_open", "_open_interest")

    def __init__(self, retain: int | None = None) -> None:
        self._levels = {period: _Buckets(period * _MINUTE_MS, retain) for period in PERIOD_MINUTES}
        self._longer = [(period, self._levels[period]) for period in PERIOD_MINUTES[1:]]
        self._bid: int | None = None
        self._ask: int | None = None
        self._open_interest = 0
        self._open: tuple[int, _Minute] | None = None  # the newest minute and its number

    def __setstate__(self, state: tuple[None, dict[str, Any]]) -> None:
        # the slots of the default pickling of a slotted class
        for name, value in state[1].items():
            setattr(self, name, value)
        if "_open" not in state[1]:
            # pickled before minutes were merged in lazily: the longer periods are up to date
            self._longer = [(period, self._levels[period]) for period in PERIOD_MINUTES[1:]]
            self._open = None

    def __len__(self) -> int:
        """How many minutes are recorded."""
        return len(self._levels[1])

    def level(self, period_minutes: int) -> _Buckets:
        """The summaries of one period length (1, 60 or 1440 minutes)."""
        if period_minutes != 1:
            self._fold()
        return self._levels[period_minutes]

    def _fold(self) -> None:
        # merge the newest minute into the longer periods
        if self._open is None:
            return
        key, minute = self._open
        for period, level in self._longer:
            level.fold(-(-key // period), minute)

    def record(self, ts_ms: int, bid: int | None, ask: int | None, open_interest: int) -> None:
        """Note the state in force from `ts_ms` on (times never go backwards).

        Runtime complexity: `O(1)` (amortised, with `retain`).
        """
        before_bid, before_ask, before_oi = self._bid, self._ask, self._open_interest
        if bid == before_bid and ask == before_ask and open_interest == before_oi:
            return
        # once per book change that moves the top: into its minute only, `_Range.add` of each
        # side inlined
        bucket = self._levels[1].current(ts_ms, before_bid, before_ask, before_oi)
        opened = self._open
        if opened is None or opened[1] is not bucket:  # a new minute: the last one is complete
            if opened is not None:
                self._fold()
            self._open = (-(-ts_ms // _MINUTE_MS), bucket)
        if bid is not None:
            side = bucket.bid
            high, low = side.high, side.low
            if side.open is None or high is None or low is None:
                side.open = side.high = side.low = bid
            else:
                if bid > high:
                    side.high = bid
                if bid < low:
                    side.low = bid
            side.close = bid
        if ask is not None:
            side = bucket.ask
            high, low = side.high, side.low
            if side.open is None or high is None or low is None:
                side.open = side.high = side.low = ask
            else:
                if ask > high:
                    side.high = ask
                if ask < low:
                    side.low = ask
            side.close = ask
        bucket.end_bid, bucket.end_ask = bid, ask
        bucket.open_interest = open_interest
        self._bid, self._ask, self._open_interest = bid, ask, open_interest

    def minutes(self, first: int, last: int) -> list[_Minute]:
        """The recorded minutes `first <= k <= last`, in order."""
        return self._levels[1].buckets(first, last)

    def keys(self, first: int, last: int) -> list[int]:
        """The numbers `first <= k <= last` of the recorded minutes, ascending."""
        return self._levels[1].keys(first, last)

    def state_at(self, minute: int) -> tuple[int | None, int | None, int]:
        """(bid, ask, open interest) in force at the end of minute `minute`."""
        return self._levels[1].state_at(minute)

    def last_key_at_or_before(self, minute: int) -> int | None:
        """The latest recorded minute `<= minute`, or None."""
        return self._levels[1].last_key_at_or_before(minute)


@dataclass(frozen=True, slots=True)
class Ohlc:
    """Open, high, low, close in ticks (BidAskDistributionHistorical; 0 = no quote)."""

    open: int
    high: int
    low: int
    close: int


@dataclass(frozen=True, slots=True)
class Candle:
    """MarginMarketCandlestick in integer units.

    Attributes:
        end_ms: Inclusive end of the period (epoch ms, a whole number of seconds).
        bid, ask: Quote OHLC.
        open, high, low, close: Trade prices in ticks; None without trades.
        mean: Volume-weighted trade price in micro-dollars per contract; None without trades.
        previous: Last trade price (ticks) before the period; None when there was none.
        volume, volume_notional: Contracts traded (1/100) and their value (micro-dollars).
        open_interest, open_interest_notional: At the period's end.
    """

    end_ms: int
    bid: Ohlc
    ask: Ohlc
    open: int | None
    high: int | None
    low: int | None
    close: int | None
    mean: int | None
    previous: int | None
    volume: int
    volume_notional: int
    open_interest: int
    open_interest_notional: int


class _Quoted(Protocol):
    @property
    def quotes(self) -> QuoteHistory: ...


class CandleSource(Protocol):
    """What `candles` needs of the exchange: each market's trades and quote history."""

    @property
    def trades(self) -> Mapping[str, Sequence[TradeRecord]]: ...

    def market_data(self, ticker: str) -> _Quoted: ...


def candles(
    exchange: CandleSource,
    ticker: str,
    start_s: int,
    end_s: int,
    period_minutes: int,
    include_latest_before_start: bool = False,
) -> list[Candle]:
    """Candles of a market whose period ends in `[start_s, end_s]`, oldest first.

    With `include_latest_before_start`, a candle without trades is put first at the first
    period end `>= start_s` when some activity precedes it (and no real candle ends there),
    carrying the quotes and open interest of then and `previous` = the last trade price.

    Raises:
        MarketNotFoundError: Unknown ticker.
        InvalidParametersError: A period other than 1, 60 or 1440 minutes, or `end_s < start_s`.
    """
    data = exchange.market_data(ticker)
    if period_minutes not in PERIOD_MINUTES:
        raise errors.InvalidParametersError(
            f"period_interval must be one of 1, 60, 1440, was {period_minutes}"
        )
    if end_s < start_s:
        raise errors.InvalidParametersError(
            f"end_ts must not be before start_ts, was {end_s} < {start_s}"
        )
    period_s = period_minutes * 60
    first_end = ceil_div(start_s, period_s) * period_s
    last_end = end_s // period_s * period_s
    if first_end > last_end:
        return []
    trades = exchange.trades[ticker]
    builder = _Builder(trades, data.quotes, period_minutes)
    ends = builder.active_ends(first_end, last_end)
    result = [builder.candle(end) for end in ends]
    if include_latest_before_start and (not ends or ends[0] != first_end):
        synthetic = builder.carried(first_end)
        if synthetic is not None:
            result.insert(0, synthetic)
    return result


class _Builder:
    # candles of one market and period length; ends in seconds, trades in ms
    def __init__(
        self, trades: Sequence[TradeRecord], quotes: QuoteHistory, period_minutes: int
    ) -> None:
        self.trades = trades
        self.quotes = quotes.level(period_minutes)  # buckets of one period each
        self.minutes = period_minutes
        self.period_ms = period_minutes * _MINUTE_MS

    def _trade_index(self, ts_ms: int) -> int:
        # index of the first trade after ts_ms
        return bisect_right(self.trades, ts_ms, key=_ts)

    def _last_price_at(self, ts_ms: int) -> int | None:
        index = self._trade_index(ts_ms)
        return self.trades[index - 1].price if index else None

    def active_ends(self, first_end_s: int, last_end_s: int) -> list[int]:
        ends: set[int] = set()
        lo_ms = first_end_s * 1000 - self.period_ms
        hi_ms = last_end_s * 1000
        for trade in self.trades[self._trade_index(lo_ms) : self._trade_index(hi_ms)]:
            ends.add(ceil_div(trade.ts_ms, self.period_ms) * self.period_ms // 1000)
        # the periods of the minutes lo_ms // 60_000 + 1 ... hi_ms // 60_000
        first = ceil_div(lo_ms // _MINUTE_MS + 1, self.minutes)
        last = ceil_div(hi_ms // _MINUTE_MS, self.minutes)
        for key in self.quotes.keys(first, last):
            ends.add(key * self.minutes * 60)
        return sorted(ends)

    def candle(self, end_s: int) -> Candle:
        end_ms = end_s * 1000
        start_ms = end_ms - self.period_ms
        lo = self._trade_index(start_ms)
        hi = self._trade_index(end_ms)
        window = self.trades[lo:hi]
        previous = self.trades[lo - 1].price if lo else None
        key = end_ms // self.period_ms  # the period's bucket
        buckets = self.quotes.buckets(key, key)
        before_bid, before_ask, open_interest = self.quotes.state_at(key - 1)
        bid, ask = _Range(before_bid), _Range(before_ask)
        if buckets:
            bid, ask = _Range(None), _Range(None)
            for bucket in buckets:
                bid.merge(bucket.bid)
                ask.merge(bucket.ask)
            open_interest = buckets[-1].open_interest
        volume = sum(t.count for t in window)
        notional = sum(t.price * t.count for t in window)
        last_price = window[-1].price if window else previous
        return Candle(
            end_ms=end_ms,
            bid=_ohlc(bid),
            ask=_ohlc(ask),
            open=window[0].price if window else None,
            high=max(t.price for t in window) if window else None,
            low=min(t.price for t in window) if window else None,
            close=window[-1].price if window else None,
            mean=round_half_even(notional * COUNT_SCALE, volume) if volume else None,
            previous=previous,
            volume=volume,
            volume_notional=notional,
            open_interest=open_interest,
            open_interest_notional=open_interest * (last_price or 0),
        )

    def carried(self, end_s: int) -> Candle | None:
        # the no-trade candle at end_s carrying the state of the last activity before it
        start_ms = end_s * 1000 - self.period_ms
        trade_index = self._trade_index(start_ms)
        key = start_ms // self.period_ms  # the bucket of the period before
        if trade_index == 0 and self.quotes.last_key_at_or_before(key) is None:
            return None
        bid, ask, open_interest = self.quotes.state_at(key)
        previous = self.trades[trade_index - 1].price if trade_index else None
        return Candle(
            end_ms=end_s * 1000,
            bid=_ohlc(_Range(bid)),
            ask=_ohlc(_Range(ask)),
            open=None,
            high=None,
            low=None,
            close=None,
            mean=None,
            previous=previous,
            volume=0,
            volume_notional=0,
            open_interest=open_interest,
            open_interest_notional=open_interest * (previous or 0),
        )


def _ts(trade: TradeRecord) -> int:
    return trade.ts_ms


def _ohlc(side: _Range) -> Ohlc:
    return Ohlc(side.open or 0, side.high or 0, side.low or 0, side.close or 0)
