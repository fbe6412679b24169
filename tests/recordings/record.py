"""Record the REST session and the 0.1 journal fixtures from the code as it is now.

    python -m tests.recordings.record            # rewrite the fixtures
    python -m tests.recordings.record --check    # record into a temporary directory and
                                                 # compare with the committed fixtures

What it writes (run from the project root, with the project's virtualenv):

- `fixtures/recordings/rest-session.jsonl`: a deterministic session against a fresh server
  (`tests.recordings.harness`: the real app over the `default` scenario, manual clock, seed
  `harness.SEED`) by two signed users, `demo` and `second`, and unsigned public calls: market
  reads, order books, trades, candlesticks, orders (create, amend, decrease, cancel,
  cancel-all), fills, positions, balance, subaccounts and transfers, order groups, exit
  triggers, funding, FCM operations, control-plane calls (users, deposits, clock advances,
  reference prices, market and exchange status) and rejected requests. Each line is one request
  and its answer (see `harness` for the format). `tests/e2e/test_recorded_rest_session.py`
  replays it and expects every status and body byte for byte.
- `fixtures/journals/journal-0.1.jsonl`: the journal the same session leaves in the runtime's
  state directory, extended by commands no transport reaches (predictions deposits, Kalshi-set
  notional limits, corporate actions, a market rename, timers fired by `run_due`).
- `fixtures/journals/state-0.1.json`: the snapshot (`GET /sim/v1/state`) of that final state.
- `fixtures/journals/journal-0.1.json`: the state hash the journal replays to, the snapshot's
  own hash and the command names used. `tests/simulator/server/test_journal_compat.py` checks them.

The fixtures capture what version 0.1 answers and journals. Regenerate them only on purpose
(a deliberate change of wire output or of the journal format), and review the diff: the tests
exist to catch changes that were not meant. Recording twice gives identical files; `--check`
verifies it.
"""

from __future__ import annotations

import argparse
import difflib
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import msgspec

from simulator.core.clock import ManualClock
from simulator.core.command_table import NAMES as COMMANDS
from simulator.core.money import MONEY_SCALE
from simulator.exchange import Exchange as SimExchange
from simulator.server.journal import NAME as JOURNAL_NAME
from simulator.server.runtime import Runtime
from simulator.server.snapshots import import_state
from simulator.server.state_hash import state_hash
from tests.recordings import harness

__all__ = ["Recorder", "main", "record", "session", "tail"]

JOURNAL = "journal-0.1.jsonl"
SIDECAR = "journal-0.1.json"
STATE = "state-0.1.json"

T = "/trade-api/v2"
C = "/sim/v1"
BTC, ETH, SOL = "KXBTCPERP", "KXETHPERP", "KXSOLPERP"
DAY = "2026-06-15"
START_S = 1_781_481_600  # 2026-06-15T00:00:00Z, the scenario's start
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
TICK = 1  # one tick of $0.0001


class SessionError(AssertionError):
    """The session did not go as scripted (a status other than the expected one)."""


