"""`--durability fsync`: a REST response starts only once its command is fsynced."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.durable_acks import DurableAcks
from simulator.server.runtime import Runtime
from simulator.server.scenarios import load_scenario

BARE = load_scenario("bare")


def _app_layers(app: object) -> list[type]:
    stack = getattr(app, "user_middleware", [])
    return [entry.cls for entry in stack]


def test_flush_durability_installs_no_wrapper(tmp_path: Path) -> None:
    runtime = Runtime(BARE, clock_mode="manual", state_dir=tmp_path)
    try:
        assert DurableAcks not in _app_layers(create_app(runtime))
    finally:
        runtime.close()


def test_a_response_waits_for_the_fsync_of_its_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = Runtime(BARE, clock_mode="manual", state_dir=tmp_path, durability="fsync")
    app = create_app(runtime)
    assert DurableAcks in _app_layers(app)
    order: list[str] = []

    def fsync(fd: int) -> None:
        order.append("fsync")

    monkeypatch.setattr("os.fsync", fsync)

    async def run() -> list[int]:
        transport = httpx.ASGITransport(app, client=("127.0.0.1", 50_000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            body = {"amount": "1.0000"}
            responses = await asyncio.gather(
                *(client.post("/sim/v1/users/demo-user/deposit", json=body) for _ in range(4))
            )
            order.append("responses")
            read = await client.get("/sim/v1/clock")  # journals nothing: no fsync
            order.append("read")
            return [r.status_code for r in [*responses, read]]

    try:
        assert asyncio.run(run()) == [200] * 5
        assert not runtime.journal_pending
        assert order[-2:] == ["responses", "read"]
        assert 1 <= order.count("fsync") <= 4  # group commit: at most one per deposit
        assert order.index("fsync") < order.index("responses")
    finally:
        runtime.close()
