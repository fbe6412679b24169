"""Markets, order books, candlesticks and public trades.

The server runs the bare scenario's markets with constant reference prices (KXBTCPERP 6.2590,
KXETHPERP 3.4120, KXSOLPERP 14.8350) so marks are exact; the manual clock starts at
2026-06-15T00:00:00Z. Orders are placed straight on the exchange between requests (the server
is idle then); a `maker` user created through the control plane provides liquidity.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from kalshi.perps.models.markets import (
    GetMarginMarketCandlesticksResponse,
    GetMarginMarketsResponse,
    MarginMarket,
)
from kalshi.perps.models.portfolio import GetMarginTradesResponse

from matching import Side, TimeInForce
from simulator.core.money import parse_count, parse_price
from simulator.model.orders import PlaceOrder
from simulator.server.scenarios import FIXTURES_DIR, Scenario, load_scenario
from tests.api.conftest import sdk_client
from tests.api.in_process import in_process_server
from tests.api.served import Served

START_MS = 1_781_481_600_000
START_S = START_MS // 1000
BTC = "KXBTCPERP"
DEMO = "demo-user"
_ids = itertools.count()


def static_scenario(directory: Path, prices: dict[str, str] | None = None) -> Scenario:
    """The bare scenario with every reference price held constant (`prices` overrides some)."""
    raw = json.loads((FIXTURES_DIR / "markets" / "default.json").read_text())
    for market in raw["markets"]:
        price = (prices or {}).get(market["ticker"], market["reference"]["price"])
        market["reference"] = {"kind": "static", "price": price}
    path = directory / "static_markets.json"
    path.write_text(json.dumps(raw))
    return msgspec.structs.replace(load_scenario("bare"), markets_file=str(path))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with in_process_server(static_scenario(tmp_path_factory.mktemp("markets"))) as served:
        yield served


def new_user(server: Served, balance: str = "1000.0000") -> str:
    return server.new_user(balance).user_id


def advance(server: Served, ms: int) -> None:
    server.control("POST", "/clock/advance", json={"ms": ms}).raise_for_status()


def place(
    server: Served,
    user_id: str,
    side: str,
    price: str,
    count: str,
    ticker: str = BTC,
    tif: TimeInForce = TimeInForce.GOOD_TILL_CANCELED,
) -> None:
    command = PlaceOrder(
        ticker, Side(side), parse_price(price), parse_count(count), f"t{next(_ids)}", tif
    )
    server.runtime.exchange.place_order(user_id, command)


@pytest.fixture
def maker(fresh: Served) -> str:
    return new_user(fresh)


def _book(fresh: Served, maker: str) -> None:
    # asks 6.2600 x 3, 6.2650 x 2; bids 6.2500 x 4, 6.2480 x 1; then demo buys 1 @ 6.2600
    place(fresh, maker, "ask", "6.2600", "3")
    place(fresh, maker, "ask", "6.2650", "2")
    place(fresh, maker, "bid", "6.2500", "4")
    place(fresh, maker, "bid", "6.2480", "1")
    place(fresh, DEMO, "bid", "6.2600", "1")


# ------------------------------------------------------------------ markets


def test_markets_list_every_market_with_its_terms_and_prices(public: httpx.Client) -> None:
    response = public.get("/margin/markets")

    assert response.status_code == 200
    markets = response.json()["markets"]
    assert [m["ticker"] for m in markets] == ["KXBTCPERP", "KXETHPERP", "KXSOLPERP"]
    estimates = {"1000": 6.05, "10000": 6.05, "100000": 6.05, "1000000": 5.96}
    start_price = {"price": "6.2590", "ts_ms": START_MS}
    assert markets[0] == {
        "ticker": "KXBTCPERP",
        "title": "0.0001 BTC",
        "status": "active",
        "contract_size": "0.000100",
        "underlying_multiplier": "1",
        "tick_size": "0.0001",
        "fractional_trading_enabled": False,
        "schedule": None,
        "exchange_index": 0,
        "market_version": 1,
        "funding_deadband": 0.01,
        "funding_cap": 2.0,
        "funding_limit_unit": "percentage",
        "funding_invalid_premium_handling": "dampen",
        "halt_sources": [],
        "leverage_estimate": 6.05,
        "leverage_estimates": estimates,
        "long_leverage_estimates": estimates,
        "short_leverage_estimates": estimates,
        "volume": "0.00",
        "volume_notional_value_dollars": "0.0000",
        "open_interest": "0.00",
        "open_interest_notional_value_dollars": "0.0000",
        "volume_24h": "0.00",
        "volume_24h_notional_value_dollars": "0.0000",
        "settlement_mark_price": start_price,
        "liquidation_mark_price": start_price,
        "reference_price": start_price,
        "asset_class": "Crypto",
    }
    assert markets[2]["contract_size"] == "0.100000"
    parsed = GetMarginMarketsResponse.model_validate(response.json()).markets
    assert [m.market_version for m in parsed] == [1, 1, 1]


def test_market_shows_trading_stats_after_a_trade(fresh: Served, maker: str) -> None:
    _book(fresh, maker)
    advance(fresh, 1_000)

    with fresh.client() as plain:
        body = plain.get(f"/margin/markets/{BTC}").json()

    market = body["market"]
    assert {k: market[k] for k in ("price", "bid", "bid_size_fp", "ask", "ask_size_fp")} == {
        "price": "6.2600",
        "bid": "6.2500",
        "bid_size_fp": "4.00",
        "ask": "6.2600",
        "ask_size_fp": "2.00",
    }
    assert (market["volume"], market["volume_notional_value_dollars"]) == ("1.00", "6.2600")
    assert (market["volume_24h"], market["volume_24h_notional_value_dollars"]) == (
        "1.00",
        "6.2600",
    )
    # open interest is valued at the mark: clamp(6.2590, 6.2500, 6.2600)
    assert (market["open_interest"], market["open_interest_notional_value_dollars"]) == (
        "1.00",
        "6.2590",
    )
    assert market["liquidation_mark_price"] == {"price": "6.2590", "ts_ms": START_MS}
    sdk = MarginMarket.model_validate(market)
    assert (str(sdk.bid_size), str(sdk.price)) == ("4.00", "6.2600")


def test_rolling_volume_forgets_trades_after_a_day(fresh: Served, maker: str) -> None:
    _book(fresh, maker)
    advance(fresh, 86_400_000)

    with fresh.client() as plain:
        market = plain.get(f"/margin/markets/{BTC}").json()["market"]

    assert (market["volume"], market["volume_24h"]) == ("1.00", "0.00")
    assert market["volume_24h_notional_value_dollars"] == "0.0000"


def test_markets_filter_by_status(fresh: Served, public: httpx.Client) -> None:
    fresh.control(
        "POST", "/markets/KXETHPERP/status", json={"status": "inactive"}
    ).raise_for_status()

    inactive = public.get("/margin/markets", params={"status": "inactive"}).json()["markets"]
    active = public.get("/margin/markets", params={"status": "active"}).json()["markets"]
    closed = public.get("/margin/markets", params={"status": "closed"}).json()["markets"]

    assert [(m["ticker"], m["halt_sources"]) for m in inactive] == [("KXETHPERP", ["manual"])]
    assert [m["ticker"] for m in active] == ["KXBTCPERP", "KXSOLPERP"]
    assert closed == []


def test_bad_status_filter_is_rejected(public: httpx.Client) -> None:
    response = public.get("/margin/markets", params={"status": "open"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parameters"


def test_unknown_market_is_not_found(public: httpx.Client) -> None:
    response = public.get("/margin/markets/KXNOPEPERP")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "market_not_found"


# ---------------------------------------------------------------- orderbook


def test_orderbook_lists_levels_best_first(fresh: Served, maker: str, public: httpx.Client):
    _book(fresh, maker)

    full = public.get(f"/margin/markets/{BTC}/orderbook").json()
    top = public.get(f"/margin/markets/{BTC}/orderbook", params={"depth": 1}).json()

    assert full == {
        "orderbook": {
            "bids": [["6.2500", "4.00"], ["6.2480", "1.00"]],
            "asks": [["6.2600", "2.00"], ["6.2650", "2.00"]],
        }
    }
    assert top == {"orderbook": {"bids": [["6.2500", "4.00"]], "asks": [["6.2600", "2.00"]]}}


@pytest.mark.parametrize(
    ("size", "bids", "asks"),
    [
        (
            "0.0100",
            [["6.2500", "4.00"], ["6.2400", "1.00"]],
            [["6.2600", "2.00"], ["6.2700", "2.00"]],
        ),
        ("0.1", [["6.2000", "5.00"]], [["6.3000", "4.00"]]),
        (
            "0.0001",
            [["6.2500", "4.00"], ["6.2480", "1.00"]],
            [["6.2600", "2.00"], ["6.2650", "2.00"]],
        ),
    ],
)
def test_orderbook_aggregates_bids_down_and_asks_up(
    fresh: Served, maker: str, public: httpx.Client, size: str, bids: Any, asks: Any
) -> None:
    _book(fresh, maker)

    response = public.get(
        f"/margin/markets/{BTC}/orderbook", params={"aggregation_tick_size": size}
    )

    assert response.status_code == 200
    assert response.json() == {"orderbook": {"bids": bids, "asks": asks}}


@pytest.mark.parametrize(
    "params",
    [
        {"aggregation_tick_size": "0"},
        {"aggregation_tick_size": "-0.01"},
        {"aggregation_tick_size": "0.00015"},
        {"aggregation_tick_size": "abc"},
        {"depth": -1},
        {"depth": "two"},
    ],
)
def test_orderbook_bad_parameters_are_rejected(public: httpx.Client, params: Any) -> None:
    response = public.get(f"/margin/markets/{BTC}/orderbook", params=params)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parameters"


def test_orderbook_of_unknown_market_is_not_found(public: httpx.Client) -> None:
    response = public.get("/margin/markets/KXNOPEPERP/orderbook")

    assert response.status_code == 404


def test_bulk_orderbooks_come_in_request_order(
    fresh: Served, maker: str, public: httpx.Client
) -> None:
    _book(fresh, maker)
    place(fresh, maker, "ask", "14.9000", "1", ticker="KXSOLPERP")

    response = public.get("/margin/markets/orderbooks", params={"tickers": "KXSOLPERP,KXBTCPERP"})

    assert response.status_code == 200
    assert "%2C" in str(response.request.url)  # the comma arrives percent-encoded
    assert response.json() == {
        "orderbooks": [
            {"ticker": "KXSOLPERP", "orderbook": {"bids": [], "asks": [["14.9000", "1.00"]]}},
            {
                "ticker": "KXBTCPERP",
                "orderbook": {
                    "bids": [["6.2500", "4.00"], ["6.2480", "1.00"]],
                    "asks": [["6.2600", "2.00"], ["6.2650", "2.00"]],
                },
            },
        ]
    }


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"tickers": "KXBTCPERP,KXNOPEPERP"}, 404),
        ({"tickers": ""}, 400),
        ({"tickers": ","}, 400),
        ({}, 400),
        ({"tickers": ",".join([BTC] * 101)}, 400),
    ],
)
def test_bulk_orderbooks_reject_bad_ticker_lists(
    public: httpx.Client, params: Any, status: int
) -> None:
    response = public.get("/margin/markets/orderbooks", params=params)

    assert response.status_code == status


def test_bulk_orderbooks_accept_a_hundred_tickers(public: httpx.Client) -> None:
    response = public.get("/margin/markets/orderbooks", params={"tickers": ",".join([BTC] * 100)})

    assert response.status_code == 200
    assert len(response.json()["orderbooks"]) == 100


# -------------------------------------------------------------- candlesticks


def _candle_trades(fresh: Served, maker: str) -> None:
    # +10 s: ask 6.2600 x 5, bid 6.2500 x 4; +30 s: demo buys 1 @ 6.2600;
    # +90 s: ask 6.2700 x 1, then demo's IOC bid 6.2700 x 5 buys 4 @ 6.2600 and 1 @ 6.2700
    advance(fresh, 10_000)
    place(fresh, maker, "ask", "6.2600", "5")
    place(fresh, maker, "bid", "6.2500", "4")
    advance(fresh, 20_000)
    place(fresh, DEMO, "bid", "6.2600", "1")
    advance(fresh, 60_000)
    place(fresh, maker, "ask", "6.2700", "1")
    place(fresh, DEMO, "bid", "6.2700", "5", tif=TimeInForce.IMMEDIATE_OR_CANCEL)


def _ohlc(price: str) -> dict[str, str]:
    return {"open": price, "low": price, "high": price, "close": price}


def test_minute_candlesticks(fresh: Served, maker: str, public: httpx.Client) -> None:
    _candle_trades(fresh, maker)

    response = public.get(
        f"/margin/markets/{BTC}/candlesticks",
        params={"start_ts": START_S, "end_ts": START_S + 180, "period_interval": 1},
    )

    assert response.status_code == 200
    assert response.json() == {
        "ticker": BTC,
        "candlesticks": [
            {
                "end_period_ts": START_S + 60,
                "bid": _ohlc("6.2500"),
                "ask": _ohlc("6.2600"),
                "price": {
                    "open": "6.2600",
                    "low": "6.2600",
                    "high": "6.2600",
                    "close": "6.2600",
                    "mean": "6.2600",
                    "previous": None,
                },
                "volume": "1.00",
                "volume_notional_value_dollars": "6.2600",
                "open_interest": "1.00",
                "open_interest_notional_value_dollars": "6.2600",
            },
            {
                "end_period_ts": START_S + 120,
                "bid": _ohlc("6.2500"),
                "ask": _ohlc("6.2600"),
                "price": {
                    "open": "6.2600",
                    "low": "6.2600",
                    "high": "6.2700",
                    "close": "6.2700",
                    "mean": "6.2620",
                    "previous": "6.2600",
                },
                "volume": "5.00",
                "volume_notional_value_dollars": "31.3100",
                "open_interest": "6.00",
                "open_interest_notional_value_dollars": "37.6200",
            },
        ],
    }
    parsed = GetMarginMarketCandlesticksResponse.model_validate(response.json()).candlesticks
    assert [str(c.price.mean) for c in parsed] == ["6.2600", "6.2620"]


def test_hour_candlestick_and_synthetic_first_candle(
    fresh: Served, maker: str, public: httpx.Client
) -> None:
    _candle_trades(fresh, maker)
    path = f"/margin/markets/{BTC}/candlesticks"

    hour = public.get(
        path, params={"start_ts": START_S, "end_ts": START_S + 3_600, "period_interval": 60}
    ).json()["candlesticks"]
    carried = public.get(
        path,
        params={
            "start_ts": START_S + 121,
            "end_ts": START_S + 240,
            "period_interval": 1,
            "include_latest_before_start": "true",
        },
    ).json()["candlesticks"]

    assert [(c["end_period_ts"], c["volume"], c["price"]["low"]) for c in hour] == [
        (START_S + 3_600, "6.00", "6.2600")
    ]
    assert hour[0]["price"]["mean"] == "6.261667"  # 37.57 / 6 to the micro-dollar
    assert carried == [
        {
            "end_period_ts": START_S + 180,
            "bid": _ohlc("6.2500"),
            "ask": _ohlc("0.0000"),
            "price": {
                "open": None,
                "low": None,
                "high": None,
                "close": None,
                "mean": None,
                "previous": "6.2700",
            },
            "volume": "0.00",
            "volume_notional_value_dollars": "0.0000",
            "open_interest": "6.00",
            "open_interest_notional_value_dollars": "37.6200",
        }
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"start_ts": START_S, "end_ts": START_S + 60, "period_interval": 5},
        {"start_ts": START_S + 60, "end_ts": START_S, "period_interval": 1},
        {"start_ts": START_S, "end_ts": START_S + 60},
        {"start_ts": "soon", "end_ts": START_S + 60, "period_interval": 1},
        {
            "start_ts": START_S,
            "end_ts": START_S + 60,
            "period_interval": 1,
            "include_latest_before_start": "maybe",
        },
    ],
)
def test_candlesticks_bad_parameters_are_rejected(public: httpx.Client, params: Any) -> None:
    response = public.get(f"/margin/markets/{BTC}/candlesticks", params=params)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parameters"


def test_candlesticks_of_unknown_market_are_not_found(public: httpx.Client) -> None:
    response = public.get(
        "/margin/markets/KXNOPEPERP/candlesticks",
        params={"start_ts": START_S, "end_ts": START_S + 60, "period_interval": 1},
    )

    assert response.status_code == 404


# -------------------------------------------------------------------- trades


def _four_trades(fresh: Served, maker: str) -> None:
    # A: BTC at +0 s; B: BTC and C: ETH at +1.5 s; D: BTC at +3.5 s
    place(fresh, maker, "ask", "6.2600", "5")
    place(fresh, maker, "ask", "3.4120", "1", ticker="KXETHPERP")
    place(fresh, DEMO, "bid", "6.2600", "1")
    advance(fresh, 1_500)
    place(fresh, DEMO, "bid", "6.2600", "2")
    place(fresh, DEMO, "bid", "3.4120", "1", ticker="KXETHPERP")
    advance(fresh, 2_000)
    place(fresh, DEMO, "bid", "6.2600", "1")


def _summary(trades: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(t["ticker"], t["count"], t["created_time"]) for t in trades]


A = (BTC, "1.00", "2026-06-15T00:00:00.000Z")
B = (BTC, "2.00", "2026-06-15T00:00:01.500Z")
C = ("KXETHPERP", "1.00", "2026-06-15T00:00:01.500Z")
D = (BTC, "1.00", "2026-06-15T00:00:03.500Z")


def test_trades_page_newest_first_across_markets(
    fresh: Served, maker: str, public: httpx.Client
) -> None:
    _four_trades(fresh, maker)

    first = public.get("/margin/trades", params={"limit": 2}).json()
    second = public.get("/margin/trades", params={"limit": 2, "cursor": first["cursor"]}).json()

    assert _summary(first["trades"]) == [D, B]
    assert first["cursor"] != ""
    assert _summary(second["trades"]) == [C, A]
    assert second["cursor"] == ""
    assert first["trades"][0]["price"] == "6.2600"
    assert first["trades"][0]["taker_side"] == "bid"
    ids = [t["trade_id"] for t in first["trades"] + second["trades"]]
    assert len(set(ids)) == 4
    page = GetMarginTradesResponse.model_validate(second)
    assert not page.has_next


def test_trades_cursor_is_stable_when_new_trades_arrive(
    fresh: Served, maker: str, public: httpx.Client
) -> None:
    _four_trades(fresh, maker)
    first = public.get("/margin/trades", params={"ticker": BTC, "limit": 1}).json()
    place(fresh, DEMO, "bid", "6.2600", "1")  # a newer trade lands between the pages

    rest = public.get(
        "/margin/trades", params={"ticker": BTC, "limit": 10, "cursor": first["cursor"]}
    ).json()

    assert _summary(first["trades"]) == [D]
    assert _summary(rest["trades"]) == [B, A]
    assert rest["cursor"] == ""


def test_trades_filter_by_ticker_and_time(fresh: Served, maker: str, public: httpx.Client) -> None:
    _four_trades(fresh, maker)

    btc = public.get("/margin/trades", params={"ticker": BTC}).json()
    after = public.get("/margin/trades", params={"min_ts": START_S + 1}).json()
    before = public.get("/margin/trades", params={"max_ts": START_S + 1}).json()
    window = public.get(
        "/margin/trades", params={"ticker": BTC, "min_ts": START_S + 1, "max_ts": START_S + 2}
    ).json()

    assert _summary(btc["trades"]) == [D, B, A]
    assert _summary(after["trades"]) == [D, B, C]
    assert _summary(before["trades"]) == [B, C, A]
    assert _summary(window["trades"]) == [B]
    assert btc["cursor"] == after["cursor"] == ""


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "!!!"},
        {"cursor": "Zm9v"},
        {"cursor": "bm90OmEtbnVtYmVyOktYQlRDUEVSUA"},
        {"limit": 0},
        {"limit": 1001},
        {"ticker": "KXNOPEPERP"},
        {"min_ts": "yesterday"},
    ],
)
def test_trades_bad_parameters_are_rejected(public: httpx.Client, params: Any) -> None:
    response = public.get("/margin/trades", params=params)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parameters"


def test_trades_empty_market(public: httpx.Client) -> None:
    response = public.get("/margin/trades", params={"ticker": "KXSOLPERP", "limit": 1000})

    assert response.json() == {"trades": [], "cursor": ""}


# ----------------------------------------------------------------------- SDK


def test_sdk_reads_markets_books_candles_and_trades(fresh: Served, maker: str) -> None:
    _candle_trades(fresh, maker)

    with sdk_client(fresh) as sdk:
        listed = sdk.markets.list(status="active")
        market = sdk.markets.get(BTC)
        book = sdk.markets.orderbook(BTC, depth=1, aggregation_tick_size="0.01")
        books = sdk.markets.bulk_orderbooks(tickers=["KXETHPERP", BTC])
        found = sdk.markets.candlesticks(
            BTC, start_ts=START_S, end_ts=START_S + 180, period_interval=1
        )
        trades = list(sdk.portfolio.trades_all(ticker=BTC, limit=1))

    assert [m.ticker for m in listed] == [BTC, "KXETHPERP", "KXSOLPERP"]
    assert (market.market_version, str(market.open_interest)) == (1, "6.00")
    assert [(str(level.price), str(level.quantity)) for level in book.bids] == [("6.2500", "4.00")]
    assert [b.ticker for b in books] == ["KXETHPERP", BTC]
    assert [c.end_period_ts for c in found] == [START_S + 60, START_S + 120]
    assert [(str(t.price), str(t.count)) for t in trades] == [
        ("6.2700", "1.00"),
        ("6.2600", "4.00"),
        ("6.2600", "1.00"),
    ]
