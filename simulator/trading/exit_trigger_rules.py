"""Request rules and price arithmetic of exit triggers; holds no state.

Owns what MECHANICS §8.1 and the openapi request schemas (SetCrossExitTriggerRequest,
SetIsolatedExitTriggerRequest, UpdateExitTriggerRequest) say a valid trigger is, and the
per-mark arithmetic of trailing stops. `simulator.trading.exit_triggers` keeps the triggers and
calls these functions. Imports only `simulator.core` (errors, money and the trigger types of
the events).

Units as in `simulator.core.money`: prices and trail amounts in ticks of $0.0001, counts in 1/100
contract. A direction is +1 for a trigger protecting a long, -1 for one protecting a short.

Assumption: an explicit `count` of 0 is rejected; the request says "omit to cover the whole
position", so only an omitted count means the whole position.
Assumption: `trail_bps` gives a trail of floor(watermark x bps / 10,000) ticks, so the
effective stop rounds toward the watermark.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from simulator.core.errors import (
    InvalidOrderError,
    InvalidParametersError,
    LimitExceededError,
    StopLossPastLiquidationError,
)
from simulator.core.events import TriggerKind as Kind
from simulator.core.events import TriggerLeg as Leg
from simulator.core.events import TriggerReason as Reason
from simulator.core.events import TriggerSide as Side
from simulator.core.events import TriggerStatus as Status
from simulator.core.money import COUNT_SCALE

__all__ = [
    "BPS_SCALE",
    "MAX_BRACKETS",
    "MAX_CLIENT_TRIGGER_ID_LENGTH",
    "MAX_TRAILING",
    "MAX_TRAIL_BPS",
    "MIN_TRAIL_BPS",
    "Kind",
    "Leg",
    "Legs",
    "Reason",
    "Side",
    "Sizing",
    "Status",
    "TriggerTerms",
    "check_fit",
    "check_room",
    "check_stop_loss",
    "close_side",
    "direction_of_side",
    "effective_stop",
    "favourable",
    "require_no_sizing",
    "require_open_position",
    "stop_crossed",
    "validate_legs",
    "validate_sizing",
]


MAX_BRACKETS: Final = 20
MAX_TRAILING: Final = 1
MAX_CLIENT_TRIGGER_ID_LENGTH: Final = 64
MIN_TRAIL_BPS: Final = 1
MAX_TRAIL_BPS: Final = 9_999
BPS_SCALE: Final = 10_000


@dataclass(frozen=True, slots=True)
class Legs:
    """The validated price parameters of one trigger."""

    kind: Kind
    stop_loss_price: int | None = None
    take_profit_price: int | None = None
    trail_amount: int | None = None
    trail_bps: int | None = None


@dataclass(frozen=True, slots=True)
class Sizing:
    """The validated size parameters of a cross trigger.

    Attributes:
        append: True when the request adds a trigger (count or anchor given) rather than
            replacing the position's whole-position trigger of that kind.
        count: Fixed count in 1/100 contract, 0 for the whole position (or an anchored trigger,
            whose count follows its anchor).
        anchor_order_id: The entry order the size follows, if any.
        client_trigger_id: The caller's idempotency key, present exactly when `append`.
    """

    append: bool
    count: int
    anchor_order_id: str | None
    client_trigger_id: str | None


@dataclass(frozen=True, slots=True)
class TriggerTerms:
    """What a set or update request asks for, as sent and not yet validated.

    The one list of a trigger request's parameters below the command layer: the commands take
    them flat (their journal records name each one) and pass this value on.

    Attributes:
        kind: "bracket" or "trailing" as sent.
        stop_loss_price: Stop-loss leg in ticks.
        take_profit_price: Take-profit leg in ticks.
        trail_amount: Trail distance in ticks.
        trail_bps: Trail distance in basis points of the watermark.
        count: Fixed count in 1/100 contract, None for the whole position.
        anchor_order_id: Entry order whose cumulative fill sizes the trigger.
        client_trigger_id: Idempotency key of an appending request.
    """

    kind: str = "bracket"
    stop_loss_price: int | None = None
    take_profit_price: int | None = None
    trail_amount: int | None = None
    trail_bps: int | None = None
    count: int | None = None
    anchor_order_id: str | None = None
    client_trigger_id: str | None = None


def require_no_sizing(terms: TriggerTerms, request: str) -> None:
    """Refuse count, anchor and client id on a request that always covers the whole position.

    Raises:
        InvalidParametersError: One of them is given.
    """
    for name in ("count", "anchor_order_id", "client_trigger_id"):
        if getattr(terms, name) is not None:
            raise InvalidParametersError(f"{name} is not accepted for {request}")


def _require_positive(name: str, value: int | None) -> None:
    if value is not None and (type(value) is not int or value <= 0):
        raise InvalidParametersError(f"{name} must be a positive integer, was {value!r}")


def validate_legs(terms: TriggerTerms) -> Legs:
    """Check the leg rules shared by the set and update requests.

    A bracket needs `stop_loss_price` and/or `take_profit_price`; a trailing stop needs exactly
    one of `trail_amount` / `trail_bps` (1..9999). Fields of the other kind are refused and
    prices must be strictly positive (MECHANICS §8.1).

    Args:
        terms: The request as sent; its sizing fields are not looked at.

    Returns:
        The legs with the request's kind.

    Raises:
        InvalidParametersError: Any rule above is broken.
    """
    kind = terms.kind
    stop_loss_price, take_profit_price = terms.stop_loss_price, terms.take_profit_price
    trail_amount, trail_bps = terms.trail_amount, terms.trail_bps
    if kind == "bracket":
        if trail_amount is not None or trail_bps is not None:
            raise InvalidParametersError(
                "trail_amount and trail_bps are not accepted for a bracket"
            )
        if stop_loss_price is None and take_profit_price is None:
            raise InvalidParametersError("a bracket needs stop_loss_price and/or take_profit_price")
        _require_positive("stop_loss_price", stop_loss_price)
        _require_positive("take_profit_price", take_profit_price)
        return Legs("bracket", stop_loss_price=stop_loss_price, take_profit_price=take_profit_price)
    if kind == "trailing":
        if stop_loss_price is not None or take_profit_price is not None:
            raise InvalidParametersError(
                "stop_loss_price and take_profit_price are not accepted for a trailing stop"
            )
        if (trail_amount is None) == (trail_bps is None):
            raise InvalidParametersError(
                "a trailing stop needs exactly one of trail_amount, trail_bps"
            )
        _require_positive("trail_amount", trail_amount)
        if trail_bps is not None and not MIN_TRAIL_BPS <= trail_bps <= MAX_TRAIL_BPS:
            raise InvalidParametersError(
                f"trail_bps must be between {MIN_TRAIL_BPS} and {MAX_TRAIL_BPS}, was {trail_bps}"
            )
        return Legs("trailing", trail_amount=trail_amount, trail_bps=trail_bps)
    raise InvalidParametersError(f"kind must be bracket or trailing, was {kind!r}")


def validate_sizing(kind: Kind, terms: TriggerTerms) -> Sizing:
    """Check the count / anchor / client id rules of SetCrossExitTriggerRequest.

    Args:
        kind: The validated kind.
        terms: The request as sent; `count` is whole contracts in 1/100 contract or None for
            the whole position, `anchor_order_id` an entry order whose cumulative fill sizes the
            trigger (brackets only), `client_trigger_id` the idempotency key, required with
            count or anchor and refused without.

    Returns:
        The sizing.

    Raises:
        InvalidParametersError: count with anchor, anchor on a trailing stop, a missing,
            unexpected, empty or over-long client_trigger_id, an empty anchor_order_id.
        InvalidOrderError: count is not a positive whole number of contracts.
    """
    count, anchor_order_id = terms.count, terms.anchor_order_id
    client_trigger_id = terms.client_trigger_id
    if count is not None and anchor_order_id is not None:
        raise InvalidParametersError("count and anchor_order_id are mutually exclusive")
    if anchor_order_id is not None:
        if kind != "bracket":
            raise InvalidParametersError("anchor_order_id is accepted for brackets only")
        if not anchor_order_id:
            raise InvalidParametersError("anchor_order_id must not be empty")
    append = count is not None or anchor_order_id is not None
    if append and client_trigger_id is None:
        raise InvalidParametersError("client_trigger_id is required with count or anchor_order_id")
    if not append and client_trigger_id is not None:
        raise InvalidParametersError(
            "client_trigger_id is accepted only with count or anchor_order_id"
        )
    if client_trigger_id is not None and not (
        0 < len(client_trigger_id) <= MAX_CLIENT_TRIGGER_ID_LENGTH
    ):
        raise InvalidParametersError(
            f"client_trigger_id must have 1 to {MAX_CLIENT_TRIGGER_ID_LENGTH} characters, "
            f"was {len(client_trigger_id)}"
        )
    if count is not None and (count <= 0 or count % COUNT_SCALE):
        raise InvalidOrderError(f"count must be a positive whole number of contracts, was {count}")
    return Sizing(append, count or 0, anchor_order_id, client_trigger_id)


def check_room(kind: Kind, live: int) -> None:
    """Refuse a new trigger on a position already holding `live` live triggers of `kind`.

    Raises:
        LimitExceededError: Past 20 brackets or 1 trailing stop per position.
    """
    cap = MAX_BRACKETS if kind == "bracket" else MAX_TRAILING
    if live >= cap:
        raise LimitExceededError(f"at most {cap} {kind} triggers per position")


def check_fit(kind: Kind, count: int, used: int, position: int) -> None:
    """Refuse a fixed count that does not fit the position.

    Args:
        kind: Kind of the new trigger.
        count: Its count, 1/100 contract.
        used: Remaining counts of the position's live fixed-count brackets (0 for trailing).
        position: The signed position.

    Raises:
        InvalidOrderError: `used + count` exceeds |position|.
    """
    if kind == "trailing":
        used = 0
    if used + count > abs(position):
        raise InvalidOrderError(
            f"{kind} counts must fit the position of {abs(position)}, was {used + count}"
        )


def require_open_position(position: int) -> int:
    """Return the direction of an open position.

    Raises:
        InvalidOrderError: The position is flat.
    """
    if position == 0:
        raise InvalidOrderError("no open position")
    return 1 if position > 0 else -1


def direction_of_side(side: str) -> int:
    """The direction an entry order on `side` opens: +1 for a bid (buy), -1 for an ask.

    Raises:
        InvalidParametersError: `side` is neither "bid" nor "ask".
    """
    if side == "bid":
        return 1
    if side == "ask":
        return -1
    raise InvalidParametersError(f"side must be bid or ask, was {side!r}")


def close_side(direction: int) -> Side:
    """The order side that reduces a position of `direction`.

    >>> close_side(1), close_side(-1)
    ('ask', 'bid')
    """
    return "ask" if direction > 0 else "bid"


def check_stop_loss(
    direction: int, stop_loss_price: int | None, liquidation_price: int | None
) -> None:
    """Refuse a stop at or beyond the liquidation price (long: <=, short: >=).

    Args:
        direction: Direction of the protected position.
        stop_loss_price: Stop-loss leg, None for no check.
        liquidation_price: Estimated liquidation price (MECHANICS §6.4), None for no check.

    Raises:
        StopLossPastLiquidationError: The stop would only trigger after liquidation.
    """
    if stop_loss_price is None or liquidation_price is None:
        return
    if (direction > 0 and stop_loss_price <= liquidation_price) or (
        direction < 0 and stop_loss_price >= liquidation_price
    ):
        raise StopLossPastLiquidationError(
            details=f"stop_loss_price {stop_loss_price}, liquidation price {liquidation_price}"
        )


def favourable(direction: int, watermark: int | None, mark: int) -> int:
    """The most favourable of `watermark` and `mark` for the direction (max long, min short).

    >>> favourable(1, 100, 90), favourable(-1, 100, 90), favourable(1, None, 90)
    (100, 90, 90)
    """
    if watermark is None:
        return mark
    return max(watermark, mark) if direction > 0 else min(watermark, mark)


def effective_stop(
    direction: int, watermark: int, trail_amount: int | None, trail_bps: int | None
) -> int:
    """The trailing stop price: watermark minus the trail for a long, plus it for a short.

    >>> effective_stop(1, 63_587, 500, None), effective_stop(-1, 63_587, None, 25)
    (63087, 63745)
    """
    trail = trail_amount if trail_amount is not None else watermark * (trail_bps or 0) // BPS_SCALE
    return watermark - trail if direction > 0 else watermark + trail


def stop_crossed(direction: int, stop: int, mark: int) -> bool:
    """Whether `mark` reaches a stop: at or below it for a long, at or above for a short.

    >>> stop_crossed(1, 100, 100), stop_crossed(1, 100, 101), stop_crossed(-1, 100, 101)
    (True, False, True)
    """
    return mark <= stop if direction > 0 else mark >= stop
