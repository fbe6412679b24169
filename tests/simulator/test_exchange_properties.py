"""Property and stateful tests of the exchange core (`simulator.exchange.Exchange`).

- `TestExchangeMachine`: random commands from several users over three markets (place, cancel,
  amend, decrease, cancel-all, deposit, subaccounts and transfers, reference moves, clock
  advances). Every command succeeds or raises a `RejectError` that leaves the state hash
  unchanged; after every step positions net to zero, money is conserved, open interest,
  resting exposure, books and journal agree (`exchange_strategies.check_invariants`), and
  every finished liquidation left its account clean (`LiquidationWatcher`).
- Determinism: the same seed and commands give the same state hash and the same journal.
- Liquidation: a single-position account hit by an adverse move is liquidated, and when the
  liquidation finishes it has no resting orders, is flat or had a system order, and any
  deficit is its negative cash, recorded in `waterfall_deficit`.
"""

from __future__ import annotations

from functools import partial

import msgspec
from hypothesis import HealthCheck, assume, given
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from matching import SelfTradePrevention, Side, TimeInForce
from simulator.core.errors import InvalidPriceError
from simulator.core.events import LiquidationStep
from simulator.exchange import Exchange
from simulator.model.orders import AmendOrder, OrderRecord, PlaceOrder
from simulator.server.state_hash import state_hash
from tests.simulator.exchange_strategies import (
    BPS,
    COMMANDS,
    FOK,
    GTC,
    IOC,
    SIDES,
    STPS,
    TICKERS,
    USERS,
    LiquidationWatcher,
    apply_command,
    attempt,
    budget,
    check_invariants,
    dollars,
    live_orders,
    make_exchange,
    price_near,
    reference_near,
)

# ------------------------------------------------------------------ stateful

# (time in force, post_only, reduce_only); the last two are invalid combinations
ORDER_KINDS = st.sampled_from(
    [(GTC, False, False)] * 4
    + [(GTC, True, False), (IOC, False, False), (IOC, False, False), (FOK, False, False)]
    + [(IOC, False, True), (FOK, False, True), (GTC, False, True), (IOC, True, False)]
)
PRICE_BPS = st.one_of(st.integers(-60, 60), st.integers(-800, 800))
# whole contracts 1-20, now and then a count that is not (0, 0.5, 1.5 contracts)
COUNTS = st.integers(-2, 20).map(lambda n: n * 100 if n > 0 else (0, 50, 150)[-n])
LADDER_BPS = (10, 40, 100)
# contracts per ladder level: SOL's is deep enough for its $1,000 funding impact notional
LADDER_SIZE = {"KXBTCPERP": 1_000, "KXETHPERP": 1_000, "KXSOLPERP": 3_000}
PICK = st.integers(0, 63)
WHO = st.integers(0, 4)  # a user, modulo how many there are


