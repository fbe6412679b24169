"""kalshi-sdk's `PerpsClient`, pointed at the simulator the `perps_sim` fixture started."""

from decimal import Decimal

from kalshi.perps import PerpsClient

BTC = "KXBTCPERP"


def test_an_order_at_the_ask_fills_and_opens_a_position(perps_sim, perps_sim_user):
    with PerpsClient(
        base_url=perps_sim.rest_url,
        key_id=perps_sim_user.api_key_id,
        private_key_path=perps_sim_user.private_key_path,
    ) as client:
        ask = client.markets.orderbook(BTC).asks[0].price  # the market maker's quote
        order = client.orders.create(
            ticker=BTC,
            client_order_id="sdk-1",
            side="bid",
            count="2",
            price=str(ask),
            time_in_force="immediate_or_cancel",
            self_trade_prevention_type="taker_at_cross",
        )
        perps_sim.set_reference_price(BTC, "7.0000")  # the control plane moves the index

        assert (order.fill_count, order.average_fill_price) == (Decimal("2.00"), ask)
        [position] = client.portfolio.positions().positions
        assert (position.market_ticker, position.position) == (BTC, Decimal("2.00"))
        assert client.markets.get(BTC).reference_price.price == Decimal("7.0000")
