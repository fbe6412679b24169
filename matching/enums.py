"""Vocabulary of the order book: sides, time in force, self-trade prevention, update reasons.

Values are Kalshi's wire strings (`perps_openapi.yaml`: `BookSide`, `TimeInForce`,
`SelfTradePreventionType`, `LastUpdateReason`), so transports render them without a table.
"""

from __future__ import annotations

from enum import StrEnum


class Side(StrEnum):
    """Side of an order: `bid` buys, `ask` sells."""

    BID = "bid"
    ASK = "ask"


class TimeInForce(StrEnum):
    """How long an order's unfilled part may stay on the book."""

    GOOD_TILL_CANCELED = "good_till_canceled"
    IMMEDIATE_OR_CANCEL = "immediate_or_cancel"
    FILL_OR_KILL = "fill_or_kill"


class SelfTradePrevention(StrEnum):
    """What happens when an incoming order meets a resting order of the same owner.

    `taker_at_cross` cancels the incoming order's remainder (fills already made stand);
    `maker` cancels the owner's resting order and keeps matching.
    """

    TAKER_AT_CROSS = "taker_at_cross"
    MAKER = "maker"


class Reason(StrEnum):
    """Kalshi's `last_update_reason`: why an order or a level last changed.

    `NONE` (the empty string) is a real value: a new order that rests, or an
    immediate-or-cancel remainder that expires unmatched.
    """

    NONE = ""
    TRADE = "Trade"
    DECREASE = "Decrease"
    AMEND = "Amend"
    MARGIN_CANCEL = "MarginCancel"
    SELF_TRADE_CANCEL = "SelfTradeCancel"
    EXPIRY_CANCEL = "ExpiryCancel"
    POST_ONLY_CROSS_CANCEL = "PostOnlyCrossCancel"
    REDUCE_ONLY_CANCEL = "ReduceOnlyCancel"
