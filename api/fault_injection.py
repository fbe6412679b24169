"""REST faults (`simulator.server.faults`): added latency and error answers, before any handler.

A pure ASGI wrapper around the app: for each HTTP request outside `/sim/v1` it asks the
runtime's `Faults` what applies. Latency waits on the event loop (other requests go on); an
error is answered at once in Kalshi's shape (`api.errors.error_response`: the envelope, or the
429 body) and the request never reaches its handler, so nothing changes. With no fault held
the wrapper costs one length check.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_response
from simulator.server.runtime import Runtime

__all__ = ["FaultInjection"]

_CODES = {
    500: ("internal_server_error", "internal server error"),
    502: ("bad_gateway", "bad gateway"),
    503: ("service_unavailable", "service_unavailable"),
    504: ("gateway_timeout", "gateway timeout"),
    429: ("too_many_requests", "too many requests"),
}


class FaultInjection:
    """Pure ASGI middleware applying the runtime's REST faults."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        faults = self.runtime.faults
        if not len(faults) or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        decided = faults.rest(scope["method"], scope["path"])
        if decided.latency_ms:
            await asyncio.sleep(decided.latency_ms / 1000)
        if decided.status is None:
            await self.app(scope, receive, send)
            return
        code, message = _CODES[decided.status]
        await error_response(decided.status, code, message)(scope, receive, send)
