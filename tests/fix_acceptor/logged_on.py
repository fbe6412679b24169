"""A FIX acceptor on the test's own event loop and one KalshiNR session logged on to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fix_acceptor import codec
from fix_acceptor.message import Message
from fix_acceptor.server import FixServer
from fix_acceptor.settings import FixSettings
from simulator.server.runtime import Runtime
from tests.fix_acceptor.test_server import logon

__all__ = ["Logged", "Reader", "logged_on"]


class Reader:
    """The acceptor's messages, decoded (and checked) by the acceptor's own codec."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader
        self.decoder = codec.FrameDecoder()
        self.pending: list[Message] = []

    async def next(self) -> Message:
        while not self.pending:
            data = await asyncio.wait_for(self.reader.read(65536), 30)
            assert data, "the acceptor closed the connection"
            self.pending += [m for m in self.decoder.feed(data) if isinstance(m, Message)]
        return self.pending.pop(0)


@dataclass
class Logged:
    server: FixServer
    writer: asyncio.StreamWriter
    replies: Reader


@asynccontextmanager
async def logged_on(runtime: Runtime, settings: FixSettings | None = None) -> AsyncIterator[Logged]:
    """Serve `runtime` over FIX on a free port and log demo-user on to KalshiNR (seq 1)."""
    server = FixServer(runtime, settings)
    port = (await server.start("127.0.0.1", {"KalshiNR": 0}))["KalshiNR"]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    replies = Reader(reader)
    try:
        writer.write(logon())
        assert (await replies.next()).msg_type == "A"
        yield Logged(server, writer, replies)
    finally:
        writer.close()
        await writer.wait_closed()
        await server.close()
