"""The one place REST errors take their wire shape (REST.md (b)).

Every error leaves as Kalshi's observed envelope
`{"error": {"code": ..., "message": ..., "details"?: ..., "service": ...}}`, except 429, whose
documented body is `{"error": "too many requests"}`. Sources:

- `RejectError` from the exchange: its own code and status;
- `ApiError` raised by the transport (auth, content type, body size, malformed input);
- FastAPI's request validation (422) becomes 400 `invalid_parameters`;
- Starlette's routing 404/405 become `not_found` / `method_not_allowed`;
- a rejection whose status the operation's spec does not declare (a 404 or 409 where only 400
  is declared) is answered 400 with the same code (`as_declared`, `undeclared_as_bad_request`);
- anything else becomes 500 `internal_server_error` (a bug: logged, state unchanged because
  exchange commands validate before they act).

Assumption: the codes for bad credentials (`unauthorized`), unknown routes and wrong methods
were never captured from Kalshi's perps host; these follow the documented lower-snake style.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator
from contextlib import contextmanager

import msgspec
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from simulator.core.errors import RejectError

__all__ = [
    "ApiError",
    "BadRequestError",
    "ForbiddenError",
    "RateLimitedError",
    "UnauthorizedError",
    "as_declared",
    "error_response",
    "install_error_handlers",
    "undeclared_as_bad_request",
]

_log = logging.getLogger("perps_sim.api")
_SERVICE = "exchange"
_encode = msgspec.json.encode
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


class ApiError(Exception):
    """A transport-level rejection with its status, code and message."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details


class BadRequestError(ApiError):
    status = 400
    code = "invalid_parameters"


class UnauthorizedError(ApiError):
    status = 401
    code = "unauthorized"


class ForbiddenError(ApiError):
    status = 403
    code = "forbidden"


class RateLimitedError(ApiError):
    status = 429
    code = "too_many_requests"


def as_declared(exc: RejectError, declared: Collection[int]) -> Exception:
    """`exc` itself when the operation declares its status, else a 400 with its code.

    The spec does not declare 404 or 409 on every operation; the simulator's code and message
    are kept, only the status changes.
    """
    if exc.http_status in declared:
        return exc
    return BadRequestError(exc.message, code=exc.code, details=exc.details)


@contextmanager
def undeclared_as_bad_request(*kinds: type[RejectError]) -> Iterator[None]:
    """Answer these rejections (whose status the operation does not declare) with a 400."""
    try:
        yield
    except kinds as exc:
        raise as_declared(exc, ()) from None


def error_response(status: int, code: str, message: str, details: str | None = None) -> Response:
    """A response carrying Kalshi's error envelope."""
    if status == 429:
        return Response(_encode({"error": "too many requests"}), 429, media_type="application/json")
    error: dict[str, str] = {"code": code, "message": message}
    if details:
        error["details"] = details
    error["service"] = _SERVICE
    return Response(_encode({"error": error}), status, media_type="application/json")


async def _reject(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RejectError)
    return error_response(exc.http_status, exc.code, exc.message, exc.details)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.details)


def _describe(errors: object) -> str:
    parts = []
    for error in errors if isinstance(errors, list) else []:
        location = ".".join(str(item) for item in error.get("loc", ()) if item != "body")
        parts.append(f"{location}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(400, "invalid_parameters", _describe(exc.errors()))


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return error_response(404, "not_found", "not found")
    if exc.status_code == 405:
        response = error_response(405, "method_not_allowed", "method not allowed")
        if exc.headers:
            response.headers.update(exc.headers)
        allowed = _allowed_methods(request)
        if allowed:
            response.headers["allow"] = ", ".join(allowed)
        return response
    return error_response(exc.status_code, "bad_request", str(exc.detail))


def _allowed_methods(request: Request) -> list[str]:
    # Starlette's Allow names only the first route whose path matches; a path served by
    # several routes (GET, POST and DELETE /margin/orders) allows the methods of all of them.
    routes = request.app.router.routes
    allowed = []
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in routes):
            allowed.append(method)
    return allowed


async def _unexpected(request: Request, exc: Exception) -> Response:
    _log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_server_error", "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    """Route every error source above to the envelope."""
    app.add_exception_handler(RejectError, _reject)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
