"""The dashboard in a real browser: headless Chromium on a live server with a few trades.

Skips where no Chromium is installed (Debian: `apt-get install chromium`; `.ci/run` installs
it). The screenshot is saved under the test's tmp directory (its path is printed), or at
`$PERPS_SIM_UI_SCREENSHOT` when set (how `docs/dashboard.png` is made).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulator.server.scenarios import load_scenario
from tests.api.live import LiveServer, live_server
from tests.api.served import NewUser
from tests.ui.cdp import Browser, chromium_path

CHROMIUM = chromium_path()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium)"
)


@pytest.fixture(scope="module")
def traded() -> Iterator[tuple[LiveServer, NewUser, NewUser]]:
    with live_server(load_scenario("bare")) as server:
        maker = server.new_user("10000.0000")
        taker = server.new_user("10000.0000")
        server.limit_order(maker, "ask", "6.2600", "3.00", client_order_id="ui-ask")
        server.limit_order(maker, "bid", "6.2500", "4.00", client_order_id="ui-bid")
        server.limit_order(
            taker, "bid", "6.2600", "2.00", client_order_id="ui-take"
        )  # fills 2 of the ask
        yield server, maker, taker


@pytest.fixture
def browser() -> Iterator[Browser]:
    assert CHROMIUM is not None
    started = Browser.start(CHROMIUM)
    try:
        yield started
    finally:
        started.close()


def _text(browser: Browser, selector: str) -> Any:
    return browser.evaluate(
        f"[...document.querySelectorAll({json.dumps(selector)})].map(e => e.textContent)"
    )


def test_the_page_shows_book_trade_position_and_clock_and_advances(
    traded: tuple[LiveServer, NewUser, NewUser], browser: Browser, tmp_path: Path
) -> None:
    server, maker, taker = traded
    browser.navigate(f"{server.base}/sim/ui")
    browser.wait_for("document.getElementById('status').textContent === 'live'")
    browser.wait_for("document.querySelectorAll('#book tbody tr').length >= 2")

    # the book: the ask's remaining 1 contract and the resting bid, as GET .../orderbook has it
    rest = httpx.get(f"{server.rest_url}/margin/markets/KXBTCPERP/orderbook").json()
    assert rest["orderbook"]["asks"] == [["6.2600", "1.00"]]
    assert _text(browser, "#book tr.ask-row td.price") == ["6.2600"]
    assert _text(browser, "#book tr.ask-row td.ask:not(.price)") == ["1.00"]
    assert _text(browser, "#book tr.bid-row td.price") == ["6.2500"]
    assert _text(browser, "#book tr.bid-row td.bid:not(.price)") == ["4.00"]

    # the trade
    assert _text(browser, "#trades td.price") == ["6.2600"]
    assert _text(browser, "#trades td.count") == ["2.00"]

    # the taker's position, entry and the market's reference
    card = f"[data-user={json.dumps(taker.user_id)}]"
    assert _text(browser, f"{card} td.position") == ["2.00"]
    assert _text(browser, f"{card} td.entry") == ["6.2600"]
    assert _text(browser, f"[data-user={json.dumps(maker.user_id)}] td.position") == ["-2.00"]
    assert _text(browser, "#markets tr[data-ticker=KXBTCPERP] td.reference") == ["6.2590"]

    # the clock, then one minute later after the button
    clock = server.control("GET", "/clock").json()
    assert (
        browser.evaluate("Number(document.getElementById('clock-now').dataset.ms)")
        == clock["now_ms"]
    )
    assert _text(browser, "#clock-mode") == ["manual"]
    browser.evaluate("document.getElementById('advance-1m').click()")
    moved = clock["now_ms"] + 60_000
    browser.wait_for(f"Number(document.getElementById('clock-now').dataset.ms) === {moved}")
    assert server.control("GET", "/clock").json()["now_ms"] == moved

    target = Path(os.environ.get("PERPS_SIM_UI_SCREENSHOT") or tmp_path / "dashboard.png")
    browser.screenshot(target)
    print(f"dashboard screenshot: {target}")
    assert target.stat().st_size > 10_000
    assert not [line for line in browser.console if "Error" in line], browser.console


def test_the_page_reconnects_after_a_reset(
    traded: tuple[LiveServer, NewUser, NewUser], browser: Browser
) -> None:
    server, _, _ = traded
    browser.navigate(f"{server.base}/sim/ui")
    before = int(browser.wait_for("document.getElementById('clock-now').dataset.ms"))
    server.control("POST", "/clock/advance", json={"ms": 5_000}).raise_for_status()
    browser.wait_for(
        f"Number(document.getElementById('clock-now').dataset.ms) === {before + 5_000}"
    )
    server.control("POST", "/reset").raise_for_status()
    start = server.control("GET", "/clock").json()["now_ms"]
    browser.wait_for("!document.getElementById('notice').hidden")
    browser.wait_for(f"Number(document.getElementById('clock-now').dataset.ms) === {start}")
    browser.wait_for("document.querySelectorAll('#trades tbody tr').length === 0")


def test_the_page_reconnects_when_its_socket_drops(
    traded: tuple[LiveServer, NewUser, NewUser], browser: Browser
) -> None:
    server, _, _ = traded
    browser.navigate(f"{server.base}/sim/ui")
    before = int(browser.wait_for("document.getElementById('clock-now').dataset.ms"))
    browser.evaluate("state.socket.close()")
    browser.wait_for("document.getElementById('status').textContent === 'reconnecting'")
    browser.wait_for("document.getElementById('status').textContent === 'live'")
    server.control("POST", "/clock/advance", json={"ms": 1_000}).raise_for_status()
    browser.wait_for(
        f"Number(document.getElementById('clock-now').dataset.ms) === {before + 1_000}"
    )


def test_the_pause_button_pauses_and_resumes_trading(
    traded: tuple[LiveServer, NewUser, NewUser], browser: Browser
) -> None:
    server, _, _ = traded
    status = f"{server.rest_url}/margin/exchange/status"
    browser.navigate(f"{server.base}/sim/ui")
    browser.wait_for("document.getElementById('clock-now').dataset.ms")  # the script runs
    browser.evaluate("document.getElementById('pause-trading').click()")
    browser.wait_for("document.getElementById('pause-trading').textContent === 'resume trading'")
    assert httpx.get(status).json() == {"exchange_active": True, "trading_active": False}
    browser.evaluate("document.getElementById('pause-trading').click()")
    browser.wait_for("document.getElementById('pause-trading').textContent === 'pause trading'")
    assert httpx.get(status).json()["trading_active"] is True


def test_the_clock_shows_where_a_replayed_reference_has_got(browser: Browser) -> None:
    with live_server(load_scenario("liquidation-cascade")) as server:
        browser.navigate(f"{server.base}/sim/ui")
        extra = "document.getElementById('clock-extra').textContent"
        browser.wait_for(f"{extra} === 'replay KXBTCPERP 0%'")
        server.control("POST", "/clock/advance", json={"ms": 11 * 60_000}).raise_for_status()
        browser.wait_for(f"{extra} === 'replay KXBTCPERP ran out'")
