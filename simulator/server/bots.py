"""Resting liquidity: a house market maker quoting a ladder around each market's reference.

A scenario's `liquidity` block (`LiquidityConfig`) creates a house user with a large balance and
a notional-limit override on every quoted market, and quotes `levels` post-only GTC orders of
`size` contracts on each side. Prices sit on a grid of `spacing_ticks` ticks: the best bid is
the highest grid price at least `offset_ticks` below the reference, the best ask the lowest grid
price at least `offset_ticks` above it, and further levels step away one grid price at a time.

The maker runs on the exchange's own timers (one timer every `refresh_ms`), so it is part of the
exchange's deterministic state: the same scenario, seed and commands give the same orders. Each
refresh reconciles the ladder with the book. Orders still on a wanted grid price stay where they
are (keeping their queue place); orders whose price left the ladder are amended to the newly
wanted prices, so the work per refresh is proportional to how many grid steps the reference
moved. Orders that were filled are replaced (fully) or topped up (partly filled). Amends go
through `Exchange.requote`, which is `amend_order` of a price and total count (same checks,
events and follow-ups) without the order result the maker has no use for.

A `skew_bps` centres the ladder that many basis points of the reference above it (below when
negative), so the book's impact prices sit off the index and funding's premium keeps one sign.
With `max_position`, a maker long (short) to that limit stops bidding (offering) until trades
bring it back under.

It never crosses and never trades with itself: when the reference rises the asks move before
the bids (and the other way round when it falls), and each side's ladder starts strictly inside
the opposite best price, whoever quotes it, so every post-only quote rests. A quote the
exchange rejects (price band after a jump, a paused market) is skipped and retried at the next
refresh; paused, inactive and closed markets are not quoted.

Assumption: the house user's key id (`#liquidity-provider`) is not a well-formed client key id
and has no public key, so no client can sign in as it, in `verify` or `open` auth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

import msgspec

from matching import Side
from simulator.core import errors
from simulator.core.money import parse_count
from simulator.model.market_data import MarketData
from simulator.model.orders import OrderRecord, PlaceOrder
from simulator.server.house_users import create_house_user, position_limit, primary_position

if TYPE_CHECKING:
    from simulator.exchange import Exchange

__all__ = ["LiquidityConfig", "LiquidityProvider", "QuoteSettings", "attach_liquidity"]

_TIMER_KEY = ("liquidity",)
_BID = Side.BID
_ASK = Side.ASK

Positive = Annotated[int, msgspec.Meta(ge=1)]
Levels = Annotated[int, msgspec.Meta(ge=1, le=100)]
SkewBps = Annotated[int, msgspec.Meta(ge=-1_000, le=1_000)]


class QuoteSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Per-market overrides of the ladder's shape (unset fields take the block's values)."""

    levels: Levels | None = None
    spacing_ticks: Positive | None = None
    offset_ticks: Positive | None = None
    size: str | None = None
    skew_bps: SkewBps | None = None
    max_position: str | None = None


class LiquidityConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A scenario's `liquidity` block.

    Attributes:
        user_id, api_key_id: the house user that owns the quotes.
        balance: its opening balance (dollars string).
        notional_limit: its per-market notional risk limit override (dollars string).
        tickers: markets to quote; None quotes every market of the scenario.
        levels: orders per side.
        spacing_ticks: grid step between levels, in price ticks.
        offset_ticks: least distance from the reference to the best bid and the best ask.
        size: contracts per order (count string, e.g. "100.00").
        refresh_ms: how often the ladder is re-centred and replenished.
        skew_bps: where the ladder is centred, in basis points of the reference above it
            (negative: below; -1,000 to 1,000). A skew keeps the book's impact prices off the
            index, so that funding's premium is persistently positive (or negative).
        max_position: contracts (count string); at that position, long or short, the maker
            stops quoting the side that would add to it until trades bring it back. None: no
            limit.
        markets: per-ticker overrides of levels, spacing, offset, size, skew and position limit.
    """

    user_id: str = "liquidity-provider"
    api_key_id: str = "#liquidity-provider"
    balance: str = "100000000.0000"
    notional_limit: str = "1000000000.0000"
    tickers: list[str] | None = None
    levels: Levels = 5
    spacing_ticks: Positive = 10
    offset_ticks: Positive = 5
    size: str = "100.00"
    refresh_ms: Positive = 5_000
    skew_bps: SkewBps = 0
    max_position: str | None = None
    markets: dict[str, QuoteSettings] = msgspec.field(default_factory=dict)


@dataclass(slots=True)
class _Ladder:
    """One market's quoting parameters (integer units) and the orders resting for it."""

    data: MarketData
    levels: int
    step: int
    offset: int
    size: int
    skew_bps: int = 0
    max_position: int | None = None
    centre: int | None = None
    bids: dict[int, str] = field(default_factory=dict)  # price -> order id
    asks: dict[int, str] = field(default_factory=dict)


