"""The dashboard's server side: its view is the REST answers, its feed follows resets, and
both are guarded like the control plane (the page itself holds no data)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from simulator.server.runtime import ServerSettings
from simulator.server.scenarios import load_scenario
from tests.api.live import LiveServer, live_server

BARE = load_scenario("bare")


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with live_server(BARE) as live:
        yield live


def _feed_url(server: LiveServer, query: str = "") -> str:
    return f"ws://127.0.0.1:{server.port}/sim/v1/ui/feed{query}"


async def _frames(url: str, count: int, **options: Any) -> list[dict[str, Any]]:
    async with connect(url, max_size=None, **options) as ws:
        return [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(count)]


def test_the_view_is_what_rest_answers(server: LiveServer) -> None:
    server.control("POST", "/reset").raise_for_status()
    maker, taker = server.new_user("5000.0000"), server.new_user("5000.0000")
    server.limit_order(maker, "ask", "6.2600", "3.00")
    server.limit_order(taker, "bid", "6.2600", "2.00")
    view = server.control("GET", "/ui/view").json()
    accounts = {a["user_id"]: a for a in view["accounts"]}
    with server.client(taker.auth) as client:
        positions = client.get("/margin/positions").json()["positions"]
        balance = client.get("/margin/balance", params={"compute_available_balance": "true"})
        fills = client.get("/margin/fills", params={"limit": 20}).json()["fills"]
        market = client.get("/margin/markets/KXBTCPERP").json()["market"]
        book = client.get("/margin/markets/KXBTCPERP/orderbook").json()["orderbook"]
        trades = client.get("/margin/trades", params={"ticker": "KXBTCPERP"}).json()["trades"]
    mine = accounts[taker.user_id]
    assert mine["positions"] == positions and positions[0]["position"] == "2.00"
    assert mine["balance"] == balance.json()
    assert mine["fills"] == fills
    (btc,) = [m for m in view["markets"] if m["market"]["ticker"] == "KXBTCPERP"]
    assert btc["market"] == market
    assert btc["orderbook"] == {"bids": book.get("bids", []), "asks": book["asks"]}
    assert btc["trades"] == trades
    assert accounts[maker.user_id]["orders"][0]["remaining_count"] == "1.00"
    assert view["clock"] == server.control("GET", "/clock").json() | {"speed": 1.0}
    ratio = mine["margin_ratios"]["0"]
    sub = mine["balance"]["subaccount_balances"][0]
    assert ratio == pytest.approx(
        float(sub["maintenance_margin"]) / float(sub["account_equity"]), rel=1e-5
    )


def test_the_feed_sends_the_view_then_a_reset_notice_and_the_new_view(server: LiveServer) -> None:
    server.control("POST", "/reset").raise_for_status()
    generation = server.runtime.generation

    async def scenario() -> list[dict[str, Any]]:
        async with connect(_feed_url(server), max_size=None) as ws:
            first = json.loads(await asyncio.wait_for(ws.recv(), 10))
            await asyncio.to_thread(server.control, "POST", "/reset")
            frames = [first]
            while not (
                frames[-1]["type"] == "view" and frames[-1]["view"]["generation"] > generation
            ):
                frames.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
            return frames

    frames = asyncio.run(scenario())
    assert frames[0]["type"] == "view" and frames[0]["view"]["generation"] == generation
    kinds = [f["type"] for f in frames[1:]]
    assert kinds[-2:] == ["reset", "view"]
    assert frames[-1]["view"]["generation"] == generation + 1


def test_the_feed_refuses_a_foreign_origin(server: LiveServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        asyncio.run(_frames(_feed_url(server), 1, origin="http://evil.example"))
    assert refused.value.response.status_code == 403


def test_the_page_and_assets_are_served_and_hold_no_data(server: LiveServer) -> None:
    page = httpx.get(f"{server.base}/sim/ui")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/sim/ui/assets/app.js" in page.text
    script = httpx.get(f"{server.base}/sim/ui/assets/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert httpx.get(f"{server.base}/sim/ui/assets/nope.js").status_code == 404
    rebound = httpx.get(f"{server.base}/sim/ui", headers={"Host": "evil.example"})
    assert rebound.status_code == 403


def test_a_control_token_guards_the_view_and_the_feed_but_not_the_page() -> None:
    with live_server(BARE, settings=ServerSettings(control_token="s3cret")) as server:
        assert server.control("GET", "/ui/view").status_code == 401
        bearer = {"Authorization": "Bearer s3cret"}
        assert server.control("GET", "/ui/view", headers=bearer).status_code == 200
        assert httpx.get(f"{server.base}/sim/ui").status_code == 200
        with pytest.raises(InvalidStatus):
            asyncio.run(_frames(_feed_url(server), 1))
        with pytest.raises(InvalidStatus):
            asyncio.run(_frames(_feed_url(server, "?token=wrong"), 1))
        (frame,) = asyncio.run(_frames(_feed_url(server, "?token=s3cret"), 1))
        assert frame["type"] == "view"
        (frame,) = asyncio.run(_frames(_feed_url(server), 1, additional_headers=bearer))
        assert frame["type"] == "view"
