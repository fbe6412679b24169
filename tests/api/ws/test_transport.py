"""`api.ws.transport`: hand-built frames equal the `websockets` library's, and the live server
offers the batch extension that the endpoint's writer uses."""

from __future__ import annotations

import asyncio

import pytest
from starlette.types import Receive, Scope, Send
from websockets.asyncio.client import connect
from websockets.frames import Frame, Opcode

from api.app import uvicorn_options
from api.ws.transport import SEND_TEXTS, text_frames
from simulator.server.ws_settings import WsSettings
from tests.api.live import uvicorn_serving


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65_535, 65_536, 70_000])
def test_text_frames_equal_the_librarys_unmasked_frames(size: int) -> None:
    text = ("é" * size)[: size // 2] + "x" * (size - size // 2)
    expected = Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[])
    assert text_frames([text]) == expected


def test_several_texts_are_concatenated_frames() -> None:
    texts = ['{"a":1}', "x" * 300, ""]
    assert text_frames(texts) == b"".join(text_frames([t]) for t in texts)


def test_a_live_uvicorn_offers_the_extension_and_sends_a_batch_in_order() -> None:
    seen: list[dict[str, object]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(dict(scope.get("extensions", {})))
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        await send({"type": SEND_TEXTS, "texts": ["one", "x" * 200, "three"]})
        await send({"type": "websocket.send", "text": "after"})
        await send({"type": "websocket.close", "code": 1000})

    async def client(port: int) -> list[str | bytes]:
        async with connect(f"ws://127.0.0.1:{port}/") as ws:
            return [message async for message in ws]

    with uvicorn_serving(app, **uvicorn_options(WsSettings())) as port:
        received = asyncio.run(client(port))

    assert received == ["one", "x" * 200, "three", "after"]
    assert SEND_TEXTS in seen[0]
