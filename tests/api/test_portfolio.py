"""Positions, balance, risk, notional limits, fees, subaccounts and transfers.

Hand-computed numbers: demo-user buys 1 KXBTCPERP from a second user at $6.3587 (demo-user takes:
fee ceil(6.3587 x 0.0012) = $0.0077; the maker pays ceil(6.3587 x 0.0005) = $0.0032), then the
reference (and, with an empty book, the mark) moves to $6.3329. BTC's maintenance-margin rate at
these notionals is the fitted curve's 12.70766% (leverage estimates 6.05 up to $100k, 5.96 at
$1M, IM multiplier 1.3), so MM = ceil(6.3329 x 0.1270766) = $0.8048 and
IM = ceil(1.3 x 0.8048) = $1.0463 (MECHANICS 3.3, 11).
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from matching import Side, TimeInForce
from simulator.model.orders import PlaceOrder
from tests.api.conftest import demo_sdk_client, make_client
from tests.api.served import NewUser, Served

BTC = "KXBTCPERP"
IOC = TimeInForce.IMMEDIATE_OR_CANCEL


_USERS: dict[str, NewUser] = {}


def _new_user(server: Served, balance: str = "10000.0000") -> str:
    user = server.new_user(balance)
    _USERS[user.user_id] = user
    return user.user_id


def _client_for(server: Served, user_id: str) -> httpx.Client:
    return make_client(server, _USERS[user_id].auth)


def _reference(server: Served, price: str, ticker: str = BTC) -> None:
    path = f"/markets/{ticker}/reference_price"
    server.control("POST", path, json={"price": price}).raise_for_status()


def _place(server: Served, user_id: str, side: Side, price: int, count: int, **kw: Any) -> None:
    order = PlaceOrder(BTC, side, price, count, str(uuid.uuid4()), **kw)
    server.runtime.exchange.place_order(user_id, order)


def _trade(server: Served, buyer: str, seller: str, price: int = 63587, **kw: Any) -> None:
    """`seller` rests an ask, `buyer` lifts it with an IOC bid (1 contract)."""
    _place(server, seller, Side.ASK, price, 100)
    _place(server, buyer, Side.BID, price, 100, time_in_force=IOC, **kw)


@pytest.fixture
def traded(fresh: Served) -> str:
    """demo-user long 1 @ 6.3587 against a second user, mark 6.3329; returns the seller."""
    seller = _new_user(fresh)
    _reference(fresh, "6.3587")
    _trade(fresh, "demo-user", seller)
    _reference(fresh, "6.3329")
    return seller


# ------------------------------------------------------------------ positions


def test_positions_after_a_trade(client: httpx.Client, traded: str) -> None:
    body = client.get("/margin/positions").json()

    assert body == {
        "positions": [
            {
                "subaccount": 0,
                "market_ticker": BTC,
                "position": "1.00",
                "entry_price": "6.3587",
                "unrealized_pnl": "-0.0258",  # 1 x (6.3329 - 6.3587)
                "margin_used": "0.8048",
                "fees": "0.0077",
                "roe": pytest.approx(-0.0258 / 0.8048 * 100),
                "is_portfolio": False,
            }
        ]
    }


def test_positions_of_the_short_side(fresh: Served, traded: str) -> None:
    with _client_for(fresh, traded) as seller:
        body = seller.get("/margin/positions").json()

    assert body == {
        "positions": [
            {
                "subaccount": 0,
                "market_ticker": BTC,
                "position": "-1.00",
                "entry_price": "6.3587",
                "unrealized_pnl": "0.0258",
                "margin_used": "0.8048",
                "fees": "0.0032",
                "roe": pytest.approx(0.0258 / 0.8048 * 100),
                "is_portfolio": False,
            }
        ]
    }


def test_positions_filters(client: httpx.Client, traded: str) -> None:
    assert len(client.get("/margin/positions", params={"ticker": BTC}).json()["positions"]) == 1
    assert client.get("/margin/positions", params={"ticker": "KXETHPERP"}).json() == {
        "positions": []
    }
    assert client.get("/margin/positions", params={"subaccount": 0}).json()["positions"]
    assert client.get("/margin/positions", params={"subaccount": 1}).json() == {"positions": []}


@pytest.mark.parametrize("value", ["64", "-1", "abc", "1.5"])
def test_positions_bad_subaccount(client: httpx.Client, value: str) -> None:
    response = client.get("/margin/positions", params={"subaccount": value})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parameters"


def test_account_reads_need_a_signature(public: httpx.Client) -> None:
    for path in (
        "/margin/positions",
        "/margin/balance",
        "/margin/risk",
        "/margin/notional_risk_limit",
        "/margin/fee_tiers",
        "/margin/fee_tier_rates",
    ):
        assert public.get(path).status_code == 401, path


# -------------------------------------------------------------------- balance


def test_balance_without_and_with_available(client: httpx.Client, traded: str) -> None:
    plain = client.get("/margin/balance").json()
    computed = client.get("/margin/balance", params={"compute_available_balance": "true"}).json()

    row = {
        "subaccount": 0,
        "position_value": "6.3329",
        "account_equity": "9999.9665",  # 10000 - 0.0077 fee - 0.0258 unrealized
        "maintenance_margin": "0.8048",
        "initial_margin": "1.0463",
        "resting_orders_margin": "0.0000",
        "available_balance": "0.0000",
    }
    assert plain == {"subaccount_balances": [row], "settled_funds": "9999.9923"}
    assert computed == {
        "subaccount_balances": [row | {"available_balance": "9998.9202"}],  # 9999.9665 - 1.0463
        "settled_funds": "9999.9923",
    }
    assert client.get("/margin/balance", params={"compute_available_balance": "false"}).json() == (
        plain
    )
    assert client.get("/margin/balance", params={"compute_available_balance": "TRUE"}).json() == (
        computed
    )


def test_balance_counts_resting_order_margin(
    fresh: Served, client: httpx.Client, traded: str
) -> None:
    _place(fresh, "demo-user", Side.BID, 60000, 100)  # resting bid 1 @ 6.0000

    body = client.get("/margin/balance", params={"compute_available_balance": "true"}).json()

    # long worst case 6.3329 + 6.0000 = 12.3329: MM ceil(12.3329 x 0.1270766) = 1.5673,
    # IM ceil(1.3 x 1.5673) = 2.0375; resting margin 2.0375 - 1.0463 = 0.9912
    (row,) = body["subaccount_balances"]
    assert row["resting_orders_margin"] == "0.9912"
    assert row["available_balance"] == "9997.9290"  # 9999.9665 - 1.0463 - 0.9912
    assert row["initial_margin"] == "1.0463"


def test_balance_lists_every_subaccount(client: httpx.Client) -> None:
    assert client.post("/portfolio/margin/subaccounts", json={}).status_code == 201

    body = client.get("/margin/balance").json()

    assert [row["subaccount"] for row in body["subaccount_balances"]] == [0, 1]
    assert body["subaccount_balances"][1]["account_equity"] == "0.0000"
    assert body["settled_funds"] == "10000.0000"


# ----------------------------------------------------------------------- risk


def test_risk_after_a_trade(client: httpx.Client, traded: str) -> None:
    body = client.get("/margin/risk").json()

    assert body == {
        "account_leverage": pytest.approx(6.3329 / 0.8048),
        "total_position_notional": "6.3329",
        "total_maintenance_margin": "0.8048",
        "positions": [
            {
                "subaccount": 0,
                "market_ticker": BTC,
                "position": "1.00",
                "mark_price": "6.3329",
                "position_notional": "6.3329",
                "maintenance_margin_required": "0.8048",
                "position_leverage": pytest.approx(6.3329 / 0.8048),  # 7.8689
                # (6.3587 - 9999.9923 / 1) / (1 - m) < 0: no liquidation price
                "estimated_liquidation_price": None,
                "is_portfolio": False,
            }
        ],
    }


def test_risk_of_a_leveraged_long_has_a_liquidation_price(
    fresh: Served, client: httpx.Client
) -> None:
    seller = _new_user(fresh)
    _reference(fresh, "6.3587")
    assert client.post("/portfolio/margin/subaccounts", json={}).json() == {"subaccount_number": 1}
    transfer = {
        "client_transfer_id": str(uuid.uuid4()),
        "from_subaccount": 0,
        "to_subaccount": 1,
        "amount_cents": 200,
    }
    assert client.post("/portfolio/margin/subaccounts/transfer", json=transfer).json() == {}
    _trade(fresh, "demo-user", seller, subaccount=1)

    (row,) = client.get("/margin/risk").json()["positions"]

    # cash 2.0000 - 0.0077 = 1.9923; (6.3587 - 1.9923) / (1 - 0.1270766) = 5.00204.. -> 5.0020
    assert row["subaccount"] == 1
    assert row["estimated_liquidation_price"] == "5.0020"
    assert row["maintenance_margin_required"] == "0.8081"  # ceil(6.3587 x 0.1270766)


def test_risk_with_no_positions(client: httpx.Client) -> None:
    assert client.get("/margin/risk").json() == {
        "account_leverage": None,
        "total_position_notional": "0.0000",
        "total_maintenance_margin": "0.0000",
        "positions": [],
    }


# --------------------------------------------------------- notional risk limit


def test_notional_risk_limit_defaults(client: httpx.Client) -> None:
    assert client.get("/margin/notional_risk_limit").json() == {
        "default_notional_value_risk_limit": "5000.0000",
        "notional_value_risk_limits_by_market_ticker": {},
        "total_current_usage": "0.0000",
        "current_usage_by_market_ticker": {},
    }


def test_notional_risk_limit_usage(fresh: Served, client: httpx.Client, traded: str) -> None:
    _place(fresh, "demo-user", Side.BID, 60000, 100)
    fresh.runtime.exchange.user("demo-user").notional_limit_overrides[BTC] = 50_000_000_000

    body = client.get("/margin/notional_risk_limit").json()

    # long side: 1 x 6.3329 + resting bid 1 x 6.0000
    assert body["current_usage_by_market_ticker"] == {BTC: "12.3329"}
    assert body["total_current_usage"] == "12.3329"
    assert body["notional_value_risk_limits_by_market_ticker"] == {BTC: "50000.0000"}


# ----------------------------------------------------------------------- fees


def test_fee_tiers(client: httpx.Client) -> None:
    body = client.get("/margin/fee_tiers").json()

    tickers = {BTC, "KXETHPERP", "KXSOLPERP"}
    assert set(body["maker_fee_rates"]) == tickers
    assert body["maker_fee_rates"][BTC] == 0.0005
    assert body["taker_fee_rates"][BTC] == 0.0012


def test_fee_tier_rates(client: httpx.Client) -> None:
    rows = client.get("/margin/fee_tier_rates").json()["fee_tier_rates"]

    assert len(rows) == 11
    assert rows[0] == {
        "fee_schedule": "fcm",
        "tier": 0,
        "maker_fee_rate": 0.0005,
        "taker_fee_rate": 0.0012,
    }
    assert rows[-1] == {
        "fee_schedule": "fcm",
        "tier": 10,
        "maker_fee_rate": 0.00006,
        "taker_fee_rate": 0.00026,
    }


# ---------------------------------------------------------------- subaccounts


def test_create_subaccounts(client: httpx.Client) -> None:
    first = client.post("/portfolio/margin/subaccounts", json={})
    second = client.post("/portfolio/margin/subaccounts")  # no body at all

    assert (first.status_code, first.json()) == (201, {"subaccount_number": 1})
    assert (second.status_code, second.json()) == (201, {"subaccount_number": 2})


def test_create_subaccount_bad_bodies(fresh: Served, client: httpx.Client) -> None:
    malformed = client.post(
        "/portfolio/margin/subaccounts",
        content=b"{",
        headers={"content-type": "application/json"},
    )
    not_json = client.post(
        "/portfolio/margin/subaccounts", content=b"x", headers={"content-type": "text/plain"}
    )

    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "invalid_parameters"
    assert not_json.status_code == 400
    assert not_json.json()["error"]["code"] == "invalid_content_type"
    assert list(fresh.runtime.exchange.user("demo-user").subaccounts) == [0]


def test_create_subaccount_past_the_last(fresh: Served, client: httpx.Client) -> None:
    exchange = fresh.runtime.exchange
    for _ in range(62):
        exchange.create_subaccount("demo-user")
    assert client.post("/portfolio/margin/subaccounts", json={}).json() == {"subaccount_number": 63}

    response = client.post("/portfolio/margin/subaccounts", json={})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "limit_exceeded"
    assert len(exchange.user("demo-user").subaccounts) == 64


# ---------------------------------------------------------- subaccount transfer


def _transfer(client: httpx.Client, **overrides: Any) -> httpx.Response:
    body: dict[str, Any] = {
        "client_transfer_id": str(uuid.uuid4()),
        "from_subaccount": 0,
        "to_subaccount": 1,
        "amount_cents": 12345,
    }
    body.update(overrides)
    return client.post("/portfolio/margin/subaccounts/transfer", json=body)


def _equities(client: httpx.Client) -> list[str]:
    rows = client.get("/margin/balance").json()["subaccount_balances"]
    return [row["account_equity"] for row in rows]


def test_subaccount_transfer_moves_cents_once(client: httpx.Client) -> None:
    client.post("/portfolio/margin/subaccounts", json={})
    transfer_id = str(uuid.uuid4())

    first = _transfer(client, client_transfer_id=transfer_id)
    replay = _transfer(client, client_transfer_id=transfer_id)

    assert (first.status_code, first.json()) == (200, {})
    assert (replay.status_code, replay.json()) == (200, {})
    assert _equities(client) == ["9876.5500", "123.4500"]
    assert _transfer(client, from_subaccount=1, to_subaccount=0, amount_cents=45).json() == {}
    assert _equities(client) == ["9877.0000", "123.0000"]


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"to_subaccount": 0}, "invalid_parameters"),
        ({"amount_cents": 0}, "invalid_parameters"),
        ({"amount_cents": -5}, "invalid_parameters"),
        ({"amount_cents": "100"}, "invalid_parameters"),
        ({"amount_cents": 1_000_001}, "insufficient_balance"),  # $10,000.01
        ({"to_subaccount": 5}, "subaccount_not_found"),
        ({"to_subaccount": 64}, "invalid_parameters"),
        ({"client_transfer_id": "not-a-uuid"}, "invalid_parameters"),
        ({"extra": 1}, "invalid_parameters"),
    ],
)
def test_subaccount_transfer_refusals_change_nothing(
    client: httpx.Client, overrides: dict[str, Any], code: str
) -> None:
    client.post("/portfolio/margin/subaccounts", json={})
    before = _equities(client)

    response = _transfer(client, **overrides)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert _equities(client) == before


def test_subaccount_transfer_needs_every_field(client: httpx.Client) -> None:
    response = client.post(
        "/portfolio/margin/subaccounts/transfer",
        json={"from_subaccount": 0, "to_subaccount": 1, "amount_cents": 1},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parameters"


# ------------------------------------------------------ intra-exchange transfer


def _instance(client: httpx.Client, **overrides: Any) -> httpx.Response:
    body: dict[str, Any] = {
        "source": "margined",
        "destination": "event_contract",
        "amount": 100_000,  # centicents: $10
    }
    body.update(overrides)
    return client.post("/portfolio/intra_exchange_instance_transfer", json=body)


def test_instance_transfer_round_trip(fresh: Served, client: httpx.Client) -> None:
    user = fresh.runtime.exchange.user("demo-user")

    out = _instance(client)
    back = _instance(client, source="event_contract", destination="margined", amount=25_000)

    assert out.status_code == 200 and back.status_code == 200
    assert out.json()["transfer_id"] != back.json()["transfer_id"]
    assert _equities(client) == ["9992.5000"]  # 10000 - 10 + 2.50
    assert user.event_contract_cash == 7_500_000  # $7.50 in micro-dollars


def test_instance_transfer_is_idempotent(fresh: Served, client: httpx.Client) -> None:
    fresh.runtime.exchange.deposit_event_contract("demo-user", 50_000_000)
    key = str(uuid.uuid4())
    args = {"source": "event_contract", "destination": "margined", "client_transfer_id": key}

    first = _instance(client, **args)
    again = _instance(client, **args)

    assert first.json() == again.json()
    assert _equities(client) == ["10010.0000"]
    assert fresh.runtime.exchange.user("demo-user").event_contract_cash == 40_000_000


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"source": "event_contract", "destination": "margined"}, "insufficient_balance"),
        ({"amount": 100_000_001}, "insufficient_balance"),  # $10,000.0001
        ({"destination": "margined"}, "invalid_parameters"),
        ({"source": "bank"}, "invalid_parameters"),
        ({"amount": 0}, "invalid_parameters"),
        ({"amount": "100"}, "invalid_parameters"),
        ({"amount": 1.5}, "invalid_parameters"),
        ({"source_exchange_shard": 1}, "invalid_parameters"),
        ({"destination_subaccount": 2}, "invalid_parameters"),
        ({"client_transfer_id": "nope"}, "invalid_parameters"),
    ],
)
def test_instance_transfer_refusals_change_nothing(
    fresh: Served, client: httpx.Client, overrides: dict[str, Any], code: str
) -> None:
    response = _instance(client, **overrides)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert _equities(client) == ["10000.0000"]
    assert fresh.runtime.exchange.user("demo-user").event_contract_cash == 0


def test_instance_transfer_accepts_zero_shards_and_subaccounts(client: httpx.Client) -> None:
    response = _instance(
        client,
        source_exchange_shard=0,
        destination_exchange_shard=0,
        source_subaccount=0,
        destination_subaccount=0,
        client_transfer_id=str(uuid.uuid4()),
    )
    assert response.status_code == 200
    assert _equities(client) == ["9990.0000"]


# ------------------------------------------------------------------ kalshi-sdk


def test_kalshi_sdk_parses_every_account_response(fresh: Served, traded: str) -> None:
    from decimal import Decimal

    with demo_sdk_client(fresh) as sdk:
        (position,) = sdk.portfolio.positions().positions
        balance = sdk.margin.balance(compute_available_balance=True)
        risk = sdk.margin.risk()
        limits = sdk.margin.notional_risk_limit()
        tiers = sdk.margin.fee_tiers()
        rates = sdk.margin.fee_tier_rates()
        number = sdk.transfers.create_subaccount().subaccount_number
        sdk.transfers.transfer_subaccount(
            client_transfer_id=uuid.uuid4(), from_subaccount=0, to_subaccount=1, amount_cents=100
        )
        moved = sdk.transfers.transfer_instance(
            source="margined", destination="event_contract", amount=10_000
        )

    assert position.entry_price == Decimal("6.3587")
    assert balance.subaccount_balances[0].available_balance == Decimal("9998.9202")
    assert risk.positions[0].estimated_liquidation_price is None
    assert limits.default_notional_value_risk_limit == Decimal("5000")
    assert tiers.taker_fee_rates[BTC] == Decimal("0.0012")
    assert rates.fee_tier_rates[0].tier == 0
    assert number == 1
    assert moved.transfer_id
