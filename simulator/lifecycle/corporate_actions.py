"""Corporate actions for equity-style perps (MECHANICS.md 8.2): notices and their application.

`CorporateActions` keeps the `MarginCorporateAction` notices of the exchange (what
`GET /margin/corporate_actions` lists), arms a timer at each notice's execution time and applies
the action to the market when it fires:

- `cash_dividend`, `special_dividend`, `spin_off`: every holder's cash moves by
  `q x cash_per_contract` (longs receive, shorts pay);
- `stock_split`: resting orders are cancelled, positions scale by `ratio_new / ratio_old` at an
  unchanged cost, prices scale by `ratio_old / ratio_new`, `market_version` is bumped;
- `final_settlement`: orders are cancelled, every position is closed at
  `settlement_price_per_contract` (realized PnL into cash, no fee), the market closes;
- `ticker_change`: the market is renamed everywhere the exchange keys by ticker, positions and
  resting orders are kept, `market_version` is bumped.

Units: money in micro-dollars, prices in ticks of $0.0001, counts in 1/100 contract, times in
epoch milliseconds. The `*_per_contract` amounts are what clearing computes (MECHANICS 8.2);
when a notice gives only the per-share amount, the per-contract one is derived from
`contract_size x underlying_multiplier` shares per contract.

Assumption: while an action applies, `corporate_action` is added to the market's
`halt_sources` (a `MarketChanged` with reason `corporate_action` is emitted) and removed
afterwards (a second `MarketChanged`); application is instantaneous in simulated time, so no
command can run while the halt is in force. The halt is a pause: resting orders of the market
with `cancel_order_on_pause` are cancelled (MECHANICS 1.4). A final settlement leaves
`corporate_action` in `halt_sources` of the closed market as the reason it stopped.
Assumption: cash payments round to $0.0001 like funding (MECHANICS 9 #13): receivers toward
zero, payers away from zero; the house pays or keeps the residue so money is conserved.
Assumption: split and final-settlement cancellations report `last_update_reason` "" like the
exchange's pause cancellations (there is no dedicated reason code).
Assumption: a split also cancels the market's live exit triggers (`user_canceled`, the only
cancel reason that fits): their prices and counts are pre-split and a halved mark would fire
every long stop loss.
Assumption: a split that leaves a position with a non-whole count (count step: one contract,
or 1/100 contract with fractional trading) rounds it toward zero and cashes the fraction out at
the post-split reference price ("cash in lieu"), with the house as counterparty; the position
keeps the pro-rata share of its cost. Only reverse or uneven splits can produce fractions. The
house's side of those fractions is not booked as a position: later cash actions and a final
settlement charge the house for any long/short imbalance so money stays conserved.
Assumption: the settlement mark's history restarts at a split (its 60 s window would otherwise
mix pre- and post-split marks) and the last trade price is rescaled with the reference.
Assumption: a notice whose market is closed when it comes due is `lapsed` (also a ticker change
whose new ticker has been taken meanwhile). Other notices of a market a final settlement closes
lapse at their own execution time.
Assumption: a cancelled notice carries no terms and no execution time (openapi description).
Assumption: on a ticker change, scheduled notices of the market follow it to the new ticker;
applied, cancelled and lapsed ones keep the ticker they had. Trades, fills, order records and
funding history of the market are rewritten to the new ticker so ticker queries keep their
history; journal events published before the change keep the old ticker.
Assumption: without `ex_date` the notice's ex-date is the UTC date of its execution time.

Renaming goes through `Exchange.rename_market`, position bookkeeping through
`Exchange.executions` (`update_open_interest`, `track_holder`).
"""

from __future__ import annotations

import builtins
import dataclasses
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from fractions import Fraction
from functools import partial
from typing import ClassVar, Literal, get_args

