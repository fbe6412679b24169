"""Account commands and account math of the exchange (a mixin of `Exchange`).

Users with API keys, subaccounts, deposits and transfers, and each subaccount's risk totals at
the current marks (MECHANICS.md 2.1-2.2, 3.3-3.5).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulator.core import errors
from simulator.core.commands import command
from simulator.core.events import BalanceChanged
from simulator.model.ledger import ApiKey, Subaccount, User
from simulator.model.market_data import MarketData
from simulator.model.risk import SubaccountRisk, position_risk
from simulator.state import ExchangeState

if TYPE_CHECKING:
    from simulator.core.events import Event

__all__ = ["AccountCommands"]


class AccountCommands:
    """Users, subaccounts, cash movements and subaccount risk."""

    state: ExchangeState

    if TYPE_CHECKING:

        def emit(self, event: Event) -> int: ...
        def now(self) -> int: ...
        def touch(self, key: tuple[str, int]) -> None: ...

    @command("create_user")
    def create_user(
        self,
        *,
        user_id: str | None = None,
        api_key_id: str | None = None,
        public_key_pem: str | None = None,
        balance: int = 0,
        notional_limit: int | None = None,
    ) -> User:
        """Register a user with one API key and an optional opening balance on subaccount 0.

        `notional_limit` (money units) replaces the per-market notional risk limit in every
        market for this user, as a Kalshi-set override would (`notional_limit_overrides`).
        """
        # the amounts first: a refused command must not have drawn ids
        if type(balance) is not int or balance < 0:
            raise errors.InvalidParametersError(f"balance must not be negative, was {balance}")
        if notional_limit is not None and (type(notional_limit) is not int or notional_limit <= 0):
            raise errors.InvalidParametersError(
                f"notional_limit must be positive, was {notional_limit}"
            )
        user_id = user_id or self.state.ids.uuid()
        key_id = api_key_id or self.state.ids.uuid()
        if user_id in self.state.users:
            raise errors.InvalidParametersError(f"user {user_id} already exists")
        if key_id in self.state.keys:
            raise errors.InvalidParametersError(f"api key {key_id} already exists")
        user = User(user_id)
        if notional_limit is not None:
            user.notional_limit_overrides = dict.fromkeys(self.state.markets, notional_limit)
        user.api_keys.append(ApiKey(key_id, public_key_pem))
        self.state.users[user_id] = user
        self.state.keys[key_id] = user_id
        if balance:
            self._credit(user, 0, balance, "deposit")
        return user

    def user(self, user_id: str) -> User:
        found = self.state.users.get(user_id)
        if found is None:
            raise errors.UserNotFoundError(details=user_id)
        return found

    def user_for_key(self, key_id: str) -> User | None:
        user_id = self.state.keys.get(key_id)
        return None if user_id is None else self.state.users[user_id]

    def subaccount(self, user_id: str, number: int) -> Subaccount:
        sub = self.user(user_id).subaccounts.get(number)
        if sub is None:
            raise errors.SubaccountNotFoundError(details=f"subaccount {number}")
        return sub

    @command("deposit")
    def deposit(self, user_id: str, amount: int, subaccount: int = 0) -> int:
        """Credit funds; returns the new cash balance."""
        if type(amount) is not int or amount <= 0:
            raise errors.InvalidParametersError(f"amount must be positive, was {amount}")
        self.subaccount(user_id, subaccount)
        return self._credit(self.state.users[user_id], subaccount, amount, "deposit")

    def _credit(self, user: User, number: int, amount: int, reason: str) -> int:
        sub = user.subaccounts[number]
        sub.cash += amount
        self.emit(BalanceChanged(self.now(), user.user_id, number, amount, sub.cash, reason))
        self.touch((user.user_id, number))
        return sub.cash

    @command("create_subaccount")
    def create_subaccount(self, user_id: str) -> int:
        """Open the next numbered subaccount (1-63)."""
        user = self.user(user_id)
        number = len(user.subaccounts)
        if number > self.state.config.max_subaccount:
            raise errors.LimitExceededError("maximum number of subaccounts reached")
        user.subaccounts[number] = Subaccount(number)
        return number

    @command("transfer")
    def transfer(
        self, user_id: str, from_sub: int, to_sub: int, amount: int, client_transfer_id: str
    ) -> None:
        """Move cash between two subaccounts (idempotent on `client_transfer_id`)."""
        user = self.user(user_id)
        if client_transfer_id in user.used_transfer_ids:
            return
        if type(amount) is not int or amount <= 0:
            raise errors.InvalidParametersError(f"amount must be positive, was {amount}")
        if from_sub == to_sub:
            raise errors.InvalidParametersError("from and to subaccounts must differ")
        self.subaccount(user_id, from_sub)
        self.subaccount(user_id, to_sub)
        if amount > self.withdrawable(user_id, from_sub):
            raise errors.InsufficientBalanceError(details="transfer exceeds withdrawable funds")
        user.used_transfer_ids.add(client_transfer_id)
        self._credit(user, from_sub, -amount, "transfer_out")
        self._credit(user, to_sub, amount, "transfer_in")

    @command("instance_transfer")
    def instance_transfer(
        self,
        user_id: str,
        source: str,
        destination: str,
        amount: int,
        client_transfer_id: str | None = None,
    ) -> str:
        """Move cash between the predictions balance and perps subaccount 0; returns its id.

        POST /portfolio/intra_exchange_instance_transfer. Idempotent on `client_transfer_id`
        (the first transfer's id is returned again). Perps funds leaving are limited to what
        is withdrawable.

        Deviation: the simulator keeps one predictions balance per user, so transfers
        between predictions subaccounts are refused.
        """
        user = self.user(user_id)
        instances = ("event_contract", "margined")
        if source not in instances or destination not in instances:
            raise errors.InvalidParametersError(
                f"source and destination must be event_contract or margined, was {source!r} "
                f"and {destination!r}"
            )
        if source == destination:
            raise errors.InvalidParametersError("source and destination must differ")
        if client_transfer_id is not None and client_transfer_id in user.instance_transfers:
            return user.instance_transfers[client_transfer_id]
        if type(amount) is not int or amount <= 0:
            raise errors.InvalidParametersError(f"amount must be positive, was {amount!r}")
        if source == "margined":
            if amount > self.withdrawable(user_id, 0):
                raise errors.InsufficientBalanceError(details="transfer exceeds withdrawable funds")
            self._credit(user, 0, -amount, "instance_transfer_out")
            user.event_contract_cash += amount
        else:
            if amount > user.event_contract_cash:
                raise errors.InsufficientBalanceError(details="predictions balance too low")
            user.event_contract_cash -= amount
            self._credit(user, 0, amount, "instance_transfer_in")
        transfer_id = self.state.ids.uuid()
        if client_transfer_id is not None:
            user.instance_transfers[client_transfer_id] = transfer_id
        return transfer_id

    @command("deposit_event_contract")
    def deposit_event_contract(self, user_id: str, amount: int) -> int:
        """Credit the user's predictions balance (control plane); returns the new balance."""
        user = self.user(user_id)
        if type(amount) is not int or amount <= 0:
            raise errors.InvalidParametersError(f"amount must be positive, was {amount!r}")
        user.event_contract_cash += amount
        return user.event_contract_cash

    def withdrawable(self, user_id: str, number: int) -> int:
        """max(0, min(cash, equity) - IM - resting-order margin) (MECHANICS 2.2)."""
        risk = self.subaccount_risk(user_id, number)
        return max(
            0, min(risk.cash, risk.equity) - risk.initial_margin - risk.resting_orders_margin
        )

    # ------------------------------------------------------------------ risk

    def market_data(self, ticker: str) -> MarketData:
        """A market's live state; unknown tickers are `MarketNotFoundError`."""
        data = self.state.markets.get(ticker)
        if data is None:
            raise errors.MarketNotFoundError(details=ticker)
        return data

    def mark(self, ticker: str) -> int:
        return self.state.markets[ticker].risk_mark()

    def subaccount_risk(self, user_id: str, number: int) -> SubaccountRisk:
        """Totals of one subaccount at the current marks."""
        sub = self.subaccount(user_id, number)
        value = unrealized = mm = im = worst = total_notional = 0
        for ticker, pos in sub.positions.items():
            if pos.is_empty:
                continue
            mark = self.mark(ticker)
            risk = position_risk(self.state.markets[ticker].market.spec, pos, mark)
            value += pos.qty * mark
            unrealized += risk.unrealized
            mm += risk.maintenance_margin
            im += risk.initial_margin
            worst += risk.worst_initial_margin
            total_notional += risk.notional
        return SubaccountRisk(
            cash=sub.cash,
            position_value=value,
            unrealized=unrealized,
            equity=sub.cash + unrealized,
            maintenance_margin=mm,
            initial_margin=im,
            resting_orders_margin=worst - im,
            total_notional=total_notional,
        )

    def available(self, user_id: str, number: int) -> int:
        """equity - IM - resting-order margin of a subaccount (`SubaccountRisk.available`)."""
        return self.available_in(self.subaccount(user_id, number))

    def available_in(self, sub: Subaccount) -> int:
        """`available` of a subaccount already looked up.

        The pre-trade margin check's hot path: it sums the positions' cached risk without
        building the full totals.
        """
        total = sub.cash
        markets = self.state.markets
        for ticker, pos in sub.positions.items():
            if pos.qty or pos.bid_qty or pos.ask_qty:
                data = markets[ticker]
                mark = data.mark
                risk = position_risk(
                    data.market.spec, pos, data.risk_mark() if mark is None else mark
                )
                total += risk.unrealized - risk.worst_initial_margin
        return total

    def notional_limit(self, user: User, ticker: str) -> int:
        override = user.notional_limit_overrides.get(ticker)
        if override is not None:
            return override
        spec_limit = self.state.markets[ticker].market.spec.notional_risk_limit
        return spec_limit if spec_limit is not None else self.state.config.default_notional_limit
