"""What the acceptor keeps per order goes when the order is done, so a long session of order
entry does not grow the server (only live orders and the newest cancel ids are held)."""

from __future__ import annotations

import asyncio

import pytest

from fix_acceptor import application
from simulator.server.runtime import Runtime
from simulator.server.scenarios import load_scenario
from tests.fix_acceptor.logged_on import logged_on
from tests.fix_acceptor.test_limits import _order


def test_done_orders_leave_no_context_behind() -> None:
    runtime = Runtime(load_scenario("bare"), clock_mode="manual")
    seen: dict[str, int] = {}

    async def run() -> None:
        async with logged_on(runtime) as session:
            writer, replies, server = session.writer, session.replies, session.server
            writer.write(b"".join(_order(n, f"b-{n}") for n in range(2, 42)))
            for _ in range(40):
                assert (await replies.next()).get(150) == "0"
            app = server.application
            (entry,) = app.sessions.values()
            seen["live_contexts"] = len(entry.reports.orders)
            seen["live_origins"] = len(app._origins)
            runtime.exchange.cancel_all("demo-user")
            for _ in range(40):
                assert (await replies.next()).get(150) == "4"
            seen["contexts"] = len(entry.reports.orders)
            seen["origins"] = len(app._origins)

    asyncio.run(run())
    assert seen == {"live_contexts": 40, "live_origins": 40, "contexts": 0, "origins": 0}


def test_cancel_ids_keep_the_newest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(application, "MAX_CANCEL_IDS", 3)
    app = application.FixApplication(Runtime(load_scenario("bare"), clock_mode="manual"))
    for n in range(5):
        app.remember_cancel(f"order-{n}", f"cancel-{n}")
    assert app.cancel_ids == {"order-2": "cancel-2", "order-3": "cancel-3", "order-4": "cancel-4"}