from matching import Reason
from simulator.core import errors
from simulator.core.commands import command
from simulator.core.events import BalanceChanged, MarketChanged
from simulator.core.money import CENTICENT, COUNT_SCALE
from simulator.model.market_data import MarketData
from simulator.model.marks import SettlementMark
from simulator.model.orders import OrderRecord
from simulator.ports import Desk, Holders, MarketRenamer, Resampler, TriggerScopes, Wiring
from simulator.risk.indexes import MarketIndex
from simulator.state import AccountKey

__all__ = [
    "CASH_TYPES",
    "ActionStatus",
    "ActionType",
    "CashTerms",
    "CorporateAction",
    "CorporateActionNotFoundError",
    "CorporateActionPayment",
    "CorporateActions",
    "FinalSettlementTerms",
    "SplitTerms",
    "TickerChangeTerms",
]

ActionType = Literal[
    "cash_dividend",
    "special_dividend",
    "spin_off",
    "stock_split",
    "final_settlement",
    "ticker_change",
]
ActionStatus = Literal["scheduled", "cancelled", "applied", "lapsed"]

CASH_TYPES: frozenset[str] = frozenset({"cash_dividend", "special_dividend", "spin_off"})
_TYPES: frozenset[str] = frozenset(get_args(ActionType))
_HALT = "corporate_action"
_REASON = "corporate_action"
_WINDOW_MS = 7 * 86_400_000
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MAX_AMOUNT = 10**15


class CorporateActionNotFoundError(errors.RejectError):
    """No corporate action notice with that id."""

    code = "not_found"
    http_status = 404
    default_message = "corporate action not found"


@dataclass(frozen=True, slots=True)
class CashTerms:
    """Terms of `cash_dividend`, `special_dividend` and `spin_off` (micro-dollars)."""

    cash_per_share: int | None
    cash_per_contract: int
    ex_date: str


@dataclass(frozen=True, slots=True)
class SplitTerms:
    """Terms of `stock_split`: `ratio_old` old shares become `ratio_new` new ones."""

    ratio_old: int
    ratio_new: int
    ex_date: str


@dataclass(frozen=True, slots=True)
class FinalSettlementTerms:
    """Terms of `final_settlement` (prices in ticks)."""

    reason: str
    settlement_price_per_share: int | None
    settlement_price_per_contract: int


@dataclass(frozen=True, slots=True)
class TickerChangeTerms:
    """Terms of `ticker_change`."""

    old_ticker: str
    new_ticker: str


Terms = CashTerms | SplitTerms | FinalSettlementTerms | TickerChangeTerms


@dataclass(frozen=True, slots=True)
class CorporateAction:
    """One notice (MarginCorporateAction in integer units).

    Attributes:
        id: Stable notice id.
        market_id: The market's stable id.
        market_ticker: The market's ticker (see the module's ticker-change assumption).
        type: One of `ActionType`.
        status: `scheduled`, `cancelled`, `applied` or `lapsed`.
        updated_ms: Last change of the notice (wire `updated_ts`).
        execution_ms: When it applies (wire `execution_time`); None once cancelled.
        cash, split, final_settlement, ticker_change: Exactly one is set, matching `type`,
            unless the notice is cancelled (then none).
    """

    id: str
    market_id: str
    market_ticker: str
    type: ActionType
    status: ActionStatus
    updated_ms: int
    execution_ms: int | None
    cash: CashTerms | None = None
    split: SplitTerms | None = None
    final_settlement: FinalSettlementTerms | None = None
    ticker_change: TickerChangeTerms | None = None

    @property
    def terms(self) -> Terms | None:
        """The one terms object of the notice, or None when cancelled."""
        return self.cash or self.split or self.final_settlement or self.ticker_change


@dataclass(frozen=True, slots=True)
class CorporateActionPayment:
    """What an applied action did to one subaccount (Klear CorporateActionPaymentDetail).

    Attributes:
        payment_amount: Cash credited (negative: debited), micro-dollars; for a final
            settlement the realized PnL; for a split the cash in lieu of a fraction (its share
            of the cost leaves the position, so the balance moves by the difference).
        payment_ms: When the cash moved; None for a split without a fraction.
        pre_split_price, post_split_price: Reference prices (ticks) around a split.
    """

    action_id: str
    user_id: str
    subaccount: int
    market_ticker: str
    position_before: int
    position_after: int
    payment_amount: int
    payment_ms: int | None
    pre_split_price: int | None = None
    post_split_price: int | None = None


