"""Orders: create, get, list, amend, decrease, cancel, cancel-all, and the FCM order list.

`subaccount` is a body field on create and a query parameter everywhere else (default 0 on
cancel, decrease and amend; omitted = every subaccount on the lists and cancel-all).

Assumption: `GET /margin/fcm/orders` (removed upstream, still called by kalshi-sdk) lists the
orders of one of the caller's subtraders exactly like `GET /margin/orders`; every user is also
its own subtrader (`subtrader_id` = the caller's user id). Another id is 400 `not_found` (the
operation declares no 404).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api import deps
from api.bodies import read_json
from api.errors import as_declared
from api.responses import json_response, no_content
from api.wire import orders as wire
from simulator.core.errors import RejectError

router = APIRouter()

_CREATE = frozenset({400, 401, 409, 429})
_AMEND = frozenset({400, 401, 404})
_FCM_LIST = frozenset({400, 401})

Subaccount = Annotated[int | None, Query(ge=0)]
Primary = Annotated[int, Query(ge=0)]
Limit = Annotated[int, Query(ge=1, le=10_000)]


async def create_order(request: Request) -> Response:
    """`POST /margin/orders`: the hot path, served as a plain Starlette route (`HOT_ROUTES`).

    FastAPI's per-request dependency solving and handler wrapping cost more than the
    signature check itself (measured with `benchmarks/bench_rest.py --profile`).
    """
    caller = await deps.authenticated(request)
    body = await read_json(request, wire.CreateOrderBody)
    exchange = caller.exchange
    try:
        result = exchange.place_order(caller.user_id, wire.place_command(body, exchange))
    except RejectError as exc:
        raise as_declared(exc, _CREATE) from None
    return json_response(wire.create_response(result), 201)


HOT_ROUTES = [Route("/margin/orders", create_order, methods=["POST"])]
"""Routes mounted ahead of the FastAPI routers (paths relative to `/trade-api/v2`)."""


@router.get("/margin/orders")
async def list_orders(
    caller: deps.Authenticated,
    ticker: str | None = None,
    status: str | None = None,
    min_ts: int | None = None,
    max_ts: int | None = None,
    limit: Limit = 10_000,
    cursor: str | None = None,
    subaccount: Subaccount = None,
) -> Response:
    index = caller.exchange.order_index
    user_id = caller.user_id
    return json_response(
        wire.order_page(
            index.of(user_id),
            index.numbers(user_id),
            index.count(user_id),
            ticker=ticker,
            status=status,
            subaccount=subaccount,
            min_ts=min_ts,
            max_ts=max_ts,
            limit=limit,
            cursor=cursor,
        )
    )


@router.delete("/margin/orders", status_code=204)
async def cancel_all_orders(caller: deps.Authenticated, subaccount: Subaccount = None) -> Response:
    caller.exchange.cancel_all(caller.user_id, subaccount)
    return no_content()


@router.get("/margin/fcm/orders")
async def list_fcm_orders(
    caller: deps.Authenticated,
    subtrader_id: str,
    ticker: str | None = None,
    status: str | None = None,
    min_ts: int | None = None,
    max_ts: int | None = None,
    limit: Limit = 10_000,
    cursor: str | None = None,
) -> Response:
    exchange = caller.exchange
    try:
        owner = wire.fcm_order_owner(exchange, caller.user_id, subtrader_id)
    except RejectError as exc:
        raise as_declared(exc, _FCM_LIST) from None
    index = exchange.order_index
    return json_response(
        wire.order_page(
            index.of(owner),
            index.numbers(owner),
            index.count(owner),
            ticker=ticker,
            status=status,
            subaccount=None,
            min_ts=min_ts,
            max_ts=max_ts,
            limit=limit,
            cursor=cursor,
        )
    )


@router.get("/margin/orders/{order_id}")
async def get_order(order_id: str, caller: deps.Authenticated) -> Response:
    wire.check_id(order_id, "order_id")
    record = caller.exchange.order(caller.user_id, order_id)
    return json_response({"order": wire.margin_order(record)})


@router.delete("/margin/orders/{order_id}")
async def cancel_order(
    order_id: str, caller: deps.Authenticated, subaccount: Primary = 0
) -> Response:
    wire.check_id(order_id, "order_id")
    record, reduced = caller.exchange.cancel_order(caller.user_id, order_id, subaccount)
    return json_response(wire.cancel_response(record, reduced))


@router.post("/margin/orders/{order_id}/decrease")
async def decrease_order(
    order_id: str, request: Request, caller: deps.Authenticated, subaccount: Primary = 0
) -> Response:
    wire.check_id(order_id, "order_id")
    body = await read_json(request, wire.DecreaseBody)
    reduce_by, reduce_to = wire.decrease_amounts(body)
    record = caller.exchange.decrease_order(
        caller.user_id, order_id, reduce_by=reduce_by, reduce_to=reduce_to, subaccount=subaccount
    )
    return json_response(wire.decrease_response(record))


@router.post("/margin/orders/{order_id}/amend")
async def amend_order(
    order_id: str, request: Request, caller: deps.Authenticated, subaccount: Primary = 0
) -> Response:
    wire.check_id(order_id, "order_id")
    body = await read_json(request, wire.AmendBody)
    command = wire.amend_command(body, subaccount)
    try:
        result = caller.exchange.amend_order(caller.user_id, order_id, command)
    except RejectError as exc:
        raise as_declared(exc, _AMEND) from None
    return json_response(wire.amend_response(result))
