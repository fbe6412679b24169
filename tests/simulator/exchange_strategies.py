"""Helpers for the exchange property tests: markets, commands, invariant checks.

`check_invariants` states what must hold between any two commands of an `Exchange`;
`attempt` runs one command and checks that a rejection changed nothing; `LiquidationWatcher`
checks every liquidation at the moment it finishes; `COMMANDS` draws command sequences that
`apply_command` replays on any exchange (the determinism test runs one on two exchanges).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st

from matching import SelfTradePrevention, Side, TimeInForce
from simulator.core.bus import Batch, Reset
from simulator.core.clock import ManualClock
from simulator.core.config import ExchangeConfig
from simulator.core.errors import RejectError
from simulator.core.events import LiquidationStep
from simulator.core.money import MONEY_SCALE
from simulator.exchange import Exchange
from simulator.model.markets import MarketSpec, load_markets
from simulator.model.orders import AmendOrder, PlaceOrder
from simulator.server.state_hash import state_hash

# 2026-06-14 00:00:00 UTC; crypto funding fires at 04:00, 12:00 and 20:00 UTC.
T0 = 1_781_395_200_000
TICKERS = ("KXBTCPERP", "KXETHPERP", "KXSOLPERP")
GTC = TimeInForce.GOOD_TILL_CANCELED
IOC = TimeInForce.IMMEDIATE_OR_CANCEL
FOK = TimeInForce.FILL_OR_KILL
THOROUGH = os.environ.get("HYPOTHESIS_PROFILE", "default") == "thorough"


def budget(max_examples: int, **kwargs: Any) -> settings:
    """`max_examples` by default; under the `thorough` profile keep the profile's count."""
    if THOROUGH:
        return settings(**kwargs)
    return settings(max_examples=max_examples, **kwargs)


def dollars(amount: int) -> int:
    return amount * MONEY_SCALE


# ------------------------------------------------------------------ markets


def market_specs(*, static: bool) -> list[MarketSpec]:
    """BTC, ETH and SOL perps, with static reference feeds or their default random walks."""
    specs = load_markets()[:3]
    assert tuple(spec.ticker for spec in specs) == TICKERS
    if not static:
        return specs
    return [
        dataclasses.replace(spec, reference={"kind": "static", "price": spec.reference["price"]})
        for spec in specs
    ]


def make_exchange(*, static: bool = True, seed: int = 1, **config: Any) -> Exchange:
    """BTC, ETH and SOL on a manual clock at `T0`; `config` overrides `ExchangeConfig`."""
    return Exchange(
        market_specs(static=static),
        clock=ManualClock(T0),
        seed=seed,
        config=ExchangeConfig(**config),
    )


def price_near(ex: Exchange, ticker: str, bps: int) -> int:
    """A price `bps` basis points from the market's mark, at least one tick."""
    tick = ex.markets[ticker].market.spec.tick
    mark = ex.mark(ticker)
    price = mark + mark * bps // 10_000
    return max(tick, price - price % tick)


