"""Exit triggers (take profit / stop loss / trailing stop) on cross and isolated positions.

Cross routes take the `subaccount` query (default 0); isolated routes have none and address
subaccount 0. Setting returns the stored `ExitTrigger`, listing returns the live triggers and
the deletes answer 204 with no body.

Deviation: isolated positions are not modelled, so setting an isolated trigger is refused with
400 `invalid_order` (no open isolated position); listing and deleting them work and find none.
Assumption: the list and delete-all operations declare no 404, so an unknown ticker there is a
400 that keeps the `market_not_found` code.
Assumption: trigger ids are UUIDs; a malformed one is 400 `invalid_parameters`, an unknown one
404.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from api import deps
from api.bodies import read_json
from api.errors import BadRequestError, undeclared_as_bad_request
from api.responses import json_response, no_content
from api.wire import exit_triggers as wire
from api.wire.portfolio import check_subaccount
from simulator.core import errors

router = APIRouter()

_ISOLATED = "/margin/isolated/positions/{ticker}/exit_trigger"
_CROSS = "/margin/cross/positions/{ticker}/exit_trigger"
_CROSS_ONE = "/margin/cross/positions/{ticker}/exit_trigger/{trigger_id}"


def _trigger_id(value: str) -> str:
    try:
        uuid.UUID(value)
    except ValueError:
        raise BadRequestError(f"trigger_id must be a UUID, was {value!r}") from None
    return value


@router.put(_ISOLATED)
async def set_isolated(ticker: str, request: Request, caller: deps.Authenticated) -> Response:
    body = await read_json(request, wire.SetIsolatedBody)
    views = caller.exchange.exit_triggers.set_isolated(
        caller.user_id, ticker, **wire.command_args(body)
    )
    return json_response(wire.exit_trigger(views[-1]))


@router.get(_ISOLATED)
async def get_isolated(
    ticker: str, caller: deps.Authenticated, kind: wire.Kind | None = None
) -> Response:
    with undeclared_as_bad_request(errors.MarketNotFoundError):
        views = caller.exchange.exit_triggers.list(
            caller.user_id, 0, ticker, kind=kind, isolated=True
        )
    return json_response(wire.exit_triggers(views))


@router.delete(_ISOLATED)
async def delete_isolated(
    ticker: str, caller: deps.Authenticated, kind: wire.Kind | None = None
) -> Response:
    with undeclared_as_bad_request(errors.MarketNotFoundError):
        caller.exchange.exit_triggers.delete_all(
            caller.user_id, 0, ticker, kind=kind, isolated=True
        )
    return no_content()


@router.put(_CROSS)
async def set_cross(
    ticker: str, request: Request, caller: deps.Authenticated, subaccount: int = 0
) -> Response:
    check_subaccount(subaccount)
    body = await read_json(request, wire.SetCrossBody)
    views = caller.exchange.exit_triggers.set_cross(
        caller.user_id, subaccount, ticker, **wire.command_args(body)
    )
    return json_response(wire.exit_trigger(views[-1]))


@router.get(_CROSS)
async def get_cross(
    ticker: str,
    caller: deps.Authenticated,
    subaccount: int = 0,
    kind: wire.Kind | None = None,
) -> Response:
    check_subaccount(subaccount)
    with undeclared_as_bad_request(errors.MarketNotFoundError):
        views = caller.exchange.exit_triggers.list(caller.user_id, subaccount, ticker, kind=kind)
    return json_response(wire.exit_triggers(views))


@router.delete(_CROSS)
async def delete_cross(
    ticker: str,
    caller: deps.Authenticated,
    subaccount: int = 0,
    kind: wire.Kind | None = None,
) -> Response:
    check_subaccount(subaccount)
    with undeclared_as_bad_request(errors.MarketNotFoundError):
        caller.exchange.exit_triggers.delete_all(caller.user_id, subaccount, ticker, kind=kind)
    return no_content()


@router.put(_CROSS_ONE)
async def update_cross(
    ticker: str,
    trigger_id: str,
    request: Request,
    caller: deps.Authenticated,
    subaccount: int = 0,
) -> Response:
    check_subaccount(subaccount)
    _trigger_id(trigger_id)
    body = await read_json(request, wire.UpdateBody)
    view = caller.exchange.exit_triggers.update(
        caller.user_id, subaccount, ticker, trigger_id, **wire.command_args(body)
    )
    return json_response(wire.exit_trigger(view))


@router.delete(_CROSS_ONE)
async def delete_cross_one(
    ticker: str, trigger_id: str, caller: deps.Authenticated, subaccount: int = 0
) -> Response:
    check_subaccount(subaccount)
    _trigger_id(trigger_id)
    caller.exchange.exit_triggers.delete(caller.user_id, subaccount, ticker, trigger_id)
    return no_content()