class Recorder:
    """Sends the session's requests and keeps every exchange."""

    def __init__(self, client: harness.InProcessClient) -> None:
        self.client = client
        self.exchanges: list[harness.Exchange] = []

    def call(
        self,
        user: str | None,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, Any] | None = None,
        expect: int = 200,
        raw: str | None = None,
    ) -> Any:
        """Send one request and return its parsed JSON body (None when empty).

        Args:
            user: The signer (`harness.USERS`), None for an unsigned request.
            body: A JSON value sent compactly, or None for no body.
            query: Appended to `path` as a query string.
            expect: The status the script expects; anything else stops the recording.
            raw: A body sent as is instead of `body` (malformed requests).
        """
        if query:
            path = f"{path}?{urlencode(query, safe=',')}"
        text = raw if raw is not None else None if body is None else _compact(body)
        exchange = self.client.send(method, path, text, user)
        self.exchanges.append(exchange)
        if exchange.status != expect:
            raise SessionError(
                f"#{len(self.exchanges) - 1} {method} {path} body={text!r}: expected {expect}, "
                f"got {exchange.status} {exchange.response}"
            )
        return json.loads(exchange.response) if exchange.response else None

    def get(self, user: str | None, path: str, **kwargs: Any) -> Any:
        return self.call(user, "GET", path, **kwargs)

    def post(self, user: str | None, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.call(user, "POST", path, body, **kwargs)

    def put(self, user: str | None, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.call(user, "PUT", path, body, **kwargs)

    def delete(self, user: str | None, path: str, **kwargs: Any) -> Any:
        return self.call(user, "DELETE", path, **kwargs)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _ticks(price: str) -> int:
    whole, _, fraction = price.partition(".")
    return int(whole) * 10_000 + int((fraction + "0000")[:4])


def _price(ticks: int) -> str:
    return f"{ticks // 10_000}.{ticks % 10_000:04d}"


def _order(
    ticker: str,
    cid: str,
    side: str,
    count: str,
    price: str,
    tif: str = "good_till_canceled",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "ticker": ticker,
        "client_order_id": cid,
        "side": side,
        "count": count,
        "price": price,
        "time_in_force": tif,
        "self_trade_prevention_type": "taker_at_cross",
        **extra,
    }


def _touch(s: Recorder, ticker: str) -> tuple[int, int]:
    """The best bid and ask of `ticker` in ticks (read through the public order book)."""
    book = s.get(None, f"{T}/margin/markets/{ticker}/orderbook", query={"depth": 1})["orderbook"]
    return _ticks(book["bids"][0][0]), _ticks(book["asks"][0][0])


def _mark(s: Recorder, ticker: str) -> int:
    market = s.get(None, f"{T}/margin/markets/{ticker}")["market"]
    return _ticks(market["liquidation_mark_price"]["price"])


# --------------------------------------------------------------------- session


def session(s: Recorder) -> None:
    """The scripted session: every request goes through `s` and is recorded."""
    _opening_reads(s)
    _second_user(s)
    _trading(s)
    _rejected_orders(s)
    _subaccounts_and_transfers(s)
    _order_groups(s)
    _exit_triggers(s)
    _fcm(s)
    _market_and_exchange_status(s)
    _time_marks_and_liquidation(s)
    _funding_and_history(s)
    _other_rejections(s)
    _closing_reads(s)


def _opening_reads(s: Recorder) -> None:
    s.get(None, f"{C}/health")
    s.get(None, f"{C}/clock")
    s.get(None, f"{T}/margin/exchange/status")
    s.get("demo", f"{T}/margin/enabled")
    s.get(None, f"{T}/margin/risk_parameters")
    s.get("demo", f"{T}/account/limits/perps")
    s.get(None, f"{T}/margin/markets")
    s.get(None, f"{T}/margin/markets", query={"status": "active"})
    s.get(None, f"{T}/margin/markets", query={"status": "closed"})
    for ticker in (BTC, ETH, SOL):
        s.get(None, f"{T}/margin/markets/{ticker}")
    s.get(None, f"{T}/margin/markets/{BTC}/orderbook")
    s.get(None, f"{T}/margin/markets/{ETH}/orderbook", query={"depth": 3})
    s.get(
        None,
        f"{T}/margin/markets/{SOL}/orderbook",
        query={"depth": 4, "aggregation_tick_size": "0.0100"},
    )
    s.get(None, f"{T}/margin/markets/orderbooks", query={"tickers": f"{BTC},{ETH},{SOL}"})
    s.get(None, f"{T}/margin/trades")
    s.get(None, f"{T}/margin/corporate_actions")
    s.get(None, f"{T}/margin/funding_rates/estimate", query={"ticker": BTC})
    s.get(None, f"{T}/margin/funding_rates/historical")
    for path in (
        "/margin/balance",
        "/margin/positions",
        "/margin/risk",
        "/margin/notional_risk_limit",
        "/margin/fee_tiers",
        "/margin/fee_tier_rates",
        "/margin/orders",
        "/margin/fills",
        "/margin/order_groups",
    ):
        s.get("demo", f"{T}{path}")
    s.get("demo", f"{T}/margin/balance", query={"compute_available_balance": "true"})


def _second_user(s: Recorder) -> None:
    s.post(
        None,
        f"{C}/users",
        {
            "user_id": harness.SECOND_USER_ID,
            "api_key_id": harness.SECOND_KEY_ID,
            "public_key_pem": harness.second_public_pem(),
            "balance": "2500.0000",
        },
        expect=201,
    )
    s.post(None, f"{C}/users/{harness.SECOND_USER_ID}/deposit", {"amount": "2500.0000"})
    s.get("second", f"{T}/margin/balance")
    s.get("second", f"{T}/margin/enabled")


def _trading(s: Recorder) -> None:
    bid, ask = _touch(s, BTC)
    inside = ask - TICK
    # the second user rests an ask inside the bots' spread; the demo user takes it
    resting = s.post(
        "second",
        f"{T}/margin/orders",
        _order(BTC, "s-ask-1", "ask", "20", _price(inside)),
        expect=201,
    )
    s.post(
        "demo",
        f"{T}/margin/orders",
        _order(BTC, "d-buy-1", "bid", "8", _price(inside), "immediate_or_cancel"),
        expect=201,
    )
    s.get("second", f"{T}/margin/orders/{resting['order_id']}")
    # the rest of it and two of the bots' levels, in one order
    s.post(
        "demo",
        f"{T}/margin/orders",
        _order(BTC, "d-buy-2", "bid", "300.00", _price(ask + 10 * TICK), "immediate_or_cancel"),
        expect=201,
    )
    # fill or kill that cannot fill
    s.post(
        "demo",
        f"{T}/margin/orders",
        _order(BTC, "d-fok-1", "bid", "50", _price(bid - 50 * TICK), "fill_or_kill"),
        expect=201,
    )
    # resting orders of the demo user: amend, decrease, cancel
    bid, ask = _touch(s, BTC)
    rest = s.post(
        "demo",
        f"{T}/margin/orders",
        _order(
            BTC,
            "d-rest-1",
            "bid",
            "10",
            _price(bid - 20 * TICK),
            post_only=True,
            cancel_order_on_pause=True,
            expiration_time=START_S + 86_400,
        ),
        expect=201,
    )
    order_id = rest["order_id"]
    s.get("demo", f"{T}/margin/orders/{order_id}")
    s.post(
        "demo",
        f"{T}/margin/orders/{order_id}/amend",
        {"ticker": BTC, "side": "bid", "price": _price(bid - 15 * TICK), "count": "12"},
    )
    s.post(
        "demo",
        f"{T}/margin/orders/{order_id}/amend",
        {
            "ticker": BTC,
            "side": "bid",
            "price": _price(bid - 15 * TICK),
            "count": "12",
            "client_order_id": "d-rest-1",
            "updated_client_order_id": "d-rest-1b",
        },
    )
    s.post("demo", f"{T}/margin/orders/{order_id}/decrease", {"reduce_by": "2"})
    s.post("demo", f"{T}/margin/orders/{order_id}/decrease", {"reduce_to": "7.00"})
    s.get("demo", f"{T}/margin/orders/{order_id}")
    s.delete("demo", f"{T}/margin/orders/{order_id}")
    s.delete("demo", f"{T}/margin/orders/{order_id}", expect=404)
    # the second user rests asks; an amend of the demo user's bid crosses one of them
    s.post(
        "second",
        f"{T}/margin/orders",
        _order(BTC, "s-ask-2", "ask", "5", _price(ask - TICK)),
        expect=201,
    )
    crossing = s.post(
        "demo",
        f"{T}/margin/orders",
        _order(BTC, "d-rest-2", "bid", "6", _price(bid - 5 * TICK)),
        expect=201,
    )
    s.post(
        "demo",
        f"{T}/margin/orders/{crossing['order_id']}/amend",
        {"ticker": BTC, "side": "bid", "price": _price(ask - TICK), "count": "6"},
    )
    # a sell of the demo user against the bots and a resting ETH and SOL book of each user
    s.post(
        "demo",
        f"{T}/margin/orders",
        _order(BTC, "d-sell-1", "ask", "3", _price(bid - 30 * TICK), "immediate_or_cancel"),
        expect=201,
    )
    eth_bid, eth_ask = _touch(s, ETH)
    sol_bid, sol_ask = _touch(s, SOL)
    s.post(
        "demo",
        f"{T}/margin/orders",
        _order(ETH, "d-eth-1", "bid", "4", _price(eth_bid - 3 * TICK)),
        expect=201,
    )
    s.post(
        "demo",
        f"{T}/margin/orders",
        _order(SOL, "d-sol-1", "ask", "2", _price(sol_ask + 7 * TICK), cancel_order_on_pause=True),
        expect=201,
    )
    for index in range(3):
        s.post(
            "second",
            f"{T}/margin/orders",
            _order(ETH, f"s-eth-{index}", "ask", "3", _price(eth_ask + (index + 1) * TICK)),
            expect=201,
        )
    s.post(
        "second",
        f"{T}/margin/orders",
        _order(SOL, "s-sol-1", "bid", "1", _price(sol_bid - 2 * TICK)),
        expect=201,
    )
    s.get("second", f"{T}/margin/orders", query={"status": "resting"})
    s.delete("second", f"{T}/margin/orders", expect=204)
    s.get("second", f"{T}/margin/orders", query={"status": "resting"})
    # a SOL trade between the two users: both hold SOL when funding is paid
    s.post(
        "second",
        f"{T}/margin/orders",
        _order(SOL, "s-sol-2", "ask", "3", _price(sol_ask - 2 * TICK)),
        expect=201,
    )
    s.post(
        "demo",
        f"{T}/margin/orders",
        _order(SOL, "d-sol-buy", "bid", "3", _price(sol_ask - 2 * TICK), "fill_or_kill"),
        expect=201,
    )
    # the demo user's order lists, filtered and paged
    s.get("demo", f"{T}/margin/orders")
    s.get("demo", f"{T}/margin/orders", query={"status": "executed"})
    s.get("demo", f"{T}/margin/orders", query={"status": "canceled", "ticker": BTC})
    first = s.get("demo", f"{T}/margin/orders", query={"limit": 2})
    s.get("demo", f"{T}/margin/orders", query={"limit": 2, "cursor": first["cursor"]})
    s.get(
        "demo",
        f"{T}/margin/orders",
        query={"subaccount": 0, "min_ts": START_S, "max_ts": START_S + 60},
    )
    # fills, trades, positions and balances after trading
    s.get("demo", f"{T}/margin/fills")
    page = s.get("demo", f"{T}/margin/fills", query={"limit": 2})
    s.get("demo", f"{T}/margin/fills", query={"limit": 2, "cursor": page["cursor"]})
    s.get("second", f"{T}/margin/fills")
    s.get(None, f"{T}/margin/trades", query={"ticker": BTC})
    page = s.get(None, f"{T}/margin/trades", query={"limit": 2})
    s.get(None, f"{T}/margin/trades", query={"limit": 2, "cursor": page["cursor"]})
    for user in ("demo", "second"):
        s.get(user, f"{T}/margin/positions")
        s.get(user, f"{T}/margin/balance", query={"compute_available_balance": "true"})
        s.get(user, f"{T}/margin/risk")
    s.get("demo", f"{T}/margin/positions", query={"ticker": BTC, "subaccount": 0})
    s.get(None, f"{T}/margin/markets/{BTC}")


def _rejected_orders(s: Recorder) -> None:
    bid, _ = _touch(s, BTC)
    good = _price(bid - 40 * TICK)
    orders = f"{T}/margin/orders"
    s.post("demo", orders, _order(BTC, "r-1", "bid", "1", "abc"), expect=400)
    s.post("demo", orders, _order(BTC, "r-2", "bid", "1", "6.25905"), expect=400)
    s.post("demo", orders, _order(BTC, "r-3", "bid", "1", "0"), expect=400)
    s.post("demo", orders, _order(BTC, "r-4", "bid", "0", good), expect=400)
    s.post("demo", orders, _order(BTC, "r-5", "bid", "1.5", good), expect=400)
    s.post("demo", orders, _order("KXNOPEPERP", "r-6", "bid", "1", good), expect=400)
    s.post("demo", orders, {"ticker": BTC, "side": "bid"}, expect=400)
    s.post("demo", orders, _order(BTC, "r-7", "buy", "1", good), expect=400)
    s.post("demo", orders, raw="{not json", expect=400)
    s.post(
        "demo",
        orders,
        _order(BTC, "r-8", "bid", "1", good, "immediate_or_cancel", post_only=True),
        expect=400,
    )
    s.post("demo", orders, _order(BTC, "r-9", "bid", "1", good, reduce_only=True), expect=400)
    s.post(
        "demo", orders, _order(BTC, "r-10", "bid", "1", good, expiration_time=START_S), expect=400
    )
    s.post("demo", orders, _order(BTC, "r-11", "bid", "100000", good), expect=400)
    s.post(None, orders, _order(BTC, "r-12", "bid", "1", good), expect=401)
    s.post("demo", orders, _order(BTC, "r-13", "bid", "1", good, subaccount=5), expect=400)
    s.get("demo", f"{orders}/{UNKNOWN_ID}", expect=404)
    s.get("demo", f"{orders}/not-an-id", expect=400)
    s.delete("demo", f"{orders}/{UNKNOWN_ID}", expect=404)
    s.post(
        "demo",
        f"{orders}/{UNKNOWN_ID}/amend",
        {"ticker": BTC, "side": "bid", "price": good, "count": "1"},
        expect=404,
    )
    s.post("demo", f"{orders}/{UNKNOWN_ID}/decrease", {"reduce_by": "1"}, expect=404)
    placed = s.post("demo", orders, _order(BTC, "r-ok", "bid", "2", good), expect=201)
    target = f"{orders}/{placed['order_id']}"
    s.post("demo", f"{target}/decrease", {"reduce_by": "1", "reduce_to": "1"}, expect=400)
    s.post("demo", f"{target}/decrease", {}, expect=400)
    s.post(
        "demo",
        f"{target}/amend",
        {"ticker": ETH, "side": "bid", "price": good, "count": "2"},
        expect=400,
    )
    s.get("second", target, expect=404)
    s.delete("second", target, expect=404)
    s.delete("demo", target)
    s.post(
        "demo",
        f"{target}/amend",
        {"ticker": BTC, "side": "bid", "price": good, "count": "2"},
        expect=404,
    )


def _subaccounts_and_transfers(s: Recorder) -> None:
    s.post("demo", "/trade-api/v2/portfolio/margin/subaccounts", expect=201)
    s.post("demo", "/trade-api/v2/portfolio/margin/subaccounts", {}, expect=201)
    transfer = "/trade-api/v2/portfolio/margin/subaccounts/transfer"
    body = {
        "client_transfer_id": "9b0f6a52-1d3c-4e8a-9f2b-3c4d5e6f7a81",
        "from_subaccount": 0,
        "to_subaccount": 1,
        "amount_cents": 150_000,
    }
    s.post("demo", transfer, body)
    s.post("demo", transfer, body)  # the same client id again: applied once
    s.post(
        "demo",
        transfer,
        {
            **body,
            "client_transfer_id": "9b0f6a52-1d3c-4e8a-9f2b-3c4d5e6f7a82",
            "from_subaccount": 1,
            "to_subaccount": 2,
            "amount_cents": 20_000,
        },
    )
    s.post(
        "demo",
        transfer,
        {**body, "client_transfer_id": "9b0f6a52-1d3c-4e8a-9f2b-3c4d5e6f7a83", "to_subaccount": 9},
        expect=400,
    )
    s.post(
        "demo",
        transfer,
        {
            **body,
            "client_transfer_id": "9b0f6a52-1d3c-4e8a-9f2b-3c4d5e6f7a84",
            "amount_cents": 10**12,
        },
        expect=400,
    )
    s.post("demo", transfer, {**body, "client_transfer_id": "not-a-uuid"}, expect=400)
    eth_bid, eth_ask = _touch(s, ETH)
    s.post(
        "demo",
        f"{T}/margin/orders",
        _order(
            ETH,
            "d1-eth-1",
            "bid",
            "5",
            _price(eth_ask + 5 * TICK),
            "immediate_or_cancel",
            subaccount=1,
        ),
        expect=201,
    )
    s.post(
        "demo",
        f"{T}/margin/orders",
        _order(ETH, "d1-eth-2", "bid", "5", _price(eth_bid - 8 * TICK), subaccount=1),
        expect=201,
    )
    s.post(
        "demo",
        f"{T}/margin/orders",
        _order(ETH, "d2-eth-1", "ask", "1", _price(eth_ask + 9 * TICK), subaccount=2),
        expect=201,
    )
    s.get("demo", f"{T}/margin/positions", query={"subaccount": 1})
    s.get("demo", f"{T}/margin/orders", query={"subaccount": 1})
    s.get("demo", f"{T}/margin/balance", query={"compute_available_balance": "true"})
    s.delete("demo", f"{T}/margin/orders", query={"subaccount": 2}, expect=204)
    s.get("demo", f"{T}/margin/orders", query={"subaccount": 2})
    s.get("demo", f"{T}/margin/fills", query={"subaccount": 1})
    instance = "/trade-api/v2/portfolio/intra_exchange_instance_transfer"
    out = {
        "source": "margined",
        "destination": "event_contract",
        "amount": 500_000,
        "client_transfer_id": "4c3b2a19-0f8e-4d7c-a6b5-948372615041",
    }
    s.post("demo", instance, out)
    s.post("demo", instance, out)  # idempotent: the first transfer's id again
    s.post(
        "demo", instance, {"source": "event_contract", "destination": "margined", "amount": 200_000}
    )
    s.post(
        "demo",
        instance,
        {"source": "event_contract", "destination": "margined", "amount": 10**9},
        expect=400,
    )
    s.post(
        "demo", instance, {"source": "margined", "destination": "margined", "amount": 1}, expect=400
    )
    s.post("demo", instance, {**out, "source_exchange_shard": 1}, expect=400)
    s.get("demo", f"{T}/margin/balance")


def _order_groups(s: Recorder) -> None:
    groups = f"{T}/margin/order_groups"
    group = s.post("demo", f"{groups}/create", {"contracts_limit": 5}, expect=201)
    other = s.post(
        "demo", f"{groups}/create", {"contracts_limit_fp": "3.00", "subaccount": 1}, expect=201
    )
    s.post("demo", f"{groups}/create", {"contracts_limit": 0}, expect=400)
    s.get("demo", groups)
    s.get("demo", groups, query={"subaccount": 1})
    gid, other_id = group["order_group_id"], other["order_group_id"]
    bid, ask = _touch(s, BTC)
    s.post(
        "demo",
        f"{T}/margin/orders",
        _order(BTC, "g-rest-1", "bid", "2", _price(bid - 25 * TICK), order_group_id=gid),
        expect=201,
    )
    s.get("demo", f"{groups}/{gid}")
    s.put("demo", f"{groups}/{gid}/limit", {"contracts_limit_fp": "8.00"})
    # a fill of 9 exceeds the limit of 8: the group triggers and cancels its resting order
    s.post(
        "demo",
        f"{T}/margin/orders",
        _order(
            BTC,
            "g-take-1",
            "bid",
            "9",
            _price(ask + 2 * TICK),
            "immediate_or_cancel",
            order_group_id=gid,
        ),
        expect=201,
    )
    s.get("demo", f"{groups}/{gid}")
    s.post(
        "demo",
        f"{T}/margin/orders",
        _order(BTC, "g-rest-2", "bid", "1", _price(bid - 25 * TICK), order_group_id=gid),
        expect=400,
    )
    s.put("demo", f"{groups}/{gid}/reset")
    s.post(
        "demo",
        f"{T}/margin/orders",
        _order(BTC, "g-rest-3", "bid", "1", _price(bid - 26 * TICK), order_group_id=gid),
        expect=201,
    )
    s.put("demo", f"{groups}/{gid}/trigger", {})
    s.get("demo", f"{groups}/{gid}")
    s.put("demo", f"{groups}/{gid}/reset", {})
    s.get("demo", groups)
    s.delete("demo", f"{groups}/{other_id}", query={"subaccount": 1})
    s.get("demo", f"{groups}/{other_id}", expect=404)
    s.put("demo", f"{groups}/{UNKNOWN_ID}/trigger", expect=404)
    s.put("demo", f"{groups}/{gid}/limit", {}, expect=400)
    s.get("second", f"{groups}/{gid}", expect=404)
    s.get("demo", f"{T}/margin/orders", query={"ticker": BTC, "status": "canceled"})


def _exit_triggers(s: Recorder) -> None:
    cross = f"{T}/margin/cross/positions/{BTC}/exit_trigger"
    mark = _mark(s, BTC)
    bracket = s.put(
        "demo",
        cross,
        {
            "stop_loss_price": _price(mark - 300 * TICK),
            "take_profit_price": _price(mark + 900 * TICK),
        },
    )
    trailing = s.put("demo", cross, {"kind": "trailing", "trail_bps": 250})
    # a second whole-position trailing trigger replaces the first; a partial one is refused
    trailing = s.put("demo", cross, {"kind": "trailing", "trail_amount": "0.0400"})
    s.put("demo", cross, {"kind": "trailing", "trail_bps": 100, "count": "5"}, expect=400)
    s.put(
        "demo",
        cross,
        {
            "stop_loss_price": _price(mark - 500 * TICK),
            "count": "5",
            "client_trigger_id": "5d6e7f80-1a2b-4c3d-8e9f-0a1b2c3d4e5f",
        },
    )
    s.get("demo", cross)
    s.get("demo", cross, query={"kind": "bracket"})
    s.put(
        "demo",
        f"{cross}/{bracket['id']}",
        {
            "stop_loss_price": _price(mark - 250 * TICK),
            "take_profit_price": _price(mark + 800 * TICK),
        },
    )
    s.delete("demo", f"{cross}/{trailing['id']}", expect=204)
    s.delete("demo", f"{cross}/{trailing['id']}", expect=404)
    s.delete("demo", f"{cross}/not-a-uuid", expect=400)
    s.put("demo", f"{cross}/{UNKNOWN_ID}", {"stop_loss_price": "1.0000"}, expect=404)
    s.get("demo", cross)
    s.put("demo", cross, {"stop_loss_price": "1.0000"}, query={"subaccount": 2}, expect=400)
    s.get("demo", f"{T}/margin/cross/positions/{ETH}/exit_trigger", query={"subaccount": 1})
    s.put(
        "demo",
        f"{T}/margin/cross/positions/{ETH}/exit_trigger",
        {"stop_loss_price": _price(_mark(s, ETH) - 200 * TICK)},
        query={"subaccount": 1},
    )
    s.get(None, f"{T}/margin/cross/positions/{BTC}/exit_trigger", expect=401)
    s.get("demo", f"{T}/margin/cross/positions/KXNOPEPERP/exit_trigger", expect=400)
    sol = f"{T}/margin/cross/positions/{SOL}/exit_trigger"
    s.put("demo", sol, {"stop_loss_price": _price(_mark(s, SOL) - 900 * TICK)})
    s.put("demo", sol, {"kind": "trailing", "trail_bps": 300})
    s.delete("demo", sol, query={"kind": "trailing"}, expect=204)
    s.get("demo", sol)
    s.delete("demo", sol, expect=204)
    s.get("demo", sol)
    s.delete("demo", f"{T}/margin/cross/positions/KXNOPEPERP/exit_trigger", expect=400)
    isolated = f"{T}/margin/isolated/positions/{BTC}/exit_trigger"
    s.get("demo", isolated)
    s.put("demo", isolated, {"stop_loss_price": _price(mark - 300 * TICK)}, expect=400)
    s.delete("demo", isolated, expect=204)
    s.get("second", cross)


def _fcm(s: Recorder) -> None:
    subtraders = f"{T}/margin/fcm/subtraders"
    controls = f"{subtraders}/risk_controls"
    desk = s.post(
        "demo", subtraders, {"subtrader_suffix": "desk1", "require_category_cap": False}, expect=201
    )
    s.post(
        "demo", subtraders, {"subtrader_suffix": "desk2", "require_category_cap": True}, expect=201
    )
    s.post(
        "demo", subtraders, {"subtrader_suffix": "desk1", "require_category_cap": False}, expect=409
    )
    s.post(
        "demo",
        subtraders,
        {"subtrader_suffix": "bad suffix!", "require_category_cap": False},
        expect=400,
    )
    sub_id = desk["subtrader_id"]
    s.get("demo", controls, query={"subtrader_id": sub_id})
    s.put("demo", controls, {"subtrader_id": sub_id, "im_cap": "100.0000"})
    s.put("demo", controls, {"subtrader_id": sub_id, "im_cap": "25.5", "market_ticker": BTC})
    s.put("demo", controls, {"subtrader_id": sub_id, "im_cap": "60", "asset_class": "Crypto"})
    s.get("demo", controls, query={"subtrader_id": sub_id})
    s.get("demo", controls, query={"subtrader_id": sub_id, "asset_class": "Crypto"})
    s.delete("demo", controls, query={"subtrader_id": sub_id, "market_ticker": BTC})
    s.delete("demo", controls, query={"subtrader_id": sub_id, "market_ticker": BTC}, expect=404)
    s.get("demo", controls, query={"subtrader_id": sub_id, "market_ticker": BTC})
    s.get("second", controls, query={"subtrader_id": sub_id}, expect=404)
    s.get("demo", controls, expect=400)
    s.put("demo", controls, {"subtrader_id": sub_id, "im_cap": "-1"}, expect=400)
    s.get("demo", f"{T}/margin/fcm/orders", query={"subtrader_id": "demo-user"})
    s.get("demo", f"{T}/margin/fcm/orders", query={"subtrader_id": sub_id, "status": "resting"})
    s.get("demo", f"{T}/margin/fcm/orders", query={"subtrader_id": "someone-else"}, expect=400)
    s.put(
        "second", f"{T}/margin/fcm/notional_risk_limit", {"notional_value_risk_limit": "50000.0000"}
    )
    s.get("second", f"{T}/margin/notional_risk_limit")
    s.delete("second", f"{T}/margin/fcm/notional_risk_limit")
    s.get("second", f"{T}/margin/notional_risk_limit")
    s.put(
        "demo",
        f"{T}/margin/fcm/notional_risk_limit",
        {"notional_value_risk_limit": "x"},
        expect=400,
    )


def _market_and_exchange_status(s: Recorder) -> None:
    s.post(None, f"{C}/markets/{SOL}/status", {"status": "inactive"})
    s.get(None, f"{T}/margin/markets", query={"status": "inactive"})
    sol_bid, _ = _touch(s, SOL)
    s.post(
        "demo",
        f"{T}/margin/orders",
        _order(SOL, "d-sol-2", "bid", "1", _price(sol_bid - TICK)),
        expect=409,
    )
    s.get("demo", f"{T}/margin/orders", query={"ticker": SOL})
    s.post(None, f"{C}/markets/{SOL}/status", {"status": "active"})
    s.post(None, f"{C}/markets/{SOL}/status", {"status": "paused"}, expect=400)
    s.post(None, f"{C}/markets/KXNOPEPERP/status", {"status": "active"}, expect=404)
    s.post(None, f"{C}/exchange/status", {"trading_active": False})
    s.get(None, f"{T}/margin/exchange/status")
    s.post(
        "demo",
        f"{T}/margin/orders",
        _order(SOL, "d-sol-3", "bid", "1", _price(sol_bid - TICK)),
        expect=409,
    )
    s.post(None, f"{C}/exchange/status", {"trading_active": True})
    s.post(None, f"{C}/exchange/status", {"exchange_active": False})
    s.get(None, f"{T}/margin/exchange/status")
    s.post(None, f"{C}/exchange/status", {"exchange_active": True, "trading_active": True})
    s.get(None, f"{T}/margin/exchange/status")
    s.post(
        "demo",
        f"{T}/margin/orders",
        _order(SOL, "d-sol-4", "bid", "1", _price(sol_bid - TICK)),
        expect=201,
    )


def _time_marks_and_liquidation(s: Recorder) -> None:
    advance = f"{C}/clock/advance"
    s.post(None, advance, {"ms": MINUTE_MS})
    s.get(None, f"{T}/margin/markets/{BTC}")
    s.post(None, advance, {"ms": 5 * MINUTE_MS})
    s.get(None, f"{T}/margin/markets/orderbooks", query={"tickers": f"{BTC},{ETH}"})
    # the second user parks most of its cash in a subaccount and goes short BTC with the
    # rest, then the reference jumps: the short is liquidated
    s.post("second", f"{T}/portfolio/margin/subaccounts", {}, expect=201)
    s.post(
        "second",
        f"{T}/portfolio/margin/subaccounts/transfer",
        {
            "client_transfer_id": "1e2d3c4b-5a69-4788-9a0b-c1d2e3f4a5b6",
            "from_subaccount": 0,
            "to_subaccount": 1,
            "amount_cents": 430_000,
        },
    )
    bid, _ = _touch(s, BTC)
    s.post(
        "second",
        f"{T}/margin/orders",
        _order(BTC, "s-short-1", "ask", "400", _price(bid * 95 // 100), "immediate_or_cancel"),
        expect=201,
    )
    s.get("second", f"{T}/margin/risk")
    s.get("second", f"{T}/margin/positions")
    mark = _mark(s, BTC)
    s.post(None, f"{C}/markets/{BTC}/reference_price", {"price": _price(mark * 120 // 100)})
    s.post(None, advance, {"ms": 30_000})
    s.get("second", f"{T}/margin/positions")
    s.get("second", f"{T}/margin/balance")
    s.get("second", f"{T}/margin/fills", query={"limit": 5})
    s.get(None, f"{T}/margin/markets/{BTC}")
    # the demo user's BTC take profit fires on the way up; the stop loss of subaccount 1 on ETH
    s.get("demo", f"{T}/margin/cross/positions/{BTC}/exit_trigger")
    # the demo user's resting ETH bids would hold the ETH book (and its mark) up: cancel
    # every resting order of the demo user first
    s.get("demo", f"{T}/margin/orders", query={"status": "resting"})
    s.delete("demo", f"{T}/margin/orders", expect=204)
    eth = _mark(s, ETH)
    s.post(None, f"{C}/markets/{ETH}/reference_price", {"price": _price(eth * 95 // 100)})
    s.post(None, advance, {"ms": 30_000})
    s.get(None, f"{T}/margin/markets/{ETH}")
    s.get("demo", f"{T}/margin/cross/positions/{ETH}/exit_trigger", query={"subaccount": 1})
    s.get("demo", f"{T}/margin/positions")
    s.get("demo", f"{T}/margin/positions", query={"subaccount": 1})
    s.get("demo", f"{T}/margin/fills", query={"limit": 10})
    s.get("demo", f"{T}/margin/orders", query={"limit": 5})
    s.post(None, f"{C}/markets/{BTC}/reference_price", {"price": "0"}, expect=400)
    s.post(None, f"{C}/markets/KXNOPEPERP/reference_price", {"price": "1.0000"}, expect=404)
    s.post(None, advance, {"ms": -1}, expect=400)
    s.post(None, advance, {"ms": 8 * 86_400_000}, expect=400)
    s.get(None, f"{C}/state/hash")


def _funding_and_history(s: Recorder) -> None:
    advance = f"{C}/clock/advance"
    # past the first funding instant (00:00 New York = 04:00 UTC) and a little beyond
    s.post(None, advance, {"ms": 3 * HOUR_MS})
    s.get(None, f"{T}/margin/funding_rates/estimate", query={"ticker": BTC})
    s.get(None, f"{T}/margin/funding_rates/estimate", query={"ticker": ETH})
    s.post(None, advance, {"ms": HOUR_MS + 5 * MINUTE_MS})
    s.get(None, f"{C}/clock")
    for user in ("demo", "second"):
        s.get(user, f"{T}/margin/funding_history", query={"start_date": DAY, "end_date": DAY})
        s.get(user, f"{T}/margin/balance")
        s.get(user, f"{T}/margin/positions")
    s.get(
        "demo",
        f"{T}/margin/funding_history",
        query={"start_date": DAY, "end_date": DAY, "ticker": ETH, "subaccount": 1},
    )
    s.get(None, f"{T}/margin/funding_rates/historical")
    s.get(
        None,
        f"{T}/margin/funding_rates/historical",
        query={"ticker": BTC, "start_ts": START_S, "end_ts": START_S + 86_400},
    )
    for ticker in (BTC, ETH, SOL):
        s.get(None, f"{T}/margin/funding_rates/estimate", query={"ticker": ticker})
    s.get(
        None,
        f"{T}/margin/funding_rates/premium_index",
        query={"ticker": BTC, "start_ts": START_S, "end_ts": START_S + 300},
    )
    s.get(
        None,
        f"{T}/margin/funding_rates/premium_index",
        query={"ticker": ETH, "start_ts": START_S + 3 * 3600, "end_ts": START_S + 3 * 3600 + 120},
    )
    candles = f"{T}/margin/markets/{BTC}/candlesticks"
    s.get(
        None, candles, query={"start_ts": START_S, "end_ts": START_S + 1800, "period_interval": 1}
    )
    s.get(
        None,
        candles,
        query={"start_ts": START_S, "end_ts": START_S + 5 * 3600, "period_interval": 60},
    )
    s.get(
        None,
        candles,
        query={
            "start_ts": START_S + 600,
            "end_ts": START_S + 5 * 3600,
            "period_interval": 60,
            "include_latest_before_start": "true",
        },
    )
    s.get(
        None,
        f"{T}/margin/markets/{ETH}/candlesticks",
        query={"start_ts": START_S, "end_ts": START_S + 86_400, "period_interval": 1440},
    )
    s.get(None, f"{T}/margin/trades", query={"ticker": BTC, "limit": 5})
    s.get(None, f"{T}/margin/trades", query={"min_ts": START_S, "max_ts": START_S + 60, "limit": 3})
    s.get(None, f"{T}/margin/markets")


def _other_rejections(s: Recorder) -> None:
    s.get(None, f"{T}/margin/markets/KXNOPEPERP", expect=404)
    s.get(None, f"{T}/margin/markets/KXNOPEPERP/orderbook", expect=404)
    s.get(None, f"{T}/margin/markets", query={"status": "open"}, expect=400)
    s.get(None, f"{T}/margin/markets/orderbooks", query={"tickers": ""}, expect=400)
    s.get(None, f"{T}/margin/markets/{BTC}/orderbook", query={"depth": -1}, expect=400)
    s.get(
        None,
        f"{T}/margin/markets/{BTC}/candlesticks",
        query={"start_ts": START_S, "end_ts": START_S + 60, "period_interval": 7},
        expect=400,
    )
    s.get(None, f"{T}/margin/markets/{BTC}/candlesticks", query={"start_ts": START_S}, expect=400)
    s.get(
        None,
        f"{T}/margin/funding_rates/premium_index",
        query={"ticker": BTC, "start_ts": START_S, "end_ts": START_S + 7200},
        expect=400,
    )
    s.get(None, f"{T}/margin/funding_rates/estimate", query={"ticker": "KXNOPEPERP"}, expect=400)
    s.get(
        "demo",
        f"{T}/margin/funding_history",
        query={"start_date": "2026-6-15", "end_date": DAY},
        expect=400,
    )
    s.get("demo", f"{T}/margin/trades", query={"limit": 0}, expect=400)
    s.get("demo", f"{T}/margin/fills", query={"cursor": "garbage"}, expect=400)
    s.get(None, f"{T}/margin/balance", expect=401)
    s.get(None, f"{T}/margin/nothing-here", expect=404)
    s.get(None, f"{C}/nothing-here", expect=404)
    s.post(
        None,
        f"{C}/users",
        {"balance": "abc", "public_key_pem": harness.second_public_pem()},
        expect=400,
    )
    s.post(None, f"{C}/users", {"balance": "1", "public_key_pem": "not a key"}, expect=400)
    s.post(None, f"{C}/users/nobody/deposit", {"amount": "1.0000"}, expect=404)
    s.post(None, f"{C}/users/{harness.SECOND_USER_ID}/deposit", {"amount": "-1"}, expect=400)


def _closing_reads(s: Recorder) -> None:
    for user in ("demo", "second"):
        s.get(user, f"{T}/margin/balance", query={"compute_available_balance": "true"})
        s.get(user, f"{T}/margin/positions")
        s.get(user, f"{T}/margin/risk")
        s.get(user, f"{T}/margin/fee_tiers")
        s.get(user, f"{T}/margin/orders", query={"status": "resting"})
        s.get(user, f"{T}/margin/order_groups")
    s.get(None, f"{T}/margin/markets/orderbooks", query={"tickers": f"{BTC},{ETH},{SOL}"})
    s.get(None, f"{T}/margin/exchange/status")
    s.get(None, f"{C}/clock")
    s.get(None, f"{C}/state/hash")
    last = s.get(None, f"{C}/events", query={"limit": 1})["last_seq"]
    s.get(None, f"{C}/events", query={"after": last - 12, "limit": 12})


# ------------------------------------------------------------------ journal tail


def tail(exchange: SimExchange) -> None:
    """Commands no transport reaches, called on the exchange after the session (journaled).

    A predictions deposit (and a transfer of it), Kalshi-set notional limits of subtraders,
    corporate actions (a dividend and a split that apply, a ticker change withdrawn), timers
    fired by `run_due` as the wall-clock driver does, a market rename, then more time.
    """
    now = exchange.now()
    exchange.deposit_event_contract("demo-user", 250 * MONEY_SCALE)
    exchange.instance_transfer("demo-user", "event_contract", "margined", 50 * MONEY_SCALE)
    exchange.fcm.set_admin_notional_limit("demo-user_desk1", 40_000 * MONEY_SCALE)
    exchange.fcm.set_admin_notional_limit("demo-user_desk1", 5_000 * MONEY_SCALE, market_ticker=BTC)
    exchange.fcm.set_admin_notional_limit("demo-user_desk2", None)
    dividend = exchange.corporate_actions.schedule(
        ETH, "cash_dividend", execution_ms=now + MINUTE_MS, cash_per_contract=1_000
    )
    split = exchange.corporate_actions.schedule(
        SOL, "stock_split", execution_ms=now + 2 * MINUTE_MS, ratio_old=1, ratio_new=2
    )
    withdrawn = exchange.corporate_actions.schedule(
        BTC, "ticker_change", execution_ms=now + 3 * MINUTE_MS, new_ticker="KXBTCPERP2"
    )
    exchange.corporate_actions.cancel(withdrawn.id)
    exchange.advance(3 * MINUTE_MS)
    for action in (dividend, split):
        assert exchange.corporate_actions.get(action.id).status == "applied"
    # what the clock driver does in wall-clock mode: time moves, then due timers fire
    clock = exchange.clock
    assert isinstance(clock, ManualClock)
    clock.set(exchange.now() + 10_000)
    exchange.run_due()
    exchange.rename_market(SOL, "KXSOLPERP2")
    exchange.set_reference_price("KXSOLPERP2", 150_000)
    exchange.advance(MINUTE_MS)


# ---------------------------------------------------------------------- record


def record(out: Path) -> list[str]:
    """Record every fixture into `out` (laid out like `fixtures/`); the files written."""
    with tempfile.TemporaryDirectory() as state_dir:
        rt = harness.runtime(Path(state_dir))
        client = harness.InProcessClient(rt)
        recorder = Recorder(client)
        try:
            session(recorder)
        finally:
            client.close()
        harness.dump(recorder.exchanges, out / "recordings" / harness.RECORDING.name)
        tail(rt.exchange)
        written = [str(Path("recordings") / harness.RECORDING.name)]
        written += _journal_fixtures(rt, Path(state_dir), out / "journals")
        rt.close()
    return written


def _journal_fixtures(rt: Runtime, state_dir: Path, out: Path) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    live_hash = rt.state_hash()
    snapshot = rt.export_state()
    journal = out / JOURNAL
    shutil.copyfile(state_dir / JOURNAL_NAME, journal)
    # the hash a runtime reaches by replaying the journal, as the compatibility test does
    with tempfile.TemporaryDirectory() as replay_dir:
        shutil.copyfile(journal, Path(replay_dir) / JOURNAL_NAME)
        replayed = harness.runtime(Path(replay_dir))
        replayed_hash = replayed.state_hash()
        replayed.close()
    if replayed_hash != live_hash:
        raise SessionError(f"the journal replays to {replayed_hash}, the live state is {live_hash}")
    encoded = msgspec.json.encode(snapshot)
    imported_hash = state_hash(import_state(encoded))  # checks the snapshot's own hash too
    if imported_hash != live_hash:
        raise SessionError(
            f"the snapshot imports to {imported_hash}, the live state is {live_hash}"
        )
    (out / STATE).write_bytes(encoded + b"\n")
    names = sorted({line[1] for line in snapshot["commands"]})
    sidecar = {
        "version": "0.1",
        "scenario": "default",
        "seed": harness.SEED,
        "commands": len(snapshot["commands"]),
        "command_names": names,
        "state_hash": live_hash,
        "snapshot_state_hash": snapshot["state_hash"],
        "now_ms": snapshot["now_ms"],
    }
    (out / SIDECAR).write_text(json.dumps(sidecar, indent=2) + "\n")
    unused = sorted(set(COMMANDS) - set(names))
    if unused:
        print(f"commands not in the journal: {', '.join(unused)}", file=sys.stderr)
    return [str(Path("journals") / name) for name in (JOURNAL, STATE, SIDECAR)]


def _compare(written: list[str], fresh: Path, kept: Path) -> list[str]:
    problems = []
    for name in written:
        new, old = fresh / name, kept / name
        if not old.exists():
            problems.append(f"{name}: not committed")
            continue
        if new.read_bytes() != old.read_bytes():
            diff = difflib.unified_diff(
                old.read_text().splitlines(), new.read_text().splitlines(), lineterm="", n=0
            )
            shown = "\n".join(line[:300] for line in list(diff)[:12])
            problems.append(f"{name} differs:\n{shown}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="record into a temporary directory and compare with the committed fixtures",
    )
    args = parser.parse_args(argv)
    if not args.check:
        for name in record(harness.FIXTURES):
            print(f"wrote fixtures/{name}")
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        written = record(Path(scratch))
        problems = _compare(written, Path(scratch), harness.FIXTURES)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"identical: {', '.join(written)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