def reference_near(ex: Exchange, ticker: str, bps: int) -> int:
    """A reference price `bps` basis points from the market's current reference."""
    reference = ex.markets[ticker].reference
    base = reference[0] if reference is not None else ex.mark(ticker)
    return max(1, base + base * bps // 10_000)


# ----------------------------------------------------------------- commands


def attempt(ex: Exchange, command: Callable[[], Any]) -> tuple[bool, Any]:
    """Run a command: `(True, result)`, or `(False, error)` for a business rejection.

    A rejection must leave the state hash unchanged; any other exception propagates.
    """
    before = state_hash(ex)
    try:
        return True, command()
    except RejectError as exc:
        assert state_hash(ex) == before, f"rejected command changed the state: {exc!r}"
        return False, exc


# ------------------------------------------------------------------ checks


def check_invariants(ex: Exchange, deposits: int) -> None:
    """Everything that must hold between any two commands."""
    # positions net to zero per market; open interest is the long side; holders index
    for ticker, data in ex.markets.items():
        net = longs = 0
        holders = set()
        for user in ex.users.values():
            for sub in user.subaccounts.values():
                pos = sub.positions.get(ticker)
                if pos is None:
                    continue
                net += pos.qty
                longs += max(pos.qty, 0)
                if pos.qty:
                    holders.add((user.user_id, sub.number))
        assert net == 0, f"{ticker}: positions sum to {net}"
        assert data.open_interest == longs, f"{ticker}: OI {data.open_interest} != {longs}"
        assert set(ex.holders(ticker)) == holders, f"{ticker}: holders index is stale"

    # money: house + sum(cash - cost) is what was deposited
    assert ex.money_supply() == deposits, f"money {ex.money_supply()} != deposits {deposits}"

    # resting exposure per (user, subaccount, market) and the book agree with live orders
    exposure: dict[tuple[str, int, str], list[int]] = {}
    on_books = dict.fromkeys(ex.markets, 0)
    for user_id in ex.users:
        for record in ex.live_orders(user_id):
            assert record.remaining > 0, f"live order {record.order_id} has nothing left"
            book_order = ex.markets[record.ticker].book.order(record.order_id)
            assert book_order.remaining == record.remaining, record.order_id
            assert book_order.price == record.price, record.order_id
            assert book_order.side is record.side, record.order_id
            on_books[record.ticker] += 1
            sums = exposure.setdefault((user_id, record.subaccount, record.ticker), [0, 0, 0, 0])
            if record.side is Side.BID:
                sums[0] += record.remaining
                sums[1] += record.remaining * record.price
            else:
                sums[2] += record.remaining
                sums[3] += record.remaining * record.price
    for user in ex.users.values():
        for sub in user.subaccounts.values():
            for ticker, pos in sub.positions.items():
                expected = exposure.pop((user.user_id, sub.number, ticker), [0, 0, 0, 0])
                actual = [pos.bid_qty, pos.bid_value, pos.ask_qty, pos.ask_value]
                assert actual == expected, f"{user.user_id}/{sub.number}/{ticker}: exposure"
    assert not exposure, f"live orders without a position entry: {exposure}"
    for ticker, data in ex.markets.items():
        data.book.check_invariants()
        assert len(data.book) == on_books[ticker], f"{ticker}: book holds unknown orders"

    # the journal numbers its events 1, 2, 3, ... (the oldest may have been trimmed) and time
    # never goes back
    events = ex.events_since(0)
    first = events[0][0] if events else 1
    assert first == 1 or len(events) >= ex.config.journal_retain, "trimmed too early"
    assert [seq for seq, _ in events] == list(range(first, first + len(events)))
    assert events[-1][0] == ex.journal.last_seq if events else ex.journal.last_seq == 0
    stamps = [event.ts_ms for _, event in events]
    assert stamps == sorted(stamps), "journal timestamps go back in time"


class LiquidationWatcher:
    """Checks each liquidation once the command in which it `finished` has completed.

    The bus delivers a command's events after the command, so the watcher reads the batch and
    then looks at the state: each subaccount whose last liquidation of the batch finished has no
    resting orders; it is flat or a system `order` step was published for it during that
    liquidation; if it is flat with negative cash, a `deficit` step of exactly that amount was
    published and added to `waterfall_deficit`.
    """

    def __init__(self, ex: Exchange) -> None:
        self.ex = ex
        self.steps: dict[tuple[str, int], list[LiquidationStep]] = {}
        self.finished = 0
        self.with_orders = 0
        self.deficits = 0
        self.deficit_total = 0
        self.failures: list[str] = []
        ex.bus.subscribe(self)

    def deliver(self, batch: Batch) -> None:
        done: dict[tuple[str, int], list[LiquidationStep]] = {}
        for _seq, event in batch:
            if type(event) is not LiquidationStep:
                continue
            key = (event.user_id, event.subaccount)
            if event.stage == "started":
                self.steps[key] = [event]
                done.pop(key, None)
                continue
            steps = self.steps.setdefault(key, [])
            steps.append(event)
            if event.stage == "deficit":
                self.deficit_total += event.amount
            if event.stage == "finished":
                done[key] = steps
                self.steps.pop(key, None)
        for key, steps in done.items():
            try:
                self._check_finished(key, steps)
            except AssertionError as exc:  # raised later, outside the exchange's call stack
                self.failures.append(str(exc))

    def reset(self, notice: Reset) -> None:
        raise AssertionError(f"the exchange is never replaced here: {notice}")

    def _check_finished(self, key: tuple[str, int], steps: list[LiquidationStep]) -> None:
        ex = self.ex
        self.finished += 1
        assert steps and steps[0].stage == "started", f"{key}: finished without started"
        resting = [r.order_id for r in ex.live_orders(key[0]) if r.subaccount == key[1]]
        assert not resting, f"{key}: resting orders after liquidation: {resting}"
        sub = ex.users[key[0]].subaccounts[key[1]]
        open_positions = {t: p.qty for t, p in sub.positions.items() if p.qty}
        orders = [s for s in steps if s.stage == "order"]
        if orders:
            self.with_orders += 1
        assert not open_positions or orders, f"{key}: {open_positions} left, no system order"
        deficits = [s for s in steps if s.stage == "deficit"]
        if not open_positions and sub.cash < 0:
            self.deficits += 1
            assert [s.amount for s in deficits] == [-sub.cash], f"{key}: deficit not recorded"
        else:
            assert not deficits, f"{key}: deficit recorded for cash {sub.cash}"
        assert ex.waterfall_deficit == self.deficit_total, "waterfall_deficit != deficits"

    def check(self) -> None:
        assert not self.failures, self.failures


# ------------------------------------------------- command sequences (determinism)

USERS = 3
SIDES = st.sampled_from([Side.BID, Side.ASK])
TIFS = st.sampled_from([GTC, GTC, GTC, IOC, FOK])
STPS = st.sampled_from([SelfTradePrevention.TAKER_AT_CROSS, SelfTradePrevention.MAKER])
CONTRACTS = st.integers(1, 20)
BPS = st.integers(-300, 300)

COMMANDS = st.lists(
    st.one_of(
        st.tuples(
            st.just("place"),
            st.integers(0, USERS - 1),
            st.sampled_from(TICKERS),
            SIDES,
            BPS,
            CONTRACTS,
            TIFS,
            STPS,
        ),
        st.tuples(st.just("cancel"), st.integers(0, 10**6)),
        st.tuples(st.just("amend"), st.integers(0, 10**6), BPS, CONTRACTS),
        st.tuples(st.just("advance"), st.integers(0, 20_000)),
        st.tuples(st.just("reference"), st.sampled_from(TICKERS), st.integers(-200, 200)),
    ),
    max_size=40,
)


def live_orders(ex: Exchange) -> list[Any]:
    return [record for user_id in ex.users for record in ex.live_orders(user_id)]


def apply_command(ex: Exchange, users: list[str], command: tuple[Any, ...], n: int) -> None:
    """Replay one drawn command (`n` numbers client order ids); rejections are fine."""
    kind = command[0]
    if kind == "place":
        _, who, ticker, side, bps, contracts, tif, stp = command
        order = PlaceOrder(
            ticker,
            side,
            price_near(ex, ticker, bps),
            contracts * 100,
            f"c{n}",
            time_in_force=tif,
            self_trade_prevention=stp,
        )
        attempt(ex, lambda: ex.place_order(users[who], order))
    elif kind == "cancel":
        live = live_orders(ex)
        if live:
            record = live[command[1] % len(live)]
            attempt(ex, lambda: ex.cancel_order(record.user_id, record.order_id))
    elif kind == "amend":
        live = live_orders(ex)
        if live:
            record = live[command[1] % len(live)]
            amend = AmendOrder(
                record.ticker,
                record.side,
                price_near(ex, record.ticker, command[2]),
                record.fill_count + command[3] * 100,
            )
            attempt(ex, lambda: ex.amend_order(record.user_id, record.order_id, amend))
    elif kind == "advance":
        ex.advance(command[1])
    elif kind == "reference":
        _, ticker, bps = command
        attempt(ex, lambda: ex.set_reference_price(ticker, reference_near(ex, ticker, bps)))
    else:  # pragma: no cover - the strategy draws only the kinds above
        raise AssertionError(kind)
