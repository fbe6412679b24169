"""`--durability fsync` on FIX: messages no read asked for (a resting order cancelled by
another transport, say) leave only after the fsync of the commands they report."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from simulator.server.runtime import Runtime
from simulator.server.scenarios import load_scenario
from tests.fix_acceptor.logged_on import logged_on
from tests.fix_acceptor.test_limits import _order


def test_an_unsolicited_report_waits_for_the_fsync_of_its_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        real_fsync(fd)
        log.append("fsync")

    monkeypatch.setattr("os.fsync", fsync)
    runtime = Runtime(
        load_scenario("bare"), clock_mode="manual", state_dir=tmp_path, durability="fsync"
    )
    seen: dict[str, object] = {}

    async def run() -> None:
        async with logged_on(runtime) as session:
            writer, replies = session.writer, session.replies
            writer.write(_order(2, "rest-1"))
            new = await replies.next()
            seen["new"] = (new.msg_type, new.get(11), new.get(150))
            log.clear()
            # another transport's command (here the exchange called directly, as REST does)
            seen["cancelled"] = runtime.exchange.cancel_all("demo-user")
            report = await replies.next()
            log.append("report")
            seen["report"] = (report.msg_type, report.get(11), report.get(150))

    try:
        asyncio.run(run())
    finally:
        runtime.close()

    assert seen["new"] == ("8", "rest-1", "0")
    assert len(seen["cancelled"]) == 1  # type: ignore[arg-type]
    assert seen["report"] == ("8", "rest-1", "4")
    assert "fsync" in log[: log.index("report")]  # (closing the runtime fsyncs once more)
