"""`--durability fsync`: a WebSocket frame leaves only once the commands it shows are fsynced.

The endpoint's writer (`api.ws.endpoint._Writer`) is driven directly with a stand-in runtime
whose journal owes an fsync until the test settles it, so the order of "fsynced" and "sent" is
decided by the code under test, not by timing.
"""

from __future__ import annotations

import asyncio
from collections import deque
from types import SimpleNamespace

from api.ws.endpoint import _Writer


class _Runtime:
    """`journal_pending` / `durable()` as `simulator.server.runtime.Runtime` has them."""

    def __init__(self, pending: bool) -> None:
        self.faults: list[object] = []
        self.journal_pending = pending
        self.synced = asyncio.Event()
        self.log: list[str] = []

    async def durable(self) -> None:
        await self.synced.wait()
        self.journal_pending = False
        self.log.append("fsynced")


def _writer(runtime: _Runtime) -> tuple[_Writer, SimpleNamespace, list[str]]:
    socket = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(runtime=runtime)))

    async def send(message: dict[str, str]) -> None:
        runtime.log.append("sent " + message["text"])

    socket.send = send
    writer = _Writer(socket, None)  # type: ignore[arg-type]
    session = SimpleNamespace(outbox=deque(), close_code=None, user_id="u1", held_ms=lambda: 0)
    writer.session = session  # type: ignore[assignment]
    direct: list[str] = []

    def write(texts: list[str]) -> bool:
        direct.extend(texts)
        runtime.log.append("sent " + ",".join(texts))
        return True

    writer.direct = write
    return writer, session, direct


def test_frames_wait_for_the_fsync_of_their_commands() -> None:
    async def run() -> list[str]:
        runtime = _Runtime(pending=True)
        writer, session, direct = _writer(runtime)
        task = asyncio.get_running_loop().create_task(writer.run())
        session.outbox.extend(["a", "b"])
        writer.flush()
        assert direct == []  # not written at once: the journal owes an fsync
        for _ in range(5):
            await asyncio.sleep(0)
        assert runtime.log == []  # the task waits for durable()
        runtime.synced.set()
        for _ in range(5):
            await asyncio.sleep(0)
        task.cancel()
        return runtime.log

    assert asyncio.run(run()) == ["fsynced", "sent a", "sent b"]


def test_frames_go_at_once_when_nothing_is_owed() -> None:
    async def run() -> list[str]:
        runtime = _Runtime(pending=False)
        writer, session, direct = _writer(runtime)
        session.outbox.extend(["a", "b"])
        writer.flush()
        assert not session.outbox
        return direct

    assert asyncio.run(run()) == ["a", "b"]
