"""Fuzz: random and mutated WebSocket frames get Kalshi's error frames, never an exception, a
schema-breaking frame or a change of state; the connection (or a new one) keeps working.

Sans-I/O first (many examples against a `Session`), then a smaller run over a real socket.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.ws.hub import Hub
from simulator.server.runtime import Runtime, ServerSettings
from simulator.server.scenarios import load_scenario
from simulator.server.ws_settings import WsSettings
from tests.api.live import LiveServer, live_server
from tests.api.ws.client import connected
from tests.api.ws.frames import check

CHANNELS = ["orderbook_delta", "ticker", "trade", "fill", "market_positions", "nope", ""]
TICKERS = ["KXBTCPERP", "KXETHPERP", "NOPE", "", "x" * 300]

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(1 << 70), max_value=1 << 70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(CHANNELS + TICKERS)
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_valid = st.sampled_from(
    [
        {
            "id": 1,
            "cmd": "subscribe",
            "params": {"channels": ["orderbook_delta"], "market_tickers": ["KXBTCPERP"]},
        },
        {"id": 2, "cmd": "subscribe", "params": {"channels": ["ticker", "trade"]}},
        {"id": 3, "cmd": "unsubscribe", "params": {"sids": [1]}},
        {
            "id": 4,
            "cmd": "update_subscription",
            "params": {"sid": 1, "action": "add_markets", "market_tickers": ["KXETHPERP"]},
        },
        {"id": 5, "cmd": "list_subscriptions"},
    ]
)


@st.composite
def _mutated(draw: st.DrawFn) -> str:
    """A valid command with one key or value replaced, added or removed, as JSON text."""
    command: dict[str, Any] = json.loads(json.dumps(draw(_valid)))
    target = command
    if "params" in command and draw(st.booleans()):
        if not isinstance(command["params"], dict):
            command["params"] = {}
        target = command["params"]
    key = draw(st.sampled_from([*target, "id", "cmd", "params", "sid", "sids", "channels", "x"]))
    action = draw(st.sampled_from(["replace", "delete", "add"]))
    if action == "delete":
        target.pop(key, None)
    else:
        target[key] = draw(_values)
    return json.dumps(command)


_frames = st.one_of(
    _mutated(),
    _values.map(json.dumps),
    st.text(max_size=60),
    st.binary(max_size=60),
    st.sampled_from(["", "{", "[" * 200 + "]" * 200, '{"id": 1e400}', '{"id": -1}', "\x00"]),
)


@cache
def _runtime() -> Runtime:
    # one runtime for every example: sessions never change the exchange (checked each time)
    return Runtime(
        load_scenario("default"),
        clock_mode="manual",
        settings=ServerSettings(ws=WsSettings(max_command_bytes=512, commands_per_second=100_000)),
    )


async def _run_frames(frames: list[str | bytes]) -> None:
    runtime = _runtime()
    before = runtime.state_hash()
    hub = Hub(runtime)
    session = hub.open("demo-user", "key-1")
    try:
        for frame in frames:
            if isinstance(frame, bytes):
                session.receive_binary()
            else:
                session.receive_text(frame)
            hub.pump()
            for text in session.outbox:
                check(json.loads(text))
            session.outbox.clear()
        assert session.close_code is None  # bad input gets error frames, it does not close
        session.receive_text('{"id": 99, "cmd": "list_subscriptions"}')
        (reply,) = [json.loads(t) for t in session.outbox]
        assert (reply["type"], reply["id"]) == ("ok", 99)
        assert runtime.state_hash() == before
    finally:
        await hub.aclose()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=st.lists(_frames, min_size=1, max_size=12))
def test_random_frames_to_a_session_get_error_frames_and_change_nothing(
    frames: list[str | bytes],
) -> None:
    asyncio.run(_run_frames(frames))


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with live_server(settings=ServerSettings(ws=WsSettings(max_command_bytes=512))) as live:
        yield live


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(frames=st.lists(_frames, min_size=1, max_size=8))
def test_random_frames_over_a_socket_leave_the_server_serving(
    server: LiveServer, frames: list[str | bytes]
) -> None:
    user = server.new_user()
    before = server.runtime.state_hash()

    async def scenario() -> None:
        async with connected(server, user) as ws:
            for frame in frames:
                await ws.send(frame)
            for reply in await ws.settle():  # every frame answered, in order, schema-checked
                assert reply["type"] in (
                    "error",
                    "ok",
                    "subscribed",
                    "unsubscribed",
                    "orderbook_snapshot",
                    "ticker",
                )

    asyncio.run(scenario())
    assert server.control("GET", "/health").status_code == 200
    assert server.runtime.state_hash() == before
