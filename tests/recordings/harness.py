"""The recorded REST session's server, its users and its wire format.

The recording (`fixtures/recordings/rest-session.jsonl`) and its replay
(`tests/e2e/test_recorded_rest_session.py`) both build the server here, so they start from the
same state: the real app (`api.app.create_app`) over a `Runtime` of the `default` scenario on a
manual clock with seed `SEED`, signature checks on (`verify`), rate limits off.

Each line of the recording is one request and its answer::

    {"method": "POST", "path": "/trade-api/v2/margin/orders?subaccount=0",
     "body": "{...}" or null, "user": "demo" | "second" | null,
     "status": 201, "content_type": "application/json", "response": "{...}"}

`path` carries the query string exactly as sent; `body` is the request body exactly as sent
(a string, so malformed bodies are kept as they were); `user` names the key that signed the
request (`USERS`), null for an unsigned one; `response` is the response body decoded as UTF-8.
Signatures are made afresh on every send: their timestamps are wall-clock time, so they are
not part of the recording (they never reach a response body).

Transports: `InProcessClient` calls the ASGI app in this process (`httpx.ASGITransport`, which
sets `scope["raw_path"]` like a server, so signatures check the same path), `SocketClient`
talks to a real uvicorn server over TCP (`tests.api.live`). Both give the same bytes.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec
from cryptography.hazmat.primitives.asymmetric import rsa

from api.app import create_app
from simulator.server.runtime import Runtime
from simulator.server.scenarios import Scenario, load_scenario
from tests.api import signing

__all__ = [
    "FIXTURES",
    "RECORDING",
    "SECOND_KEY_ID",
    "SECOND_USER_ID",
    "SEED",
    "USERS",
    "Exchange",
    "InProcessClient",
    "SocketClient",
    "dump",
    "load",
    "runtime",
    "scenario",
    "second_public_pem",
]

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
RECORDING = FIXTURES / "recordings" / "rest-session.jsonl"
SEED = 7
SECOND_USER_ID = "second-user"
SECOND_KEY_ID = "713ddbeb-d821-5234-ba8f-ce3a14dbe582"

USERS: dict[str, tuple[str, str]] = {
    "demo": (signing.DEMO_KEY_ID, "keys/demo_private.pem"),
    "second": (SECOND_KEY_ID, "keys/second_private.pem"),
}
"""Signer name in the recording -> (API key id, private key file under fixtures/)."""


def scenario() -> Scenario:
    """The built-in `default` scenario, its `path` given relative to the project.

    `load_scenario` stores the absolute path of the file it read; the path is only shown (it
    is never read back), but it is part of exported snapshots and journal headers, so a
    relative one keeps the fixtures the same whichever directory they are recorded in.
    """
    return msgspec.structs.replace(load_scenario("default"), path="fixtures/scenarios/default.json")


def runtime(state_dir: Path | None = None) -> Runtime:
    """A fresh runtime of the recorded session (manual clock, seed `SEED`)."""
    return Runtime(scenario(), clock_mode="manual", seed=SEED, state_dir=state_dir)


def second_public_pem() -> str:
    """The second user's public key (a fixed, test-only key pair in fixtures/keys)."""
    return (FIXTURES / "keys" / "second_public.pem").read_text()


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request of the session and the server's answer."""

    method: str
    path: str
    body: str | None
    user: str | None
    status: int
    content_type: str | None
    response: str

    def to_line(self) -> str:
        return json.dumps(
            {
                "method": self.method,
                "path": self.path,
                "body": self.body,
                "user": self.user,
                "status": self.status,
                "content_type": self.content_type,
                "response": self.response,
            }
        )

    @classmethod
    def from_line(cls, line: str) -> Exchange:
        item: dict[str, Any] = json.loads(line)
        return cls(**item)


def load(path: Path = RECORDING) -> list[Exchange]:
    return [Exchange.from_line(line) for line in path.read_text().splitlines() if line]


def dump(exchanges: list[Exchange], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(exchange.to_line() + "\n" for exchange in exchanges))


def _keys() -> dict[str, tuple[str, rsa.RSAPrivateKey]]:
    return {
        name: (key_id, signing.load_private_key((FIXTURES / key_file).read_bytes()))
        for name, (key_id, key_file) in USERS.items()
    }


class _Signer:
    def __init__(self) -> None:
        self._keys = _keys()

    def headers(self, method: str, path: str, body: str | None, user: str | None) -> dict[str, str]:
        found: dict[str, str] = {}
        if body is not None:
            found["content-type"] = "application/json"
        if user is not None:
            key_id, key = self._keys[user]
            found.update(signing.headers(key_id, key, method, path.split("?", 1)[0]))
        return found


def _answer(
    method: str, path: str, body: str | None, user: str | None, response: httpx.Response
) -> Exchange:
    return Exchange(
        method=method,
        path=path,
        body=body,
        user=user,
        status=response.status_code,
        content_type=response.headers.get("content-type"),
        response=response.content.decode("utf-8"),
    )


class InProcessClient:
    """Sends requests to the ASGI app of `runtime` in this process, one at a time, on one
    event loop (the exchange's only writer)."""

    def __init__(self, rt: Runtime) -> None:
        self.runtime = rt
        self._loop = asyncio.new_event_loop()
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(rt)), base_url="http://127.0.0.1"
        )
        self._signer = _Signer()

    def send(self, method: str, path: str, body: str | None, user: str | None) -> Exchange:
        headers = self._signer.headers(method, path, body, user)
        content = None if body is None else body.encode()
        response = self._loop.run_until_complete(
            self._client.request(method, path, content=content, headers=headers)
        )
        return _answer(method, path, body, user, response)

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.close()


class SocketClient:
    """Sends requests over TCP to a server at `base` (e.g. `tests.api.live.LiveServer.base`)."""

    def __init__(self, base: str) -> None:
        self._client = httpx.Client(base_url=base, timeout=60)
        self._signer = _Signer()

    def send(self, method: str, path: str, body: str | None, user: str | None) -> Exchange:
        headers = self._signer.headers(method, path, body, user)
        content = None if body is None else body.encode()
        response = self._client.request(method, path, content=content, headers=headers)
        return _answer(method, path, body, user, response)

    def close(self) -> None:
        self._client.close()
