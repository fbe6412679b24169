"""FastAPI dependencies shared by the REST handlers: the exchange and the calling user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from api import ratelimit
from simulator.exchange import Exchange
from simulator.model.ledger import User
from simulator.server.runtime import Runtime

__all__ = [
    "Authenticated",
    "Caller",
    "CurrentExchange",
    "CurrentRuntime",
    "authenticated",
    "exchange",
    "runtime",
]


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated request: the user and the exchange to act on."""

    user: User
    exchange: Exchange

    @property
    def user_id(self) -> str:
        return self.user.user_id


async def runtime(request: Request) -> Runtime:
    found: Runtime = request.app.state.runtime
    return found


async def exchange(request: Request) -> Exchange:
    """The current exchange (it changes on reset, so never cache it)."""
    found: Exchange = request.app.state.runtime.exchange
    return found


async def authenticated(request: Request) -> Caller:
    """Check the request's signature and rate limit; the caller for the handler."""
    state = request.app.state
    user = state.authenticator.authenticate(request)
    ratelimit.charge(state.runtime.rate_limiter, user.user_id, request)
    return Caller(user, state.runtime.exchange)


CurrentRuntime = Annotated[Runtime, Depends(runtime)]
"""Handler parameter type: the runtime."""
CurrentExchange = Annotated[Exchange, Depends(exchange)]
"""Handler parameter type: the current exchange (public operations)."""
Authenticated = Annotated[Caller, Depends(authenticated)]
"""Handler parameter type: the signed-in caller (operations that need a signature)."""
