"""Pre-trade checks of order entry, in the order MECHANICS.md 3.4-3.6 documents them.

Every check raises a `RejectError` before anything changes; none of them mutates state.
"""

from __future__ import annotations

from typing import Protocol

from matching import SelfTradePrevention, Side, TimeInForce
from simulator.core import errors
from simulator.core.money import ceil_div
from simulator.model.ledger import Subaccount, User
from simulator.model.market_data import MarketData
from simulator.model.markets import MarketSpec
from simulator.model.orders import OrderRecord, PlaceOrder
from simulator.model.risk import market_usage, position_risk, worst_im_with
from simulator.ports import Accounts
from simulator.state import ExchangeState

__all__ = [
    "CheckContext",
    "ImCaps",
    "added_exposure",
    "band_edge",
    "check_count",
    "check_kinds",
    "check_price",
    "check_risk",
    "slippage_cap",
    "tradable_market",
]


class ImCaps(Protocol):
    """The FCM desk's initial-margin caps on subtraders."""

    def check_im_caps(self, user_id: str, ticker: str, increase: int) -> None: ...


class CheckContext(Accounts, Protocol):
    """What the checks read: accounts and risk, the exchange's tables, the FCM caps."""

    @property
    def state(self) -> ExchangeState: ...

    @property
    def fcm(self) -> ImCaps: ...


_BID = Side.BID
_ASK = Side.ASK
_MAX_PRICE_TICKS = 10**12


_SIDES = frozenset(Side)
_TIFS = frozenset(TimeInForce)
_STPS = frozenset(SelfTradePrevention)


def check_kinds(command: PlaceOrder) -> None:
    """Side, time in force and self-trade prevention are the enums, not look-alikes."""
    if command.side not in _SIDES or type(command.side) is not Side:
        raise errors.InvalidOrderError(details=f"side must be bid or ask, was {command.side!r}")
    if type(command.time_in_force) is not TimeInForce or command.time_in_force not in _TIFS:
        raise errors.InvalidOrderError(details="unknown time_in_force")
    stp = command.self_trade_prevention
    if type(stp) is not SelfTradePrevention or stp not in _STPS:
        raise errors.InvalidOrderError(details="unknown self_trade_prevention_type")
    if type(command.price) is not int:
        raise errors.InvalidOrderError(details=f"price must be an integer, was {command.price!r}")
    if type(command.count) is not int:
        raise errors.InvalidOrderError(details=f"count must be an integer, was {command.count!r}")


def tradable_market(ex: CheckContext, ticker: str, market_version: int = 0) -> MarketData:
    """The market of a new order or amend, if it exists, matches the version and trades."""
    data = ex.state.markets.get(ticker)
    if data is None:
        raise errors.MarketNotFoundError(details=ticker)
    if market_version and market_version != data.market.market_version:
        raise errors.MarketVersionMismatchError(
            details=f"market_version is {data.market.market_version}, was {market_version}"
        )
    status = data.market.status
    if status == "closed":
        raise errors.MarketClosedError()
    if status == "inactive":
        raise errors.MarketInactiveError()
    if not ex.state.trading_active or not ex.state.exchange_active:
        raise errors.TradingPausedError()
    return data


