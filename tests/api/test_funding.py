"""Funding history, historical rates, the estimate, the premium index and corporate actions.

The server runs the bare scenario's markets with constant references; KXSOLPERP's is $10.0000.
At 2026-06-15T00:00:00Z the demo user buys 10 SOL contracts at $10.1500 from `short`, and
`maker` quotes bids of 200 contracts at $10.1000 and asks at $10.2000, so from the next second
on the premium is exactly 1% (impact notional $1,000) and the mark $10.1000.

The first funding (04:00Z) averages the interval from 20:00Z the day before: 14,399 seconds at
1% and 14,401 unrecorded or empty-book seconds that count as 0 (`dampen`), so the rate is
0.01 x 14,399 / 28,800 = 0.004999652778 (1e-12 units, rounded half to even). The long pays
10 x 10.1 x rate = $0.504965 rounded away from zero to $0.5050; the short receives $0.5049.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kalshi.perps.models.funding import (
    GetMarginFundingHistoryResponse,
    GetMarginHistoricalFundingRatesResponse,
    GetMarginPremiumIndexResponse,
    MarginFundingRateEstimate,
)
from kalshi.perps.models.margin_account import GetMarginCorporateActionsResponse

from tests.api.conftest import demo_sdk_client, make_client
from tests.api.in_process import in_process_server
from tests.api.served import Served
from tests.api.test_markets import DEMO, advance, new_user, place, static_scenario

START_MS = 1_781_481_600_000
START_S = START_MS // 1000
HOUR_MS = 3_600_000
SOL = "KXSOLPERP"
RATE = 0.004999652778
IDS = {
    "KXBTCPERP": "5b1c8f0e-2d7a-4c51-9a0e-0c1f6a3b7d01",
    "KXETHPERP": "5b1c8f0e-2d7a-4c51-9a0e-0c1f6a3b7d02",
    "KXSOLPERP": "5b1c8f0e-2d7a-4c51-9a0e-0c1f6a3b7d03",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    scenario = static_scenario(tmp_path_factory.mktemp("funding"), {SOL: "10.0000"})
    with in_process_server(scenario) as served:
        yield served


def _new_client(server: Served, balance: str) -> tuple[str, httpx.Client]:
    user = server.new_user(balance)
    return user.user_id, make_client(server, user.auth)


@pytest.fixture
def funded(fresh: Served) -> Iterator[httpx.Client]:
    """The trades and quotes of the module docstring; yields a client signed as `short`."""
    maker = new_user(fresh, "10000.0000")
    short_id, short = _new_client(fresh, "1000.0000")
    place(fresh, short_id, "ask", "10.1500", "10", ticker=SOL)
    place(fresh, DEMO, "bid", "10.1500", "10", ticker=SOL)
    place(fresh, maker, "bid", "10.1000", "200", ticker=SOL)
    place(fresh, maker, "ask", "10.2000", "200", ticker=SOL)
    with short:
        yield short


# ------------------------------------------------------------ funding history


def test_funding_history_lists_the_callers_payments(
    fresh: Served, funded: httpx.Client, client: httpx.Client
) -> None:
    advance(fresh, 4 * HOUR_MS)

    mine = client.get(
        "/margin/funding_history", params={"start_date": "2026-06-15", "end_date": "2026-06-15"}
    )
    theirs = funded.get(
        "/margin/funding_history",
        params={"start_date": "2026-06-14", "end_date": "2026-06-16", "ticker": SOL},
    )

    assert mine.status_code == 200
    assert mine.json() == {
        "funding_history": [
            {
                "market_ticker": SOL,
                "funding_time": "2026-06-15T04:00:00.000Z",
                "funding_rate": RATE,
                "mark_price": "10.1000",
                "funding_amount": "-0.5050",
                "quantity": "10.00",
                "subaccount_number": 0,
            }
        ]
    }
    entries = theirs.json()["funding_history"]
    assert [(e["funding_amount"], e["quantity"]) for e in entries] == [("0.5049", "-10.00")]
    parsed = GetMarginFundingHistoryResponse.model_validate(mine.json()).funding_history
    assert str(parsed[0].funding_amount) == "-0.5050"


@pytest.mark.parametrize(
    "params",
    [
        {"start_date": "2026-06-14", "end_date": "2026-06-14"},
        {"start_date": "2026-06-16", "end_date": "2026-06-20"},
        {"start_date": "2026-06-15", "end_date": "2026-06-15", "ticker": "KXBTCPERP"},
        {"start_date": "2026-06-15", "end_date": "2026-06-15", "subaccount": 1},
    ],
)
def test_funding_history_filters(
    fresh: Served, funded: httpx.Client, client: httpx.Client, params: Any
) -> None:
    advance(fresh, 4 * HOUR_MS)

    response = client.get("/margin/funding_history", params=params)

    assert response.json() == {"funding_history": []}


@pytest.mark.parametrize(
    "params",
    [
        {"start_date": "2026-6-15", "end_date": "2026-06-15"},
        {"start_date": "2026-06-31", "end_date": "2026-07-01"},
        {"start_date": "2026-W24-1", "end_date": "2026-06-15"},
        {"start_date": "20260615", "end_date": "2026-06-15"},
        {"start_date": "2026-06-16", "end_date": "2026-06-15"},
        {"start_date": "2026-06-15"},
        {"start_date": "2026-06-15", "end_date": "2026-06-15", "subaccount": -1},
    ],
)
def test_funding_history_bad_dates_are_rejected(client: httpx.Client, params: Any) -> None:
    response = client.get("/margin/funding_history", params=params)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parameters"


def test_funding_history_needs_a_signature(public: httpx.Client) -> None:
    response = public.get(
        "/margin/funding_history", params={"start_date": "2026-06-15", "end_date": "2026-06-15"}
    )

    assert response.status_code == 401


# ---------------------------------------------------------- historical rates


def test_historical_rates_of_every_market(
    fresh: Served, funded: httpx.Client, public: httpx.Client
) -> None:
    advance(fresh, 4 * HOUR_MS)

    response = public.get("/margin/funding_rates/historical")

    assert response.status_code == 200
    funding_time = "2026-06-15T04:00:00.000Z"
    assert response.json() == {
        "funding_rates": [
            {
                "market_ticker": "KXBTCPERP",
                "funding_time": funding_time,
                "funding_rate": 0.0,
                "mark_price": "6.2590",
            },
            {
                "market_ticker": "KXETHPERP",
                "funding_time": funding_time,
                "funding_rate": 0.0,
                "mark_price": "3.4120",
            },
            {
                "market_ticker": SOL,
                "funding_time": funding_time,
                "funding_rate": RATE,
                "mark_price": "10.1000",
            },
        ]
    }
    GetMarginHistoricalFundingRatesResponse.model_validate(response.json())


def test_historical_rates_filter_by_ticker_and_time(
    fresh: Served, funded: httpx.Client, public: httpx.Client
) -> None:
    advance(fresh, 12 * HOUR_MS)
    four = START_S + 4 * 3_600

    sol = public.get("/margin/funding_rates/historical", params={"ticker": SOL}).json()
    later = public.get(
        "/margin/funding_rates/historical", params={"ticker": SOL, "start_ts": four + 1}
    ).json()
    exact = public.get(
        "/margin/funding_rates/historical",
        params={"ticker": SOL, "start_ts": four, "end_ts": four},
    ).json()
    none = public.get("/margin/funding_rates/historical", params={"end_ts": four - 1}).json()

    times = [r["funding_time"] for r in sol["funding_rates"]]
    assert times == ["2026-06-15T04:00:00.000Z", "2026-06-15T12:00:00.000Z"]
    assert sol["funding_rates"][1]["funding_rate"] == 0.01  # a whole interval at 1%
    assert [r["funding_time"] for r in later["funding_rates"]] == ["2026-06-15T12:00:00.000Z"]
    assert len(exact["funding_rates"]) == 1
    assert none == {"funding_rates": []}


@pytest.mark.parametrize(
    "params",
    [{"ticker": "KXNOPEPERP"}, {"start_ts": 10, "end_ts": 5}, {"start_ts": "noon"}],
)
def test_historical_rates_bad_parameters_are_rejected(public: httpx.Client, params: Any) -> None:
    response = public.get("/margin/funding_rates/historical", params=params)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parameters"


# ------------------------------------------------------------------ estimate


def test_estimate_reports_the_running_rate_and_the_last_premium(
    fresh: Served, funded: httpx.Client, public: httpx.Client
) -> None:
    advance(fresh, 5 * HOUR_MS)

    response = public.get("/margin/funding_rates/estimate", params={"ticker": SOL})

    assert response.status_code == 200
    assert response.json() == {
        "market_ticker": SOL,
        "computed_time": "2026-06-15T05:00:00.000Z",
        "funding_rate": 0.01,
        "mark_price": "10.1000",
        "next_funding_time": "2026-06-15T12:00:00.000Z",
        "premium_index": "0.01",
        "premium_index_ts": "2026-06-15T05:00:00.000Z",
    }
    estimate = MarginFundingRateEstimate.model_validate(response.json())
    assert str(estimate.premium_index) == "0.01"


def test_estimate_without_a_measurable_premium_leaves_it_out(public: httpx.Client) -> None:
    response = public.get("/margin/funding_rates/estimate", params={"ticker": "KXBTCPERP"})

    assert response.json() == {
        "market_ticker": "KXBTCPERP",
        "computed_time": "2026-06-15T00:00:00.000Z",
        "funding_rate": 0.0,
        "mark_price": "6.2590",
        "next_funding_time": "2026-06-15T04:00:00.000Z",
    }


@pytest.mark.parametrize("params", [{"ticker": "KXNOPEPERP"}, {}])
def test_estimate_bad_ticker_is_rejected(public: httpx.Client, params: Any) -> None:
    response = public.get("/margin/funding_rates/estimate", params=params)

    assert response.status_code == 400


# ------------------------------------------------------------- premium index


def test_premium_index_points_per_second(
    fresh: Served, funded: httpx.Client, public: httpx.Client
) -> None:
    advance(fresh, 3_000)

    early = public.get(
        "/margin/funding_rates/premium_index",
        params={"ticker": SOL, "start_ts": START_S - 5, "end_ts": START_S + 100},
    )
    window = public.get(
        "/margin/funding_rates/premium_index",
        params={"ticker": SOL, "start_ts": START_S + 1, "end_ts": START_S + 3},
    )

    assert early.status_code == 200
    # before the start nothing was recorded; the first second had an empty book
    assert early.json() == {
        "points": [
            {"second_ts": "2026-06-15T00:00:00.000Z", "premium_index": "0"},
            {"second_ts": "2026-06-15T00:00:01.000Z", "premium_index": "0.01"},
            {"second_ts": "2026-06-15T00:00:02.000Z", "premium_index": "0.01"},
            {"second_ts": "2026-06-15T00:00:03.000Z", "premium_index": "0.01"},
        ]
    }
    assert [p["second_ts"] for p in window.json()["points"]] == [
        "2026-06-15T00:00:01.000Z",
        "2026-06-15T00:00:02.000Z",
    ]
    GetMarginPremiumIndexResponse.model_validate(early.json())


def test_premium_index_window_may_span_one_hour(public: httpx.Client) -> None:
    response = public.get(
        "/margin/funding_rates/premium_index",
        params={"ticker": SOL, "start_ts": START_S - 3_599, "end_ts": START_S + 1},
    )

    assert response.status_code == 200
    assert len(response.json()["points"]) == 1


@pytest.mark.parametrize(
    "params",
    [
        {"ticker": SOL, "start_ts": START_S, "end_ts": START_S},
        {"ticker": SOL, "start_ts": START_S, "end_ts": START_S - 1},
        {"ticker": SOL, "start_ts": START_S, "end_ts": START_S + 3_601},
        {"ticker": "KXNOPEPERP", "start_ts": START_S, "end_ts": START_S + 1},
        {"ticker": SOL, "start_ts": START_S},
        {"ticker": SOL, "start_ts": "now", "end_ts": START_S + 1},
    ],
)
def test_premium_index_bad_parameters_are_rejected(public: httpx.Client, params: Any) -> None:
    response = public.get("/margin/funding_rates/premium_index", params=params)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parameters"


# --------------------------------------------------------- corporate actions

DAY_MS = 86_400_000


def _announce(fresh: Served) -> list[str]:
    actions = fresh.runtime.exchange.corporate_actions
    dividend = actions.schedule(
        SOL,
        "cash_dividend",
        execution_ms=START_MS + DAY_MS,
        cash_per_share=500_000,
        ex_date="2026-06-16",
    )
    split = actions.schedule(
        "KXBTCPERP", "stock_split", execution_ms=START_MS + 2 * DAY_MS, ratio_old=1, ratio_new=2
    )
    settlement = actions.schedule(
        "KXETHPERP",
        "final_settlement",
        execution_ms=START_MS + 3 * DAY_MS,
        reason="delisting",
        settlement_price_per_contract=34_000,
    )
    change = actions.schedule(
        SOL, "ticker_change", execution_ms=START_MS + 4 * DAY_MS, new_ticker="KXSOLNEWPERP"
    )
    return [dividend.id, split.id, settlement.id, change.id]


def test_corporate_actions_render_their_terms(fresh: Served, public: httpx.Client) -> None:
    dividend, split, settlement, change = _announce(fresh)

    response = public.get("/margin/corporate_actions")

    assert response.status_code == 200
    updated = "2026-06-15T00:00:00.000Z"
    assert response.json() == {
        "corporate_actions": [
            {
                "id": dividend,
                "market_id": IDS[SOL],
                "market_ticker": SOL,
                "type": "cash_dividend",
                "status": "scheduled",
                "updated_ts": updated,
                "execution_time": "2026-06-16T00:00:00.000Z",
                # $0.50 per share x 0.1 SOL per contract
                "cash": {
                    "cash_per_share": "0.5000",
                    "cash_per_contract": "0.0500",
                    "ex_date": "2026-06-16",
                },
            },
            {
                "id": split,
                "market_id": IDS["KXBTCPERP"],
                "market_ticker": "KXBTCPERP",
                "type": "stock_split",
                "status": "scheduled",
                "updated_ts": updated,
                "execution_time": "2026-06-17T00:00:00.000Z",
                "split": {"ratio_old": "1", "ratio_new": "2", "ex_date": "2026-06-17"},
            },
            {
                "id": settlement,
                "market_id": IDS["KXETHPERP"],
                "market_ticker": "KXETHPERP",
                "type": "final_settlement",
                "status": "scheduled",
                "updated_ts": updated,
                "execution_time": "2026-06-18T00:00:00.000Z",
                "final_settlement": {
                    "reason": "delisting",
                    "settlement_price_per_contract": "3.4000",
                },
            },
            {
                "id": change,
                "market_id": IDS[SOL],
                "market_ticker": SOL,
                "type": "ticker_change",
                "status": "scheduled",
                "updated_ts": updated,
                "execution_time": "2026-06-19T00:00:00.000Z",
                "ticker_change": {"old_ticker": SOL, "new_ticker": "KXSOLNEWPERP"},
            },
        ]
    }
    parsed = GetMarginCorporateActionsResponse.model_validate(response.json())
    assert parsed.corporate_actions[1].split is not None


def test_corporate_actions_filter_and_show_cancelled_and_applied(
    fresh: Served, public: httpx.Client
) -> None:
    dividend, split, _, change = _announce(fresh)
    advance(fresh, 1_000)
    fresh.runtime.exchange.corporate_actions.cancel(split)
    advance(fresh, DAY_MS)

    by_ticker = public.get("/margin/corporate_actions", params={"ticker": SOL}).json()
    by_market = public.get(
        "/margin/corporate_actions", params={"market_id": IDS["KXBTCPERP"]}
    ).json()
    unknown = public.get("/margin/corporate_actions", params={"ticker": "KXNOPEPERP"}).json()

    assert [(a["id"], a["status"]) for a in by_ticker["corporate_actions"]] == [
        (change, "scheduled"),
        (dividend, "applied"),
    ]
    assert by_ticker["corporate_actions"][1]["updated_ts"] == "2026-06-16T00:00:00.000Z"
    assert by_market == {
        "corporate_actions": [
            {
                "id": split,
                "market_id": IDS["KXBTCPERP"],
                "market_ticker": "KXBTCPERP",
                "type": "stock_split",
                "status": "cancelled",
                "updated_ts": "2026-06-15T00:00:01.000Z",
            }
        ]
    }
    assert unknown == {"corporate_actions": []}


# ----------------------------------------------------------------------- SDK


def test_sdk_reads_funding_and_corporate_actions(fresh: Served, funded: httpx.Client) -> None:
    advance(fresh, 4 * HOUR_MS + 10_000)
    with demo_sdk_client(fresh) as sdk:
        history = sdk.funding.history(start_date="2026-06-15", end_date="2026-06-15")
        rates = sdk.funding.historical_rates(ticker=SOL)
        estimate = sdk.funding.rate_estimate(SOL)
        points = sdk.funding.premium_index(
            ticker=SOL, start_ts=START_S + 14_400, end_ts=START_S + 14_402
        )
        notices = sdk.margin.corporate_actions(ticker=SOL)

    assert [(str(h.funding_amount), str(h.quantity)) for h in history] == [("-0.5050", "10.00")]
    assert [str(r.mark_price) for r in rates] == ["10.1000"]
    assert (str(estimate.mark_price), str(estimate.premium_index)) == ("10.1000", "0.01")
    assert [str(p.premium_index) for p in points] == ["0.01", "0.01"]
    assert notices.corporate_actions == []
