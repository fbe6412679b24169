"""Wire mapping of exit triggers: request bodies in, `ExitTrigger` objects out.

Prices (`stop_loss_price`, `take_profit_price`, `trail_amount`) arrive as dollar strings with at
most 4 decimals and become ticks; `count` arrives as a count string. A trigger renders with
prices as 4-decimal strings, counts as 2-decimal strings and RFC 3339 times; optional fields
that are unset are left out (none of them is nullable in the spec).

Assumption: a price or count string that does not parse is a 400 `invalid_parameters` (the
documented order code `invalid_order` is for orders).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from api.errors import BadRequestError
from api.wire.common import rfc3339
from simulator.core.money import format_count, format_price, parse_count, parse_price
from simulator.trading.exit_triggers import ExitTriggerView

__all__ = [
    "Kind",
    "SetCrossBody",
    "SetIsolatedBody",
    "UpdateBody",
    "command_args",
    "count",
    "exit_trigger",
    "exit_triggers",
    "price",
]

Kind = Literal["bracket", "trailing"]


class UpdateBody(msgspec.Struct, forbid_unknown_fields=True):
    """UpdateExitTriggerRequest: an omitted leg is cleared."""

    stop_loss_price: str | None = None
    take_profit_price: str | None = None


class SetIsolatedBody(UpdateBody, forbid_unknown_fields=True):
    """SetIsolatedExitTriggerRequest: the legs of any kind (no count, anchor or client id)."""

    kind: Kind = "bracket"
    trail_amount: str | None = None
    trail_bps: int | None = None


class SetCrossBody(SetIsolatedBody, forbid_unknown_fields=True):
    """SetCrossExitTriggerRequest: the legs and the sizing."""

    count: str | None = None
    anchor_order_id: str | None = None
    client_trigger_id: str | None = None


_PRICES = frozenset({"stop_loss_price", "take_profit_price", "trail_amount"})


def command_args(body: UpdateBody) -> dict[str, Any]:
    """The keyword arguments of the exit-trigger command a request body asks for.

    Prices and counts become integers (`price`, `count`); the rest passes as sent. Fields are
    converted in declaration order, so the first malformed one is the one reported.
    """
    args: dict[str, Any] = {}
    for name in body.__struct_fields__:
        value = getattr(body, name)
        if name in _PRICES:
            value = price(value, name)
        elif name == "count":
            value = count(value)
        args[name] = value
    return args


def price(value: str | None, name: str) -> int | None:
    """A dollar string (at most 4 decimals) as ticks, or None when absent."""
    if value is None:
        return None
    try:
        return parse_price(value)
    except ValueError as exc:
        raise BadRequestError(f"{name}: {exc}") from None


def count(value: str | None) -> int | None:
    """A count string (at most 2 decimals) as 1/100 contracts, or None when absent."""
    if value is None:
        return None
    try:
        return parse_count(value)
    except ValueError as exc:
        raise BadRequestError(f"count: {exc}") from None


def exit_trigger(view: ExitTriggerView) -> dict[str, Any]:
    """ExitTrigger."""
    body: dict[str, Any] = {
        "id": view.id,
        "ticker": view.ticker,
        "kind": view.kind,
        "status": view.status,
    }
    optional: dict[str, Any] = {
        "status_reason": view.status_reason,
        "triggered_leg": view.triggered_leg,
        "triggered_order_id": view.triggered_order_id,
        "anchor_order_id": view.anchor_order_id,
        "client_trigger_id": view.client_trigger_id,
        "stop_loss_price": _price_or_none(view.stop_loss_price),
        "take_profit_price": _price_or_none(view.take_profit_price),
        "trail_amount": _price_or_none(view.trail_amount),
        "trail_bps": view.trail_bps,
        "watermark_price": _price_or_none(view.watermark_price),
        "effective_stop_price": _price_or_none(view.effective_stop_price),
    }
    body.update((key, value) for key, value in optional.items() if value is not None)
    body["count"] = format_count(view.count)
    body["filled_count"] = format_count(view.filled_count)
    body["created_time"] = rfc3339(view.created_time_ms)
    body["updated_time"] = rfc3339(view.updated_time_ms)
    return body


def exit_triggers(views: list[ExitTriggerView]) -> dict[str, Any]:
    """GetExitTriggersResponse."""
    return {"exit_triggers": [exit_trigger(view) for view in views]}


def _price_or_none(ticks: int | None) -> str | None:
    return None if ticks is None else format_price(ticks)
