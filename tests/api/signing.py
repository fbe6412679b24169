"""Client-side request signing for tests (REST.md (a)), independent of the server's code."""

from __future__ import annotations

import base64
import functools
from collections.abc import Generator
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from simulator.core.clock import WallClock

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
DEMO_KEY_ID = "729aea2e-28da-532a-8351-72015c9673b0"
DEMO_USER_ID = "demo-user"


def load_private_key(pem: str | bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem if isinstance(pem, bytes) else pem.encode(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


@functools.cache  # parsing a PEM private key checks the key: ~40 ms on a small machine
def demo_private_key() -> rsa.RSAPrivateKey:
    return load_private_key((FIXTURES / "keys" / "demo_private.pem").read_bytes())


FIXED_KEYS = 8  # fixtures/keys/test_user_{1..8}_*.pem


def fixed_private_pem(n: int) -> str:
    """The private PEM of fixed test key pair `n` (1-8), from fixtures/keys (test only)."""
    return (FIXTURES / "keys" / f"test_user_{n}_private.pem").read_text()


def fixed_public_pem(n: int) -> str:
    return (FIXTURES / "keys" / f"test_user_{n}_public.pem").read_text()


@functools.cache
def fixed_private_key(n: int) -> rsa.RSAPrivateKey:
    return load_private_key(fixed_private_pem(n))


def sign(key: rsa.RSAPrivateKey, timestamp_ms: int, method: str, path: str) -> str:
    message = f"{timestamp_ms}{method.upper()}{path}".encode()
    signature = key.sign(
        message,
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
        hashes.SHA256(),
    )
    return base64.b64encode(signature).decode()


def headers(
    key_id: str, key: rsa.RSAPrivateKey, method: str, path: str, timestamp_ms: int | None = None
) -> dict[str, str]:
    """The three auth headers for a request to `path` (no query string)."""
    ts = WallClock().now_ms() if timestamp_ms is None else timestamp_ms
    return {
        "KALSHI-ACCESS-KEY": key_id,
        "KALSHI-ACCESS-TIMESTAMP": str(ts),
        "KALSHI-ACCESS-SIGNATURE": sign(key, ts, method, path),
    }


class KalshiAuth(httpx.Auth):
    """httpx auth that signs every request with its raw path (query excluded)."""

    def __init__(self, key_id: str, key: rsa.RSAPrivateKey) -> None:
        self.key_id = key_id
        self.key = key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        path = request.url.raw_path.split(b"?", 1)[0].decode()
        request.headers.update(headers(self.key_id, self.key, request.method, path))
        yield request
