"""API keys and their RSA-PSS signatures, checked the same way for every transport.

The REST API signs `timestamp + METHOD + path` (REST.md (a)), the WebSocket handshake
`timestamp + "GET" + "/trade-api/ws/v2/margin"` (WEBSOCKET.md) and the FIX logon its own
message (FIX.md); each transport builds its message bytes and asks the `KeyRegistry` whose key
signed them. Signatures are RSA-PSS with SHA-256 and MGF1-SHA-256.

Keys stay where the exchange stores them (`exchange.keys`: key id -> user id, and each user's
`api_keys` with its PEM); the registry only keeps the public keys it has parsed, checked against
the stored PEM on every use, so a changed key is parsed again. It belongs to one exchange:
`reset` and a state import build a new exchange and a new registry. Must not import a transport.

Assumption: the salt length is verified with `PSS.AUTO`, so the documented 32-byte salt and
clients that sign with the maximum salt are both accepted (REST.md notes this as the lenient
choice).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Protocol

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from simulator.model.ledger import User

__all__ = ["KeyRegistry", "KeyStore", "VerificationError", "VerificationFailure"]

_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
_SHA256 = hashes.SHA256()


class VerificationFailure(StrEnum):
    """Why a signed message was not accepted."""

    UNKNOWN_KEY = "unknown_key"
    NO_PUBLIC_KEY = "no_public_key"
    UNREADABLE_KEY = "unreadable_key"
    NOT_RSA = "not_rsa"
    BAD_SIGNATURE = "bad_signature"


class VerificationError(Exception):
    """A key or signature the registry refuses; `reason` says which check failed."""

    def __init__(self, reason: VerificationFailure, key_id: str) -> None:
        self.reason = reason
        self.key_id = key_id
        super().__init__(f"{reason.value}: API key {key_id!r}")


class KeyStore(Protocol):
    """Where the exchange keeps users and the key ids that belong to them."""

    @property
    def users(self) -> dict[str, User]: ...

    @property
    def keys(self) -> dict[str, str]: ...


class KeyRegistry:
    """Looks up API keys and verifies what they signed."""

    def __init__(self, store: KeyStore) -> None:
        self._store = store
        self._loaded: dict[str, tuple[str, RSAPublicKey]] = {}  # key id -> (its PEM, parsed)

    def user(self, key_id: str) -> User:
        """The key's user, once its registered public key is known to be usable.

        Raises:
            VerificationError: Unknown key, no public key registered, a PEM that cannot be
                read, or a key that is not RSA.
        """
        return self._lookup(key_id)[0]

    def verify(self, key_id: str, message: bytes, signature: bytes) -> User:
        """The user whose key signed `message` with `signature` (the raw signature bytes).

        Raises:
            VerificationError: As `user`, or `BAD_SIGNATURE`.
        """
        return self.verify_any(key_id, (message,), signature)

    def verify_any(self, key_id: str, messages: Iterable[bytes], signature: bytes) -> User:
        """Like `verify`, accepting the signature of any one of `messages` (tried in order).

        Transports pass the normalisations a client may have signed instead of the message
        as sent.
        """
        user, public_key = self._lookup(key_id)
        for message in messages:
            try:
                public_key.verify(signature, message, _PSS, _SHA256)
            except InvalidSignature:
                continue
            return user
        raise VerificationError(VerificationFailure.BAD_SIGNATURE, key_id)

    def _lookup(self, key_id: str) -> tuple[User, RSAPublicKey]:
        store = self._store
        user_id = store.keys.get(key_id)
        if user_id is None:
            raise VerificationError(VerificationFailure.UNKNOWN_KEY, key_id)
        user = store.users[user_id]
        pem = next((key.public_key_pem for key in user.api_keys if key.key_id == key_id), None)
        if not pem:
            raise VerificationError(VerificationFailure.NO_PUBLIC_KEY, key_id)
        loaded = self._loaded.get(key_id)
        if loaded is not None and loaded[0] == pem:
            return user, loaded[1]
        try:
            public_key = serialization.load_pem_public_key(pem.encode())
        except (ValueError, UnsupportedAlgorithm):
            raise VerificationError(VerificationFailure.UNREADABLE_KEY, key_id) from None
        if not isinstance(public_key, RSAPublicKey):
            raise VerificationError(VerificationFailure.NOT_RSA, key_id)
        self._loaded[key_id] = (pem, public_key)
        return user, public_key

    # a snapshot (`simulator.server.state_pickle`) leaves the parsed keys out: a cache
    def __getstate__(self) -> dict[str, object]:
        return {"_store": self._store}

    def __setstate__(self, state: dict[str, object]) -> None:
        self._store = state["_store"]  # type: ignore[assignment]
        self._loaded = {}
