"""HTTP/1.1 connection limits uvicorn does not have: a request-head size cap and a head timeout.

uvicorn's httptools protocol buffers a request's head (request line and headers) for as long
and as large as the client sends it, and starts no timer before the first byte of a
connection: a 100 MiB header block is read and served, and a connection that never sends a
byte, or sends its headers one byte at a time (slowloris), is held forever. `limited_protocol`
makes a subclass that, per request:

- answers 431 (Request Header Fields Too Large) in Kalshi's error envelope and closes when a
  complete head (request line and header lines) is larger than `max_head_bytes`, or as soon as
  more than that has arrived without the head being complete, so at most that much plus one
  socket read (256 KiB) is ever buffered for a head;
- closes the connection when a head is not complete `head_timeout_s` after the connection
  opened or after the request's first byte (an idle keep-alive connection between requests is
  closed by uvicorn's own `timeout_keep_alive`, 5 s).

Once a head is complete the timer is off: a long request (a `POST /sim/v1/clock/advance` that
waits for the advance) is never cut. A WebSocket upgrade hands the connection to the WebSocket
protocol after its head, with the WebSocket limits from then on (`api.ws.endpoint`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["DEFAULT_HEAD_TIMEOUT_S", "DEFAULT_MAX_HEAD_BYTES", "limited_protocol"]

DEFAULT_MAX_HEAD_BYTES = 64 * 1024
"""Largest request head accepted (nginx's default allows 4 x 8 KiB; kalshi-sdk's heads are
under 1 KiB)."""
DEFAULT_HEAD_TIMEOUT_S = 10.0
"""Longest a client may take to send a request head."""

_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s"
)
_TOO_LARGE_BODY = (
    b'{"error":{"code":"request_header_fields_too_large",'
    b'"message":"the request head exceeds %d bytes","service":"exchange"}}'
)


class _LimitedHttpToolsProtocol(HttpToolsProtocol):
    max_head_bytes = DEFAULT_MAX_HEAD_BYTES
    head_timeout_s = DEFAULT_HEAD_TIMEOUT_S

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._in_head = True
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self.max_head_bytes:
            self._refuse_head()

    def on_message_begin(self) -> None:
        if self._refused:
            return
        super().on_message_begin()
        if not self._in_head:  # a keep-alive connection's next request
            self._in_head = True
            self._head_bytes = 0
            self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._cancel_head_timer()
        # a head that arrived in one read is measured here (request line and header lines)
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.max_head_bytes:
            self._refuse_head()
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._refused:
            super().on_message_complete()

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            self.transport.close()

    def _refuse_head(self) -> None:
        self._refused = True
        self._in_head = False
        self._cancel_head_timer()
        if self.transport.is_closing():
            return
        body = _TOO_LARGE_BODY % self.max_head_bytes
        self.transport.write(_TOO_LARGE % (len(body), body))
        self.transport.close()


def limited_protocol(
    max_head_bytes: int = DEFAULT_MAX_HEAD_BYTES, head_timeout_s: float = DEFAULT_HEAD_TIMEOUT_S
) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol with these limits (pass it as `uvicorn.Config(http=...)`)."""
    if max_head_bytes < 1 or head_timeout_s <= 0:
        raise ValueError("the head limits must be positive")
    return type(
        "LimitedHttpToolsProtocol",
        (_LimitedHttpToolsProtocol,),
        {"max_head_bytes": max_head_bytes, "head_timeout_s": head_timeout_s},
    )
