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
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from api.errors import UnauthorizedError, error_response
from api.ws.hub import Hub
from api.ws.session import Session
from simulator.server.ws_settings import WsSettings

__all__ = ["WS_PATH", "margin_socket", "uvicorn_options"]

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
        "ws": "websockets-sansio",
        "ws_max_size": settings.max_frame_bytes,
        "ws_ping_interval": settings.ping_interval_s,
        "ws_ping_timeout": settings.ping_timeout_s,
        "ws_per_message_deflate": settings.per_message_deflate,
    }


async def margin_socket(websocket: WebSocket) -> None:
    """Serve one margin WebSocket connection."""
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
    wake = asyncio.Event()
    closing = asyncio.Event()
    session = hub.open(user.user_id, key_id, wake.set, closing.set)
    loop = asyncio.get_running_loop()
    writer = loop.create_task(_write(websocket, session, wake))
    closer = loop.create_task(_close_when_asked(websocket, session, closing, writer))
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
    except WebSocketDisconnect:
        pass
    finally:
        hub.close(session)
        for task in (writer, closer):
            if not task.done():
                task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.gather(writer, closer)


async def _write(websocket: WebSocket, session: Session, wake: asyncio.Event) -> None:
    outbox = session.outbox
    send = websocket.send
    while True:
        await wake.wait()
        wake.clear()
        while outbox and session.close_code is None:
            await send({"type": "websocket.send", "text": outbox.popleft()})


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
