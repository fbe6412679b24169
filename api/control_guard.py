"""Who may use the control plane (`/sim/v1`): the checks every control-plane request passes first.

The control plane mints users and money, resets the exchange and imports state, so a web page
the developer happens to visit must not reach it, and nor may the network when the server
listens beyond loopback. Each request, before its handler parses anything:

1. Token: with `ServerSettings.control_token` set (`--control-token`), the request must carry
   `Authorization: Bearer <token>`, else 401 `unauthorized`. `GET /sim/v1/health` is exempt, so
   health checks (Docker's `HEALTHCHECK`, a readiness probe) need no secret; it reveals no
   state beyond the scenario and the clock.
2. Host (DNS rebinding): the `Host` header must name a loopback host (`localhost`, a
   `*.localhost` name, `127.0.0.0/8`, `::1`) or one of `ServerSettings.allowed_hosts`
   (`--allowed-hosts`, which also takes `*` for any), else 403 `forbidden_host`. A page on a
   rebound name reaches the server with its own name in `Host`.
3. Origin (cross-site requests): a request carrying an `Origin` that is not the server's own
   (scheme, host and port of `Host`), or `Sec-Fetch-Site: cross-site`, is refused with 403
   `forbidden_origin`. Browsers send `Origin` on every cross-origin POST, form posts included;
   command-line clients send neither header.
4. Writes (any method but GET, HEAD and OPTIONS) with a body, or with a declared content type,
   must be `application/json`, else 400 `invalid_content_type`: an HTML form can send only
   `application/x-www-form-urlencoded`, `multipart/form-data` or `text/plain` without a CORS
   preflight, and the server answers no preflight. A write with no body and no content type
   (`curl -X POST .../reset`) is accepted.

The trading API under `/trade-api` is not affected: every request there is signed.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from api.errors import BadRequestError, ForbiddenError, UnauthorizedError
from simulator.server.listeners import is_loopback_host

__all__ = ["check", "guard_control_plane"]

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_EXEMPT = frozenset({("GET", "/sim/v1/health"), ("HEAD", "/sim/v1/health")})


class _ForbiddenHost(ForbiddenError):
    code = "forbidden_host"


class _ForbiddenOrigin(ForbiddenError):
    code = "forbidden_origin"


def _split_host(value: str) -> tuple[str, str | None]:
    # "name:port", "[v6]:port", "name" -> (name, port)
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return value, None
        rest = value[end + 1 :]
        return value[1:end], rest[1:] if rest.startswith(":") else None
    if value.count(":") == 1:
        name, port = value.split(":")
        return name, port
    return value, None


def _host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    if "*" in allowed:
        return True
    name = host.lower().rstrip(".")
    return is_loopback_host(name) or name in allowed


def _same_origin(origin: str, host_header: str, scheme: str) -> bool:
    parts = urlsplit(origin)
    if not parts.scheme or not parts.netloc:
        return False  # "null" (sandboxed frames, file: pages) and garbage
    default = "443" if parts.scheme == "https" else "80"
    origin_host, origin_port = _split_host(parts.netloc)
    own_host, own_port = _split_host(host_header)
    return (
        parts.scheme == scheme
        and origin_host.lower() == own_host.lower()
        and (origin_port or default) == (own_port or default)
    )


def check(connection: HTTPConnection, *, token: str | None, allowed_hosts: tuple[str, ...]) -> None:
    """Raise the `ApiError` a control-plane request gets, or return if it may go on."""
    headers = connection.headers
    method = connection.scope.get("method", "GET")
    exempt = (method, connection.url.path) in _EXEMPT
    if token is not None and not exempt and headers.get("authorization") != f"Bearer {token}":
        raise UnauthorizedError("the control plane needs Authorization: Bearer <token>")
    host_header = headers.get("host", "")
    host, _ = _split_host(host_header)
    if not _host_allowed(host, allowed_hosts):
        raise _ForbiddenHost(
            f"Host {host!r} is not a loopback name or an allowed host (--allowed-hosts)"
        )
    origin = headers.get("origin")
    scheme = connection.url.scheme.replace("ws", "http", 1)
    cross_site = headers.get("sec-fetch-site", "") == "cross-site"
    if cross_site or (origin is not None and not _same_origin(origin, host_header, scheme)):
        raise _ForbiddenOrigin("cross-origin requests to the control plane are refused")
    if method in _SAFE_METHODS:
        return
    content_type = headers.get("content-type")
    has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
    if content_type is None and not has_body:
        return
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise BadRequestError(
            "control-plane writes must be JSON (Content-Type: application/json)",
            code="invalid_content_type",
        )


async def guard_control_plane(connection: HTTPConnection) -> None:
    """FastAPI dependency of every control-plane route (`check` with the runtime's settings)."""
    settings = connection.app.state.runtime.settings
    check(connection, token=settings.control_token, allowed_hosts=settings.allowed_hosts)
