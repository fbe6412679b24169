"""The FastAPI application: REST under `/trade-api/v2`, the margin WebSocket at
`/trade-api/ws/v2/margin`, control plane under `/sim/v1`, the dashboard at `/sim/ui`.

`create_app(runtime)` is the only constructor; all state lives on `app.state` (the runtime,
the authenticator, the WebSocket hub; the rate limiter is the runtime's, shared with FIX), never
in module globals. Writes wait while an advance runs (`api.advance_gate`, around every route).
The OpenAPI document (`api.openapi`: every route, the control plane's bodies, and the hot
`POST /margin/orders`) is served at `/openapi.json`, rendered offline at `/docs` and `/redoc`;
the contract of record is Kalshi's spec vendored in `fixtures/reference/perps_openapi.yaml`.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline
from starlette.routing import Route, WebSocketRoute

from api import control, control_faults, dashboard
from api.advance_gate import AdvanceGate
from api.auth import Authenticator
from api.control_guard import guard_control_plane
from api.dashboard import DashboardFeed
from api.durable_acks import DurableAcks
from api.errors import install_error_handlers
from api.fault_injection import FaultInjection
from api.http_limits import limited_protocol
from api.openapi import DOCS_ASSETS, install_openapi
from api.rest import (
    exchange,
    exit_triggers,
    fcm,
    fills,
    funding,
    markets,
    order_groups,
    orders,
    portfolio,
)
from api.ws.endpoint import WS_PATH, MarginSocket, uvicorn_options
from api.ws.hub import Hub
from simulator.server.runtime import Runtime, ServerSettings

__all__ = ["REST_PREFIX", "create_app", "server_options", "uvicorn_options"]

REST_PREFIX = "/trade-api/v2"
CONTROL_PREFIX = "/sim/v1"


def create_app(runtime: Runtime) -> FastAPI:
    """A FastAPI app serving `runtime`."""
    app = FastAPIOffline(
        title="perps-sim",
        description="Local simulator of Kalshi's Perps (margin) API; the simulator's own "
        "control plane is under /sim/v1 (tag `simulator`)",
        version="0.1.0",
        static_url=DOCS_ASSETS,
    )
    app.state.runtime = runtime
    app.state.authenticator = Authenticator(runtime)
    app.state.ws_hub = Hub(runtime)
    app.state.dashboard = DashboardFeed(runtime)
    install_error_handlers(app)
    exclusive = [(method, CONTROL_PREFIX + path) for method, path in control.EXCLUSIVE]
    app.add_middleware(AdvanceGate, advancer=runtime.advancer, exclusive=exclusive)
    for index, route in enumerate(orders.HOT_ROUTES):  # matched before every other route
        app.router.routes.insert(
            index, Route(REST_PREFIX + route.path, route.endpoint, methods=route.methods)
        )
    # Starlette matches routes in order, a few microseconds each: the order-entry routes come
    # first because they carry the traffic.
    for module in (
        orders,
        exchange,
        markets,
        funding,
        order_groups,
        fills,
        portfolio,
        exit_triggers,
        fcm,
    ):
        app.include_router(module.router, prefix=REST_PREFIX)
    for router in (control.router, control_faults.router, dashboard.view_router):
        app.include_router(
            router, prefix=CONTROL_PREFIX, dependencies=[Depends(guard_control_plane)]
        )
    app.include_router(dashboard.feed_router, prefix=CONTROL_PREFIX)
    app.include_router(dashboard.page_router)
    app.router.routes.append(WebSocketRoute(WS_PATH, MarginSocket()))
    install_openapi(app, runtime, rest_prefix=REST_PREFIX, control_prefix=CONTROL_PREFIX)
    if runtime.durability == "fsync":
        app.add_middleware(DurableAcks, runtime=runtime)
    app.add_middleware(FaultInjection, runtime=runtime)  # outermost: a faulted request stops here
    return app


def server_options(settings: ServerSettings) -> dict[str, Any]:
    """uvicorn `Config` arguments for serving the app with `settings`: the WebSocket limits
    and pings (`api.ws.endpoint.uvicorn_options`) and the HTTP head limits
    (`api.http_limits`)."""
    return {
        **uvicorn_options(settings.ws),
        "http": limited_protocol(settings.max_head_bytes, settings.head_timeout_s),
    }
