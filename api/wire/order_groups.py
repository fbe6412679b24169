"""Order groups on the wire: request structs, the optional `{}` body, and group rendering.

Assumption: `exchange_index` may be any non-negative integer (every margin market is on 0).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from starlette.requests import Request

from api.bodies import read_json
from simulator.core.money import format_count
from simulator.trading.order_groups import OrderGroup, contracts_limit_from_wire

__all__ = [
    "CreateGroupBody",
    "LimitBody",
    "contracts_limit",
    "group_detail",
    "group_summary",
    "read_optional_body",
]

NonNegative = Annotated[int, msgspec.Meta(ge=0)]


class CreateGroupBody(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """CreateOrderGroupRequest: `contracts_limit` or `contracts_limit_fp` (equal if both)."""

    subaccount: NonNegative | None = None
    contracts_limit: int | None = None
    contracts_limit_fp: str | None = None
    exchange_index: NonNegative | None = None


class LimitBody(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """UpdateOrderGroupLimitRequest."""

    contracts_limit: int | None = None
    contracts_limit_fp: str | None = None


class _AnyObject(msgspec.Struct):
    """Any JSON object (reset and trigger take `{}`)."""


def contracts_limit(body: CreateGroupBody | LimitBody) -> int:
    """The limit in 1/100 contract, or 400 `invalid_parameters`."""
    return contracts_limit_from_wire(body.contracts_limit, body.contracts_limit_fp)


async def read_optional_body(request: Request) -> None:
    """Accept no body at all, or a JSON object (what kalshi-sdk sends: `{}`)."""
    headers = request.headers
    if headers.get("content-length", "0") == "0" and "transfer-encoding" not in headers:
        return
    await read_json(request, _AnyObject)


def group_summary(group: OrderGroup) -> dict[str, Any]:
    """OrderGroup (an entry of the list)."""
    return {
        "id": group.id,
        "contracts_limit_fp": format_count(group.contracts_limit),
        "is_auto_cancel_enabled": group.is_auto_cancel_enabled,
        "exchange_index": group.exchange_index,
    }


def group_detail(group: OrderGroup) -> dict[str, Any]:
    """GetOrderGroupResponse: the group and its live member order ids."""
    return {
        "is_auto_cancel_enabled": group.is_auto_cancel_enabled,
        "contracts_limit_fp": format_count(group.contracts_limit),
        "orders": list(group.orders),
        "exchange_index": group.exchange_index,
    }
