"""The control plane under `/sim/v1` (DESIGN.md, "Interfaces users and tests rely on").

JSON in and out, errors in the same envelope as the REST API. Everything here is the
simulator's own: it never appears under `/trade-api`. Handlers only parse, call the runtime or
the exchange, and render.

`GET /state` exports the snapshot of `simulator.server.snapshots` (scenario, seed and command log);
`PUT /state` replays one and installs it, or answers 400 `invalid_parameters` and leaves the
running exchange alone; `GET /state/hash` is the current `state_hash` (for tests).
Assumption: a snapshot body may be far larger than an API request, so `PUT /state` has its own
size cap (`MAX_SNAPSHOT_BYTES`) instead of the server's `max_body_bytes`.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from api import deps
from api.bodies import read_json
from api.errors import ApiError, BadRequestError
from api.responses import json_response
from api.wire.common import rfc3339
from simulator.core.clock import ManualClock
from simulator.core.money import parse_dollars, parse_price
from simulator.server.runtime import Runtime

router = APIRouter()

MAX_SNAPSHOT_BYTES = 1 << 29


class _Conflict(ApiError):
    status = 409
    code = "conflict"


class NewUser(msgspec.Struct, forbid_unknown_fields=True):
    balance: str = "0"
    public_key_pem: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None


class Deposit(msgspec.Struct, forbid_unknown_fields=True):
    amount: str
    subaccount: int = 0


MAX_ADVANCE_MS = 7 * 86_400_000
"""Longest jump of one `POST /clock/advance`: every timer on the way fires, so the work grows
with the jump (a day of the default scenario is seconds); a bound keeps one request bounded."""


class Advance(msgspec.Struct, forbid_unknown_fields=True):
    ms: int


class ReferencePrice(msgspec.Struct, forbid_unknown_fields=True):
    price: str


class MarketStatusBody(msgspec.Struct, forbid_unknown_fields=True):
    status: Literal["active", "inactive", "closed"]
    halt_sources: list[str] | None = None


class ExchangeStatusBody(msgspec.Struct, forbid_unknown_fields=True):
    exchange_active: bool | None = None
    trading_active: bool | None = None


class RateLimitsBody(msgspec.Struct, forbid_unknown_fields=True):
    enabled: bool | None = None
    usage_tier: str | None = None


def _money(text: str, name: str) -> int:
    try:
        return parse_dollars(text)
    except ValueError as exc:
        raise BadRequestError(f"{name}: {exc}") from None


@router.get("/health")
async def health(runtime: deps.CurrentRuntime) -> Response:
    exchange = runtime.exchange
    return json_response(
        {
            "status": "ok",
            "scenario": runtime.scenario.name,
            "clock": runtime.clock_mode,
            "now_ms": exchange.now(),
            "markets": list(exchange.markets),
        }
    )


@router.post("/users", status_code=201)
async def create_user(request: Request, runtime: deps.CurrentRuntime) -> Response:
    body = await read_json(request, NewUser, lenient_type=True)
    balance = _money(body.balance, "balance")
    private_pem: str | None = None
    public_pem = body.public_key_pem
    if public_pem is None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        public_pem = (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
    else:
        try:
            loaded = serialization.load_pem_public_key(public_pem.encode())
        except ValueError:
            raise BadRequestError("public_key_pem is not a PEM public key") from None
        if not isinstance(loaded, RSAPublicKey):
            raise BadRequestError("public_key_pem must be an RSA key")
    user = runtime.exchange.create_user(
        user_id=body.user_id,
        api_key_id=body.api_key_id,
        public_key_pem=public_pem,
        balance=balance,
    )
    created: dict[str, Any] = {"user_id": user.user_id, "api_key_id": user.api_keys[0].key_id}
    if private_pem is not None:
        created["private_key_pem"] = private_pem
    return json_response(created, 201)


@router.post("/users/{user_id}/deposit")
async def deposit(user_id: str, request: Request, runtime: deps.CurrentRuntime) -> Response:
    body = await read_json(request, Deposit, lenient_type=True)
    cash = runtime.exchange.deposit(user_id, _money(body.amount, "amount"), body.subaccount)
    return json_response({"user_id": user_id, "subaccount": body.subaccount, "cash": cash})


@router.post("/users/{user_id}/rate_limits")
async def rate_limits(user_id: str, request: Request, runtime: deps.CurrentRuntime) -> Response:
    body = await read_json(request, RateLimitsBody, lenient_type=True)
    runtime.exchange.user(user_id)
    limiter = runtime.rate_limiter
    try:
        limiter.configure(user_id, enabled=body.enabled, tier=body.usage_tier)
    except ValueError as exc:
        raise BadRequestError(str(exc)) from None
    limits = limiter.limits(user_id)
    return json_response(
        {"user_id": user_id, "enabled": limiter.enabled_for(user_id), "usage_tier": limits.tier}
    )


def _clock_body(runtime: Runtime) -> dict[str, Any]:
    now = runtime.exchange.now()
    return {"mode": runtime.clock_mode, "now_ms": now, "now": rfc3339(now)}


@router.get("/clock")
async def get_clock(runtime: deps.CurrentRuntime) -> Response:
    return json_response(_clock_body(runtime))


@router.post("/clock/advance")
async def advance_clock(request: Request, runtime: deps.CurrentRuntime) -> Response:
    body = await read_json(request, Advance, lenient_type=True)
    if not 0 <= body.ms <= MAX_ADVANCE_MS:
        raise BadRequestError(
            f"ms must be between 0 and {MAX_ADVANCE_MS} (7 days); advance in several steps"
        )
    if not isinstance(runtime.exchange.clock, ManualClock):
        raise _Conflict(
            f"the clock is in {runtime.clock_mode} mode; only a manual clock can be advanced",
            code="clock_not_manual",
        )
    runtime.exchange.advance(body.ms)
    return json_response(_clock_body(runtime))


@router.post("/markets/{ticker}/reference_price")
async def reference_price(ticker: str, request: Request, runtime: deps.CurrentRuntime) -> Response:
    body = await read_json(request, ReferencePrice, lenient_type=True)
    try:
        price = parse_price(body.price)
    except ValueError as exc:
        raise BadRequestError(f"price: {exc}") from None
    exchange = runtime.exchange
    exchange.set_reference_price(ticker, price)
    data = exchange.market_data(ticker)
    return json_response(
        {
            "ticker": ticker,
            "price": body.price,
            "ts_ms": exchange.now(),
            "mark_ts_ms": data.mark_ts_ms,
        }
    )


@router.post("/markets/{ticker}/status")
async def market_status(ticker: str, request: Request, runtime: deps.CurrentRuntime) -> Response:
    body = await read_json(request, MarketStatusBody, lenient_type=True)
    exchange = runtime.exchange
    exchange.set_market_status(ticker, body.status, body.halt_sources)
    market = exchange.market_data(ticker).market
    return json_response(
        {"ticker": ticker, "status": market.status, "halt_sources": list(market.halt_sources)}
    )


@router.post("/exchange/status")
async def exchange_status(request: Request, runtime: deps.CurrentRuntime) -> Response:
    body = await read_json(request, ExchangeStatusBody, lenient_type=True)
    exchange = runtime.exchange
    if body.exchange_active is not None and body.exchange_active != exchange.exchange_active:
        exchange.set_exchange_active(body.exchange_active, "manual")
    if body.trading_active is not None and body.trading_active != exchange.trading_active:
        exchange.set_trading_active(body.trading_active, "manual")
    return json_response(
        {"exchange_active": exchange.exchange_active, "trading_active": exchange.trading_active}
    )


@router.post("/reset")
async def reset(request: Request, runtime: deps.CurrentRuntime) -> Response:
    runtime.reset()
    runtime.rate_limiter.reset()
    return json_response(_clock_body(runtime) | {"status": "reset"})


@router.get("/events")
async def events(runtime: deps.CurrentRuntime, after: int = 0, limit: int = 1000) -> Response:
    if after < 0 or not 1 <= limit <= 100_000:
        raise BadRequestError("after must be >= 0 and limit between 1 and 100000")
    exchange = runtime.exchange
    found = exchange.events_since(after, limit)
    rendered = [{"seq": seq, "event": msgspec.to_builtins(event)} for seq, event in found]
    return json_response({"events": rendered, "last_seq": exchange.journal.last_seq})


@router.get("/state")
async def export_state(runtime: deps.CurrentRuntime) -> Response:
    return json_response(runtime.export_state())


@router.put("/state")
async def import_state(request: Request, runtime: deps.CurrentRuntime) -> Response:
    body = await _snapshot_body(request)
    exchange = runtime.import_state(body)
    return json_response(
        {"status": "imported", "now_ms": exchange.now(), "state_hash": runtime.state_hash()}
    )


@router.get("/state/hash")
async def get_state_hash(runtime: deps.CurrentRuntime) -> Response:
    return json_response({"state_hash": runtime.state_hash()})


async def _snapshot_body(request: Request) -> bytes:
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in ("application/json", ""):
        raise BadRequestError(
            "request body must be JSON (Content-Type: application/json)",
            code="invalid_content_type",
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_SNAPSHOT_BYTES:
            raise BadRequestError(f"snapshot exceeds {MAX_SNAPSHOT_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
