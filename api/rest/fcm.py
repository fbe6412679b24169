"""FCM operations: create subtraders, manage their IM caps, set the member notional limit.

Any user may act as an FCM (see `simulator.risk.fcm`). A subtrader is a new account whose id is
`{user_id}_{subtrader_suffix}`; only the FCM that created it can read or change its risk
controls, and any other id is 404.

Assumption: API keys are never bound to a subtrader here, so `subtrader_id` is required on
`GET /margin/fcm/subtraders/risk_controls` (the spec's default for subtrader-bound keys never
applies); without it the request is 400 `invalid_parameters`.
Assumption: deleting a cap that is not set is 404 `not_found`.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from api import deps
from api.bodies import read_json
from api.errors import BadRequestError
from api.responses import EMPTY, json_response
from api.wire import fcm as wire

router = APIRouter()


@router.post("/margin/fcm/subtraders", status_code=201)
async def create_subtrader(request: Request, caller: deps.Authenticated) -> Response:
    body = await read_json(request, wire.CreateSubtraderBody)
    subtrader = caller.exchange.fcm.create_subtrader(
        caller.user_id, body.subtrader_suffix, body.require_category_cap
    )
    return json_response({"subtrader_id": subtrader.subtrader_id}, 201)


@router.get("/margin/fcm/subtraders/risk_controls")
async def get_risk_controls(
    caller: deps.Authenticated,
    subtrader_id: str | None = None,
    market_ticker: str | None = None,
    asset_class: wire.AssetClass | None = None,
) -> Response:
    if not subtrader_id:
        raise BadRequestError("subtrader_id is required")
    view = caller.exchange.fcm.risk_controls(
        caller.user_id, subtrader_id, market_ticker=market_ticker, asset_class=asset_class
    )
    return json_response(wire.risk_controls(view))


@router.put("/margin/fcm/subtraders/risk_controls")
async def update_risk_controls(request: Request, caller: deps.Authenticated) -> Response:
    body = await read_json(request, wire.RiskControlsBody)
    caller.exchange.fcm.set_im_cap(
        caller.user_id,
        body.subtrader_id,
        wire.amount(body.im_cap, "im_cap"),
        market_ticker=body.market_ticker,
        asset_class=body.asset_class,
    )
    return json_response(EMPTY)


@router.delete("/margin/fcm/subtraders/risk_controls")
async def delete_risk_controls(
    caller: deps.Authenticated,
    subtrader_id: str,
    market_ticker: str | None = None,
    asset_class: wire.AssetClass | None = None,
) -> Response:
    caller.exchange.fcm.delete_im_cap(
        caller.user_id, subtrader_id, market_ticker=market_ticker, asset_class=asset_class
    )
    return json_response(EMPTY)


@router.put("/margin/fcm/notional_risk_limit")
async def update_notional_risk_limit(request: Request, caller: deps.Authenticated) -> Response:
    body = await read_json(request, wire.NotionalLimitBody)
    limit = wire.amount(body.notional_value_risk_limit, "notional_value_risk_limit")
    caller.exchange.fcm.set_member_notional_limit(caller.user_id, limit)
    return json_response(EMPTY)


@router.delete("/margin/fcm/notional_risk_limit")
async def delete_notional_risk_limit(caller: deps.Authenticated) -> Response:
    caller.exchange.fcm.clear_member_notional_limit(caller.user_id)
    return json_response(EMPTY)
