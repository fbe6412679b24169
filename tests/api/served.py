"""A runtime served to tests, and how a test reaches it: a real socket or an in-process transport.

Tests talk to a `Served` only through `client()` and `control()`, so the same test runs over
either carrier. `runtime` and `app` are there for read-only peeks between requests (and for the
few tests that arrange state directly on the exchange).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI

from simulator.server.runtime import Runtime
from tests.api import signing


@dataclass(frozen=True)
class NewUser:
    """A user created through the control plane, with the private key that signs for it."""

    user_id: str
    api_key_id: str
    private_key_pem: str
    key: rsa.RSAPrivateKey

    @property
    def auth(self) -> signing.KalshiAuth:
        return signing.KalshiAuth(self.api_key_id, self.key)


class Served:
    """A running app and the URLs of its three surfaces.

    `transport` carries every request: None means the default httpx transport, i.e. a real
    socket to `base`.
    """

    def __init__(
        self, runtime: Runtime, app: FastAPI, base: str, transport: httpx.BaseTransport | None
    ) -> None:
        self.runtime = runtime
        self.app = app
        self.base = base
        self.rest_url = f"{base}/trade-api/v2"
        self.control_url = f"{base}/sim/v1"
        self.transport = transport
        self._control = self.client(base_url=self.control_url)

    def client(
        self,
        auth: httpx.Auth | None = None,
        *,
        base_url: str | None = None,
        event_hooks: dict[str, list[Any]] | None = None,
    ) -> httpx.Client:
        """An httpx client on `rest_url` (or `base_url`) through this server's transport."""
        return httpx.Client(
            base_url=self.rest_url if base_url is None else base_url,
            auth=auth,
            event_hooks=event_hooks,
            transport=self.transport,
            timeout=30,
        )

    def control(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A control-plane request: `path` is relative to `/sim/v1`."""
        return self._control.request(method, path, **kwargs)

    def new_user(self, balance: str = "1000.0000", **fields: Any) -> NewUser:
        """`POST /users` registering one of the fixed test keys (no key generated).

        The key is picked by the number of users so far, so the users one test creates after a
        reset get different keys (up to `signing.FIXED_KEYS` of them) in every run.
        """
        n = len(self.runtime.exchange.users) % signing.FIXED_KEYS + 1
        body = {"balance": balance, "public_key_pem": signing.fixed_public_pem(n), **fields}
        created = self.control("POST", "/users", json=body)
        assert created.status_code == 201, created.text
        ids = created.json()
        pem = signing.fixed_private_pem(n)
        return NewUser(ids["user_id"], ids["api_key_id"], pem, signing.fixed_private_key(n))

    def limit_order(
        self,
        user: NewUser,
        side: str,
        price: str,
        count: str,
        *,
        ticker: str = "KXBTCPERP",
        client_order_id: str | None = None,
    ) -> dict[str, Any]:
        """`POST /margin/orders` of a GTC limit order signed by `user`; its answer (201)."""
        body = {
            "ticker": ticker,
            "side": side,
            "count": count,
            "price": price,
            "time_in_force": "good_till_canceled",
            "self_trade_prevention_type": "taker_at_cross",
            "client_order_id": client_order_id or str(uuid.uuid4()),
        }
        with self.client(user.auth) as client:
            response = client.post("/margin/orders", json=body)
        assert response.status_code == 201, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def close(self) -> None:
        self._control.close()