def band_edge(spec: MarketSpec, side: Side, touch: int) -> int:
    """Return the band's edge beyond `touch`, the best price on `side` (MECHANICS 3.6, 9 #26).

    With p the market's `price_band_percent` and n its `price_band_ticks`: below the bids,
    min(ceil(bid x (100 - p) / 100), bid - n) is the lowest price any order may have (the
    price band of bids, the slippage cap of asks); above the asks, max(floor(ask x (100 + p) /
    100), ask + n) is the highest (the price band of asks, the slippage cap of bids).

    Args:
        spec: The market, for `price_band_percent` and `price_band_ticks`.
        side: The side of the book `touch` is on: `BID` gives the floor, `ASK` the cap.
        touch: The best price on that side, in ticks (or what stands in for it).

    Returns:
        The edge in ticks, not rounded to the tick size.
    """
    pct, ticks = spec.price_band_percent, spec.price_band_ticks
    if side is _BID:
        return min(ceil_div(touch * (100 - pct), 100), touch - ticks)
    return max(touch * (100 + pct) // 100, touch + ticks)


def check_price(data: MarketData, side: Side, price: int) -> None:
    """Positive, on tick, and inside the price band and slippage cap (MECHANICS 3.6)."""
    spec = data.market.spec
    if not 0 < price < _MAX_PRICE_TICKS:
        raise errors.InvalidOrderError(details=f"price must be positive, was {price}")
    if price % spec.tick:
        raise errors.InvalidOrderError(details="price is not a multiple of the tick size")
    # `band_edge` of each side, inlined (this runs for every order and amend); a bid is
    # checked against the band below the bids first, an ask against the band above the asks
    pct, ticks = spec.price_band_percent, spec.price_band_ticks
    best_bid, best_ask = data.book.best_prices()
    if side is _BID:
        if best_bid is not None and price < _floor(best_bid, pct, ticks):
            raise errors.InvalidPriceError(details="bid is below the price band")
        if best_ask is not None and price > _cap(best_ask, pct, ticks):
            raise errors.InvalidPriceError(details="bid is above the slippage cap")
    else:
        if best_ask is not None and price > _cap(best_ask, pct, ticks):
            raise errors.InvalidPriceError(details="ask is above the price band")
        if best_bid is not None and price < _floor(best_bid, pct, ticks):
            raise errors.InvalidPriceError(details="ask is below the slippage cap")


def _floor(bid: int, pct: int, ticks: int) -> int:
    # `band_edge(spec, BID, bid)`
    edge = -(-bid * (100 - pct) // 100)
    return edge if edge < bid - ticks else bid - ticks


def _cap(ask: int, pct: int, ticks: int) -> int:
    # `band_edge(spec, ASK, ask)`
    edge = ask * (100 + pct) // 100
    return edge if edge > ask + ticks else ask + ticks


def check_count(spec: MarketSpec, count: int) -> None:
    """Positive and a multiple of the market's count step."""
    if count <= 0:
        raise errors.InvalidOrderError(details=f"count must be positive, was {count}")
    if count % spec.count_step:
        raise errors.InvalidOrderError(details="count must be a whole number of contracts")


def added_exposure(price: int, count: int, replaced: OrderRecord | None) -> tuple[int, int]:
    """The (count, value) a new order, or an amend of `replaced`, adds to its side's exposure.

    `price` and `count` are the order's (an amend's new price and total count).
    """
    remaining = count - (replaced.fill_count if replaced else 0)
    value = remaining * price
    if replaced is not None:
        return remaining - replaced.remaining, value - replaced.remaining * replaced.price
    return remaining, value


def check_risk(
    ex: CheckContext,
    user: User,
    sub: Subaccount,
    data: MarketData,
    side: Side,
    price: int,
    count: int,
    replaced: OrderRecord | None = None,
) -> None:
    """The notional limits (MECHANICS 3.5), then the margin (3.4), of a new or amended order.

    `sub` is `user`'s subaccount the order belongs to and `data` its market; `side`, `price`
    and `count` the order's (an amend's new price and total count); `replaced` the order an
    amend changes. One mark and one position serve both checks.
    """
    ticker = data.ticker
    pos = sub.positions.get(ticker) or sub.position(ticker)
    mark = data.mark
    if mark is None:
        mark = data.risk_mark()
    # `added_exposure`, inlined: this runs for every order and amend
    if replaced is not None:
        remaining = count - replaced.fill_count
        added_qty = remaining - replaced.remaining
        added_value = remaining * price - replaced.remaining * replaced.price
    else:
        added_qty, added_value = count, count * price
    long = side is _BID
    # per-market and member notional limits, on risk-increasing orders
    qty = pos.qty
    long_side = pos.bid_value + (qty * mark if qty > 0 else 0)
    short_side = pos.ask_value + (-qty * mark if qty < 0 else 0)
    before = long_side if long_side > short_side else short_side
    if long:
        long_side += added_value
    else:
        short_side += added_value
    after = long_side if long_side > short_side else short_side
    if after > before:
        if after > ex.notional_limit(user, ticker):
            raise errors.NotionalRiskLimitError()
        member = user.member_notional_limit
        if member is not None:
            total = after - before
            for other, other_pos in sub.positions.items():
                total += market_usage(other_pos, ex.mark(other))
            if total > member:
                raise errors.NotionalRiskLimitError()
    # the order's worst-side IM increase must fit the available balance
    spec = data.market.spec
    base = position_risk(spec, pos, mark)
    increase = worst_im_with(spec, pos, mark, base, long, added_qty, added_value)
    increase -= base.worst_initial_margin
    if increase <= 0:
        return
    if increase > ex.available_in(sub):
        raise errors.InsufficientBalanceError()
    ex.fcm.check_im_caps(user.user_id, ticker, increase)
    config = ex.state.config
    if config.block_queued_risk_increase:
        risk = ex.subaccount_risk(user.user_id, sub.number)
        if risk.at_or_above(config.queue_threshold):
            raise errors.InsufficientBalanceError(details="account is in the liquidation queue")


def slippage_cap(data: MarketData, side: Side) -> int | None:
    """Worst price of a system order: buys <= max(1.2 ask, ask + 1,000 ticks) (9 #26).

    With the opposite side empty the liquidation mark stands in for it.
    """
    spec = data.market.spec
    mark = data.mark
    if side is _BID:
        best = data.book.best_ask()
        if best is None and mark is None:
            return None
        ask = best[0] if best is not None else mark
        assert ask is not None
        cap = band_edge(spec, _ASK, ask)
        return min(cap - cap % spec.tick, _MAX_PRICE_TICKS - spec.tick)
    best = data.book.best_bid()
    if best is None and mark is None:
        return None
    bid = best[0] if best is not None else mark
    assert bid is not None
    floor = ceil_div(max(band_edge(spec, _BID, bid), 1), spec.tick) * spec.tick
    return max(floor, spec.tick)
