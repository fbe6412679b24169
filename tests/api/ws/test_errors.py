"""Handshake refusals and the §9 error table over a real socket; bad input never closes silently."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from simulator.server.runtime import ServerSettings
from simulator.server.ws_settings import WsSettings
from tests.api import signing
from tests.api.live import LiveServer, live_server
from tests.api.ws.client import WS_PATH, WsClient, connected, ws_url

SETTINGS = ServerSettings(ws=WsSettings(max_command_bytes=4096, max_frame_bytes=16384))


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with live_server(settings=SETTINGS) as live:
        yield live


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


# ------------------------------------------------------------------ handshake


def _refused(url: str, headers: dict[str, str]) -> InvalidStatus:
    async def attempt() -> InvalidStatus:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, additional_headers=headers):
                pass
        return refused.value

    return asyncio.run(attempt())


@pytest.mark.parametrize(
    "tamper",
    [
        "no headers",
        "unknown key",
        "wrong path signed",
        "stale timestamp",
        "not base64",
    ],
)
def test_bad_handshake_gets_http_401_with_the_error_envelope(
    server: LiveServer, tamper: str
) -> None:
    user = server.new_user()
    headers = signing.headers(user.api_key_id, user.key, "GET", WS_PATH)
    if tamper == "no headers":
        headers = {}
    elif tamper == "unknown key":
        headers["KALSHI-ACCESS-KEY"] = "no-such-key"
    elif tamper == "wrong path signed":
        headers = signing.headers(user.api_key_id, user.key, "GET", "/trade-api/ws/v2")
    elif tamper == "stale timestamp":
        stale = int(headers["KALSHI-ACCESS-TIMESTAMP"]) - 60_000
        headers = signing.headers(user.api_key_id, user.key, "GET", WS_PATH, stale)
    else:
        headers["KALSHI-ACCESS-SIGNATURE"] = "***"

    refused = _refused(ws_url(server), headers)

    assert refused.response.status_code == 401
    body = json.loads(refused.response.body or b"{}")
    assert body["error"]["code"] == "unauthorized"


def test_open_auth_accepts_any_well_formed_key_id() -> None:
    with live_server(settings=ServerSettings(auth="open")) as live:

        async def test() -> None:
            headers = {"KALSHI-ACCESS-KEY": "my-bot"}
            async with connect(ws_url(live), additional_headers=headers) as conn:
                ws = WsClient(conn)
                sid, _ = await ws.subscribe("fill")
                assert sid == 1

        run(test)
        assert live.runtime.exchange.user_for_key("my-bot") is not None


# ------------------------------------------------------------------ the error table


def _error(frame: dict[str, Any]) -> tuple[int, str]:
    assert frame["type"] == "error", frame
    return frame["msg"]["code"], frame["msg"]["msg"]


CASES: list[tuple[Any, int, str]] = [
    ("not json", 1, "Unable to process message"),
    ("[1, 2]", 1, "Unable to process message"),
    ({"id": "one", "cmd": "subscribe"}, 1, "Unable to process message"),
    ({"id": 1, "cmd": "dance", "params": {}}, 5, "Unknown command"),
    ({"id": 1}, 5, "Unknown command"),
    ({"id": 1, "cmd": "subscribe"}, 2, "Params required"),
    ({"id": 1, "cmd": "subscribe", "params": {}}, 3, "Channels required"),
    ({"id": 1, "cmd": "subscribe", "params": {"channels": []}}, 3, "Channels required"),
    (
        {"id": 1, "cmd": "subscribe", "params": {"channels": "trade"}},
        1,
        "Unable to process message",
    ),
    (
        {"id": 1, "cmd": "subscribe", "params": {"channels": ["market_positions"]}},
        8,
        "Unknown channel name",
    ),
    (
        {"id": 1, "cmd": "subscribe", "params": {"channels": ["corporate_actions"]}},
        8,
        "Unknown channel name",
    ),
    (
        {"id": 1, "cmd": "subscribe", "params": {"channels": ["orderbook_delta"]}},
        14,
        "Market Ticker required",
    ),
    (
        {"id": 1, "cmd": "subscribe", "params": {"channels": ["trade"], "market_tickers": 5}},
        11,
        "Invalid parameter",
    ),
    ({"id": 1, "cmd": "unsubscribe", "params": {}}, 4, "Subscription IDs required"),
    ({"id": 1, "cmd": "unsubscribe", "params": {"sids": [99]}}, 7, "Unknown subscription ID"),
    ({"id": 1, "cmd": "update_subscription", "params": {"sid": 1}}, 15, "Action required"),
    (
        {"id": 1, "cmd": "update_subscription", "params": {"action": "add_markets"}},
        12,
        "Exactly one subscription ID is required",
    ),
    (
        {
            "id": 1,
            "cmd": "update_subscription",
            "params": {"action": "add_markets", "sid": 1, "sids": [1]},
        },
        12,
        "Exactly one subscription ID is required",
    ),
    (
        {"id": 1, "cmd": "update_subscription", "params": {"action": "add_markets", "sid": 42}},
        7,
        "Unknown subscription ID",
    ),
]


@pytest.mark.parametrize(("frame", "code", "text"), CASES)
def test_bad_command_gets_its_error_and_the_connection_stays_usable(
    server: LiveServer, frame: Any, code: int, text: str
) -> None:
    user = server.new_user()

    async def test() -> None:
        async with connected(server, user) as ws:
            await ws.send(frame)
            reply = await ws.recv()
            assert _error(reply) == (code, text)
            if isinstance(frame, dict) and type(frame.get("id")) is int:
                assert reply["id"] == frame["id"]
            sid, _ = await ws.subscribe("trade")
            assert sid == 1  # nothing was subscribed by the bad command

    run(test)


def test_unsupported_actions_get_13_with_the_sid(server: LiveServer) -> None:
    user = server.new_user()

    async def test() -> None:
        async with connected(server, user) as ws:
            groups, _ = await ws.subscribe("order_group_updates")
            ticker, _ = await ws.subscribe("ticker")
            for sid, action in ((groups, "add_markets"), (ticker, "get_snapshot"), (ticker, "x")):
                params = {"action": action, "sid": sid, "market_ticker": "KXBTCPERP"}
                (reply,) = await ws.command("update_subscription", params, command_id=5)
                assert _error(reply) == (13, "Unsupported action")
                assert reply["sid"] == sid and reply["id"] == 5

    run(test)


def test_binary_deep_and_oversized_frames_get_error_1_and_the_connection_stays(
    server: LiveServer,
) -> None:
    user = server.new_user()

    async def test() -> None:
        async with connected(server, user) as ws:
            await ws.send(b"\x00\x01binary")
            assert _error(await ws.recv()) == (1, "Unable to process message")
            await ws.send("[" * 4000 + "]" * 4000)
            assert _error(await ws.recv()) == (1, "Unable to process message")
            await ws.send(json.dumps({"id": 1, "cmd": "subscribe", "pad": "x" * 5000}))
            assert _error(await ws.recv()) == (1, "Unable to process message")
            sid, _ = await ws.subscribe("trade")
            assert sid == 1

    run(test)


def test_frame_over_the_transport_limit_closes_with_1009(server: LiveServer) -> None:
    user = server.new_user()

    async def test() -> None:
        async with connected(server, user) as ws:
            await ws.send("x" * 20000)
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009

    run(test)


def test_too_many_markets_gets_26_with_the_markets() -> None:
    small = ServerSettings(ws=WsSettings(max_markets_per_subscription=2))
    with live_server(settings=small) as live:
        user = live.new_user()

        async def test() -> None:
            async with connected(live, user) as ws:
                markets = ["KXBTCPERP", "KXETHPERP", "KXSOLPERP"]
                (reply,) = await ws.command(
                    "subscribe", {"channels": ["trade"], "market_tickers": markets}
                )
                assert _error(reply) == (26, "Subscription market limit exceeded")
                assert reply["msg"]["market_tickers"] == markets
                sid, _ = await ws.subscribe("trade", market_tickers=markets[:2])
                (reply,) = await ws.command(
                    "update_subscription",
                    {"action": "add_markets", "sid": sid, "market_ticker": markets[2]},
                )
                assert _error(reply) == (26, "Subscription market limit exceeded")
                assert reply["sid"] == sid

        run(test)
