"""Request signing (REST.md (a)): who is calling, checked before any handler runs.

A signed request carries `KALSHI-ACCESS-KEY`, `KALSHI-ACCESS-TIMESTAMP` (epoch ms) and
`KALSHI-ACCESS-SIGNATURE` (base64 RSA-PSS/SHA-256/MGF1-SHA-256 over timestamp + METHOD + path).
The path is the raw request path as sent (percent-escapes included) without the query string.
The exchange's `simulator.risk.keys.KeyRegistry` checks the key and the signature; this module keeps
the HTTP side: the headers, the wall-clock window of the timestamp, the paths a client may have
signed, and the 401 messages.

A path that fails as sent is retried without a trailing slash and with upper-cased
percent-escapes, the two normalisations kalshi-sdk applies before signing.
"""

from __future__ import annotations

import base64
import binascii
import re

from starlette.requests import HTTPConnection

from api.errors import UnauthorizedError
from simulator.core.clock import WallClock
from simulator.core.errors import LimitExceededError
from simulator.model.ledger import User
from simulator.risk.keys import VerificationError, VerificationFailure
from simulator.server.runtime import Runtime

__all__ = ["Authenticator", "signed_path"]

_KEY = "kalshi-access-key"
_TIMESTAMP = "kalshi-access-timestamp"
_SIGNATURE = "kalshi-access-signature"
_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")
_MESSAGES = {
    VerificationFailure.UNKNOWN_KEY: "unknown API key",
    VerificationFailure.NO_PUBLIC_KEY: "API key has no public key registered",
    VerificationFailure.UNREADABLE_KEY: "registered public key cannot be read",
    VerificationFailure.NOT_RSA: "only RSA keys are supported",
    VerificationFailure.BAD_SIGNATURE: "invalid signature",
}


def signed_path(request: HTTPConnection) -> str:
    """The path exactly as the client sent it, without the query string."""
    raw = request.scope.get("raw_path")
    if raw:
        return bytes(raw).split(b"?", 1)[0].decode("latin-1")
    return str(request.scope.get("root_path", "")) + str(request.scope["path"])


class Authenticator:
    """Checks the three headers against the current exchange's keys (or `open` mode)."""

    def __init__(self, runtime: Runtime, wall_clock: WallClock | None = None) -> None:
        self._runtime = runtime
        self._wall = wall_clock or WallClock()

    def authenticate(self, request: HTTPConnection, method: str | None = None) -> User:
        """The calling user, or `UnauthorizedError`.

        Args:
            request: A request, or a WebSocket upgrade (then `method` is "GET", §2).
            method: The signed method; None takes the request's.
        """
        headers = request.headers
        key_id = headers.get(_KEY)
        if not key_id:
            raise UnauthorizedError("missing KALSHI-ACCESS-KEY header")
        runtime = self._runtime
        if runtime.settings.auth == "open":
            if _KEY_ID.fullmatch(key_id) is None:
                raise UnauthorizedError("malformed KALSHI-ACCESS-KEY header")
            try:
                return runtime.open_user(key_id)
            except LimitExceededError as exc:
                raise UnauthorizedError(str(exc)) from None
        timestamp = headers.get(_TIMESTAMP)
        signature = headers.get(_SIGNATURE)
        if not timestamp or not signature:
            raise UnauthorizedError("missing KALSHI-ACCESS-TIMESTAMP or KALSHI-ACCESS-SIGNATURE")
        if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 16:
            raise UnauthorizedError("KALSHI-ACCESS-TIMESTAMP must be epoch milliseconds")
        skew = abs(self._wall.now_ms() - int(timestamp))
        if skew > runtime.settings.auth_window_ms:
            raise UnauthorizedError("request timestamp is outside the allowed window")
        registry = runtime.exchange.key_registry
        try:
            raw_signature = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            raw_signature = None
        try:
            if raw_signature is None:
                registry.user(key_id)  # a problem with the key is reported first
                raise UnauthorizedError("KALSHI-ACCESS-SIGNATURE is not base64")
            verb = method if method is not None else request.scope.get("method", "GET")
            prefix = timestamp + str(verb).upper()
            messages = ((prefix + path).encode() for path in _candidates(signed_path(request)))
            return registry.verify_any(key_id, messages, raw_signature)
        except VerificationError as exc:
            raise UnauthorizedError(_MESSAGES[exc.reason]) from None


def _candidates(path: str) -> list[str]:
    found = [path]
    trimmed = path.rstrip("/") if len(path) > 1 else path
    upper = _ESCAPE.sub(lambda match: match.group(0).upper(), trimmed)
    for variant in (trimmed, upper):
        if variant not in found:
            found.append(variant)
    return found
