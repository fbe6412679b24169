"""Exchange status, margin enabled, risk parameters and the caller's API limits."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from api import deps
from api.responses import json_response
from api.wire import exchange as wire
from simulator.server.rate_limits import TIERS

router = APIRouter()


@router.get("/margin/exchange/status")
async def get_exchange_status(exchange: deps.CurrentExchange) -> Response:
    return json_response(wire.exchange_status(exchange))


@router.get("/margin/enabled")
async def get_enabled(caller: deps.Authenticated) -> Response:
    return json_response({"enabled": True})


@router.get("/margin/risk_parameters")
async def get_risk_parameters(exchange: deps.CurrentExchange) -> Response:
    return json_response(wire.risk_parameters(exchange))


@router.get("/account/limits/perps")
async def get_api_limits(request: Request, caller: deps.Authenticated) -> Response:
    limits = request.app.state.runtime.rate_limiter.limits(caller.user_id)
    tier = TIERS[limits.tier]
    return json_response(
        {
            "usage_tier": limits.tier,
            "read": {"refill_rate": tier.read_rate, "bucket_capacity": tier.read_capacity},
            "write": {"refill_rate": tier.write_rate, "bucket_capacity": tier.write_capacity},
            "grants": [],
        }
    )