class ExchangeMachine(RuleBasedStateMachine):
    """Drives one exchange with random commands of 3-5 users; checks it after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.ex: Exchange = make_exchange(static=True)
        self.watcher = LiquidationWatcher(self.ex)
        self.users: list[str] = []
        self.deposits = 0
        self.next_id = 0
        self.transfer_ids: list[str] = []

    # helpers

    def _client_id(self) -> str:
        self.next_id += 1
        return f"cid-{self.next_id}"

    def _sub(self, user_id: str, pick: int) -> int:
        numbers = sorted(self.ex.users[user_id].subaccounts)
        return numbers[pick % len(numbers)]

    def _live(self, pick: int) -> OrderRecord | None:
        live = live_orders(self.ex)
        return live[pick % len(live)] if live else None

    # setup

    @initialize(
        rich=st.sampled_from([5_000, 20_000]),
        others=st.lists(st.sampled_from([15, 8, 25, 40, 150, 1_000, 0]), min_size=2, max_size=4),
    )
    def create_users(self, rich: int, others: list[int]) -> None:
        for amount in [rich, *others]:
            balance = dollars(amount)
            self.users.append(self.ex.create_user(balance=balance).user_id)
            self.deposits += balance
        for ticker in TICKERS:
            self._ladder(ticker)

    def _ladder(self, ticker: str) -> None:
        """The first (rich) user rests bids and asks around the reference: liquidity."""
        ex = self.ex
        reference = ex.markets[ticker].reference
        assert reference is not None
        for bps in LADDER_BPS:
            for side, signed in ((Side.BID, -bps), (Side.ASK, bps)):
                price = reference[0] + reference[0] * signed // 10_000
                order = PlaceOrder(ticker, side, price, LADDER_SIZE[ticker], self._client_id())
                attempt(ex, partial(ex.place_order, self.users[0], order))

    # order entry

    def _place(
        self,
        who: int,
        sub: int,
        ticker: str,
        side: Side,
        bps: int,
        count: int,
        kind: tuple[TimeInForce, bool, bool],
        stp: SelfTradePrevention = SelfTradePrevention.TAKER_AT_CROSS,
        expiry: int | None = None,
        reuse_id: bool = False,
    ) -> None:
        ex = self.ex
        user_id = self.users[who % len(self.users)]
        tif, post_only, reduce_only = kind
        mine = ex.live_orders(user_id)
        client_id = mine[0].client_order_id if mine and reuse_id else self._client_id()
        command = PlaceOrder(
            ticker,
            side,
            price_near(ex, ticker, bps),
            count,
            client_id,
            time_in_force=tif,
            self_trade_prevention=stp,
            post_only=post_only,
            reduce_only=reduce_only,
            expiration_ms=None if expiry is None else ex.now() + expiry,
            subaccount=self._sub(user_id, sub),
        )
        held = ex.users[user_id].subaccounts[command.subaccount].position(ticker).qty
        closable = max(-held, 0) if side is Side.BID else max(held, 0)
        ok, result = attempt(ex, lambda: ex.place_order(user_id, command))
        if not ok:
            return
        order = result.order
        assert order.count == count
        assert order.fill_count + order.remaining_count <= count
        if tif is not GTC:
            assert order.remaining_count == 0, "an IOC/FOK order rested"
        if reduce_only:
            assert order.fill_count <= closable, "a reduce-only order increased a position"
        if tif is FOK:
            # a reduce-only count is capped at the position it closes (MECHANICS 3.4)
            whole = min(count, closable) if reduce_only else count
            assert order.fill_count in (0, whole), "a FOK order filled in part"
        if post_only:
            assert order.fill_count == 0, "a post-only order took liquidity"

    @rule(
        who=WHO,
        sub=PICK,
        ticker=st.sampled_from(TICKERS),
        side=SIDES,
        bps=PRICE_BPS,
        count=COUNTS,
        kind=ORDER_KINDS,
        stp=STPS,
        expiry=st.one_of(st.none(), st.none(), st.integers(1, 30_000)),
        reuse_id=st.integers(0, 9).map(lambda n: n == 0),
    )
    def place(
        self,
        who: int,
        sub: int,
        ticker: str,
        side: Side,
        bps: int,
        count: int,
        kind: tuple[TimeInForce, bool, bool],
        stp: SelfTradePrevention,
        expiry: int | None,
        reuse_id: bool,
    ) -> None:
        """Any order, including invalid ones."""
        self._place(who, sub, ticker, side, bps, count, kind, stp, expiry, reuse_id)

    @rule(
        who=WHO,
        ticker=st.sampled_from(TICKERS),
        side=SIDES,
        bps=st.integers(5, 80),
        contracts=st.integers(1, 20),
    )
    def quote(self, who: int, ticker: str, side: Side, bps: int, contracts: int) -> None:
        """A GTC order resting just off the mark."""
        signed = -bps if side is Side.BID else bps
        self._place(who, 0, ticker, side, signed, contracts * 100, (GTC, False, False))

    @rule(
        who=WHO,
        ticker=st.sampled_from(TICKERS),
        side=SIDES,
        bps=st.integers(0, 300),
        contracts=st.integers(1, 20),
        reduce_only=st.integers(0, 3).map(lambda n: n == 0),
    )
    def take(
        self, who: int, ticker: str, side: Side, bps: int, contracts: int, reduce_only: bool
    ) -> None:
        """An IOC order priced through the mark."""
        signed = bps if side is Side.BID else -bps
        kind = (IOC, False, reduce_only)
        self._place(who, 0, ticker, side, signed, contracts * 100, kind)

    @rule(who=WHO, ticker=st.sampled_from(TICKERS), side=SIDES)
    def lever_up(self, who: int, ticker: str, side: Side) -> None:
        """A user buys or sells as many contracts (up to 20) as its margin allows."""
        ex = self.ex
        user_id = self.users[who % len(self.users)]
        signed = 150 if side is Side.BID else -150
        for contracts in range(20, 0, -1):
            price = price_near(ex, ticker, signed)
            order = PlaceOrder(ticker, side, price, contracts * 100, self._client_id(), IOC)
            ok, _ = attempt(ex, partial(ex.place_order, user_id, order))
            if ok:
                return

    @rule(pick=PICK, bogus=st.integers(0, 9))
    def cancel(self, pick: int, bogus: int) -> None:
        """Cancel a live order (now and then an unknown id or the wrong subaccount)."""
        ex = self.ex
        record = self._live(pick)
        if record is None or bogus == 0:
            user_id = self.users[pick % len(self.users)]
            ok, _ = attempt(ex, lambda: ex.cancel_order(user_id, "no-such-order"))
            assert not ok
            return
        owner, order_id = record.user_id, record.order_id
        if bogus == 1:
            ok, _ = attempt(ex, lambda: ex.cancel_order(owner, order_id, record.subaccount + 1))
            assert not ok
            return
        ok, result = attempt(ex, lambda: ex.cancel_order(owner, order_id, record.subaccount))
        assert ok, result
        assert record.remaining == 0
        assert order_id not in ex.markets[record.ticker].book

    @rule(
        pick=PICK,
        bps=PRICE_BPS,
        count=COUNTS,
        new_id=st.integers(0, 4),
        expiry=st.one_of(st.none(), st.none(), st.just(0), st.integers(-1, 30_000)),
    )
    def amend(self, pick: int, bps: int, count: int, new_id: int, expiry: int | None) -> None:
        """Amend price, count, client id and expiry (0 clears it, -1 is in the past)."""
        ex = self.ex
        record = self._live(pick)
        if record is None:
            return
        command = AmendOrder(
            record.ticker,
            record.side,
            price_near(ex, record.ticker, bps),
            record.fill_count + count,
            updated_client_order_id=self._client_id() if new_id == 0 else None,
            expiration_ms=expiry if not expiry else ex.now() + expiry,
            subaccount=record.subaccount,
        )
        ok, result = attempt(ex, lambda: ex.amend_order(record.user_id, record.order_id, command))
        if ok:
            assert result.order.count == command.count
            assert result.order.price == command.price

    @rule(pick=PICK, by=st.booleans(), amount=st.integers(0, 20).map(lambda n: n * 100))
    def decrease(self, pick: int, by: bool, amount: int) -> None:
        ex = self.ex
        record = self._live(pick)
        if record is None:
            return
        before = record.remaining
        ok, _ = attempt(
            ex,
            lambda: ex.decrease_order(
                record.user_id,
                record.order_id,
                reduce_by=amount if by else None,
                reduce_to=None if by else amount,
                subaccount=record.subaccount,
            ),
        )
        if ok:
            assert record.remaining == (max(before - amount, 0) if by else amount)

    @rule(
        who=WHO,
        sub=st.one_of(st.none(), PICK),
        ticker=st.one_of(st.none(), st.sampled_from(TICKERS)),
    )
    def cancel_all(self, who: int, sub: int | None, ticker: str | None) -> None:
        ex = self.ex
        user_id = self.users[who % len(self.users)]
        number = None if sub is None else self._sub(user_id, sub)
        ok, cancelled = attempt(ex, lambda: ex.cancel_all(user_id, number, ticker))
        assert ok, cancelled
        for record in ex.live_orders(user_id):
            chosen_sub = number is None or record.subaccount == number
            assert not (chosen_sub and (ticker is None or record.ticker == ticker))

    # accounts

    @rule(who=WHO, sub=PICK, amount=st.integers(-5, 500))
    def deposit(self, who: int, sub: int, amount: int) -> None:
        ex = self.ex
        user_id = self.users[who % len(self.users)]
        number = self._sub(user_id, sub)
        ok, _ = attempt(ex, lambda: ex.deposit(user_id, dollars(amount), number))
        assert ok == (amount > 0)
        if ok:
            self.deposits += dollars(amount)

    @rule(who=WHO)
    def create_subaccount(self, who: int) -> None:
        user_id = self.users[who % len(self.users)]
        if len(self.ex.users[user_id].subaccounts) < 3:
            ok, _ = attempt(self.ex, lambda: self.ex.create_subaccount(user_id))
            assert ok

    @rule(
        who=WHO,
        source=PICK,
        dest=PICK,
        cents=st.integers(-1, 50_000),
        reuse=st.integers(0, 9),
    )
    def transfer(self, who: int, source: int, dest: int, cents: int, reuse: int) -> None:
        ex = self.ex
        user_id = self.users[who % len(self.users)]
        numbers = sorted(self.ex.users[user_id].subaccounts)
        from_sub = numbers[source % len(numbers)]
        others = [n for n in numbers if n != from_sub] or numbers
        to_sub = others[dest % len(others)]
        if reuse == 0 and self.transfer_ids:
            transfer_id = self.transfer_ids[0]
        else:
            transfer_id = f"t-{len(self.transfer_ids)}"
            self.transfer_ids.append(transfer_id)
        amount = cents * 10_000
        attempt(ex, lambda: ex.transfer(user_id, from_sub, to_sub, amount, transfer_id))

    # market and time

    @rule(ticker=st.sampled_from(TICKERS), bps=st.integers(-500, 500), requote=st.booleans())
    def move_reference(self, ticker: str, bps: int, requote: bool) -> None:
        """The index moves up to 5%; the rich user may re-centre its quotes on it."""
        ex = self.ex
        if requote:
            ok, error = attempt(ex, lambda: ex.cancel_all(self.users[0], 0, ticker))
            assert ok, error
        price = reference_near(ex, ticker, bps)
        ok, error = attempt(ex, lambda: ex.set_reference_price(ticker, price))
        assert ok, error
        if requote:
            self._ladder(ticker)

    @rule(who=WHO, bps=st.integers(100, 1_000))
    def squeeze(self, who: int, bps: int) -> None:
        """The market of a user's largest position moves against it and a second passes."""
        ex = self.ex
        user_id = self.users[who % len(self.users)]
        held = [
            (abs(pos.qty) * ex.mark(ticker), ticker, pos.qty)
            for sub in ex.users[user_id].subaccounts.values()
            for ticker, pos in sub.positions.items()
            if pos.qty
        ]
        if not held:
            return
        _, ticker, qty = max(held)
        self.move_reference(ticker, -bps if qty > 0 else bps, True)
        ex.advance(1_000)

    @rule(ms=st.one_of(st.integers(0, 20_000), st.sampled_from([0, 999, 1_000, 1_001])))
    def advance(self, ms: int) -> None:
        before = self.ex.now()
        assert self.ex.advance(ms) == before + ms == self.ex.now()

    @rule(ticker=st.sampled_from(TICKERS), skew=st.integers(-300, 300))
    def advance_to_funding(self, ticker: str, skew: int) -> None:
        """The index leaves the book (a premium), then time jumps past the next funding."""
        ex = self.ex
        self.move_reference(ticker, skew, False)
        due = ex.pricing.next_funding_ms(ex.markets[ticker])
        ex.advance(due - ex.now() + 1)
        assert ex.markets[ticker].funding_history[-1].funding_time_ms == due

    # checks

    @invariant()
    def exchange_is_consistent(self) -> None:
        check_invariants(self.ex, self.deposits)
        self.watcher.check()


