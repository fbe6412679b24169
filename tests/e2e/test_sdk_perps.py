"""kalshi-sdk 22.4.0 `PerpsClient` against a live server, end to end.

The SDK talks to uvicorn over a real socket through `SpecCheckingTransport`, so every response
it parses is also validated against the vendored spec. Two tests:

- a tour that calls every perps REST method of the SDK (including the pagination helpers) and
  checks that, between them, all 54 operations of the spec were called;
- two users trading, amending, decreasing and cancelling, then fills, positions, balance and
  risk against values computed by hand in the test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import ROUND_CEILING, Decimal
from typing import Any

import pytest
from kalshi.errors import KalshiError
from kalshi.perps import PerpsClient
from kalshi.perps.models.portfolio import (
    SetCrossExitTriggerRequest,
    SetIsolatedExitTriggerRequest,
    UpdateExitTriggerRequest,
)

from simulator.server.scenarios import load_scenario
from tests.api import signing, spec
from tests.api.live import LiveServer, live_server
from tests.e2e.spec_transport import SpecCheckingTransport

BTC = "KXBTCPERP"
ETH = "KXETHPERP"
T0_S = 1_781_481_600  # the bare scenario starts at 2026-06-15T00:00:00Z


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with live_server(load_scenario("bare")) as live:
        yield live


@pytest.fixture
def fresh(server: LiveServer) -> LiveServer:
    server.control("POST", "/reset").raise_for_status()
    return server


def _client(server: LiveServer, key_id: str, pem: str) -> tuple[PerpsClient, SpecCheckingTransport]:
    transport = SpecCheckingTransport()
    sdk = PerpsClient(key_id=key_id, private_key=pem, base_url=server.rest_url, transport=transport)
    return sdk, transport


def _demo(server: LiveServer) -> tuple[PerpsClient, SpecCheckingTransport]:
    pem = (signing.FIXTURES / "keys" / "demo_private.pem").read_text()
    return _client(server, signing.DEMO_KEY_ID, pem)


def _new_user(server: LiveServer, balance: str) -> tuple[str, PerpsClient]:
    user = server.new_user(balance)
    sdk, _ = _client(server, user.api_key_id, user.private_key_pem)
    return user.user_id, sdk


def _order(sdk: PerpsClient, ticker: str, side: str, count: str, price: str, **extra: Any) -> Any:
    return sdk.orders.create(  # type: ignore[call-overload]
        ticker=ticker,
        client_order_id=extra.pop("client_order_id", str(uuid.uuid4())),
        side=side,
        count=count,
        price=price,
        time_in_force=extra.pop("time_in_force", "good_till_canceled"),
        self_trade_prevention_type="taker_at_cross",
        **extra,
    )


def test_sdk_tour_calls_every_operation(fresh: LiveServer) -> None:
    sdk, transport = _demo(fresh)
    _, other = _new_user(fresh, "1000.0000")
    with sdk, other:
        # exchange, account
        assert sdk.exchange.status().trading_active is True
        assert sdk.exchange.enabled().enabled is True
        assert sdk.exchange.risk_parameters().queue_entry_margin_ratio_threshold == Decimal("0.91")
        assert sdk.margin.api_limits().usage_tier == "basic"
        # orders: a resting bid, then another user's ask crosses part of it
        resting = _order(sdk, BTC, "bid", "10", "6.2500", client_order_id="tour-bid")
        _order(other, BTC, "ask", "3", "6.2500", time_in_force="immediate_or_cancel")
        assert sdk.orders.get(resting.order_id).fill_count == Decimal(3)
        amended = sdk.orders.amend(
            resting.order_id, ticker=BTC, side="bid", price="6.2400", count="10"
        )
        assert amended.remaining_count == Decimal(7)
        decreased = sdk.orders.decrease(amended.order_id, reduce_by="2")
        assert decreased.remaining_count == Decimal(5)
        page = sdk.orders.list(limit=1)
        assert len(page.orders) == 1
        assert [o.order_id for o in sdk.orders.list_all(limit=1)] == [amended.order_id]
        with pytest.warns(DeprecationWarning):  # removed upstream; the SDK still calls it
            assert sdk.orders.list_fcm(subtrader_id="demo-user").orders
        with pytest.warns(DeprecationWarning):
            assert len(list(sdk.orders.list_all_fcm(subtrader_id="demo-user", limit=1))) == 1
        assert sdk.orders.cancel(amended.order_id).reduced_by == Decimal(5)
        _order(sdk, ETH, "bid", "1", "3.0000")
        sdk.orders.cancel_all()
        # order groups
        group = sdk.order_groups.create(contracts_limit=5)
        assert sdk.order_groups.get(group.order_group_id).contracts_limit == 5
        assert [g.id for g in sdk.order_groups.list()] == [group.order_group_id]
        sdk.order_groups.update_limit(group.order_group_id, contracts_limit=7)
        sdk.order_groups.trigger(group.order_group_id)
        sdk.order_groups.reset(group.order_group_id)
        sdk.order_groups.delete(group.order_group_id)
        # fills, trades, positions
        assert [f.count for f in sdk.portfolio.fills(limit=10).items] == [Decimal(3)]
        assert len(list(sdk.portfolio.fills_all(limit=1))) == 1
        assert [t.count for t in sdk.portfolio.trades(ticker=BTC).items] == [Decimal(3)]
        assert len(list(sdk.portfolio.trades_all(limit=1))) == 1
        (position,) = sdk.portfolio.positions().positions
        assert position.position == Decimal(3)
        # exit triggers on the long position
        trigger = sdk.portfolio.set_cross_exit_trigger(
            BTC, request=SetCrossExitTriggerRequest(take_profit_price=Decimal("7"))
        )
        sdk.portfolio.update_cross_exit_trigger(
            BTC, trigger.id, request=UpdateExitTriggerRequest(take_profit_price=Decimal("7.5"))
        )
        assert [t.id for t in sdk.portfolio.cross_exit_triggers(BTC).exit_triggers] == [trigger.id]
        sdk.portfolio.cancel_cross_exit_trigger(BTC, trigger.id)
        sdk.portfolio.cancel_cross_exit_triggers(BTC)
        with pytest.raises(KalshiError):  # isolated positions are not modelled: refused
            sdk.portfolio.set_isolated_exit_trigger(
                BTC, request=SetIsolatedExitTriggerRequest(take_profit_price=Decimal("7"))
            )
        assert sdk.portfolio.isolated_exit_triggers(BTC).exit_triggers == []
        sdk.portfolio.cancel_isolated_exit_triggers(BTC)
        # account reads
        assert sdk.margin.balance(compute_available_balance=True).subaccount_balances
        assert sdk.margin.risk().positions[0].market_ticker == BTC
        assert sdk.margin.notional_risk_limit().default_notional_value_risk_limit == Decimal(5000)
        assert sdk.margin.fee_tiers().maker_fee_rates[BTC] == Decimal("0.0005")
        assert sdk.margin.fee_tier_rates().fee_tier_rates
        assert sdk.margin.corporate_actions().corporate_actions == []
        # markets
        assert {m.ticker for m in sdk.markets.list()} == {BTC, ETH, "KXSOLPERP"}
        assert sdk.markets.get(BTC).ticker == BTC
        assert sdk.markets.orderbook(BTC, depth=5, aggregation_tick_size="0.0100") is not None
        assert [b.ticker for b in sdk.markets.bulk_orderbooks(tickers=[BTC, ETH])] == [BTC, ETH]
        candles = sdk.markets.candlesticks(
            BTC, start_ts=T0_S - 60, end_ts=T0_S + 60, period_interval=1
        )
        assert [c.volume for c in candles] == [Decimal(3)]
        # funding
        assert sdk.funding.rate_estimate(ticker=BTC).market_ticker == BTC
        assert sdk.funding.historical_rates(ticker=BTC) == []
        assert sdk.funding.premium_index(ticker=BTC, start_ts=T0_S - 60, end_ts=T0_S) is not None
        assert sdk.funding.history(start_date="2026-06-14", end_date="2026-06-15") == []
        # transfers and subaccounts
        number = sdk.transfers.create_subaccount().subaccount_number
        sdk.transfers.transfer_subaccount(
            client_transfer_id=uuid.uuid4(),
            from_subaccount=0,
            to_subaccount=number,
            amount_cents=100,
        )
        moved = sdk.transfers.transfer_instance(
            source="margined", destination="event_contract", amount=10_000
        )
        assert moved.transfer_id
        # FCM
        subtrader = sdk.fcm.create_subtrader(subtrader_suffix="tour", require_category_cap=False)
        sdk.fcm.update_risk_controls(
            subtrader_id=subtrader.subtrader_id, im_cap=Decimal("25"), asset_class="Crypto"
        )
        assert sdk.fcm.risk_controls(subtrader_id=subtrader.subtrader_id).risk_controls
        sdk.fcm.delete_risk_controls(subtrader_id=subtrader.subtrader_id, asset_class="Crypto")
        sdk.fcm.update_notional_risk_limit(notional_value_risk_limit=Decimal("2500"))
        sdk.fcm.delete_notional_risk_limit()

    every = {(method, template) for method, template, _ in spec.operations()}
    assert len(every) == 54
    assert every - transport.called == set()


def test_two_users_trade_amend_and_cancel(fresh: LiveServer) -> None:
    """Fills, positions, balance and risk against numbers worked out by hand.

    The manual clock never moves here, so the liquidation mark stays at the scenario's
    opening reference price, 6.2590 for BTC.
    """
    alice, _ = _demo(fresh)
    bob_id, bob = _new_user(fresh, "1000.0000")
    with alice, bob:
        mark = alice.markets.get(BTC).liquidation_mark_price
        assert mark is not None and mark.price == Decimal("6.2590")

        bid = _order(alice, BTC, "bid", "10", "6.2500", client_order_id="alice-1")
        _order(alice, BTC, "bid", "5", "6.2000", client_order_id="alice-2")
        alice.orders.amend(bid.order_id, ticker=BTC, side="bid", price="6.2550", count="10")
        spare = next(o for o in alice.orders.list().orders if o.client_order_id == "alice-2")
        assert alice.orders.cancel(spare.order_id).reduced_by == Decimal(5)

        # Bob sells 4 into Alice's amended bid: the maker's price, 6.2550, for 4 contracts.
        sold = _order(bob, BTC, "ask", "4", "6.2500", time_in_force="immediate_or_cancel")
        assert (sold.fill_count, sold.remaining_count) == (Decimal(4), Decimal(0))
        assert alice.orders.decrease(bid.order_id, reduce_by="2").remaining_count == Decimal(4)

        # notional 4 x 6.2550 = 25.0200; maker fee 5 bps = 0.012510 -> 0.0126 (rounded up to
        # $0.0001); taker fee 12 bps = 0.030024 -> 0.0301.
        (alice_fill,) = alice.portfolio.fills().items
        (bob_fill,) = bob.portfolio.fills().items
        assert (alice_fill.side, alice_fill.is_taker) == ("bid", False)
        assert (alice_fill.count, alice_fill.price, alice_fill.fees) == (
            Decimal(4),
            Decimal("6.2550"),
            Decimal("0.0126"),
        )
        assert (bob_fill.side, bob_fill.is_taker, bob_fill.fees) == ("ask", True, Decimal("0.0301"))
        assert alice_fill.order_id == bid.order_id

        # uPnL at the mark: 4 x (6.2590 - 6.2550) = +0.0160 for Alice, -0.0160 for Bob.
        (alice_pos,) = alice.portfolio.positions().positions
        (bob_pos,) = bob.portfolio.positions().positions
        assert (alice_pos.position, alice_pos.entry_price) == (Decimal(4), Decimal("6.2550"))
        assert (bob_pos.position, bob_pos.entry_price) == (Decimal(-4), Decimal("6.2550"))
        assert (alice_pos.unrealized_pnl, bob_pos.unrealized_pnl) == (
            Decimal("0.0160"),
            Decimal("-0.0160"),
        )
        assert (alice_pos.fees, bob_pos.fees) == (Decimal("0.0126"), Decimal("0.0301"))

        # settled funds = deposit - fees; equity = settled + uPnL.
        alice_balance = alice.margin.balance(compute_available_balance=True)
        bob_balance = bob.margin.balance(compute_available_balance=True)
        assert alice_balance.settled_funds == Decimal("9999.9874")
        assert bob_balance.settled_funds == Decimal("999.9699")
        (alice_sub,) = alice_balance.subaccount_balances
        (bob_sub,) = bob_balance.subaccount_balances
        assert alice_sub.account_equity == Decimal("10000.0034")
        assert bob_sub.account_equity == Decimal("999.9539")

        # risk: notional at the mark 4 x 6.2590 = 25.0360 each; leverage = notional / MM;
        # IM = 1.3 x MM; available = equity - IM - resting-order margin (Alice still bids 4).
        alice_risk = alice.margin.risk()
        bob_risk = bob.margin.risk()
        for risk, sub, side in ((alice_risk, alice_sub, 4), (bob_risk, bob_sub, -4)):
            (position,) = risk.positions
            assert position.position == Decimal(side)
            assert position.mark_price == Decimal("6.2590")
            assert position.position_notional == Decimal("25.0360")
            assert risk.total_position_notional == Decimal("25.0360")
            mm = position.maintenance_margin_required
            assert mm == sub.maintenance_margin == risk.total_maintenance_margin
            # MM rate at a small notional = 1 / (1.3 x leverage estimate 6.05) = 0.127146;
            # x 25.0360 = 3.1833 (MECHANICS 3.3). The curve is a least-squares power law through
            # all four published points, which puts it within 0.1% of that here.
            assert abs(mm - Decimal("3.1833")) <= Decimal("0.0032"), mm
            leverage = position.position_leverage
            assert leverage is not None
            assert abs(leverage - Decimal("25.0360") / mm) < Decimal("0.001")
            # IM = 1.3 x MM rounded up to $0.0001.
            assert sub.initial_margin == (mm * Decimal("1.3")).quantize(
                Decimal("0.0001"), rounding=ROUND_CEILING
            )
            assert sub.available_balance == (
                sub.account_equity - sub.initial_margin - sub.resting_orders_margin
            )
        assert bob_sub.resting_orders_margin == Decimal(0)
        assert alice_sub.resting_orders_margin > Decimal(0)
    assert bob_id != signing.DEMO_USER_ID
