"""Kalshi's request signing for httpx and websockets: RSA-PSS over timestamp + method + path.

The signed string is `<epoch ms><METHOD><path>`, the path with its `/trade-api/v2` prefix and
without the query; the signature is RSA-PSS (SHA-256, MGF1-SHA-256, salt of the digest's
length), base64-encoded.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Generator
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def load_key(path: str | Path) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def auth_headers(key_id: str, key: rsa.RSAPrivateKey, method: str, path: str) -> dict[str, str]:
    """The three KALSHI-ACCESS-* headers for `method` on `path` (no query string)."""
    timestamp = str(int(time.time() * 1000))
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
    signature = key.sign(f"{timestamp}{method.upper()}{path}".encode(), pss, hashes.SHA256())
    return {
        "KALSHI-ACCESS-KEY": key_id,
        "KALSHI-ACCESS-TIMESTAMP": timestamp,
        "KALSHI-ACCESS-SIGNATURE": base64.b64encode(signature).decode(),
    }


class KalshiAuth(httpx.Auth):
    """Signs every request of an httpx client."""

    def __init__(self, key_id: str, key: rsa.RSAPrivateKey) -> None:
        self.key_id = key_id
        self.key = key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        path = request.url.raw_path.split(b"?", 1)[0].decode()
        request.headers.update(auth_headers(self.key_id, self.key, request.method, path))
        yield request