ExchangeMachine.TestCase.settings = budget(
    50, stateful_step_count=50, suppress_health_check=[HealthCheck.too_slow]
)
TestExchangeMachine = ExchangeMachine.TestCase


# --------------------------------------------------------------- determinism


def _replay(seed: int, commands: list[tuple[object, ...]]) -> Exchange:
    ex = make_exchange(static=False, seed=seed)
    users = [
        ex.create_user(balance=dollars(amount)).user_id for amount in (20_000, 500, 40)[:USERS]
    ]
    for n, command in enumerate(commands):
        apply_command(ex, users, command, n)
    return ex


@budget(25)
@given(seed=st.integers(0, 2**32), commands=COMMANDS)
def test_exchange_same_seed_and_commands_identical_state_and_journal(
    seed: int, commands: list[tuple[object, ...]]
) -> None:
    first = _replay(seed, commands)
    second = _replay(seed, commands)

    assert state_hash(first) == state_hash(second)
    assert msgspec.json.encode(first.events_since(0)) == msgspec.json.encode(second.events_since(0))


# --------------------------------------------------------------- liquidation

QUOTE_BPS = (5, 15, 30, 60, 100)


def _quote(ex: Exchange, maker: str, ticker: str, levels: int, size: int, tag: str) -> None:
    """The maker rests `levels` bids and asks of `size` contracts around the mark.

    After a gap, the price band may refuse quotes far from orders left on the book.
    """
    for i, bps in enumerate(QUOTE_BPS[:levels]):
        for side, signed in ((Side.BID, -bps), (Side.ASK, bps)):
            order = PlaceOrder(
                ticker, side, price_near(ex, ticker, signed), size * 100, f"{tag}-{side}-{i}"
            )
            ok, error = attempt(ex, partial(ex.place_order, maker, order))
            assert ok or isinstance(error, InvalidPriceError), error


