"""The WebSocket endpoint `/trade-api/ws/v2/margin`: handshake, then bytes in and frames out.

Handshake (WEBSOCKET.md §2): the three `KALSHI-ACCESS-*` headers, RSA-PSS over
`timestamp + "GET" + "/trade-api/ws/v2/margin"`, checked like a REST request (same key registry,
same wall-clock window, `--auth open` alike). A refused upgrade gets an HTTP response with
Kalshi's error envelope instead of the upgrade: 401 for bad credentials, 429 past
`max_connections_per_key`.

After it the endpoint only moves frames: each received text frame goes to the connection's
`Session`, and a writer task sends what the session queued, in order, and closes when the
session asks to. Pings every `ping_interval_s` and the Pong deadline are uvicorn's keepalive
(`uvicorn_options`), which also answers client Pings.

Deviation: the server's Ping payload is uvicorn's random 4 bytes, not `heartbeat`; clients
answer any payload, so none can tell.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from api.errors import UnauthorizedError, error_response
from api.ws.hub import Hub
from api.ws.session import Session
from api.ws.transport import SEND_TEXTS, BatchingWebSocketProtocol
from simulator.server.ws_settings import WsSettings

__all__ = ["WS_PATH", "MarginSocket", "uvicorn_options"]

WS_PATH = "/trade-api/ws/v2/margin"
_LAST_FRAMES_S = 1.0


class _RefusedHandshakeNoise(logging.Filter):
    # uvicorn's sans-I/O protocol logs this error after every denial response, though the
    # ASGI WebSocket denial extension it implements is the documented way to refuse
    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "ASGI callable returned without completing handshake."


def uvicorn_options(settings: WsSettings) -> dict[str, Any]:
    """uvicorn `Config` arguments that give every connection the settings' limits and pings.

    Also keeps uvicorn's log free of a false error for each refused handshake.
    """
    errors = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _RefusedHandshakeNoise) for f in errors.filters):
        errors.addFilter(_RefusedHandshakeNoise())
    return {
        "ws": BatchingWebSocketProtocol,
        "ws_max_size": settings.max_frame_bytes,
        "ws_ping_interval": settings.ping_interval_s,
        "ws_ping_timeout": settings.ping_timeout_s,
        "ws_per_message_deflate": settings.per_message_deflate,
    }


class MarginSocket:
    """The ASGI app of the route: one call per connection.

    A plain ASGI app rather than a Starlette WebSocket endpoint, so that the writer can use the
    server's `perps_sim.send_texts` extension (`api.ws.transport`): Starlette's `WebSocket.send`
    refuses message types it does not know.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _serve(WebSocket(scope, receive, send), send)


async def _serve(websocket: WebSocket, raw_send: Send) -> None:
    state = websocket.app.state
    hub: Hub = state.ws_hub
    try:
        user = state.authenticator.authenticate(websocket, "GET")
    except UnauthorizedError as exc:
        await websocket.send_denial_response(error_response(401, exc.code, exc.message))
        return
    key_id = websocket.headers.get("kalshi-access-key", "")
    if not hub.can_open(key_id):
        await websocket.send_denial_response(error_response(429, "too_many_requests", ""))
        return
    await websocket.accept()
    extension = websocket.scope.get("extensions", {}).get(SEND_TEXTS)
    writer = _Writer(websocket, raw_send if extension is not None else None)
    closing = asyncio.Event()
    session = hub.open(user.user_id, key_id, writer.flush, closing.set)
    writer.session = session
    if extension is not None:
        writer.direct = extension.get("write")
    loop = asyncio.get_running_loop()
    task = loop.create_task(writer.run())
    closer = loop.create_task(_close_when_asked(websocket, session, closing, task))
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            text = message.get("text")
            if text is not None:
                session.receive_text(text)
            else:
                session.receive_binary()
            session.flush()
    except WebSocketDisconnect:
        pass
    finally:
        hub.close(session)
        for running in (task, closer):
            if not running.done():
                running.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.gather(task, closer)


class _Writer:
    """Sends a session's outbox: at once when the socket can take it, else from a task.

    `flush` writes everything queued in one call of the server's `write` (no task switch) when
    nothing is waiting already; when the socket's buffer is full, or the server lacks the
    batch extension, the task sends instead, awaiting backpressure, and later flushes wait
    for it so that frames keep their order.

    With `fsync` durability a frame may show the effect of a command whose journal line is not
    fsynced yet: then the task sends, after `Runtime.durable()`, so that no client sees what a
    power loss could undo (the same rule as REST answers and FIX ExecutionReports). A
    `ws_latency` fault holds the frames back the same way (`Session.held_ms`).
    """

    def __init__(self, websocket: WebSocket, batch_send: Send | None) -> None:
        self.websocket = websocket
        self.batch_send = batch_send
        self.direct: Callable[[list[str]], bool] | None = None
        self.session: Session | None = None
        self.wake = asyncio.Event()
        self.draining = False

    def flush(self) -> None:
        session = self.session
        if session is None or session.close_code is not None:
            return
        outbox = session.outbox
        runtime = self.websocket.app.state.runtime
        faults = runtime.faults
        if len(faults) and outbox:
            code = faults.ws_drop(session.user_id)
            if code is not None:  # an injected drop: the frames never leave
                outbox.clear()
                session.close(code, "connection dropped")
                return
        if self.draining or self.direct is None or runtime.journal_pending or session.held_ms():
            self.wake.set()
            return
        texts = list(outbox)
        outbox.clear()
        if not self.direct(texts):
            outbox.extendleft(reversed(texts))
            self.wake.set()

    async def run(self) -> None:
        send = self.websocket.send
        runtime = self.websocket.app.state.runtime
        while True:
            await self.wake.wait()
            self.wake.clear()
            session = self.session
            assert session is not None
            outbox = session.outbox
            self.draining = True
            try:
                while outbox and session.close_code is None:
                    while held := session.held_ms():  # an injected latency
                        await asyncio.sleep(held / 1000)
                    while runtime.journal_pending:
                        await runtime.durable()
                    if self.batch_send is not None:
                        texts = list(outbox)
                        outbox.clear()
                        await self.batch_send({"type": SEND_TEXTS, "texts": texts})
                    else:
                        await send({"type": "websocket.send", "text": outbox.popleft()})
            finally:
                self.draining = False


async def _close_when_asked(
    websocket: WebSocket, session: Session, closing: asyncio.Event, writer: asyncio.Task[None]
) -> None:
    # the writer may be blocked on a socket the client stopped reading: stop it, give the last
    # frames (an error 25, say) a moment to go out, then close with the session's code
    await closing.wait()
    writer.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await writer
    with contextlib.suppress(Exception):
        async with asyncio.timeout(_LAST_FRAMES_S):
            while session.outbox:
                await websocket.send({"type": "websocket.send", "text": session.outbox.popleft()})
    assert session.close_code is not None
    code, reason = session.close_code
    if websocket.application_state == WebSocketState.CONNECTED:
        with contextlib.suppress(Exception):
            await websocket.close(code, reason)
