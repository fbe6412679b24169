"""Noise takers: a house user sending random IOC orders that trade against the resting book.

A scenario's `takers` block (`TakerConfig`) creates a user with a large balance and, on each
market it names (every market by default), sends one immediate-or-cancel order at random
intervals: on average `rate_per_minute` orders a minute, each interval drawn uniformly from 1 ms
to twice the mean. Each order buys with probability `buy_percent` % (else sells) a whole number
of contracts drawn uniformly from `min_size` to `max_size`, priced `slippage_ticks` ticks through
the best opposite price, so it takes what rests there (and up to that price) and the rest is
cancelled. With `max_position` set, a taker at that position (long or short) only trades back
toward flat. Nothing is sent while a market has no opposite side, or is paused, inactive or
closed; an order the exchange refuses (price band, margin) is skipped.

Everything is drawn from one `random.Random` per market, seeded from the exchange's seed and
the ticker, on the exchange's own timers: the same scenario, seed and commands give the same
orders, whatever else happens in other markets. The draws of an interval are made whether or
not its order is sent, so a skipped order does not shift the ones after it.

Assumption: as for the house market maker, the key id `#noise-taker` is not a well-formed client
key id and has no public key: no client can sign in as the taker.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Annotated

import msgspec

from matching import Side, TimeInForce
from simulator.core import errors
from simulator.core.money import parse_count
from simulator.model.market_data import MarketData
from simulator.model.orders import PlaceOrder
from simulator.server.house_users import create_house_user, position_limit, primary_position

if TYPE_CHECKING:
    from simulator.exchange import Exchange

__all__ = ["NoiseTakers", "TakerConfig", "TakerSettings", "attach_takers"]

Rate = Annotated[int, msgspec.Meta(ge=1, le=60_000)]
Percent = Annotated[int, msgspec.Meta(ge=0, le=100)]
Ticks = Annotated[int, msgspec.Meta(ge=0)]


class TakerSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Per-market overrides of a `takers` block (unset fields take the block's values)."""

    rate_per_minute: Rate | None = None
    min_size: str | None = None
    max_size: str | None = None
    buy_percent: Percent | None = None
    slippage_ticks: Ticks | None = None
    max_position: str | None = None


class TakerConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A scenario's `takers` block.

    Attributes:
        user_id, api_key_id: the house user that sends the orders.
        balance: its opening balance (dollars string).
        notional_limit: its per-market notional risk limit override (dollars string).
        tickers: markets to trade; None trades every market of the scenario.
        rate_per_minute: mean orders a minute on each market (1 to 60,000).
        min_size, max_size: contracts per order, drawn uniformly (count strings, whole
            contracts, e.g. "1.00" and "20.00").
        buy_percent: the chance in percent that an order buys (0 to 100).
        slippage_ticks: how far through the best opposite price an order's limit is.
        max_position: contracts (count string); at that position, long or short, the taker
            only trades back toward flat. None: no limit.
        markets: per-ticker overrides.
    """

    user_id: str = "noise-taker"
    api_key_id: str = "#noise-taker"
    balance: str = "10000000.0000"
    notional_limit: str = "1000000000.0000"
    tickers: list[str] | None = None
    rate_per_minute: Rate = 6
    min_size: str = "1.00"
    max_size: str = "10.00"
    buy_percent: Percent = 50
    slippage_ticks: Ticks = 0
    max_position: str | None = None
    markets: dict[str, TakerSettings] = msgspec.field(default_factory=dict)


@dataclass(slots=True)
class _Taker:
    """One market's order flow (integer units) and its random source."""

    data: MarketData
    mean_ms: int
    min_units: int  # sizes in count steps
    max_units: int
    unit: int
    buy_percent: int
    slippage: int  # price ticks
    max_position: int | None
    rng: random.Random


class NoiseTakers:
    """The noise takers of one exchange (see the module docstring)."""

    def __init__(self, exchange: Exchange, config: TakerConfig) -> None:
        self._ex = exchange
        self.config = config
        self.user_id = config.user_id
        tickers = config.tickers if config.tickers is not None else list(exchange.markets)
        unknown = sorted(set(tickers) - set(exchange.markets))
        unknown += sorted(set(config.markets) - set(tickers) - set(unknown))
        if unknown:
            raise ValueError(f"takers name markets that are not traded here: {unknown}")
        self.takers: list[_Taker] = [self._taker(ticker) for ticker in tickers]

    def _taker(self, ticker: str) -> _Taker:
        data = self._ex.markets[ticker]
        spec = data.market.spec
        override = self.config.markets.get(ticker, TakerSettings())
        sizes = []
        for name in ("min_size", "max_size"):
            text = getattr(override, name) or getattr(self.config, name)
            size = parse_count(text)
            if size <= 0 or size % spec.count_step:
                raise ValueError(f"takers {name} for {ticker} must be a positive whole count")
            sizes.append(size // spec.count_step)
        if sizes[0] > sizes[1]:
            raise ValueError(f"takers min_size for {ticker} is above its max_size")
        max_position = position_limit(
            override.max_position or self.config.max_position,
            f"takers max_position for {ticker}",
        )
        rate = override.rate_per_minute or self.config.rate_per_minute
        buy = override.buy_percent
        slippage = override.slippage_ticks
        return _Taker(
            data=data,
            mean_ms=max(60_000 // rate, 1),
            min_units=sizes[0],
            max_units=sizes[1],
            unit=spec.count_step,
            buy_percent=self.config.buy_percent if buy is None else buy,
            slippage=(self.config.slippage_ticks if slippage is None else slippage) * spec.tick,
            max_position=max_position,
            rng=random.Random(f"takers:{self._ex.ids.seed}:{ticker}"),
        )

    def start(self) -> None:
        """Arm each market's first order."""
        now = self._ex.now()
        for taker in self.takers:
            self._arm(taker, now)

    def _arm(self, taker: _Taker, after: int) -> None:
        due = after + taker.rng.randrange(1, 2 * taker.mean_ms + 1)
        self._ex.timers.arm(("takers", taker.data.ticker), due, partial(self._fire, taker))

    def _fire(self, taker: _Taker, due: int) -> None:
        self._arm(taker, due)
        rng = taker.rng
        buy = rng.randrange(100) < taker.buy_percent
        count = rng.randrange(taker.min_units, taker.max_units + 1) * taker.unit
        ex = self._ex
        data = taker.data
        if data.market.status != "active" or not ex.trading_active or not ex.exchange_active:
            return
        if taker.max_position is not None:
            position = primary_position(ex, self.user_id, data.ticker)
            if buy and position >= taker.max_position:
                buy = False
            elif not buy and position <= -taker.max_position:
                buy = True
        book = data.book
        touch = book.best_ask() if buy else book.best_bid()
        if touch is None:
            return
        price = touch[0] + taker.slippage if buy else touch[0] - taker.slippage
        if price <= 0:
            return
        command = PlaceOrder(
            ticker=data.ticker,
            side=Side.BID if buy else Side.ASK,
            price=price,
            count=count,
            client_order_id=ex.ids.uuid(),
            time_in_force=TimeInForce.IMMEDIATE_OR_CANCEL,
        )
        try:
            ex.place_order(self.user_id, command)
        except errors.RejectError:
            return


def attach_takers(exchange: Exchange, config: TakerConfig) -> NoiseTakers:
    """Create the takers' user and arm each market's first order."""
    takers = NoiseTakers(exchange, config)
    create_house_user(
        exchange,
        config.user_id,
        config.api_key_id,
        config.balance,
        config.notional_limit,
        [taker.data.ticker for taker in takers.takers],
    )
    takers.start()
    return takers
