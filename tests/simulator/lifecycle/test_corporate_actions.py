"""Tests of `simulator.lifecycle.corporate_actions` on a real exchange with a manual clock.

Alice buys 10 AAPL perps from Bob at $228.45 (Bob rests the ask, Alice takes it), so Alice is
long 10 and Bob short 10 before each action applies.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from matching import Side
from simulator.core.clock import ManualClock
from simulator.core.errors import (
    InvalidParametersError,
    MarketClosedError,
    MarketNotFoundError,
    MarketVersionMismatchError,
)
from simulator.core.events import BalanceChanged, MarketChanged
from simulator.core.money import parse_dollars, parse_price
from simulator.exchange import Exchange
from simulator.lifecycle.corporate_actions import CorporateActionNotFoundError
from simulator.model.markets import load_markets
from simulator.model.orders import PlaceOrder
from tests.simulator.factories import T0

AAPL = "TEST-EQUITY-AAPL-PERP"
NEW = "TEST-EQUITY-AAPLX-PERP"
PRICE = parse_price("228.45")
MINUTE = 60_000
DAY = 86_400_000


class World:
    """An exchange with Alice long 10 and Bob short 10 AAPL at $228.45."""

    def __init__(self) -> None:
        self.ex = Exchange(load_markets(), clock=ManualClock(T0), seed=1)
        self.ex.set_market_status(AAPL, "active")
        self.alice = self.ex.create_user(balance=parse_dollars("10000")).user_id
        self.bob = self.ex.create_user(balance=parse_dollars("10000")).user_id
        self._n = 0
        self.order(self.bob, Side.ASK, PRICE, 1_000)
        self.order(self.alice, Side.BID, PRICE, 1_000)
        assert self.qty(self.alice) == 1_000 and self.qty(self.bob) == -1_000

    def order(self, user: str, side: Side, price: int, count: int, ticker: str = AAPL) -> str:
        self._n += 1
        result = self.ex.place_order(user, PlaceOrder(ticker, side, price, count, f"c{self._n}"))
        return result.order.order_id

    def pos(self, user: str, ticker: str = AAPL) -> Any:
        return self.ex.users[user].subaccounts[0].position(ticker)

    def qty(self, user: str, ticker: str = AAPL) -> int:
        return int(self.pos(user, ticker).qty)

    def cash(self, user: str) -> int:
        return self.ex.users[user].subaccounts[0].cash

    def events(self, kind: type) -> list[Any]:
        return [e for _, e in self.ex.events_since(0) if isinstance(e, kind)]

    def schedule(self, action_type: str, delay: int = MINUTE, **terms: Any) -> Any:
        return self.ex.corporate_actions.schedule(
            AAPL, action_type, execution_ms=self.ex.now() + delay, **terms
        )


@pytest.fixture
def world() -> World:
    return World()


# ----------------------------------------------------------------------------- cash actions


def test_dividend_pays_longs_and_charges_shorts(world: World) -> None:
    ex = world.ex
    supply = ex.money_supply()
    alice, bob = world.cash(world.alice), world.cash(world.bob)
    action = world.schedule("cash_dividend", cash_per_contract=parse_dollars("0.26"))
    assert action.status == "scheduled" and action.cash is not None
    assert (
        action.cash.ex_date == "2026-06-14"
        and action.market_id == ex.markets[AAPL].market.spec.market_id
    )
    ex.advance(MINUTE - 1)
    assert world.cash(world.alice) == alice
    ex.advance(1)
    assert world.cash(world.alice) == alice + parse_dollars("2.60")
    assert world.cash(world.bob) == bob - parse_dollars("2.60")
    assert ex.money_supply() == supply
    done = ex.corporate_actions.get(action.id)
    assert done.status == "applied" and done.updated_ms == T0 + MINUTE
    changes = [e for e in world.events(BalanceChanged) if e.reason == "corporate_action"]
    assert [(e.user_id, e.delta) for e in changes] == [
        (world.alice, 2_600_000),
        (world.bob, -2_600_000),
    ]
    halts = [e for e in world.events(MarketChanged) if e.reason == "corporate_action"]
    assert [e.halt_sources for e in halts] == [("corporate_action",), ()]
    assert ex.markets[AAPL].market.halt_sources == []
    assert ex.markets[AAPL].market.market_version == 1
    payments = ex.corporate_actions.payments(action.id)
    assert [(p.user_id, p.position_before, p.payment_amount) for p in payments] == [
        (world.alice, 1_000, 2_600_000),
        (world.bob, -1_000, -2_600_000),
    ]


def test_cash_rounds_receivers_down_payers_up_and_the_house_keeps_the_residue(
    world: World,
) -> None:
    ex = world.ex
    supply, house = ex.money_supply(), ex.house_cash
    alice, bob = world.cash(world.alice), world.cash(world.bob)
    # $0.123456 x 10 = $1.23456: the long gets $1.2345, the short pays $1.2346
    world.schedule("special_dividend", cash_per_contract=parse_dollars("0.123456"))
    ex.advance(MINUTE)
    assert world.cash(world.alice) - alice == 1_234_500
    assert world.cash(world.bob) - bob == -1_234_600
    assert ex.house_cash - house == 100
    assert ex.money_supply() == supply


def test_cash_per_contract_is_derived_from_cash_per_share(world: World) -> None:
    action = world.schedule("spin_off", cash_per_share=parse_dollars("1.5"), ex_date="2026-06-15")
    assert action.cash is not None
    assert (action.cash.cash_per_share, action.cash.cash_per_contract) == (1_500_000, 1_500_000)
    assert action.cash.ex_date == "2026-06-15"


def test_dividend_pause_cancels_only_cancel_on_pause_orders(world: World) -> None:
    ex = world.ex
    keep = world.order(world.alice, Side.BID, parse_price("220"), 100)
    result = ex.place_order(
        world.alice,
        PlaceOrder(AAPL, Side.BID, parse_price("221"), 100, "pause", cancel_order_on_pause=True),
    )
    world.schedule("cash_dividend", cash_per_contract=parse_dollars("0.10"))
    ex.advance(MINUTE)
    assert ex.orders[keep].remaining == 100
    assert ex.orders[result.order.order_id].remaining == 0


# --------------------------------------------------------------------------------- split


def test_forward_split_scales_positions_prices_and_version(world: World) -> None:
    ex = world.ex
    resting = world.order(world.alice, Side.BID, parse_price("220"), 200)
    supply = ex.money_supply()
    cost = world.pos(world.alice).cost
    entry = world.pos(world.alice).entry_price_micros()
    data = ex.markets[AAPL]
    oi = data.open_interest
    action = world.schedule("stock_split", ratio_old=1, ratio_new=2)
    ex.advance(MINUTE)
    assert ex.corporate_actions.get(action.id).status == "applied"
    assert ex.orders[resting].remaining == 0 and ex.live_orders(world.alice) == []
    assert world.qty(world.alice) == 2_000 and world.qty(world.bob) == -2_000
    assert world.pos(world.alice).cost == cost
    assert world.pos(world.alice).entry_price_micros() == entry // 2
    assert world.pos(world.alice).bid_qty == 0
    assert data.open_interest == 2 * oi
    assert data.market.market_version == 2
    assert data.reference is not None and data.reference[0] == parse_price("114.225")
    assert data.mark == parse_price("114.225")
    assert data.last_price == parse_price("114.225")
    assert ex.money_supply() == supply
    with pytest.raises(MarketVersionMismatchError):
        ex.place_order(
            world.alice, PlaceOrder(AAPL, Side.BID, 1_000_000, 100, "old", market_version=1)
        )
    payment = ex.corporate_actions.payments(action.id, world.alice)[0]
    assert (payment.pre_split_price, payment.post_split_price) == (PRICE, parse_price("114.225"))
    assert payment.payment_ms is None


def test_reverse_split_cashes_out_fractions_against_the_house(world: World) -> None:
    ex = world.ex
    supply, house = ex.money_supply(), ex.house_cash
    alice, bob = world.cash(world.alice), world.cash(world.bob)
    world.schedule("stock_split", ratio_old=3, ratio_new=1)
    ex.advance(MINUTE)
    post = 3 * PRICE
    assert ex.markets[AAPL].reference == (post, T0 + MINUTE)
    # 10 contracts become 3 1/3: three remain, 1/3 contract is paid out at $685.35
    assert world.qty(world.alice) == 300 and world.qty(world.bob) == -300
    in_lieu = Fraction(100, 3) * post  # micro-dollars
    long_gets = int(in_lieu // 100) * 100
    short_pays = -int(-in_lieu // 100) * 100
    assert (long_gets, short_pays) == (228_450_000, 228_450_000)
    # the fraction's share of the cost leaves the position: no PnL at a consistent price
    assert world.cash(world.alice) - alice == 0 and world.cash(world.bob) - bob == 0
    assert world.pos(world.alice).cost == 300 * post
    assert world.pos(world.alice).entry_price_micros() == post * 100
    assert ex.house_cash == house
    assert ex.money_supply() == supply


def test_reverse_split_with_unbalanced_fractions_keeps_money_conserved(world: World) -> None:
    ex = world.ex
    carol = ex.create_user(balance=parse_dollars("10000")).user_id
    # Bob buys 5 back from Carol: Alice +10, Bob -5, Carol -5
    world.order(carol, Side.ASK, PRICE, 500)
    world.order(world.bob, Side.BID, PRICE, 500)
    ex.set_reference_price(AAPL, parse_price("230"))
    supply = ex.money_supply()
    world.schedule("stock_split", ratio_old=3, ratio_new=1)
    ex.advance(MINUTE)
    assert [world.qty(u) for u in (world.alice, world.bob, carol)] == [300, -100, -100]
    assert ex.holders(AAPL) == [(world.alice, 0), (world.bob, 0), (carol, 0)]
    assert ex.markets[AAPL].open_interest == 300
    assert ex.money_supply() == supply
    # the house now stands short one contract against the longs; settlement charges it
    world.ex.corporate_actions.schedule(
        AAPL,
        "final_settlement",
        execution_ms=ex.now() + MINUTE,
        reason="delisted",
        settlement_price_per_contract=parse_price("700"),
    )
    ex.advance(MINUTE)
    assert ex.money_supply() == supply
    assert ex.holders(AAPL) == []


def test_split_cancels_exit_triggers(world: World) -> None:
    ex = world.ex
    views = ex.exit_triggers.set_cross(world.alice, 0, AAPL, stop_loss_price=parse_price("200"))
    world.schedule("stock_split", ratio_old=1, ratio_new=2)
    ex.advance(MINUTE)
    trigger = ex.exit_triggers.book.get(views[-1].id)
    assert trigger is not None and trigger.status == "canceled"
    assert world.qty(world.alice) == 2_000  # the halved mark fired nothing


# ---------------------------------------------------------------------- final settlement


def test_final_settlement_closes_everything(world: World) -> None:
    ex = world.ex
    resting = world.order(world.bob, Side.BID, parse_price("225"), 100)
    supply = ex.money_supply()
    alice, bob = world.cash(world.alice), world.cash(world.bob)
    action = world.schedule(
        "final_settlement", reason="acquired", settlement_price_per_share=parse_price("230")
    )
    assert action.final_settlement is not None
    assert action.final_settlement.settlement_price_per_contract == parse_price("230")
    ex.advance(MINUTE)
    # (230 - 228.45) x 10 = $15.50
    assert world.cash(world.alice) - alice == parse_dollars("15.50")
    assert world.cash(world.bob) - bob == -parse_dollars("15.50")
    assert world.qty(world.alice) == 0 and world.pos(world.alice).cost == 0
    assert world.qty(world.bob) == 0
    assert ex.orders[resting].remaining == 0
    data = ex.markets[AAPL]
    assert data.market.status == "closed" and data.open_interest == 0
    assert data.market.halt_sources == ["corporate_action"]
    assert ex.holders(AAPL) == []
    assert ex.money_supply() == supply
    with pytest.raises(MarketClosedError):
        world.order(world.alice, Side.BID, PRICE, 100)
    with pytest.raises(InvalidParametersError):
        world.schedule("cash_dividend", cash_per_contract=1)


def test_action_on_a_closed_market_lapses(world: World) -> None:
    ex = world.ex
    cash = world.cash(world.alice)
    dividend = world.schedule("cash_dividend", delay=2 * MINUTE, cash_per_contract=1_000_000)
    world.schedule("final_settlement", reason="delisted", settlement_price_per_contract=PRICE)
    ex.advance(2 * MINUTE)
    lapsed = ex.corporate_actions.get(dividend.id)
    assert lapsed.status == "lapsed" and lapsed.updated_ms == T0 + 2 * MINUTE
    assert world.cash(world.alice) == cash


def test_manual_close_lapses_the_action(world: World) -> None:
    action = world.schedule("stock_split", ratio_old=1, ratio_new=2)
    world.ex.set_market_status(AAPL, "closed")
    world.ex.advance(MINUTE)
    assert world.ex.corporate_actions.get(action.id).status == "lapsed"
    assert world.ex.markets[AAPL].market.market_version == 1


# ------------------------------------------------------------------------- ticker change


def test_ticker_change_keeps_positions_orders_and_triggers(world: World) -> None:
    ex = world.ex
    supply = ex.money_supply()
    resting = world.order(world.alice, Side.BID, parse_price("200"), 300)
    trigger = ex.exit_triggers.set_cross(world.alice, 0, AAPL, stop_loss_price=parse_price("210"))[
        -1
    ]
    pending = world.schedule("cash_dividend", delay=2 * MINUTE, cash_per_contract=100_000)
    place = list(ex.markets).index(AAPL)
    action = world.schedule("ticker_change", new_ticker=NEW)
    assert action.ticker_change is not None and action.ticker_change.old_ticker == AAPL
    ex.advance(MINUTE)
    assert AAPL not in ex.markets and list(ex.markets).index(NEW) == place
    data = ex.markets[NEW]
    assert data.ticker == NEW and data.market.market_version == 2
    assert world.qty(world.alice, NEW) == 1_000 and world.qty(world.bob, NEW) == -1_000
    assert AAPL not in ex.users[world.alice].subaccounts[0].positions
    assert ex.holders(NEW) == [(world.alice, 0), (world.bob, 0)]
    assert [r.ticker for r in ex.live_orders(world.alice)] == [NEW]
    assert all(t.ticker == NEW for t in ex.trades[NEW]) and len(ex.trades[NEW]) == 1
    assert all(f.ticker == NEW for f in ex.fills)
    assert ex.corporate_actions.get(pending.id).market_ticker == NEW
    assert ex.corporate_actions.get(action.id).market_ticker == AAPL
    with pytest.raises(MarketNotFoundError):
        world.order(world.alice, Side.BID, PRICE, 100)
    # the renamed book still matches: Bob sells into Alice's resting bid
    world.order(world.bob, Side.ASK, parse_price("200"), 100, ticker=NEW)
    assert ex.orders[resting].remaining == 200 and world.qty(world.alice, NEW) == 1_100
    assert len(ex.trades[NEW]) == 2
    # the dividend follows the market
    ex.advance(MINUTE)
    assert ex.corporate_actions.get(pending.id).status == "applied"
    # the stop loss still watches the renamed market and fires on it, into Bob's bid
    ex.cancel_order(world.alice, resting)
    world.order(world.bob, Side.BID, parse_price("204"), 1_100, ticker=NEW)
    ex.set_reference_price(NEW, parse_price("205"))
    fired = [r for r in ex.orders.values() if r.trigger_id == trigger.id]
    assert fired and fired[0].ticker == NEW
    assert world.qty(world.alice, NEW) == 0
    view = ex.exit_triggers.book.get(trigger.id)
    assert view is not None and view.ticker == NEW and view.status == "filled"
    assert ex.money_supply() == supply
    # timers moved with the market: funding is still armed under the new ticker
    assert ex.timers.due(("funding", NEW)) is not None
    assert ex.timers.due(("funding", AAPL)) is None


def test_ticker_change_validation(world: World) -> None:
    actions = world.ex.corporate_actions
    with pytest.raises(InvalidParametersError):
        world.schedule("ticker_change", new_ticker="KXBTCPERP")
    with pytest.raises(InvalidParametersError):
        world.schedule("ticker_change", new_ticker=AAPL)
    with pytest.raises(InvalidParametersError):
        world.schedule("ticker_change", new_ticker="")
    world.schedule("ticker_change", new_ticker=NEW)
    with pytest.raises(InvalidParametersError):
        world.schedule("ticker_change", delay=2 * MINUTE, new_ticker="OTHER")
    assert len(actions.list()) == 1


# ------------------------------------------------------------------ notices and validation


def test_cancel_before_execution(world: World) -> None:
    ex = world.ex
    cash = world.cash(world.alice)
    action = world.schedule("cash_dividend", cash_per_contract=1_000_000)
    ex.advance(MINUTE // 2)
    cancelled = ex.corporate_actions.cancel(action.id)
    assert cancelled.status == "cancelled" and cancelled.updated_ms == T0 + MINUTE // 2
    assert cancelled.terms is None and cancelled.execution_ms is None
    ex.advance(MINUTE)
    assert world.cash(world.alice) == cash
    assert ex.corporate_actions.get(action.id).status == "cancelled"
    with pytest.raises(InvalidParametersError):
        ex.corporate_actions.cancel(action.id)
    with pytest.raises(CorporateActionNotFoundError):
        ex.corporate_actions.cancel("nope")


def test_list_shows_scheduled_and_seven_days_of_updates(world: World) -> None:
    ex = world.ex
    actions = ex.corporate_actions
    applied = world.schedule("cash_dividend", delay=MINUTE, cash_per_contract=10_000)
    far = world.schedule("cash_dividend", delay=30 * DAY, cash_per_contract=10_000)
    cancelled = world.schedule("stock_split", delay=10 * DAY, ratio_old=1, ratio_new=2)
    ex.advance(2 * MINUTE)
    actions.cancel(cancelled.id)
    # newest last: far (scheduled at T0), applied (T0 + 1 min), cancelled (T0 + 2 min)
    assert [a.id for a in actions.list()] == [far.id, applied.id, cancelled.id]
    assert [a.id for a in actions.list(T0 + MINUTE + 7 * DAY)] == [far.id, applied.id, cancelled.id]
    assert [a.id for a in actions.list(T0 + MINUTE + 7 * DAY + 1)] == [far.id, cancelled.id]
    assert [a.id for a in actions.list(T0 + 8 * DAY)] == [far.id]
    assert actions.list(ticker="KXBTCPERP") == []
    assert len(actions.list(market_id=far.market_id)) == 3


@pytest.mark.parametrize(
    ("action_type", "terms"),
    [
        ("dividend", {"cash_per_contract": 1}),
        ("cash_dividend", {}),
        ("cash_dividend", {"cash_per_contract": 0}),
        ("cash_dividend", {"cash_per_contract": 1, "ratio_old": 1}),
        ("cash_dividend", {"cash_per_contract": 1, "ex_date": "2026-6-1"}),
        ("cash_dividend", {"cash_per_contract": 1, "ex_date": "2026-02-30"}),
        ("stock_split", {"ratio_old": 1}),
        ("stock_split", {"ratio_old": 2, "ratio_new": 2}),
        ("stock_split", {"ratio_old": 0, "ratio_new": 2}),
        ("stock_split", {"ratio_old": 1, "ratio_new": 2, "new_ticker": "X"}),
        ("final_settlement", {"settlement_price_per_contract": 1}),
        ("final_settlement", {"reason": "delisted"}),
        ("final_settlement", {"reason": "delisted", "settlement_price_per_contract": -1}),
        ("ticker_change", {}),
    ],
)
def test_invalid_terms_are_rejected(world: World, action_type: str, terms: Any) -> None:
    with pytest.raises(InvalidParametersError):
        world.schedule(action_type, **terms)
    assert world.ex.corporate_actions.list() == []


def test_schedule_needs_a_known_market_and_a_future_time(world: World) -> None:
    actions = world.ex.corporate_actions
    with pytest.raises(MarketNotFoundError):
        actions.schedule("NOPE", "cash_dividend", execution_ms=T0 + MINUTE, cash_per_contract=1)
    with pytest.raises(InvalidParametersError):
        actions.schedule(AAPL, "cash_dividend", execution_ms=T0, cash_per_contract=1)
    with pytest.raises(CorporateActionNotFoundError):
        actions.get("nope")
