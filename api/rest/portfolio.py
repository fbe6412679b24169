"""Positions, balance, risk, notional risk limit, fee tiers and rates, transfers and subaccounts.

Assumption: `POST /portfolio/margin/subaccounts` accepts no body at all (the spec declares none)
as well as a JSON object such as the `{}` kalshi-sdk sends; a non-empty body must be JSON.
Assumption: the subaccount transfer declares no 404, so an unknown subaccount is a 400 that
keeps the `subaccount_not_found` code.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from api import deps
from api.bodies import read_json
from api.errors import undeclared_as_bad_request
from api.responses import EMPTY, json_response
from api.wire import portfolio as wire
from simulator.core import errors
from simulator.risk import views

router = APIRouter()


@router.get("/margin/positions")
async def get_positions(
    caller: deps.Authenticated, subaccount: int | None = None, ticker: str | None = None
) -> Response:
    wire.check_subaccount(subaccount)
    rows = views.positions(caller.exchange, caller.user_id, subaccount, ticker or None)
    return json_response(wire.positions(rows))


@router.get("/margin/balance")
async def get_balance(
    caller: deps.Authenticated, compute_available_balance: str | None = None
) -> Response:
    compute = wire.available_flag(compute_available_balance)
    return json_response(wire.balance(views.balance(caller.exchange, caller.user_id, compute)))


@router.get("/margin/risk")
async def get_risk(caller: deps.Authenticated) -> Response:
    return json_response(wire.risk(views.risk(caller.exchange, caller.user_id)))


@router.get("/margin/notional_risk_limit")
async def get_notional_risk_limit(caller: deps.Authenticated) -> Response:
    view = views.notional_risk_limit(caller.exchange, caller.user_id)
    return json_response(wire.notional_risk_limit(view))


@router.get("/margin/fee_tiers")
async def get_fee_tiers(caller: deps.Authenticated) -> Response:
    maker, taker = views.fee_tiers(caller.exchange, caller.user_id)
    return json_response(wire.fee_tiers(maker, taker))


@router.get("/margin/fee_tier_rates")
async def get_fee_tier_rates(caller: deps.Authenticated) -> Response:
    return json_response(wire.fee_tier_rates(views.fee_tier_rates(caller.exchange)))


@router.post("/portfolio/intra_exchange_instance_transfer")
async def intra_exchange_instance_transfer(
    request: Request, caller: deps.Authenticated
) -> Response:
    body = await read_json(request, wire.InstanceTransferBody)
    amount = wire.instance_transfer_amount(body)
    transfer_id = caller.exchange.instance_transfer(
        caller.user_id, body.source, body.destination, amount, body.client_transfer_id
    )
    return json_response({"transfer_id": transfer_id})


@router.post("/portfolio/margin/subaccounts", status_code=201)
async def create_subaccount(request: Request, caller: deps.Authenticated) -> Response:
    if _has_body(request):
        await read_json(request, dict[str, Any])
    number = caller.exchange.create_subaccount(caller.user_id)
    return json_response({"subaccount_number": number}, 201)


@router.post("/portfolio/margin/subaccounts/transfer")
async def transfer_between_subaccounts(request: Request, caller: deps.Authenticated) -> Response:
    body = await read_json(request, wire.SubaccountTransferBody)
    amount = wire.subaccount_transfer_amount(body)
    with undeclared_as_bad_request(errors.SubaccountNotFoundError):
        caller.exchange.transfer(
            caller.user_id,
            body.from_subaccount,
            body.to_subaccount,
            amount,
            body.client_transfer_id,
        )
    return json_response(EMPTY)


def _has_body(request: Request) -> bool:
    # a declared length of 0, or neither a length nor chunked encoding, means no body
    headers = request.headers
    length = headers.get("content-length")
    if length is not None:
        return length.strip() != "0"
    return "transfer-encoding" in headers