_Actions = list[CorporateAction]
_Payments = list[CorporateActionPayment]


@dataclass(frozen=True, slots=True)
class CorporateActionPorts:
    """What applying a corporate action calls on the rest of the exchange."""

    holders: Holders
    pricing: Resampler
    triggers: TriggerScopes
    renamer: MarketRenamer
    markets: MarketIndex


class CorporateActions(Desk):
    """Scheduled corporate actions and their application.

    Args:
        exchange: The exchange whose markets and accounts the actions change.
    """

    _TIMER: ClassVar[str] = "corporate_action"

    def __init__(self, wiring: Wiring, ports: CorporateActionPorts) -> None:
        super().__init__(wiring)
        self._executions = ports.holders
        self._pricing = ports.pricing
        self._triggers = ports.triggers
        self._renamer = ports.renamer
        self._markets = ports.markets
        self._actions: dict[str, CorporateAction] = {}
        self._payments: list[CorporateActionPayment] = []

    # ------------------------------------------------------------------ commands

    @command("corporate_actions.schedule", fires_due_nested=True)
    def schedule(
        self,
        ticker: str,
        action_type: str,
        *,
        execution_ms: int,
        cash_per_share: int | None = None,
        cash_per_contract: int | None = None,
        ex_date: str | None = None,
        ratio_old: int | None = None,
        ratio_new: int | None = None,
        reason: str | None = None,
        settlement_price_per_share: int | None = None,
        settlement_price_per_contract: int | None = None,
        new_ticker: str | None = None,
    ) -> CorporateAction:
        """Announce an action on a market and arm it for `execution_ms`.

        Only the terms of `action_type` may be given: cash types take `cash_per_share` and/or
        `cash_per_contract` (micro-dollars, positive) and `ex_date`; `stock_split` takes
        `ratio_old`, `ratio_new` (positive, different) and `ex_date`; `final_settlement` takes
        `reason` and `settlement_price_per_share` and/or `settlement_price_per_contract` (ticks,
        >= 0); `ticker_change` takes `new_ticker`. A missing per-contract amount is derived
        from the per-share one (rounded half to even to a micro-dollar, or to the market's tick).

        Returns:
            The `scheduled` notice.

        Raises:
            MarketNotFoundError: Unknown ticker.
            InvalidParametersError: Closed market, execution not in the future, unknown type,
                or terms that are missing, invalid or belong to another type.
        """
        data = self._accounts.market_data(ticker)
        spec = data.market.spec
        now = self._fx.now()
        if action_type not in _TYPES:
            raise errors.InvalidParametersError(f"unknown corporate action type {action_type!r}")
        if data.market.status == "closed":
            raise errors.InvalidParametersError(f"market {ticker} is closed")
        _check_int(execution_ms, "execution_ms")
        if execution_ms <= now:
            raise errors.InvalidParametersError(
                f"execution_ms must be in the future, was {execution_ms} (now {now})"
            )
        given = {
            name
            for name, value in (
                ("cash_per_share", cash_per_share),
                ("cash_per_contract", cash_per_contract),
                ("ex_date", ex_date),
                ("ratio_old", ratio_old),
                ("ratio_new", ratio_new),
                ("reason", reason),
                ("settlement_price_per_share", settlement_price_per_share),
                ("settlement_price_per_contract", settlement_price_per_contract),
                ("new_ticker", new_ticker),
            )
            if value is not None
        }
        allowed = _ALLOWED_TERMS["cash" if action_type in CASH_TYPES else action_type]
        extra = sorted(given - allowed)
        if extra:
            raise errors.InvalidParametersError(f"{action_type} does not take {', '.join(extra)}")
        shares = Fraction(spec.contract_size) * Fraction(spec.underlying_multiplier)
        cash = split = settlement = change = None
        if action_type in CASH_TYPES:
            per_contract = _cash_per_contract(cash_per_share, cash_per_contract, shares)
            cash = CashTerms(cash_per_share, per_contract, _ex_date(ex_date, execution_ms))
        elif action_type == "stock_split":
            old = _positive(ratio_old, "ratio_old")
            new = _positive(ratio_new, "ratio_new")
            if old == new:
                raise errors.InvalidParametersError("ratio_old and ratio_new must differ")
            split = SplitTerms(old, new, _ex_date(ex_date, execution_ms))
        elif action_type == "final_settlement":
            if not isinstance(reason, str) or not reason.strip():
                raise errors.InvalidParametersError("final_settlement needs a reason")
            price = _settlement_price(
                settlement_price_per_share, settlement_price_per_contract, shares, spec.tick
            )
            settlement = FinalSettlementTerms(reason, settlement_price_per_share, price)
        else:
            change = TickerChangeTerms(ticker, self._check_new_ticker(ticker, new_ticker))
        action = CorporateAction(
            id=self._state.ids.uuid(),
            market_id=spec.market_id,
            market_ticker=ticker,
            type=action_type,  # type: ignore[arg-type]
            status="scheduled",
            updated_ms=now,
            execution_ms=execution_ms,
            cash=cash,
            split=split,
            final_settlement=settlement,
            ticker_change=change,
        )
        self._actions[action.id] = action
        self._state.timers.arm(
            (self._TIMER, action.id), execution_ms, partial(self._execute_due, action.id)
        )
        return action

    @command("corporate_actions.cancel", fires_due_nested=True)
    def cancel(self, action_id: str) -> CorporateAction:
        """Withdraw a scheduled notice: it becomes `cancelled` and never applies.

        Raises:
            CorporateActionNotFoundError: Unknown id.
            InvalidParametersError: The notice is no longer scheduled.
        """
        action = self.get(action_id)
        if action.status != "scheduled":
            raise errors.InvalidParametersError(
                f"corporate action {action_id} is {action.status}, not scheduled"
            )
        self._state.timers.cancel((self._TIMER, action_id))
        return self._store(
            action,
            status="cancelled",
            execution_ms=None,
            cash=None,
            split=None,
            final_settlement=None,
            ticker_change=None,
        )

    # -------------------------------------------------------------------- reads

    def get(self, action_id: str) -> CorporateAction:
        """A notice by id (any status).

        Raises:
            CorporateActionNotFoundError: Unknown id.
        """
        action = self._actions.get(action_id)
        if action is None:
            raise CorporateActionNotFoundError(details=action_id)
        return action

    def list(
        self,
        now_ms: int | None = None,
        *,
        ticker: str | None = None,
        market_id: str | None = None,
    ) -> _Actions:
        """`GET /margin/corporate_actions`: scheduled notices and those updated in 7 days.

        Args:
            now_ms: The instant the window ends at (default: the exchange's clock).
            ticker: Only notices whose `market_ticker` is this.
            market_id: Only notices of this market.

        Returns:
            The notices ordered by `updated_ms`, newest last (ties in creation order).
        """
        now = self._fx.now() if now_ms is None else now_ms
        since = now - _WINDOW_MS
        chosen = [
            a
            for a in self._actions.values()
            if (a.status == "scheduled" or a.updated_ms >= since)
            and (ticker is None or a.market_ticker == ticker)
            and (market_id is None or a.market_id == market_id)
        ]
        return sorted(chosen, key=lambda a: a.updated_ms)

    def payments(self, action_id: str | None = None, user_id: str | None = None) -> _Payments:
        """Per-subaccount effects of applied actions, in application order."""
        return [
            p
            for p in self._payments
            if (action_id is None or p.action_id == action_id)
            and (user_id is None or p.user_id == user_id)
        ]

    # -------------------------------------------------------------- application

    def _execute_due(self, action_id: str, _due: int) -> None:
        # the execution timer (a bound method, not a closure: snapshots pickle timers)
        self._execute(action_id)

    def _execute(self, action_id: str) -> None:
        action = self._actions[action_id]
        if action.status != "scheduled":
            return
        data = self._markets.get(action.market_id)
        change = action.ticker_change
        if (
            data is None
            or data.market.status == "closed"
            or (change is not None and change.new_ticker in self._state.markets)
        ):
            self._store(action, status="lapsed")
            return
        added = self._halt(data)
        if action.cash is not None:
            self._apply_cash(action, data, action.cash)
        elif action.split is not None:
            self._apply_split(action, data, action.split)
        elif action.final_settlement is not None:
            self._apply_final_settlement(action, data, action.final_settlement)
        elif change is not None:
            self._apply_ticker_change(data, change)
        if added and action.final_settlement is None:
            data.market.halt_sources.remove(_HALT)
        self._emit_market(data)
        self._store(action, status="applied")

    def _halt(self, data: MarketData) -> bool:
        # add the halt source, announce it and cancel the orders that do not survive a pause
        market = data.market
        added = _HALT not in market.halt_sources
        if added:
            market.halt_sources.append(_HALT)
        self._emit_market(data)
        self._entry.cancel_orders(
            [r for r in self._live_orders(data.ticker) if r.cancel_order_on_pause], Reason.NONE
        )
        return added

    def _apply_cash(self, action: CorporateAction, data: MarketData, terms: CashTerms) -> None:
        now = self._fx.now()
        ticker = data.ticker
        for key in list(self._state.holders[ticker]):
            sub = self._state.users[key[0]].subaccounts[key[1]]
            qty = sub.positions[ticker].qty
            # floor to $0.0001: receivers round toward zero, payers away from zero
            amount = qty * terms.cash_per_contract // (COUNT_SCALE * CENTICENT) * CENTICENT
            self._pay(key, amount)
            self._payments.append(
                CorporateActionPayment(action.id, *key, ticker, qty, qty, amount, now)
            )

    def _apply_split(self, action: CorporateAction, data: MarketData, terms: SplitTerms) -> None:
        now = self._fx.now()
        ticker = data.ticker
        spec = data.market.spec
        ratio = Fraction(terms.ratio_new, terms.ratio_old)
        self._entry.cancel_orders(self._live_orders(ticker), Reason.NONE)
        self._cancel_exit_triggers(ticker)
        before_price = _price_of(data)
        after_price = None if before_price is None else _to_tick(before_price / ratio, spec.tick)
        step = spec.count_step
        for key in list(self._state.holders[ticker]):
            sub = self._state.users[key[0]].subaccounts[key[1]]
            pos = sub.positions[ticker]
            qty, cost = pos.qty, pos.cost
            exact = qty * ratio
            whole = int(exact / step) * step  # toward zero
            fraction = exact - whole
            amount = 0
            if fraction:
                kept = _round_to_centicent(cost * whole / exact)
                if after_price is None:  # no price at all: cash the fraction out at cost
                    amount = cost - kept
                else:
                    amount = _floor_to_centicent(fraction * after_price)
                pos.cost = kept
                self._state.house_cash -= amount
                realized = amount - (cost - kept)
                if realized:
                    sub.cash += realized
                    self._fx.emit(BalanceChanged(now, *key, realized, sub.cash, _REASON))
            pos.qty = whole
            if whole == 0:
                pos.cost = 0
                pos.fees = 0
            self._executions.update_open_interest(data, qty, whole)
            self._executions.track_holder(ticker, key, whole)
            self._fx.touch(key)
            self._payments.append(
                CorporateActionPayment(
                    action.id,
                    *key,
                    ticker,
                    qty,
                    whole,
                    amount,
                    now if fraction else None,
                    before_price,
                    after_price,
                )
            )
        if after_price is not None:
            data.feed.set_price(now, after_price)
        if data.last_price is not None:
            data.last_price = _to_tick(data.last_price / ratio, spec.tick)
        old_marks = data.settlement
        data.settlement = SettlementMark(
            window_ms=old_marks.window_ms, refresh_ms=old_marks.refresh_ms
        )
        self._pricing.sample_now(data)
        if data.mark is not None and data.settlement.liquidation_mark is None:
            data.settlement.record(now, data.mark)
        data.market.market_version += 1

    def _apply_final_settlement(
        self, action: CorporateAction, data: MarketData, terms: FinalSettlementTerms
    ) -> None:
        now = self._fx.now()
        ticker = data.ticker
        price = terms.settlement_price_per_contract
        self._entry.cancel_orders(self._live_orders(ticker), Reason.NONE)
        net = 0
        for key in list(self._state.holders[ticker]):
            sub = self._state.users[key[0]].subaccounts[key[1]]
            pos = sub.positions[ticker]
            qty = pos.qty
            net += qty
            realized = pos.apply_fill(-qty, price, 0).realized
            self._executions.update_open_interest(data, qty, 0)
            self._executions.track_holder(ticker, key, 0)
            self._pay(key, realized, house=False)
            self._payments.append(
                CorporateActionPayment(action.id, *key, ticker, qty, 0, realized, now)
            )
        # longs and shorts net out unless split fractions left the house a side
        self._state.house_cash -= net * price
        data.market.status = "closed"

    def _apply_ticker_change(self, data: MarketData, terms: TickerChangeTerms) -> None:
        old, new = terms.old_ticker, terms.new_ticker
        self._renamer.rename_market(old, new)
        for action in list(self._actions.values()):
            if action.market_id == data.market.spec.market_id and action.status == "scheduled":
                self._actions[action.id] = dataclasses.replace(action, market_ticker=new)
        data.market.market_version += 1
        for key in list(self._state.holders[new]):
            self._fx.touch(key)

    # ---------------------------------------------------------------- helpers

    def _pay(self, key: AccountKey, amount: int, *, house: bool = True) -> None:
        if amount == 0:
            return
        sub = self._state.users[key[0]].subaccounts[key[1]]
        sub.cash += amount
        if house:
            self._state.house_cash -= amount
        self._fx.emit(BalanceChanged(self._fx.now(), key[0], key[1], amount, sub.cash, _REASON))
        self._fx.touch(key)

    def _store(self, action: CorporateAction, **changes: object) -> CorporateAction:
        updated = dataclasses.replace(action, updated_ms=self._fx.now(), **changes)  # type: ignore[arg-type]
        self._actions[action.id] = updated
        return updated

    def _emit_market(self, data: MarketData) -> None:
        market = data.market
        self._fx.emit(
            MarketChanged(
                self._fx.now(),
                data.ticker,
                market.status,
                market.market_version,
                tuple(market.halt_sources),
                _REASON,
            )
        )

    def _live_orders(self, ticker: str) -> builtins.list[OrderRecord]:
        return [
            self._state.orders[oid]
            for oid in list(self._state.live_client_ids.values())
            if self._state.orders[oid].ticker == ticker
        ]

    def _cancel_exit_triggers(self, ticker: str) -> None:
        for user_id, user in self._state.users.items():
            for number, sub in user.subaccounts.items():
                if ticker in sub.positions:
                    self._triggers.delete_all(user_id, number, ticker)

    def _check_new_ticker(self, ticker: str, new_ticker: str | None) -> str:
        if not isinstance(new_ticker, str) or not new_ticker or new_ticker.strip() != new_ticker:
            raise errors.InvalidParametersError(f"new_ticker must be a ticker, was {new_ticker!r}")
        if new_ticker == ticker:
            raise errors.InvalidParametersError("new_ticker must differ from the current ticker")
        if new_ticker in self._state.markets:
            raise errors.InvalidParametersError(f"ticker {new_ticker} is already listed")
        for other in self._actions.values():
            change = other.ticker_change
            if other.status == "scheduled" and change is not None:
                if change.new_ticker == new_ticker:
                    raise errors.InvalidParametersError(
                        f"ticker {new_ticker} is the target of scheduled action {other.id}"
                    )
                if change.old_ticker == ticker:
                    raise errors.InvalidParametersError(
                        f"{ticker} already has a scheduled ticker change ({other.id})"
                    )
        return new_ticker


