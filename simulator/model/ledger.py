"""Users, subaccounts, cash and positions, and how a fill changes them (MECHANICS.md 2.3).

A position keeps its signed quantity and its signed cost (the sum of `count x price` of the
open contracts, in micro-dollars), so entry price, unrealized PnL and realized PnL are exact.
Resting orders are tracked per side as (count, value) so order margin and notional usage are
O(1) to read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from simulator.core.money import CENTICENT

__all__ = ["ApiKey", "FillEffect", "Position", "Subaccount", "User"]


@dataclass(slots=True)
class Position:
    """One subaccount's position and resting orders in one market."""

    qty: int = 0
    cost: int = 0
    fees: int = 0
    bid_qty: int = 0
    bid_value: int = 0
    ask_qty: int = 0
    ask_value: int = 0
    risk_key: tuple[int, ...] | None = field(default=None, compare=False, repr=False)
    risk: Any = field(default=None, compare=False, repr=False)
    # last (notional, IM) computed for each side's worst case, and (signed notional, MM, IM)
    # for the position itself: an order's pre-trade check computes what the position needs next
    long_memo: tuple[int, int] = field(default=(-1, 0), compare=False, repr=False)
    short_memo: tuple[int, int] = field(default=(-1, 0), compare=False, repr=False)
    own_memo: tuple[int, int, int] = field(default=(-(10**30), 0, 0), compare=False, repr=False)

    @property
    def is_empty(self) -> bool:
        return self.qty == 0 and self.bid_qty == 0 and self.ask_qty == 0

    def entry_price_micros(self) -> int | None:
        """Average entry price per contract in micro-dollars (None when flat).

        >>> Position(qty=300, cost=300 * 63587).entry_price_micros()
        6358700
        >>> Position(qty=-200, cost=-200 * 65000).entry_price_micros()
        6500000
        """
        if self.qty == 0:
            return None
        numerator, qty = self.cost * 100, self.qty
        if qty < 0:
            numerator, qty = -numerator, -qty
        return (numerator + qty // 2) // qty

    def unrealized(self, mark: int) -> int:
        """qty x (mark - entry) in micro-dollars.

        >>> Position(qty=100, cost=100 * 63587).unrealized(63329)
        -25800
        """
        return self.qty * mark - self.cost

    def apply_fill(self, signed_count: int, price: int, fee: int) -> FillEffect:
        """Apply a fill of `signed_count` (positive buys) at `price`; return its effects.

        Opening or adding increases the cost; reducing removes the closed share of the cost
        (rounded to $0.0001 so cash stays at Kalshi's precision; the remainder stays in the
        open position's cost) and realizes the difference; a flip opens the rest at `price`.
        """
        qty = self.qty
        if qty == 0:
            self.cost += signed_count * price
            self.qty = signed_count
            self.fees += fee
            return FillEffect(0, None, signed_count)
        entry = self.entry_price_micros()
        realized = 0
        if (qty > 0) == (signed_count > 0):
            self.cost += signed_count * price
            self.qty = qty + signed_count
            self.fees += fee
            return FillEffect(realized, entry, self.qty)
        closing = min(abs(signed_count), abs(qty))
        if closing == abs(qty):
            removed = self.cost
        else:
            share = self.cost * closing
            removed = _round_div_to_centicent(share, abs(qty))
        sign = 1 if qty > 0 else -1
        realized = sign * closing * price - removed
        self.cost -= removed
        self.qty = qty + signed_count
        if self.qty == 0:
            self.cost = 0
            self.fees = 0
        elif (self.qty > 0) != (qty > 0):
            self.cost = self.qty * price
            self.fees = fee
            return FillEffect(realized, entry, self.qty)
        else:
            self.fees += fee
        return FillEffect(realized, entry, self.qty)


def _round_div_to_centicent(numerator: int, denominator: int) -> int:
    # nearest multiple of $0.0001 to numerator / denominator, ties away from zero
    unit = denominator * CENTICENT
    sign = -1 if numerator < 0 else 1
    quotient = (abs(numerator) * 2 + unit) // (unit * 2)
    return sign * quotient * CENTICENT


class FillEffect(msgspec.Struct, frozen=True, gc=False):
    """What a fill did to a position: realized PnL, entry price before it, position after."""

    realized: int
    entry_price: int | None
    position_after: int


@dataclass(slots=True)
class Subaccount:
    """A margin pool: cash plus positions (0 is the primary subaccount)."""

    number: int
    cash: int = 0
    positions: dict[str, Position] = field(default_factory=dict)

    def position(self, ticker: str) -> Position:
        found = self.positions.get(ticker)
        if found is None:
            found = self.positions[ticker] = Position()
        return found


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key: its id and the RSA public key (PEM) that verifies its signatures."""

    key_id: str
    public_key_pem: str | None


@dataclass(slots=True)
class User:
    """An account holder with API keys and up to 64 subaccounts.

    `event_contract_cash` is the user's predictions ("event_contract") balance, which only
    moves to and from perps by an explicit intra-exchange transfer (MECHANICS 2.1).
    """

    user_id: str
    api_keys: list[ApiKey] = field(default_factory=list)
    subaccounts: dict[int, Subaccount] = field(default_factory=dict)
    notional_limit_overrides: dict[str, int] = field(default_factory=dict)
    member_notional_limit: int | None = None
    used_transfer_ids: set[str] = field(default_factory=set)
    event_contract_cash: int = 0
    instance_transfers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if 0 not in self.subaccounts:
            self.subaccounts[0] = Subaccount(0)
