"""Keep-alive and limits over a real socket: pings, a silent client, connections per key, a
slow consumer past the send-queue bound."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from api.ws.hub import Hub
from simulator.server.runtime import Runtime, ServerSettings
from simulator.server.scenarios import load_scenario
from simulator.server.ws_settings import WsSettings
from tests.api import signing
from tests.api.live import live_server
from tests.api.ws.client import WS_PATH, connected

FAST_PINGS = ServerSettings(ws=WsSettings(ping_interval_s=0.05, ping_timeout_s=0.2))


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


def _upgrade(port: int, headers: dict[str, str]) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {WS_PATH} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(4096)
    assert response.startswith(b"HTTP/1.1 101"), response
    return sock


def _frame(sock: socket.socket) -> tuple[int, bytes]:
    """One unmasked server frame: (opcode, payload); (-1, b"") when the server hung up."""
    head = sock.recv(2, socket.MSG_WAITALL)
    if len(head) < 2:
        return -1, b""
    length = head[1] & 0x7F
    if length == 126:
        length = struct.unpack("!H", sock.recv(2, socket.MSG_WAITALL))[0]
    elif length == 127:
        length = struct.unpack("!Q", sock.recv(8, socket.MSG_WAITALL))[0]
    payload = sock.recv(length, socket.MSG_WAITALL) if length else b""
    return head[0] & 0x0F, payload


def test_server_pings_and_closes_a_client_that_never_answers() -> None:
    with live_server(settings=FAST_PINGS) as live:
        user = live.new_user()
        sock = _upgrade(live.port, signing.headers(user.api_key_id, user.key, "GET", WS_PATH))
        with sock:
            opcodes = []
            while True:
                opcode, payload = _frame(sock)
                opcodes.append(opcode)
                if opcode in (8, -1):
                    break
            assert opcodes[0] == 9  # a Ping first
            assert opcodes[-1] in (8, -1)  # then closed: no Pong was ever sent
            if opcode == 8:
                assert struct.unpack("!H", payload[:2])[0] == 1011


def test_server_answers_client_pings_and_a_client_that_answers_stays() -> None:
    with live_server(settings=FAST_PINGS) as live:
        user = live.new_user()

        async def test() -> None:
            async with connected(live, user) as ws:
                for _ in range(5):  # several server ping intervals pass meanwhile
                    pong = await ws.conn.ping()
                    await asyncio.wait_for(pong, 5)
                sid, _ = await ws.subscribe("trade")
                assert sid == 1

        run(test)


def test_connections_per_key_past_the_limit_get_http_429() -> None:
    settings = ServerSettings(ws=WsSettings(max_connections_per_key=2))
    with live_server(settings=settings) as live:
        user = live.new_user()

        async def test() -> None:
            async with connected(live, user), connected(live, user):
                with pytest.raises(InvalidStatus) as refused:
                    async with connected(live, user):
                        pass
                assert refused.value.response.status_code == 429
            async with connected(live, user) as again:  # a slot is free again
                await again.subscribe("trade")

        run(test)


def test_slow_consumer_past_the_queue_bound_gets_error_25_then_close_1013() -> None:
    settings = ServerSettings(ws=WsSettings(send_queue_frames=2))
    with live_server(settings=settings) as live:
        user = live.new_user("1000000")

        async def test() -> None:
            async with connected(live, user) as ws:
                # no barrier here: its reply would already fill the queue of 2
                params = {"channels": ["orderbook_delta"], "market_ticker": "KXBTCPERP"}
                await ws.send({"id": 1, "cmd": "subscribe", "params": params})
                subscribed, snapshot = await ws.recv(), await ws.recv()
                assert (subscribed["type"], snapshot["type"]) == (
                    "subscribed",
                    "orderbook_snapshot",
                )
                sid = subscribed["msg"]["sid"]
                with httpx.Client(base_url=live.rest_url, auth=user.auth) as client:
                    sweep = {
                        "ticker": "KXBTCPERP",
                        "client_order_id": "sweep",
                        "side": "bid",
                        "count": "600",
                        "price": "6.2620",
                        "time_in_force": "immediate_or_cancel",
                        "self_trade_prevention_type": "taker_at_cross",
                    }
                    response = client.post("/margin/orders", json=sweep)
                    assert response.status_code == 201, response.text
                frames = []
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        frames.append(await ws.recv())
                assert [(f["type"], f["msg"]["code"], f["sid"]) for f in frames] == [
                    ("error", 25, sid)
                ]
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013

        run(test)


def test_the_hub_paces_advances_by_its_fullest_queue_while_connections_are_open() -> None:
    runtime = Runtime(
        load_scenario("bare"),
        clock_mode="manual",
        settings=ServerSettings(ws=WsSettings(send_queue_frames=10)),
    )
    hub = Hub(runtime)
    pacer = runtime.advancer.pacer

    async def test() -> None:
        quiet, busy = hub.open("alice", "key-a"), hub.open("bob", "key-b")
        busy.outbox.extend(["{}"] * 4)
        assert pacer.fullest() == 0.4  # 4 of 10 frames
        hub.close(quiet)
        assert pacer.fullest() == 0.4
        busy.close(1013, "gone")  # a connection being closed no longer counts
        assert pacer.fullest() == 0.0
        hub.close(busy)
        busy.outbox.extend(["{}"] * 9)
        assert pacer.fullest() == 0.0  # no connection: the hub no longer paces
        await hub.aclose()

    run(test)