class LiquidityProvider:
    """The house market maker of one exchange (see the module docstring)."""

    def __init__(self, exchange: Exchange, config: LiquidityConfig) -> None:
        self._ex = exchange
        self.config = config
        self.user_id = config.user_id
        self.refresh_ms = config.refresh_ms
        tickers = config.tickers if config.tickers is not None else list(exchange.markets)
        unknown = sorted(set(tickers) - set(exchange.markets))
        unknown += sorted(set(config.markets) - set(tickers) - set(unknown))
        if unknown:
            raise ValueError(f"liquidity names markets that are not quoted here: {unknown}")
        self.ladders: list[_Ladder] = [self._ladder(ticker) for ticker in tickers]

    def _ladder(self, ticker: str) -> _Ladder:
        data = self._ex.markets[ticker]
        spec = data.market.spec
        override = self.config.markets.get(ticker, QuoteSettings())
        size = parse_count(override.size or self.config.size)
        if size <= 0 or size % spec.count_step:
            raise ValueError(f"liquidity size for {ticker} must be a positive whole count")
        spacing = override.spacing_ticks or self.config.spacing_ticks
        offset = override.offset_ticks or self.config.offset_ticks
        skew = self.config.skew_bps if override.skew_bps is None else override.skew_bps
        max_position = position_limit(
            override.max_position or self.config.max_position,
            f"liquidity max_position for {ticker}",
        )
        return _Ladder(
            data=data,
            levels=override.levels or self.config.levels,
            step=spacing * spec.tick,
            offset=offset * spec.tick,
            size=size,
            skew_bps=skew,
            max_position=max_position,
        )

    # ---------------------------------------------------------------- timers

    def start(self) -> None:
        """Quote every market now and arm the refresh timer."""
        self._refresh(self._ex.now())

    def _refresh(self, due: int) -> None:
        self._ex.timers.arm(_TIMER_KEY, due + self.refresh_ms, self._refresh)
        for ladder in self.ladders:
            self._quote(ladder)

    # --------------------------------------------------------------- quoting

    def _quote(self, ladder: _Ladder) -> None:
        ex = self._ex
        data = ladder.data
        if data.market.status != "active" or not ex.trading_active or not ex.exchange_active:
            return
        # the published reference: a feed tick at this same instant may still be pending
        centre = data.reference[0] if data.reference is not None else data.mark
        if centre is None:
            return
        if ladder.skew_bps:
            centre += centre * ladder.skew_bps // 10_000
        # move the side the reference moved toward first, so neither side ever reaches the
        # other's old quotes
        rising = ladder.centre is None or centre >= ladder.centre
        ladder.centre = centre
        for side in (_ASK, _BID) if rising else (_BID, _ASK):
            self._reconcile(ladder, side, centre)

    def _reconcile(self, ladder: _Ladder, side: Side, centre: int) -> None:
        book = ladder.data.book
        step = ladder.step
        if side is _BID:
            # the best bid: a grid price at least `offset` under the centre and under every ask
            best = (centre - ladder.offset) // step * step
            opposite = book.best_ask()
            if opposite is not None:
                best = min(best, (opposite[0] - 1) // step * step)
            wanted = [p for p in range(best, best - ladder.levels * step, -step) if p > 0]
            resting = ladder.bids
            if ladder.max_position is not None and self._position(ladder) >= ladder.max_position:
                wanted = []  # long to the limit: no more bids
        else:
            best = -(-(centre + ladder.offset) // step) * step
            opposite = book.best_bid()
            if opposite is not None:
                best = max(best, -(-(opposite[0] + 1) // step) * step)
            wanted = list(range(best, best + ladder.levels * step, step))
            resting = ladder.asks
            if ladder.max_position is not None and self._position(ladder) <= -ladder.max_position:
                wanted = []  # short to the limit: no more asks
        orders = self._ex.state.orders
        # once per side per refresh: the resting orders still at their price, split into those
        # on a wanted price and the stale rest (both in the order they rest in `resting`)
        wanted_set = set(wanted)
        live: dict[int, OrderRecord] = {}
        stale: list[OrderRecord] = []
        for price, order_id in resting.items():
            record = orders.get(order_id)
            if record is not None and record.remaining > 0 and record.price == price:
                if price in wanted_set:
                    live[price] = record
                else:
                    stale.append(record)
        kept: dict[int, str] = {}
        size = ladder.size
        for price in wanted:
            record = live.get(price)
            if record is None:
                continue
            if record.remaining < size:
                self._amend(ladder, record, price)  # top up; on a reject it rests as it is
            if record.remaining > 0:
                kept[price] = record.order_id
        if len(kept) == len(wanted) and not stale:
            resting.clear()
            resting.update(kept)
            return  # the ladder is where it should be
        for price in wanted:
            if price in kept:
                continue
            if stale:
                record = stale.pop()
                if self._amend(ladder, record, price):
                    kept[price] = record.order_id
                    continue
                # a jump too far for the price band: clear the side and quote afresh
                self._cancel(record)
                while stale:
                    self._cancel(stale.pop())
            placed = self._place(ladder, side, price)
            if placed is not None:
                kept[price] = placed
        for record in stale:
            self._cancel(record)
        resting.clear()
        resting.update(kept)

    def _position(self, ladder: _Ladder) -> int:
        return primary_position(self._ex, self.user_id, ladder.data.ticker)

    def _amend(self, ladder: _Ladder, record: OrderRecord, price: int) -> bool:
        # `amend_order` of the price and total count, without building its result
        count = record.fill_count + ladder.size
        try:
            self._ex.requote(
                self.user_id, record.order_id, ladder.data.ticker, record.side, price, count
            )
        except errors.RejectError:
            return False
        return record.remaining > 0

    def _place(self, ladder: _Ladder, side: Side, price: int) -> str | None:
        command = PlaceOrder(
            ticker=ladder.data.ticker,
            side=side,
            price=price,
            count=ladder.size,
            client_order_id=self._ex.ids.uuid(),
            post_only=True,
        )
        try:
            result = self._ex.place_order(self.user_id, command)
        except errors.RejectError:
            return None
        return result.order.order_id if result.order.remaining_count > 0 else None

    def _cancel(self, record: OrderRecord) -> None:
        if record.remaining > 0:
            self._ex.cancel_order(self.user_id, record.order_id, record.subaccount)


def attach_liquidity(exchange: Exchange, config: LiquidityConfig) -> LiquidityProvider:
    """Create the house user, quote every configured market now and arm the refresh timer."""
    provider = LiquidityProvider(exchange, config)
    create_house_user(
        exchange,
        config.user_id,
        config.api_key_id,
        config.balance,
        config.notional_limit,
        [ladder.data.ticker for ladder in provider.ladders],
    )
    provider.start()
    return provider
