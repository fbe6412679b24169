"""Order groups: list, create, get, delete, reset, trigger and limit.

`subaccount` is a body field on create; elsewhere a query parameter (omitted = every
subaccount on list and get, 0 on delete, reset, trigger and limit). Delete, reset, trigger and
limit answer 200 `{}`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from api import deps
from api.bodies import read_json
from api.errors import as_declared
from api.responses import EMPTY, json_response
from api.wire import order_groups as wire
from api.wire.orders import check_id
from simulator.core.errors import RejectError

router = APIRouter()

_CREATE = frozenset({400, 401})

Subaccount = Annotated[int | None, Query(ge=0)]
Primary = Annotated[int, Query(ge=0)]


@router.get("/margin/order_groups")
async def list_groups(caller: deps.Authenticated, subaccount: Subaccount = None) -> Response:
    groups = caller.exchange.groups.list(caller.user_id, subaccount)
    return json_response({"order_groups": [wire.group_summary(group) for group in groups]})


@router.post("/margin/order_groups/create", status_code=201)
async def create_group(request: Request, caller: deps.Authenticated) -> Response:
    body = await read_json(request, wire.CreateGroupBody)
    subaccount = body.subaccount or 0
    try:
        group = caller.exchange.groups.create(
            caller.user_id, subaccount, wire.contracts_limit(body), body.exchange_index or 0
        )
    except RejectError as exc:
        raise as_declared(exc, _CREATE) from None
    return json_response(
        {
            "order_group_id": group.id,
            "subaccount": group.subaccount,
            "exchange_index": group.exchange_index,
        },
        201,
    )


@router.get("/margin/order_groups/{order_group_id}")
async def get_group(
    order_group_id: str, caller: deps.Authenticated, subaccount: Subaccount = None
) -> Response:
    check_id(order_group_id, "order_group_id")
    group = caller.exchange.groups.get(caller.user_id, order_group_id, subaccount)
    return json_response(wire.group_detail(group))


@router.delete("/margin/order_groups/{order_group_id}")
async def delete_group(
    order_group_id: str, caller: deps.Authenticated, subaccount: Primary = 0
) -> Response:
    check_id(order_group_id, "order_group_id")
    caller.exchange.groups.delete(caller.user_id, order_group_id, subaccount)
    return json_response(EMPTY)


@router.put("/margin/order_groups/{order_group_id}/reset")
async def reset_group(
    order_group_id: str, request: Request, caller: deps.Authenticated, subaccount: Primary = 0
) -> Response:
    check_id(order_group_id, "order_group_id")
    await wire.read_optional_body(request)
    caller.exchange.groups.reset(caller.user_id, order_group_id, subaccount)
    return json_response(EMPTY)


@router.put("/margin/order_groups/{order_group_id}/trigger")
async def trigger_group(
    order_group_id: str, request: Request, caller: deps.Authenticated, subaccount: Primary = 0
) -> Response:
    check_id(order_group_id, "order_group_id")
    await wire.read_optional_body(request)
    caller.exchange.groups.trigger(caller.user_id, order_group_id, subaccount)
    return json_response(EMPTY)


@router.put("/margin/order_groups/{order_group_id}/limit")
async def update_group_limit(
    order_group_id: str, request: Request, caller: deps.Authenticated, subaccount: Primary = 0
) -> Response:
    check_id(order_group_id, "order_group_id")
    body = await read_json(request, wire.LimitBody)
    limit = wire.contracts_limit(body)
    caller.exchange.groups.update_limit(caller.user_id, order_group_id, limit, subaccount)
    return json_response(EMPTY)
