"""The in-process transport hands the app the request that uvicorn would (tests/api/in_process.py).

An echo app, served both ways, reports the parts of the ASGI scope that request handling reads.
They must match: above all `raw_path`, exactly as sent with its percent-escapes, because request
signatures cover it (REST.md (a)), and `path`, decoded exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from anyio.from_thread import start_blocking_portal
from starlette.types import Receive, Scope, Send

from tests.api.in_process import BASE, InProcessTransport
from tests.api.live import uvicorn_serving


async def _echo(scope: Scope, receive: Receive, send: Send) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = [
        [name.decode("latin-1"), value.decode("latin-1")]
        for name, value in scope["headers"]
        if name != b"host"  # the port differs
    ]
    echoed = {
        "type": scope["type"],
        "method": scope["method"],
        "path": scope["path"],
        "raw_path": scope["raw_path"].decode("latin-1"),
        "query_string": scope["query_string"].decode("latin-1"),
        "root_path": scope.get("root_path", ""),
        "headers": headers,
        "body": body.decode("latin-1"),
    }
    content = json.dumps(echoed).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": content})


@pytest.fixture(scope="module")
def carriers() -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Two clients on the echo app: over uvicorn's socket, and in process."""
    with (
        uvicorn_serving(_echo) as port,
        start_blocking_portal() as portal,
        httpx.Client(base_url=f"http://127.0.0.1:{port}") as wire,
        httpx.Client(base_url=BASE, transport=InProcessTransport(_echo, portal)) as in_process,
    ):
        yield wire, in_process


@pytest.mark.parametrize(
    "path",
    [
        "/trade-api/v2/margin/%65nabled",
        "/trade-api/v2/margin/e%6eabled",
        "/trade-api/v2/margin/orders/0000000a%2d0000-4000-8000-000000000000",
        "/trade-api/v2/margin/orders/0000000%41-0000-4000-8000-000000000000",
        "/sim/v1/a%2541b",
        "/sim/v1/a%20b%2Fc",
        "/trade-api/v2/margin/orders?limit=5&cursor=a%2Bb&ticker=KX%41",
        "/trade-api/v2/margin/trades?x=1+2&y=&z",
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_the_app_sees_the_same_request_in_process_as_over_a_socket(
    carriers: tuple[httpx.Client, httpx.Client], method: str, path: str
) -> None:
    wire, in_process = carriers
    kwargs: dict[str, Any] = {"json": {"a": "%41"}} if method == "POST" else {}

    over_the_wire = wire.request(method, path, headers={"X-Test": "1"}, **kwargs).json()
    without_a_socket = in_process.request(method, path, headers={"X-Test": "1"}, **kwargs).json()

    assert without_a_socket == over_the_wire
    assert over_the_wire["raw_path"] == path.split("?", 1)[0]  # sent as written, escapes kept
