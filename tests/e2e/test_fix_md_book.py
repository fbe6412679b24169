"""kalshi-sdk's own FIX order book, fed by KalshiMD through a busy stretch of the default
scenario (the house maker re-quoting, trades in between), equals the REST order book."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from typing import Any

import httpx
import pytest
from kalshi.fix.messages.market_data import MarketDataRequest
from kalshi.fix.orderbook import FixOrderBook, MarketDataBook

from simulator.server.scenarios import load_scenario
from tests.e2e.fix_helpers import (
    fix_live_server,
    rest,
    rest_order,
    sdk_session,
    sdk_trouble,
)

SYMBOLS = ["KXBTCPERP", "KXETHPERP", "KXSOLPERP"]
MINUTE_MS = 60_000


def _levels(levels: list[list[str]] | None) -> dict[Decimal, Decimal]:
    return {Decimal(price): Decimal(count) for price, count in levels or []}


def test_the_sdk_book_built_from_market_data_equals_rest_after_a_busy_advance(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="kalshi")
    with fix_live_server(load_scenario("default")) as server:
        taker = server.new_user("100000.0000")
        control = server.control_url

        async def scenario() -> tuple[dict[str, MarketDataBook | None], dict[str, Any], int]:
            async with sdk_session(server, taker, "MD") as md:
                await md.send(MarketDataRequest.subscribe(SYMBOLS))
                book = FixOrderBook()
                for _ in SYMBOLS:
                    _, snapshot = await md.expect("W")
                    book.apply(snapshot)
                async with httpx.AsyncClient(timeout=60, trust_env=False) as http:
                    for step in range(6):  # re-quotes, then a trade through the touch
                        moved = await http.post(
                            f"{control}/clock/advance", json={"ms": 10 * MINUTE_MS}
                        )
                        assert moved.status_code == 200, moved.text
                        symbol = SYMBOLS[step % 3]
                        path = f"/margin/markets/{symbol}/orderbook"
                        top = await rest(server, taker, "GET", path)
                        side, levels = ("bid", "asks") if step % 2 else ("ask", "bids")
                        price = top["orderbook"][levels][0][0]
                        await rest_order(
                            server,
                            taker,
                            symbol,
                            side,
                            "30",
                            price,
                            client_order_id=f"cross-{step}",
                            tif="immediate_or_cancel",
                        )
                # everything sent before the reply to this request has been read by then
                await md.send(MarketDataRequest.snapshot([SYMBOLS[0]]))
                applied = 0
                while True:
                    raw, message = await md.next()
                    if raw.msg_type == "W":
                        break
                    assert raw.msg_type == "X", raw
                    book.apply(message)
                    applied += 1
                assert md.unread() == []
                sdk = {s: book.get(s) for s in SYMBOLS}
                served = {
                    s: (await rest(server, taker, "GET", f"/margin/markets/{s}/orderbook"))[
                        "orderbook"
                    ]
                    for s in SYMBOLS
                }
                return sdk, served, applied

        sdk, served, applied = asyncio.run(scenario())

    assert applied > 100  # the maker moved its ladders many times
    records = caplog.get_records("call")
    assert sdk_trouble(records) == []
    dropped = [r.getMessage() for r in records if "dropp" in r.getMessage()]
    assert dropped == []  # e.g. "unknown MDUpdateAction '0'; dropping entry"
    for symbol in SYMBOLS:
        view = sdk[symbol]
        assert view is not None
        rest_book = served[symbol]
        assert {lv.price: lv.size for lv in view.bids} == _levels(rest_book.get("bids"))
        assert {lv.price: lv.size for lv in view.offers} == _levels(rest_book.get("asks"))
