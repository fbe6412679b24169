"""Request signing (REST.md (a)): who is calling, checked before any handler runs.

A signed request carries `KALSHI-ACCESS-KEY`, `KALSHI-ACCESS-TIMESTAMP` (epoch ms) and
`KALSHI-ACCESS-SIGNATURE` (base64 RSA-PSS/SHA-256/MGF1-SHA-256 over timestamp + METHOD + path).
The path is the raw request path as sent (percent-escapes included) without the query string.

Assumption: the salt length is verified with `PSS.AUTO`, so the documented 32-byte salt and
clients that sign with the maximum salt are both accepted (REST.md notes this as the lenient
choice). A path that fails as sent is retried without a trailing slash and with upper-cased
percent-escapes, the two normalisations kalshi-sdk applies before signing.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from starlette.requests import Request

from api.errors import UnauthorizedError
from simulator.clock import WallClock
from simulator.ledger import User
from simulator.runtime import Runtime

__all__ = ["Authenticator", "signed_path"]

_KEY = "kalshi-access-key"
_TIMESTAMP = "kalshi-access-timestamp"
_SIGNATURE = "kalshi-access-signature"
_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
_SHA256 = hashes.SHA256()


def signed_path(request: Request) -> str:
    """The path exactly as the client sent it, without the query string."""
    raw = request.scope.get("raw_path")
    if raw:
        return bytes(raw).split(b"?", 1)[0].decode("latin-1")
    return str(request.scope.get("root_path", "")) + str(request.scope["path"])


@dataclass(slots=True)
class _CachedKey:
    pem: str
    key: RSAPublicKey


class Authenticator:
    """Checks the three headers against the runtime's registered keys (or `open` mode)."""

    def __init__(self, runtime: Runtime, wall_clock: WallClock | None = None) -> None:
        self._runtime = runtime
        self._wall = wall_clock or WallClock()
        self._keys: dict[str, _CachedKey] = {}
        self._generation = runtime.generation

    def authenticate(self, request: Request) -> User:
        """The calling user, or `UnauthorizedError`."""
        headers = request.headers
        key_id = headers.get(_KEY)
        if not key_id:
            raise UnauthorizedError("missing KALSHI-ACCESS-KEY header")
        runtime = self._runtime
        if runtime.settings.auth == "open":
            if _KEY_ID.fullmatch(key_id) is None:
                raise UnauthorizedError("malformed KALSHI-ACCESS-KEY header")
            return runtime.open_user(key_id)
        timestamp = headers.get(_TIMESTAMP)
        signature = headers.get(_SIGNATURE)
        if not timestamp or not signature:
            raise UnauthorizedError("missing KALSHI-ACCESS-TIMESTAMP or KALSHI-ACCESS-SIGNATURE")
        if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 16:
            raise UnauthorizedError("KALSHI-ACCESS-TIMESTAMP must be epoch milliseconds")
        skew = abs(self._wall.now_ms() - int(timestamp))
        if skew > runtime.settings.auth_window_ms:
            raise UnauthorizedError("request timestamp is outside the allowed window")
        user = runtime.exchange.user_for_key(key_id)
        if user is None:
            raise UnauthorizedError("unknown API key")
        public_key = self._public_key(user, key_id)
        try:
            raw_signature = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            raise UnauthorizedError("KALSHI-ACCESS-SIGNATURE is not base64") from None
        path = signed_path(request)
        prefix = timestamp + request.method.upper()
        for candidate in _candidates(path):
            try:
                public_key.verify(raw_signature, (prefix + candidate).encode(), _PSS, _SHA256)
            except InvalidSignature:
                continue
            return user
        raise UnauthorizedError("invalid signature")

    def _public_key(self, user: User, key_id: str) -> RSAPublicKey:
        if self._generation != self._runtime.generation:
            self._keys.clear()
            self._generation = self._runtime.generation
        pem = next((key.public_key_pem for key in user.api_keys if key.key_id == key_id), None)
        if not pem:
            raise UnauthorizedError("API key has no public key registered")
        cached = self._keys.get(key_id)
        if cached is not None and cached.pem == pem:
            return cached.key
        try:
            loaded = serialization.load_pem_public_key(pem.encode())
        except (ValueError, UnsupportedAlgorithm):
            raise UnauthorizedError("registered public key cannot be read") from None
        if not isinstance(loaded, RSAPublicKey):
            raise UnauthorizedError("only RSA keys are supported")
        self._keys[key_id] = _CachedKey(pem, loaded)
        return loaded


def _candidates(path: str) -> list[str]:
    found = [path]
    trimmed = path.rstrip("/") if len(path) > 1 else path
    upper = _ESCAPE.sub(lambda match: match.group(0).upper(), trimmed)
    for variant in (trimmed, upper):
        if variant not in found:
            found.append(variant)
    return found
