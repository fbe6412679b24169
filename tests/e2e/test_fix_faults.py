"""FIX faults (`/sim/v1/faults`) against kalshi-sdk's `MarginFixClient` on a live server.

A sequence gap on KalshiRT makes the SDK ask for a resend and go on (on KalshiNR, a session
without retransmission, kalshi-sdk treats any gap as fatal, as it would with Kalshi); a
disconnect drops the connection without a Logout, and the order whose report was lost is still
there on REST.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal

import pytest
from kalshi.fix.enums import Side, TimeInForce
from kalshi.fix.messages.order_entry import ExecutionReport, NewOrderSingle
from kalshi.fix.session import FixSessionState

from tests.e2e.fix_helpers import FixLiveServer, fix_live_server, rest, sdk_session

BTC = "KXBTCPERP"


@pytest.fixture(scope="module")
def server() -> Iterator[FixLiveServer]:
    with fix_live_server() as live:
        yield live


@pytest.fixture
def fresh(server: FixLiveServer) -> FixLiveServer:
    server.control("POST", "/reset").raise_for_status()
    return server


def _order(cl_ord_id: str, price: str) -> NewOrderSingle:
    return NewOrderSingle(
        cl_ord_id=cl_ord_id,
        order_qty=Decimal(1),
        price=Decimal(price),
        side=Side.BUY_YES,
        symbol=BTC,
        time_in_force=TimeInForce.GTC,
    )


def test_a_sequence_gap_is_resent_around_and_the_session_goes_on(fresh: FixLiveServer) -> None:
    alice = fresh.new_user("1000.0000")

    async def scenario() -> None:
        async with sdk_session(fresh, alice, "RT") as nr:
            fault = {"kind": "fix_seq_gap", "target": alice.user_id, "gap": 2, "count": 1}
            assert fresh.control("POST", "/faults", json=fault).status_code == 201
            await nr.send(_order("gap-1", "6.00"))
            raw, report = await nr.expect("8", t150="0", t11="gap-1")
            assert isinstance(report, ExecutionReport)
            assert raw.seq_num == 4  # the Logon reply was 1; 2 and 3 never sent
            await nr.tap.wait_received(lambda m: m.msg_type == "4", "the server's gap fill")
            (resend,) = [m for m in nr.tap.sent if m.msg_type == "2"]
            assert resend.get(7) == "2"
            await nr.send(_order("gap-2", "6.01"))
            raw, _ = await nr.expect("8", t150="0", t11="gap-2")
            assert raw.seq_num == 5

    asyncio.run(scenario())


def test_a_disconnect_drops_the_session_and_the_order_stays(fresh: FixLiveServer) -> None:
    alice = fresh.new_user("1000.0000")

    async def scenario() -> None:
        gone = asyncio.Event()

        async def on_state(state: FixSessionState) -> None:
            if state in (FixSessionState.DISCONNECTED, FixSessionState.RECONNECTING):
                gone.set()

        async with sdk_session(fresh, alice, on_state=on_state, max_retries=0) as nr:
            fault = {"kind": "fix_disconnect", "target": alice.user_id, "count": 1}
            assert fresh.control("POST", "/faults", json=fault).status_code == 201
            await nr.send(_order("drop-1", "6.00"))
            await asyncio.wait_for(gone.wait(), 10)
            assert not [
                m for m in nr.tap.received if m.msg_type in ("8", "5")
            ]  # no report, no Logout
        orders = (await rest(fresh, alice, "GET", "/margin/orders"))["orders"]
        assert [o["client_order_id"] for o in orders] == ["drop-1"]

    asyncio.run(scenario())
