"""Position risk: the liquidation price of one position within its subaccount."""

from __future__ import annotations

from simulator.model.ledger import Position, Subaccount
from simulator.model.risk import position_liquidation_price
from tests.simulator.factories import dollars, make_spec

BTC = "KXBTCPERP"
ETH = "KXETHPERP"
MARKS = {BTC: 60_000, ETH: 31_000}


def test_liquidation_price_is_backed_by_the_other_positions_unrealized_pnl() -> None:
    spec = make_spec(BTC)
    btc = Position(qty=5_000, cost=5_000 * 60_000)
    eth_up_one_dollar = Position(qty=1_000, cost=1_000 * 30_000)
    with_eth = Subaccount(0, cash=dollars("100"), positions={BTC: btc, ETH: eth_up_one_dollar})
    cash_only = Subaccount(0, cash=dollars("101"), positions={BTC: btc, ETH: Position()})
    poorer = Subaccount(0, cash=dollars("100"), positions={BTC: btc})

    price, same, higher = (
        position_liquidation_price(spec, sub, BTC, MARKS.__getitem__)
        for sub in (with_eth, cash_only, poorer)
    )

    assert price is not None and higher is not None
    assert price == same
    assert price < higher


def test_no_position_has_no_liquidation_price() -> None:
    sub = Subaccount(0, cash=dollars("100"), positions={ETH: Position(qty=0, cost=0)})

    assert position_liquidation_price(make_spec(BTC), sub, BTC, MARKS.__getitem__) is None
    assert position_liquidation_price(make_spec(ETH), sub, ETH, MARKS.__getitem__) is None
