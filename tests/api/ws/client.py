"""A WebSocket test client on a live server: signed handshake, schema-checked frames, barriers.

`WsClient.settle()` returns every frame the server has queued so far: it sends a
`list_subscriptions` with a fresh id and reads until that reply, relying on the server answering
commands in order after the frames already queued (the hub renders a command's events on the
next turn of the server's loop, before it reads the next client frame).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.api import signing
from tests.api.live import LiveServer
from tests.api.served import NewUser
from tests.api.ws.frames import check

WS_PATH = "/trade-api/ws/v2/margin"
TIMEOUT = 10.0
_BARRIER_IDS = itertools.count(1_000_000)


def ws_url(server: LiveServer) -> str:
    return f"ws://127.0.0.1:{server.port}{WS_PATH}"


class WsClient:
    """One connection; every frame read is parsed and validated against its schema."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self._ids = itertools.count(1)

    async def send(self, frame: dict[str, Any] | str | bytes) -> None:
        await self.conn.send(frame if isinstance(frame, str | bytes) else json.dumps(frame))

    async def recv(self) -> dict[str, Any]:
        text = await asyncio.wait_for(self.conn.recv(), TIMEOUT)
        assert isinstance(text, str), f"binary frame from the server: {text!r}"
        frame: dict[str, Any] = json.loads(text)
        check(frame)
        return frame

    async def settle(self) -> list[dict[str, Any]]:
        """Every frame queued before now (the barrier reply itself left out)."""
        barrier = next(_BARRIER_IDS)
        await self.send({"id": barrier, "cmd": "list_subscriptions"})
        frames: list[dict[str, Any]] = []
        while True:
            frame = await self.recv()
            if frame.get("id") == barrier and frame["type"] == "ok":
                return frames
            frames.append(frame)

    async def command(
        self, cmd: str, params: dict[str, Any] | None = None, *, command_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Send a command and return every frame up to the barrier after it."""
        frame: dict[str, Any] = {"id": next(self._ids) if command_id is None else command_id}
        frame["cmd"] = cmd
        if params is not None:
            frame["params"] = params
        await self.send(frame)
        return await self.settle()

    async def subscribe(self, channel: str, **params: Any) -> tuple[int, list[dict[str, Any]]]:
        """Subscribe to one channel; its sid and the frames that followed the `subscribed`."""
        frames = await self.command("subscribe", {"channels": [channel], **params})
        assert frames[0]["type"] == "subscribed", frames
        return frames[0]["msg"]["sid"], frames[1:]


@asynccontextmanager
async def connected(server: LiveServer, user: NewUser, **options: Any) -> AsyncIterator[WsClient]:
    """A signed connection for `user`."""
    headers = signing.headers(user.api_key_id, user.key, "GET", WS_PATH)
    async with connect(ws_url(server), additional_headers=headers, **options) as conn:
        yield WsClient(conn)
