"""Account math (MECHANICS.md 2.2, 3.3-3.5, 6.1, 6.4): margin, equity, ratios, usage.

Everything is integer money (micro-dollars) except the ratios the wire shows as numbers.
The engine mark is the liquidation mark (MECHANICS.md 9 #1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from simulator.core.money import RATE_SCALE
from simulator.model.ledger import Position, Subaccount
from simulator.model.markets import MarketSpec

__all__ = [
    "PositionRisk",
    "SubaccountRisk",
    "liquidation_price",
    "market_usage",
    "position_liquidation_price",
    "position_risk",
    "worst_im_with",
]


class PositionRisk(msgspec.Struct, frozen=True, gc=False):
    """One market's contribution to a subaccount's risk at a mark.

    `long_side_im` / `short_side_im`: IM if every resting bid / ask filled (MECHANICS 3.4);
    `worst_initial_margin` is the largest of those and the position's own IM. A Struct: one
    is built whenever a position or its resting orders changed, for every pre-trade check.
    """

    notional: int
    unrealized: int
    maintenance_margin: int
    initial_margin: int
    worst_initial_margin: int
    long_side_im: int
    short_side_im: int


def _side_notional(qty: int, mark: int, add_qty: int, add_value: int) -> int:
    # notional of the worst case where every resting order on one side fills; qty is signed
    # toward that side (positive = same direction as the orders)
    if add_qty == 0:
        return qty * mark if qty > 0 else 0
    if qty >= 0:
        return qty * mark + add_value
    beyond = qty + add_qty
    return beyond * add_value // add_qty if beyond > 0 else 0


def _long_side_im(spec: MarketSpec, pos: Position, notional: int) -> int:
    memo = pos.long_memo
    if memo[0] != notional:
        memo = pos.long_memo = (notional, spec.long_curve.initial_margin_for(notional))
    return memo[1]


def _short_side_im(spec: MarketSpec, pos: Position, notional: int) -> int:
    memo = pos.short_memo
    if memo[0] != notional:
        memo = pos.short_memo = (notional, spec.short_curve.initial_margin_for(notional))
    return memo[1]


def position_risk(spec: MarketSpec, pos: Position, mark: int) -> PositionRisk:
    """Notional, unrealized PnL, MM, IM and worst-side IM of a position at `mark`.

    The result is kept on the position until its quantity, cost, resting orders or the mark
    change, and each side's IM until that side's notional changes, so summing a subaccount's
    risk costs little between changes.
    """
    qty, cost, bid_qty, ask_qty = pos.qty, pos.cost, pos.bid_qty, pos.ask_qty
    key = (mark, qty, cost, bid_qty, pos.bid_value, ask_qty, pos.ask_value)
    if pos.risk_key == key:
        cached: PositionRisk = pos.risk
        return cached
    signed = qty * mark  # the long and short curves may differ
    notional = signed if signed >= 0 else -signed
    own = pos.own_memo
    if own[0] != signed:
        curve = spec.long_curve if qty > 0 else spec.short_curve
        mm = curve.maintenance_margin(notional)
        own = pos.own_memo = (signed, mm, curve.initial_margin(mm))
    _, mm, im = own
    long_im = short_im = 0
    if bid_qty:  # the side memos are read here first: most checks find the notional there
        side = _side_notional(qty, mark, bid_qty, pos.bid_value)
        memo = pos.long_memo
        long_im = memo[1] if memo[0] == side else _long_side_im(spec, pos, side)
    if ask_qty:
        side = _side_notional(-qty, mark, ask_qty, pos.ask_value)
        memo = pos.short_memo
        short_im = memo[1] if memo[0] == side else _short_side_im(spec, pos, side)
    worst = im if im >= long_im else long_im  # max(im, long_im, short_im), without the call
    if short_im > worst:
        worst = short_im
    risk = PositionRisk(notional, qty * mark - cost, mm, im, worst, long_im, short_im)
    pos.risk_key = key
    pos.risk = risk
    return risk


def worst_im_with(
    spec: MarketSpec,
    pos: Position,
    mark: int,
    base: PositionRisk,
    long: bool,
    add_qty: int,
    add_value: int,
) -> int:
    """Worst-side IM if one side's resting orders grew by (add_qty, add_value)."""
    if long:
        total, value = pos.bid_qty + add_qty, pos.bid_value + add_value
        side_im = _long_side_im(spec, pos, _side_notional(pos.qty, mark, total, value))
        other = base.short_side_im
    else:
        total, value = pos.ask_qty + add_qty, pos.ask_value + add_value
        side_im = _short_side_im(spec, pos, _side_notional(-pos.qty, mark, total, value))
        other = base.long_side_im
    # the largest of the position's own IM and the two sides', without a `max` call
    worst = base.initial_margin
    if side_im > worst:
        worst = side_im
    return other if other > worst else worst


