"""The control plane under `/sim/v1` (DESIGN.md, "Interfaces users and tests rely on").

JSON in and out, errors in the same envelope as the REST API. Everything here is the
simulator's own: it never appears under `/trade-api`. Handlers only parse, call the runtime or
the exchange, and render.

`GET /state` exports the snapshot of `simulator.server.snapshots` (scenario, seed and command log);
`PUT /state` replays one and installs it, or answers 400 `invalid_parameters` and leaves the
running exchange alone; `GET /state/hash` is the current `state_hash` (for tests).
Assumption: a snapshot body may be far larger than an API request, so `PUT /state` has its own
size cap (`MAX_SNAPSHOT_BYTES`) instead of the server's `max_body_bytes`.

`POST /clock/advance` runs in slices on the event loop (`simulator.server.advancer`): other
requests are served meanwhile. `{"ms": N}` (or `{"to_ms": T}`, an instant: the span to it from
now) answers 200 once the clock is there; with
`"wait": false` it answers 202 at once, and `GET /clock` shows its progress in `advance`
(`{"target_ms", "reached_ms", "percent", "eta_ms"}`; absent when no advance runs). While one
runs, writes wait for its end (`api.advance_gate`) and another advance, `POST /reset` and
`PUT /state` are refused: 409 `advance_in_progress`, nothing changed (`EXCLUSIVE`).
`lag_ms` in `GET /clock` is how far a wall or accelerated clock is ahead of the oldest timer the
exchange has not fired yet (`simulator.server.clock_driver.lag_ms`); absent with a manual clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Path, Query
from starlette.requests import Request
from starlette.responses import Response

from api import deps
from api.bodies import read_json
from api.errors import ApiError, BadRequestError
from api.responses import json_response
from api.wire import control as wire
from api.wire.clock import clock_body, clock_now
from simulator.core.clock import ManualClock
from simulator.core.money import parse_dollars, parse_price
from simulator.server.advancer import AdvanceInProgressError
from simulator.server.snapshots import Snapshot

router = APIRouter(tags=["simulator"])

EXCLUSIVE = (("POST", "/clock/advance"), ("POST", "/reset"), ("PUT", "/state"))
"""`(method, path)` below the prefix of the operations refused while an advance runs."""

MAX_SNAPSHOT_BYTES = 1 << 29
MAX_ADVANCE_MS = wire.MAX_ADVANCE_MS

UserId = Annotated[str, Path(description="a user's id", examples=["demo-user"])]
Ticker = Annotated[str, Path(description="a market's ticker", examples=["KXBTCPERP"])]

_START_MS = 1_781_481_600_000  # the built-in scenarios' start, for the examples
_CLOCK = {"mode": "manual", "now_ms": _START_MS, "now": "2026-06-15T00:00:00.000Z"}
_ADVANCING = {
    "mode": "manual",
    "now_ms": _START_MS + 21_600_000,
    "now": "2026-06-15T06:00:00.000Z",
    "advance": {
        "target_ms": _START_MS + 86_400_000,
        "reached_ms": _START_MS + 21_600_000,
        "percent": 25.0,
        "eta_ms": 7_500,
    },
}
_HASH = "9c1d5e0b7a3f4c2e8b6d1a0f5e4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3a2"
_USER_ERRORS = {400: "invalid_parameters", 404: "user_not_found"}
_MARKET_ERRORS = {400: "invalid_parameters", 404: "market_not_found"}


class _Conflict(ApiError):
    status = 409
    code = "conflict"


@contextmanager
def _not_during_an_advance() -> Iterator[None]:
    try:
        yield
    except AdvanceInProgressError as exc:
        raise _Conflict(str(exc), code=exc.code) from None


def _money(text: str, name: str) -> int:
    try:
        return parse_dollars(text)
    except ValueError as exc:
        raise BadRequestError(f"{name}: {exc}") from None


@router.get(
    "/health",
    **wire.operation(
        "Ready, and what it serves",
        wire.Health,
        {
            "status": "ok",
            "scenario": "bare",
            "clock": "manual",
            "now_ms": _START_MS,
            "markets": ["KXBTCPERP", "KXETHPERP", "KXSOLPERP"],
        },
        errors={},
    ),
)
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


@router.post(
    "/users",
    status_code=201,
    **wire.operation(
        "Create a user with an API key",
        wire.CreatedUser,
        {
            "user_id": "alice",
            "api_key_id": "2f0b6c1e-8d4a-5b7e-9c3f-1a2b3c4d5e6f",
            "private_key_pem": "-----BEGIN PRIVATE KEY-----\nMIIEvQ...\n-----END PRIVATE KEY-----",
        },
        body=wire.CreateUserRequest,
        examples={
            "trader": {
                "balance": "100000",
                "user_id": "alice",
                "notional_limit": "20000",
                "usage_tier": "premier",
            },
            "defaults": {},
        },
        status=201,
    ),
)
async def create_user(request: Request, runtime: deps.CurrentRuntime) -> Response:
    body = await read_json(request, wire.CreateUserRequest)
    balance = _money(body.balance, "balance")
    limit = body.notional_limit
    user, private_pem = runtime.create_user(
        balance=balance,
        public_key_pem=body.public_key_pem,
        user_id=body.user_id,
        api_key_id=body.api_key_id,
        notional_limit=None if limit is None else _money(limit, "notional_limit"),
        usage_tier=body.usage_tier,
    )
    created: dict[str, Any] = {"user_id": user.user_id, "api_key_id": user.api_keys[0].key_id}
    if private_pem is not None:
        created["private_key_pem"] = private_pem
    return json_response(created, 201)


@router.post(
    "/users/{user_id}/deposit",
    **wire.operation(
        "Credit cash to a subaccount",
        wire.Deposited,
        {"user_id": "demo-user", "subaccount": 0, "cash": 10_500_000_000},
        body=wire.DepositRequest,
        examples={
            "primary": {"amount": "500.0000"},
            "explicit": {"amount": "250", "subaccount": 0},
        },
        errors=_USER_ERRORS,
    ),
)
async def deposit(user_id: UserId, request: Request, runtime: deps.CurrentRuntime) -> Response:
    body = await read_json(request, wire.DepositRequest)
    cash = runtime.exchange.deposit(user_id, _money(body.amount, "amount"), body.subaccount)
    return json_response({"user_id": user_id, "subaccount": body.subaccount, "cash": cash})


@router.post(
    "/users/{user_id}/rate_limits",
    **wire.operation(
        "Switch a user's rate limits and set its tier",
        wire.RateLimits,
        {"user_id": "demo-user", "enabled": True, "usage_tier": "advanced"},
        body=wire.RateLimitsRequest,
        examples={"advanced": {"enabled": True, "usage_tier": "advanced"}, "default": {}},
        errors=_USER_ERRORS,
    ),
)
async def rate_limits(user_id: UserId, request: Request, runtime: deps.CurrentRuntime) -> Response:
    body = await read_json(request, wire.RateLimitsRequest)
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


@router.get(
    "/clock",
    **wire.operation(
        "Simulated time, the lag of a running clock and the advance under way",
        wire.Clock,
        _CLOCK,
        errors={},
    ),
)
async def get_clock(runtime: deps.CurrentRuntime) -> Response:
    return json_response(clock_now(runtime))


@router.post(
    "/clock/advance",
    **wire.operation(
        "Move a manual clock, firing every due timer in order",
        wire.Clock,
        {"mode": "manual", "now_ms": _START_MS + 3_600_000, "now": "2026-06-15T01:00:00.000Z"},
        body=wire.AdvanceClockRequest,
        examples={
            "one_hour": {"ms": 3_600_000},
            "to_an_instant": {"to_ms": _START_MS + 3_600_000},
        },
        errors={400: "invalid_parameters", 409: "clock_not_manual"},
        accepted=(wire.Clock, _ADVANCING),
    ),
)
async def advance_clock(request: Request, runtime: deps.CurrentRuntime) -> Response:
    body = await read_json(request, wire.AdvanceClockRequest)
    if (body.ms is None) == (body.to_ms is None):
        raise BadRequestError("give ms (how far to move) or to_ms (where to), one of them")
    if body.ms is not None:
        ms = body.ms
        if not 0 <= ms <= MAX_ADVANCE_MS:
            raise BadRequestError(
                f"ms must be between 0 and {MAX_ADVANCE_MS} (7 days); advance in several steps"
            )
    else:
        assert body.to_ms is not None
        now = runtime.exchange.now()
        ms = body.to_ms - now
        if ms < 0:
            raise BadRequestError(f"to_ms {body.to_ms} is before now ({now}): time only moves on")
        if ms > MAX_ADVANCE_MS:
            raise BadRequestError(
                f"to_ms {body.to_ms} is more than 7 days after now ({now}); "
                "advance in several steps"
            )
    if not isinstance(runtime.exchange.clock, ManualClock):
        raise _Conflict(
            f"the clock is in {runtime.clock_mode} mode; only a manual clock can be advanced",
            code="clock_not_manual",
        )
    advancer = runtime.advancer
    with _not_during_an_advance():
        advancer.start(runtime.exchange, ms)
    if not body.wait:
        return json_response(clock_now(runtime), 202)
    await advancer.wait()
    return json_response(clock_now(runtime))


@router.post(
    "/markets/{ticker}/reference_price",
    **wire.operation(
        "Set a market's index, optionally pinning it there",
        wire.ReferencePriceSet,
        {
            "ticker": "KXBTCPERP",
            "price": "6.3000",
            "ts_ms": _START_MS,
            "mark_ts_ms": _START_MS,
            "pinned": True,
        },
        body=wire.ReferencePriceRequest,
        examples={
            "set": {"price": "6.3000"},
            "pin": {"price": "6.3000", "pin": True},
            "release": {"price": "6.3000", "pin": False},
        },
        errors=_MARKET_ERRORS,
    ),
)
async def reference_price(
    ticker: Ticker, request: Request, runtime: deps.CurrentRuntime
) -> Response:
    body = await read_json(request, wire.ReferencePriceRequest)
    try:
        price = parse_price(body.price)
    except ValueError as exc:
        raise BadRequestError(f"price: {exc}") from None
    exchange = runtime.exchange
    exchange.set_reference_price(ticker, price, body.pin)
    data = exchange.market_data(ticker)
    return json_response(
        {
            "ticker": ticker,
            "price": body.price,
            "ts_ms": exchange.now(),
            "mark_ts_ms": data.mark_ts_ms,
            "pinned": data.pinned,
        }
    )


@router.post(
    "/markets/{ticker}/status",
    **wire.operation(
        "Open, pause or close a market",
        wire.MarketStatus,
        {"ticker": "KXBTCPERP", "status": "inactive", "halt_sources": ["manual"]},
        body=wire.MarketStatusRequest,
        examples={"pause": {"status": "inactive"}, "open": {"status": "active"}},
        errors=_MARKET_ERRORS,
    ),
)
async def market_status(ticker: Ticker, request: Request, runtime: deps.CurrentRuntime) -> Response:
    body = await read_json(request, wire.MarketStatusRequest)
    exchange = runtime.exchange
    exchange.set_market_status(ticker, body.status, body.halt_sources)
    market = exchange.market_data(ticker).market
    return json_response(
        {"ticker": ticker, "status": market.status, "halt_sources": list(market.halt_sources)}
    )


@router.post(
    "/exchange/status",
    **wire.operation(
        "Switch the exchange or trading on and off",
        wire.ExchangeStatus,
        {"exchange_active": True, "trading_active": False},
        body=wire.ExchangeStatusRequest,
        examples={
            "pause_trading": {"trading_active": False},
            "all_on": {"exchange_active": True, "trading_active": True},
        },
    ),
)
async def exchange_status(request: Request, runtime: deps.CurrentRuntime) -> Response:
    body = await read_json(request, wire.ExchangeStatusRequest)
    exchange = runtime.exchange
    if body.exchange_active is not None and body.exchange_active != exchange.exchange_active:
        exchange.set_exchange_active(body.exchange_active, "manual")
    if body.trading_active is not None and body.trading_active != exchange.trading_active:
        exchange.set_trading_active(body.trading_active, "manual")
    return json_response(
        {"exchange_active": exchange.exchange_active, "trading_active": exchange.trading_active}
    )


@router.post(
    "/reset",
    **wire.operation(
        "Back to the scenario's initial state (users, orders, time, pins, rate limits)",
        wire.Reset,
        _CLOCK | {"status": "reset"},
        errors={409: "advance_in_progress"},
    ),
)
async def reset(request: Request, runtime: deps.CurrentRuntime) -> Response:
    with _not_during_an_advance():
        runtime.reset()
    runtime.rate_limiter.reset()
    return json_response(clock_body(runtime) | {"status": "reset"})


@router.get(
    "/events",
    **wire.operation(
        "The event journal after a seq, oldest first",
        wire.Events,
        {
            "events": [
                {
                    "seq": 1,
                    "event": {
                        "type": "BalanceChanged",
                        "ts_ms": _START_MS,
                        "user_id": "alice",
                        "subaccount": 0,
                        "delta": 100_000_000_000,
                        "cash": 100_000_000_000,
                        "reason": "deposit",
                    },
                }
            ],
            "first_seq": 1,
            "last_seq": 1,
            "truncated": False,
        },
    ),
)
async def events(
    runtime: deps.CurrentRuntime,
    after: Annotated[
        int, Query(description="the seq of the last event seen; 0 for the oldest kept")
    ] = 0,
    limit: Annotated[int, Query(description="most events to answer, 1 to 100000")] = 1000,
) -> Response:
    if after < 0 or not 1 <= limit <= 100_000:
        raise BadRequestError("after must be >= 0 and limit between 1 and 100000")
    exchange = runtime.exchange
    journal = exchange.journal
    found = exchange.events_since(after, limit)
    rendered = [{"seq": seq, "event": msgspec.to_builtins(event)} for seq, event in found]
    return json_response(
        {
            "events": rendered,
            "first_seq": journal.first_seq,
            "last_seq": journal.last_seq,
            "truncated": journal.dropped_after(after),
        }
    )


# the snapshot examples are this server's scenario at its start, filled in by `api.openapi`
@router.get(
    "/state",
    **wire.operation("Export a snapshot of the whole state", Snapshot, None, errors={}),
)
async def export_state(runtime: deps.CurrentRuntime) -> Response:
    return json_response(runtime.export_state())


@router.put(
    "/state",
    **wire.operation(
        "Replay a snapshot and install it",
        wire.StateImported,
        {"status": "imported", "now_ms": _START_MS, "state_hash": _HASH},
        body=Snapshot,
        errors={400: "invalid_parameters", 409: "advance_in_progress"},
    ),
)
async def import_state(request: Request, runtime: deps.CurrentRuntime) -> Response:
    with _not_during_an_advance():
        runtime.advancer.check_idle("a state import")  # before reading a large body
        body = await _snapshot_body(request)
        exchange = runtime.import_state(body)
    return json_response(
        {"status": "imported", "now_ms": exchange.now(), "state_hash": runtime.state_hash()}
    )


@router.get(
    "/state/hash",
    **wire.operation("The state hash", wire.StateHash, {"state_hash": _HASH}, errors={}),
)
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
