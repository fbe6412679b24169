"""FCM desk: the subtraders an FCM creates, their initial-margin caps and notional limits.

Every user may act as an FCM (futures commission merchant). The desk is owned by the exchange
(`exchange.fcm`) and keeps:

- subtraders: `create_subtrader` opens a new account whose user id is the subtrader id
  `{fcm_user_id}_{suffix}` (openapi CreateMarginFCMSubtraderRequest). The account starts with
  subaccount 0, no cash and no API key of its own; the FCM manages its risk controls;
- initial-margin caps per subtrader, scoped to the whole subtrader, one market or one asset
  class (`set_im_cap`, `delete_im_cap`, `risk_controls`);
- admin ("Kalshi-set") notional limits of a subtrader: the whole-account limit is the account's
  `member_notional_limit`, market limits are its `notional_limit_overrides`, both of which the
  order checks already enforce (`set_admin_notional_limit`);
- the member-set account notional limit of the caller (`set_member_notional_limit`,
  `clear_member_notional_limit`): it is `User.member_notional_limit`, so
  `GET /margin/notional_risk_limit` and the order checks follow it. Lowering it cancels resting
  orders (`MarginCancel`), newest first, while that brings the account's usage down, until the
  usage is within the limit (MECHANICS 3.5 and 9 #20).

Money is integer micro-dollars; caps and limits are whole centicents ($0.0001). Every method
that changes state is a recorded command (`fcm.<method>`, `simulator.core.command_log`).

Assumption: `current_im` of a cap is the worst-side initial margin (positions plus resting
orders, MECHANICS 3.4) of the subtrader's positions inside the cap's scope, over all its
subaccounts.
Assumption: the simulator models no Kalshi-set whole-account limit for a member, so a member-set
limit has no ceiling and the effective account limit is the member-set one.
IM caps are enforced by order entry (`check_im_caps`, called from the margin check): an order
whose worst-side IM increase would take the initial margin inside any cap's scope above the cap
is refused with `insufficient_balance` (the documented "risk limit breach or insufficient
margin" reason). Orders that do not add margin, and liquidation orders, are never refused.
Deviation: `require_category_cap` is recorded and reported but not enforced (its effect on
order entry is undocumented).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from matching import Reason, Side
from simulator.core import errors
from simulator.core.commands import command
from simulator.core.money import CENTICENT
from simulator.model.ledger import User
from simulator.model.orders import OrderRecord
from simulator.model.risk import market_usage, position_risk
from simulator.ports import Desk, Wiring

__all__ = [
    "ASSET_CLASSES",
    "FcmDesk",
    "ImCapView",
    "NotionalLimitRow",
    "RiskControlsView",
    "Subtrader",
    "SubtraderExistsError",
    "SubtraderNotFoundError",
    "risk_control_scope",
]

ASSET_CLASSES: Final = (
    "Crypto",
    "Equities",
    "Metals",
    "FX",
    "Energy",
    "Indices",
    "Rates",
    "Compute",
    "GPU",
)
"""FCMAssetClass: the asset classes an IM cap can be scoped to."""

_SUFFIX = re.compile(r"[A-Za-z0-9]{1,16}")

Scope = tuple[str | None, str | None]
"""(market_ticker, asset_class) of an IM cap; (None, None) is the whole subtrader."""


class SubtraderExistsError(errors.RejectError):
    code = "subtrader_already_exists"
    http_status = 409
    default_message = "subtrader already exists"


class SubtraderNotFoundError(errors.RejectError):
    code = "not_found"
    http_status = 404
    default_message = "subtrader not found"


class RiskControlNotFoundError(errors.RejectError):
    code = "not_found"
    http_status = 404
    default_message = "risk control not found"


@dataclass(slots=True)
class Subtrader:
    """A subtrader account an FCM created, and the IM caps set on it."""

    subtrader_id: str
    fcm_user_id: str
    require_category_cap: bool
    created_ms: int
    im_caps: dict[Scope, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ImCapView:
    """FCMSubtraderRiskControls: one cap and the initial margin inside its scope."""

    subtrader_id: str
    market_ticker: str | None
    asset_class: str | None
    im_cap: int
    current_im: int


@dataclass(frozen=True, slots=True)
class NotionalLimitRow:
    """FCMSubtraderNotionalRiskLimit: an admin notional limit and the usage it bounds."""

    subtrader_id: str
    market_ticker: str | None
    limit: int
    current_notional: int


@dataclass(frozen=True, slots=True)
class RiskControlsView:
    """GetFCMSubtraderRiskControlsResponse."""

    risk_controls: list[ImCapView]
    notional_limits: list[NotionalLimitRow]


def risk_control_scope(market_ticker: str | None, asset_class: str | None) -> Scope:
    """The scope of a cap request: whole subtrader, one market or one asset class.

    >>> risk_control_scope(None, "Crypto")
    (None, 'Crypto')
    """
    if market_ticker is not None and asset_class is not None:
        raise errors.InvalidParametersError("market_ticker and asset_class are mutually exclusive")
    if market_ticker is not None and not market_ticker:
        raise errors.InvalidParametersError("market_ticker must not be empty")
    if asset_class is not None and asset_class not in ASSET_CLASSES:
        raise errors.InvalidParametersError(f"unknown asset_class {asset_class!r}")
    return (market_ticker, asset_class)


def _check_amount(value: int, name: str) -> None:
    if type(value) is not int or value < 0 or value % CENTICENT:
        raise errors.InvalidParametersError(
            f"{name} must be a non-negative amount with at most 4 decimals"
        )


class FcmDesk(Desk):
    """Subtraders, IM caps and notional limits of every FCM on one exchange."""

    def __init__(self, wiring: Wiring) -> None:
        super().__init__(wiring)
        self.subtraders: dict[str, Subtrader] = {}

    # ------------------------------------------------------------ subtraders

    @command("fcm.create_subtrader")
    def create_subtrader(
        self, fcm_user_id: str, suffix: str, require_category_cap: bool
    ) -> Subtrader:
        """POST /margin/fcm/subtraders: open the account `{fcm_user_id}_{suffix}`."""
        self._accounts.user(fcm_user_id)
        if not isinstance(suffix, str) or _SUFFIX.fullmatch(suffix) is None:
            raise errors.InvalidParametersError(
                f"subtrader_suffix must be 1-16 letters or digits, was {suffix!r}"
            )
        if type(require_category_cap) is not bool:
            raise errors.InvalidParametersError("require_category_cap must be a boolean")
        subtrader_id = f"{fcm_user_id}_{suffix}"
        if subtrader_id in self._state.users or subtrader_id in self.subtraders:
            raise SubtraderExistsError(details=subtrader_id)
        self._state.users[subtrader_id] = User(subtrader_id)
        found = Subtrader(subtrader_id, fcm_user_id, require_category_cap, self._fx.now())
        self.subtraders[subtrader_id] = found
        return found

    def subtrader(self, fcm_user_id: str, subtrader_id: str) -> Subtrader:
        """The FCM's subtrader; another FCM's or an unknown id is `SubtraderNotFoundError`."""
        found = self.subtraders.get(subtrader_id)
        if found is None or found.fcm_user_id != fcm_user_id:
            raise SubtraderNotFoundError(details=subtrader_id)
        return found

    def subtraders_of(self, fcm_user_id: str) -> list[Subtrader]:
        """The FCM's subtraders in creation order."""
        return [s for s in self.subtraders.values() if s.fcm_user_id == fcm_user_id]

    # --------------------------------------------------------------- IM caps

    @command("fcm.set_im_cap")
    def set_im_cap(
        self,
        fcm_user_id: str,
        subtrader_id: str,
        im_cap: int,
        *,
        market_ticker: str | None = None,
        asset_class: str | None = None,
    ) -> None:
        """PUT /margin/fcm/subtraders/risk_controls: set (or replace) one cap."""
        found = self.subtrader(fcm_user_id, subtrader_id)
        scope = risk_control_scope(market_ticker, asset_class)
        if market_ticker is not None:
            self._accounts.market_data(market_ticker)
        _check_amount(im_cap, "im_cap")
        found.im_caps[scope] = im_cap

    @command("fcm.delete_im_cap")
    def delete_im_cap(
        self,
        fcm_user_id: str,
        subtrader_id: str,
        *,
        market_ticker: str | None = None,
        asset_class: str | None = None,
    ) -> None:
        """DELETE /margin/fcm/subtraders/risk_controls: remove the cap of one scope."""
        found = self.subtrader(fcm_user_id, subtrader_id)
        scope = risk_control_scope(market_ticker, asset_class)
        if scope not in found.im_caps:
            raise RiskControlNotFoundError(details=_describe(scope))
        del found.im_caps[scope]

    def risk_controls(
        self,
        fcm_user_id: str,
        subtrader_id: str,
        *,
        market_ticker: str | None = None,
        asset_class: str | None = None,
    ) -> RiskControlsView:
        """GET /margin/fcm/subtraders/risk_controls.

        Caps come whole-subtrader first, then asset classes, then markets (each sorted); the
        filters select caps only. Notional limits: the whole-account one first, then markets.
        """
        found = self.subtrader(fcm_user_id, subtrader_id)
        risk_control_scope(market_ticker, asset_class)
        user = self._accounts.user(subtrader_id)
        caps = []
        for scope in sorted(found.im_caps, key=_scope_order):
            cap_market, cap_class = scope
            if market_ticker is not None and cap_market != market_ticker:
                continue
            if asset_class is not None and cap_class != asset_class:
                continue
            current = self._current_im(user, scope)
            caps.append(
                ImCapView(subtrader_id, cap_market, cap_class, found.im_caps[scope], current)
            )
        usage = self.usage_by_market(user)
        limits = []
        if user.member_notional_limit is not None:
            total = sum(usage.values())
            limits.append(NotionalLimitRow(subtrader_id, None, user.member_notional_limit, total))
        for ticker, limit in sorted(user.notional_limit_overrides.items()):
            limits.append(NotionalLimitRow(subtrader_id, ticker, limit, usage.get(ticker, 0)))
        return RiskControlsView(caps, limits)

    @command("fcm.set_admin_notional_limit")
    def set_admin_notional_limit(
        self, subtrader_id: str, limit: int | None, *, market_ticker: str | None = None
    ) -> None:
        """Set (or clear with None) a Kalshi-set notional limit of a subtrader (control plane).

        Without `market_ticker` it is the whole-account limit, else that market's limit.
        """
        if subtrader_id not in self.subtraders:
            raise SubtraderNotFoundError(details=subtrader_id)
        if market_ticker is not None:
            self._accounts.market_data(market_ticker)
        if limit is not None:
            _check_amount(limit, "notional limit")
        user = self._accounts.user(subtrader_id)
        if market_ticker is None:
            user.member_notional_limit = limit
        elif limit is None:
            user.notional_limit_overrides.pop(market_ticker, None)
        else:
            user.notional_limit_overrides[market_ticker] = limit

    # -------------------------------------------------------- notional limits

    @command("fcm.set_member_notional_limit", fires_due_nested=True)
    def set_member_notional_limit(self, user_id: str, limit: int) -> list[str]:
        """PUT /margin/fcm/notional_risk_limit: the member-set limit of `user_id`'s account.

        Returns the ids of the resting orders cancelled to bring usage within the limit.
        """
        user = self._accounts.user(user_id)
        _check_amount(limit, "notional_value_risk_limit")
        user.member_notional_limit = limit
        cancelled = []
        for record in reversed(self._entry.live_orders(user_id)):
            if sum(self.usage_by_market(user).values()) <= limit:
                break
            if self._cancel_lowers_usage(user, record):
                self._entry.cancel_orders([record], Reason.MARGIN_CANCEL)
                cancelled.append(record.order_id)
        return cancelled

    @command("fcm.clear_member_notional_limit")
    def clear_member_notional_limit(self, user_id: str) -> None:
        """DELETE /margin/fcm/notional_risk_limit: drop the member-set limit (orders stay)."""
        self._accounts.user(user_id).member_notional_limit = None

    def usage_by_market(self, user: User) -> dict[str, int]:
        """Notional usage per market over every subaccount (MECHANICS 3.5)."""
        usage: dict[str, int] = {}
        for sub in user.subaccounts.values():
            for ticker, pos in sub.positions.items():
                if not pos.is_empty:
                    usage[ticker] = usage.get(ticker, 0) + market_usage(
                        pos, self._accounts.mark(ticker)
                    )
        return usage

    def check_im_caps(self, user_id: str, ticker: str, increase: int) -> None:
        """Refuse an order adding `increase` of initial margin beyond one of the user's caps."""
        found = self.subtraders.get(user_id)
        if found is None or not found.im_caps:
            return
        asset_class = self._state.markets[ticker].market.spec.asset_class
        user = self._state.users[user_id]
        for scope, cap in found.im_caps.items():
            market, klass = scope
            if market not in (None, ticker) or klass not in (None, asset_class):
                continue
            if self._current_im(user, scope) + increase > cap:
                raise errors.InsufficientBalanceError(
                    details=f"FCM initial-margin cap for {_describe(scope)} would be exceeded"
                )

    # ------------------------------------------------------------- internals

    def _current_im(self, user: User, scope: Scope) -> int:
        cap_market, cap_class = scope
        total = 0
        for sub in user.subaccounts.values():
            for ticker, pos in sub.positions.items():
                if pos.is_empty:
                    continue
                spec = self._state.markets[ticker].market.spec
                if cap_market is not None and ticker != cap_market:
                    continue
                if cap_class is not None and spec.asset_class != cap_class:
                    continue
                total += position_risk(spec, pos, self._accounts.mark(ticker)).worst_initial_margin
        return total

    def _cancel_lowers_usage(self, user: User, record: OrderRecord) -> bool:
        pos = user.subaccounts[record.subaccount].position(record.ticker)
        mark = self._accounts.mark(record.ticker)
        long_side = max(pos.qty, 0) * mark + pos.bid_value
        short_side = max(-pos.qty, 0) * mark + pos.ask_value
        freed = record.remaining * record.price
        if record.side is Side.BID:
            return max(long_side - freed, short_side) < max(long_side, short_side)
        return max(long_side, short_side - freed) < max(long_side, short_side)


def _scope_order(scope: Scope) -> tuple[int, str]:
    market, asset_class = scope
    if market is None and asset_class is None:
        return (0, "")
    if asset_class is not None:
        return (1, asset_class)
    return (2, market or "")


def _describe(scope: Scope) -> str:
    market, asset_class = scope
    if market is not None:
        return f"market_ticker {market}"
    if asset_class is not None:
        return f"asset_class {asset_class}"
    return "subtrader-wide cap"
