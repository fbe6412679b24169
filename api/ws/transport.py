"""uvicorn's sans-I/O WebSocket protocol with one addition: many text frames in one write.

ASGI sends one message per `websocket.send`, and uvicorn's protocol frames each with the
`websockets` library and writes it to the socket on its own: one syscall per frame per
subscriber. Fan-out to many subscribers spent most of its time there (`benchmarks/bench_ws.py
--profile`: ~57% of the server's CPU in the per-frame send path, `frames.serialize` and
`socket.send` on top). `BatchingWebSocketProtocol` adds an ASGI extension, `perps_sim.send_texts`
(announced in the connection scope's `extensions`): a message
`{"type": "perps_sim.send_texts", "texts": [...]}` frames every text and writes them with one
`transport.write`, after the same write-buffer backpressure wait as uvicorn's own send. The
extension's scope entry also holds `write`, a plain function that writes the frames of a list
of texts at once when it can (an open connection whose write buffer is not full) and returns
False when it cannot: then the caller falls back to the awaited message. Fan-out calls it
for each subscriber at the end of a batch, as `websockets.broadcast` does, without a task
switch per subscriber.

The frames are built here rather than by `websockets` (measured faster: a server frame is a
2-10 byte header and the payload, unmasked, RFC 6455 §5.2). Only on an open connection without
extensions; with permessage-deflate negotiated, or once closing, each text goes through
`websockets` as usual, so the protocol's state stays the library's.
"""

from __future__ import annotations

import struct
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

__all__ = ["SEND_TEXTS", "BatchingWebSocketProtocol", "text_frames"]

SEND_TEXTS = "perps_sim.send_texts"


_SHORT = struct.Struct("!BB").pack
_MEDIUM = struct.Struct("!BBH").pack
_LONG = struct.Struct("!BBQ").pack


def _text_frame(text: str) -> bytes:
    payload = text.encode()
    size = len(payload)
    if size < 126:
        return _SHORT(0x81, size) + payload
    if size < 1 << 16:
        return _MEDIUM(0x81, 126, size) + payload
    return _LONG(0x81, 127, size) + payload


def text_frames(texts: list[str]) -> bytes:
    """Unmasked, unfragmented text frames (server to client) of `texts`, concatenated."""
    if len(texts) == 1:
        return _text_frame(texts[0])
    return b"".join([_text_frame(text) for text in texts])


class BatchingWebSocketProtocol(WebSocketsSansIOProtocol):
    """`websockets-sansio` plus the `perps_sim.send_texts` ASGI extension."""

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:  # the app task has not started yet: it sees the extension
            scope.setdefault("extensions", {})[SEND_TEXTS] = {"write": self.write_texts}

    def write_texts(self, texts: list[str]) -> bool:
        """Write `texts` as frames now if the connection can take them; False if not."""
        if (
            not self.handshake_complete
            or self.close_sent
            or self.disconnected
            or self.conn.extensions
            or not self.writable.is_set()
            or self.conn.state is not State.OPEN
        ):
            return False
        self.transport.write(text_frames(texts))
        return True

    async def send(self, message: Any) -> None:
        if message["type"] != SEND_TEXTS:
            await super().send(message)
            return
        texts: list[str] = message["texts"]
        if not self.handshake_complete or self.close_sent or self.conn.extensions:
            for text in texts:
                await super().send({"type": "websocket.send", "text": text})
            return
        await self.writable.wait()
        if self.disconnected or self.conn.state is not State.OPEN:
            for text in texts:  # lets uvicorn report the closed connection its own way
                await super().send({"type": "websocket.send", "text": text})
            return
        self.transport.write(text_frames(texts))
