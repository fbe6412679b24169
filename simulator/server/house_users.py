"""What the house bots (market maker, noise takers) share: their user, limits and positions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from simulator.core.money import parse_count, parse_dollars

if TYPE_CHECKING:
    from simulator.exchange import Exchange
    from simulator.model.ledger import User

__all__ = ["create_house_user", "position_limit", "primary_position"]


def create_house_user(
    exchange: Exchange,
    user_id: str,
    api_key_id: str,
    balance: str,
    notional_limit: str,
    tickers: Iterable[str],
) -> User:
    """A bot's user: `balance` dollars and a `notional_limit` override on each of `tickers`."""
    user = exchange.create_user(
        user_id=user_id, api_key_id=api_key_id, balance=parse_dollars(balance)
    )
    limit = parse_dollars(notional_limit)
    for ticker in tickers:
        user.notional_limit_overrides[ticker] = limit
    return user


def position_limit(text: str | None, what: str) -> int | None:
    """A `max_position` count string in count units (None: no limit); ValueError if not > 0."""
    if text is None:
        return None
    limit = parse_count(text)
    if limit <= 0:
        raise ValueError(f"{what} must be positive")
    return limit


def primary_position(exchange: Exchange, user_id: str, ticker: str) -> int:
    """The signed position of `user_id`'s primary subaccount in `ticker` (0 when none)."""
    user = exchange.users.get(user_id)
    if user is None:
        return 0
    position = user.subaccounts[0].positions.get(ticker)
    return 0 if position is None else position.qty