def market_usage(pos: Position, mark: int) -> int:
    """Notional usage: max(long position + resting bids, short position + resting asks)."""
    long_side = max(pos.qty, 0) * mark + pos.bid_value
    short_side = max(-pos.qty, 0) * mark + pos.ask_value
    return max(long_side, short_side)


@dataclass(frozen=True, slots=True)
class SubaccountRisk:
    """A subaccount's totals: the numbers behind balance, risk and liquidation."""

    cash: int
    position_value: int
    unrealized: int
    equity: int
    maintenance_margin: int
    initial_margin: int
    resting_orders_margin: int
    total_notional: int

    @property
    def available(self) -> int:
        """equity - IM - resting-order margin (unfloored; the API view floors at 0)."""
        return self.equity - self.initial_margin - self.resting_orders_margin

    def margin_ratio(self) -> float | None:
        """MM / equity; None when there is no MM; +inf when equity <= 0 with MM > 0."""
        if self.maintenance_margin == 0:
            return None
        if self.equity <= 0:
            return float("inf")
        return self.maintenance_margin / self.equity

    def at_or_above(self, threshold: int) -> bool:
        """Whether MM / equity >= threshold (1e-12 units), exactly."""
        if self.maintenance_margin == 0:
            return False
        if self.equity <= 0:
            return True
        return self.maintenance_margin * RATE_SCALE >= threshold * self.equity


def liquidation_price(qty: int, cost: int, cash: int, mm_rate: int) -> int | None:
    """Single-position liquidation price in ticks (MECHANICS 6.4), None when not positive.

    long: (E - C/q) / (1 - m); short: (E + C/|q|) / (1 + m), with C the cash backing it.

    >>> liquidation_price(100, 100 * 63587, 50_050_000, 130_400_000_000) is None
    True
    """
    if qty == 0:
        return None
    # prices in ticks: E = cost / qty ticks, C/q = cash / qty ticks (money = count x ticks)
    if qty > 0:
        numerator = (cost - cash) * RATE_SCALE
        denominator = qty * (RATE_SCALE - mm_rate)
    else:
        numerator = (cost - cash) * RATE_SCALE
        denominator = qty * (RATE_SCALE + mm_rate)
    if denominator == 0:
        return None
    price = numerator // denominator
    return price if price > 0 else None


def position_liquidation_price(
    spec: MarketSpec, sub: Subaccount, ticker: str, mark: Callable[[str], int]
) -> int | None:
    """Return the estimated liquidation price of `sub`'s position in `ticker`, in ticks.

    The position is taken alone (MECHANICS 6.4): backed by the subaccount's cash plus the
    other positions' unrealized PnL at their marks, at the MM rate of its own notional at its
    mark, capped just below 100 %. This is the risk view's `estimated_liquidation_price` and
    the bound a stop loss may not pass.

    Args:
        spec: The market of `ticker`, for its margin curves.
        sub: The subaccount holding the position.
        ticker: The position's market.
        mark: The current mark of a market, by ticker.

    Returns:
        The price, or None without a position or when the price would not be positive.
    """
    pos = sub.positions.get(ticker)
    if pos is None or not pos.qty:
        return None
    rate = spec.curve(pos.qty > 0).rate_at(abs(pos.qty) * mark(ticker))
    others = sum(p.unrealized(mark(t)) for t, p in sub.positions.items() if t != ticker and p.qty)
    return liquidation_price(pos.qty, pos.cost, sub.cash + others, min(rate, RATE_SCALE - 1))
