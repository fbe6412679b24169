"""Property: random order flow, then every WebSocket stream agrees with REST.

Several users trade through the exchange while sessions (one per user, and one that subscribes
half-way through) follow `orderbook_delta` on every market and their own `fill`. After every
command the hub delivers; at the end, and at every step, each session's book rebuilt from
snapshot + deltas equals REST's `orderbook` rendering, seq numbers run 1, 2, 3 without a gap,
and each session's `fill` frames are exactly the user's REST fills, once each.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import given, settings

from api.wire.markets import orderbook
from api.ws.hub import Hub
from api.ws.session import Session
from simulator.exchange import Exchange
from simulator.server.runtime import Runtime
from simulator.server.scenarios import load_scenario
from tests.api.ws.frames import check
from tests.simulator.exchange_strategies import COMMANDS, TICKERS, apply_command, dollars

Book = dict[str, dict[str, dict[str, str]]]


class Follower:
    """A session's frames, parsed: books per market, seq per sid, fills."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.books: Book = {}
        self.seq: dict[int, int] = {}
        self.fills: list[dict[str, Any]] = []

    def read(self) -> None:
        for text in self.session.outbox:
            frame = json.loads(text)
            check(frame)
            if "seq" in frame and frame["type"] in ("orderbook_snapshot", "orderbook_delta"):
                expected = self.seq.get(frame["sid"], 0) + 1
                assert frame["seq"] == expected, (frame, expected)
                self.seq[frame["sid"]] = frame["seq"]
            if frame["type"] == "orderbook_snapshot":
                msg = frame["msg"]
                self.books[msg["market_ticker"]] = {
                    side: dict(msg.get(side, [])) for side in ("bid", "ask")
                }
            elif frame["type"] == "orderbook_delta":
                self._apply(frame["msg"])
            elif frame["type"] == "fill":
                self.fills.append(frame["msg"])
        self.session.outbox.clear()

    def _apply(self, msg: dict[str, Any]) -> None:
        levels = self.books[msg["market_ticker"]][msg["side"]]
        count = round(float(levels.get(msg["price"], "0")) * 100) + round(float(msg["delta"]) * 100)
        assert count >= 0, msg
        if count:
            levels[msg["price"]] = f"{count // 100}.{count % 100:02d}"
        else:
            levels.pop(msg["price"], None)


def _subscribe(session: Session) -> None:
    for n, channel in enumerate(("orderbook_delta", "fill"), 1):
        params: dict[str, Any] = {"channels": [channel]}
        if channel == "orderbook_delta":
            params["market_tickers"] = list(TICKERS)
        session.receive_text(json.dumps({"id": n, "cmd": "subscribe", "params": params}))


def _rest_book(ex: Exchange, ticker: str) -> dict[str, dict[str, str]]:
    book = orderbook(ex.markets[ticker])
    return {"bid": dict(book["bids"]), "ask": dict(book["asks"])}


def _check(ex: Exchange, follower: Follower) -> None:
    follower.read()
    for ticker in TICKERS:
        assert follower.books[ticker] == _rest_book(ex, ticker), ticker


async def _run(commands: list[tuple[Any, ...]]) -> None:
    runtime = Runtime(load_scenario("default"), clock_mode="manual")
    ex = runtime.exchange
    users = [ex.create_user(balance=dollars(20_000)).user_id for _ in range(3)]
    hub = Hub(runtime)
    followers = []
    for n, user in enumerate(users):
        session = hub.open(user, f"key-{n}", lambda: None)
        _subscribe(session)
        followers.append(Follower(session))
    late: Follower | None = None
    for n, command in enumerate(commands):
        apply_command(ex, users, command, n)
        if n == len(commands) // 2:
            late = Follower(hub.open(users[0], "key-late", lambda: None))
            _subscribe(late.session)
        hub.pump()
        for follower in followers:
            _check(ex, follower)
    if late is not None:
        _check(ex, late)
    for user, follower in zip(users, followers, strict=True):
        rest = [(f.trade_id, f.order_id, f.count, f.price) for f in ex.fills if f.user_id == user]
        seen = [
            (
                f["trade_id"],
                f["order_id"],
                round(float(f["count"]) * 100),
                round(float(f["price"]) * 10_000),
            )
            for f in follower.fills
        ]
        assert sorted(seen) == sorted(rest)
        assert len(set(seen)) == len(seen)
    await hub.aclose()


@settings(max_examples=30, deadline=None)
@given(commands=COMMANDS)
def test_streams_rebuild_rest_books_and_carry_each_fill_once(
    commands: list[tuple[Any, ...]],
) -> None:
    asyncio.run(_run(commands))