_ALLOWED_TERMS: dict[str, frozenset[str]] = {
    "cash": frozenset({"cash_per_share", "cash_per_contract", "ex_date"}),
    "stock_split": frozenset({"ratio_old", "ratio_new", "ex_date"}),
    "final_settlement": frozenset(
        {"reason", "settlement_price_per_share", "settlement_price_per_contract"}
    ),
    "ticker_change": frozenset({"new_ticker"}),
}


# ----------------------------------------------------------------- validation and arithmetic


def _check_int(value: object, name: str, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise errors.InvalidParametersError(f"{name} must be an integer, was {value!r}")
    if minimum is not None and value < minimum:
        raise errors.InvalidParametersError(f"{name} must be at least {minimum}, was {value}")
    if value > _MAX_AMOUNT:
        raise errors.InvalidParametersError(f"{name} is too large, was {value}")
    return value


def _positive(value: int | None, name: str) -> int:
    if value is None:
        raise errors.InvalidParametersError(f"{name} is required")
    return _check_int(value, name, 1)


def _ex_date(text: str | None, execution_ms: int) -> str:
    if text is None:
        return datetime.fromtimestamp(execution_ms / 1000, tz=UTC).date().isoformat()
    if not isinstance(text, str) or not _ISO_DATE.match(text):
        raise errors.InvalidParametersError(f"ex_date must be YYYY-MM-DD, was {text!r}")
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError as exc:
        raise errors.InvalidParametersError(f"ex_date is not a date: {text!r}") from exc


def _cash_per_contract(per_share: int | None, per_contract: int | None, shares: Fraction) -> int:
    if per_share is None and per_contract is None:
        raise errors.InvalidParametersError("cash_per_share or cash_per_contract is required")
    if per_share is not None:
        _check_int(per_share, "cash_per_share", 1)
    if per_contract is not None:
        return _check_int(per_contract, "cash_per_contract", 1)
    assert per_share is not None
    derived = round(per_share * shares)
    if derived <= 0:
        raise errors.InvalidParametersError("cash_per_contract rounds to zero")
    return derived


def _settlement_price(
    per_share: int | None, per_contract: int | None, shares: Fraction, tick: int
) -> int:
    if per_share is None and per_contract is None:
        raise errors.InvalidParametersError(
            "settlement_price_per_share or settlement_price_per_contract is required"
        )
    if per_share is not None:
        _check_int(per_share, "settlement_price_per_share", 0)
    if per_contract is not None:
        return _check_int(per_contract, "settlement_price_per_contract", 0)
    assert per_share is not None
    return round(per_share * shares / tick) * tick


def _to_tick(price: Fraction | int, tick: int) -> int:
    """Nearest multiple of `tick` (ties to even), at least one tick."""
    return max(round(Fraction(price) / tick) * tick, tick)


def _floor_to_centicent(amount: Fraction) -> int:
    """Round money down to $0.0001: receivers toward zero, payers away from zero."""
    return int(amount // CENTICENT) * CENTICENT


def _round_to_centicent(amount: Fraction) -> int:
    """Nearest multiple of $0.0001, ties away from zero (the ledger's cost rounding)."""
    units = abs(amount) / CENTICENT
    rounded = int(units + Fraction(1, 2))
    return (-rounded if amount < 0 else rounded) * CENTICENT


def _price_of(data: MarketData) -> int | None:
    if data.reference is not None:
        return data.reference[0]
    return data.mark if data.mark is not None else data.last_price