@budget(60, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(
    ticker=st.sampled_from(TICKERS),
    long=st.booleans(),
    balance=st.integers(5, 60),
    contracts=st.integers(1, 60),
    resting=st.lists(
        st.tuples(st.sampled_from(TICKERS), SIDES, st.integers(300, 1_500), st.integers(1, 5)),
        max_size=4,
    ),
    move_bps=st.integers(200, 4_000),
    levels_after=st.sampled_from([5, 5, 3, 1, 0]),
    size_after=st.sampled_from([60, 20, 5, 1]),
    later_ms=st.integers(0, 10_000),
    extra_move_bps=BPS,
)
def test_liquidation_single_position_account_finishes_clean(
    ticker: str,
    long: bool,
    balance: int,
    contracts: int,
    resting: list[tuple[str, Side, int, int]],
    move_bps: int,
    levels_after: int,
    size_after: int,
    later_ms: int,
    extra_move_bps: int,
) -> None:
    # the maker's deep quotes and what it takes over stay within its notional limit
    ex = make_exchange(static=True, default_notional_limit=dollars(100_000))
    watcher = LiquidationWatcher(ex)
    maker = ex.create_user(balance=dollars(20_000)).user_id
    victim = ex.create_user(balance=dollars(balance)).user_id
    deposits = dollars(20_000 + balance)
    _quote(ex, maker, ticker, 5, 20, "open")

    # the victim opens one position (as large as its margin allows, up to `contracts`)
    side = Side.BID if long else Side.ASK
    opened = 0
    for n in range(contracts, 0, -1):
        order = PlaceOrder(
            ticker, side, price_near(ex, ticker, 150 if long else -150), n * 100, f"open-{n}", IOC
        )
        ok, result = attempt(ex, partial(ex.place_order, victim, order))
        if ok and result.fill_count:
            opened = result.fill_count
            break
    assume(opened)
    # ... and rests orders away from the market (some may be refused for margin)
    for i, (where, order_side, bps, count) in enumerate(resting):
        signed = -bps if order_side is Side.BID else bps
        order = PlaceOrder(where, order_side, price_near(ex, where, signed), count * 100, f"r{i}")
        attempt(ex, partial(ex.place_order, victim, order))
    check_invariants(ex, deposits)

    # the market gaps against the victim; the maker re-quotes around the new price
    attempt(ex, lambda: ex.cancel_all(maker))
    adverse = -move_bps if long else move_bps
    ex.set_reference_price(ticker, reference_near(ex, ticker, adverse))
    _quote(ex, maker, ticker, levels_after, size_after, "after")
    ex.advance(1_000)
    ex.set_reference_price(ticker, reference_near(ex, ticker, extra_move_bps))
    ex.advance(later_ms)

    check_invariants(ex, deposits)
    watcher.check()
    key = (victim, 0)
    risk = ex.subaccount_risk(*key)
    position = ex.users[victim].subaccounts[0].positions[ticker].qty
    started = [
        e
        for _, e in ex.events_since(0)
        if type(e) is LiquidationStep and (e.user_id, e.subaccount) == key and e.stage == "started"
    ]
    if position and risk.at_or_above(ex.config.liquidation_threshold):
        assert started, "an account at the liquidation threshold was never liquidated"
        assert ex.liquidator.state(key) == "liquidating"


def test_liquidation_gap_beyond_bankruptcy_records_deficit() -> None:
    ex = make_exchange(static=True)
    watcher = LiquidationWatcher(ex)
    maker = ex.create_user(balance=dollars(20_000)).user_id
    victim = ex.create_user(balance=dollars(10)).user_id
    ticker = "KXBTCPERP"
    _quote(ex, maker, ticker, 5, 20, "open")
    order = PlaceOrder(ticker, Side.BID, price_near(ex, ticker, 100), 900, "open", IOC)
    assert ex.place_order(victim, order).fill_count == 900

    ex.cancel_all(maker)
    ex.set_reference_price(ticker, reference_near(ex, ticker, -3_000))
    _quote(ex, maker, ticker, 5, 20, "after")
    ex.advance(1_000)

    watcher.check()
    check_invariants(ex, dollars(20_010))
    sub = ex.users[victim].subaccounts[0]
    assert sub.positions[ticker].qty == 0
    assert sub.cash < 0
    assert ex.waterfall_deficit == -sub.cash
    assert (watcher.finished, watcher.deficits) == (1, 1)
