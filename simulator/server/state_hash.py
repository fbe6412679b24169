"""A digest of the exchange's whole observable state, for determinism checks.

Two exchanges built from the same scenario and seed and given the same commands must have the
same hash; a rejected command must leave it unchanged.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from simulator.exchange import Exchange

__all__ = ["state_hash", "state_summary"]


def state_summary(exchange: Exchange) -> dict[str, Any]:
    """Plain data describing every account, order, market and counter of the exchange."""
    users = {
        user_id: {
            "keys": [key.key_id for key in user.api_keys],
            "subaccounts": {
                str(number): [
                    sub.cash,
                    {
                        ticker: [
                            p.qty,
                            p.cost,
                            p.fees,
                            p.bid_qty,
                            p.bid_value,
                            p.ask_qty,
                            p.ask_value,
                        ]
                        for ticker, p in sorted(sub.positions.items())
                        if not p.is_empty or p.fees
                    },
                ]
                for number, sub in sorted(user.subaccounts.items())
            },
            "limits": sorted(user.notional_limit_overrides.items()),
            "event_contract": user.event_contract_cash,
        }
        for user_id, user in sorted(exchange.users.items())
    }
    markets = {}
    for ticker, data in exchange.markets.items():
        depth = data.book.depth()
        markets[ticker] = [
            data.market.status,
            data.market.market_version,
            data.market.halt_sources,
            data.reference,
            data.mark,
            data.mark_path,
            data.settlement.value,
            data.funding_start_ms,
            data.last_price,
            data.volume,
            data.open_interest,
            [[r.funding_time_ms, r.rate, r.mark_price] for r in data.funding_history],
            depth.bids,
            depth.asks,
        ]
    summary: dict[str, Any] = {
        "now": exchange.now(),
        "users": users,
        "orders": [msgspec.to_builtins(r.snapshot()) for r in exchange.orders.values()],
        "markets": markets,
        "fills": len(exchange.fills),
        "last_fill": exchange.fills[-1].fill_id if exchange.fills else None,
        "house": [exchange.house_cash, exchange.waterfall_deficit],
        "groups": [
            msgspec.to_builtins(group)
            for user_id in sorted(exchange.users)
            for group in exchange.groups.list(user_id)
        ],
        "journal": exchange.journal.last_seq,
        "active": [exchange.exchange_active, exchange.trading_active],
    }
    pinned = sorted(ticker for ticker, data in exchange.markets.items() if data.pinned)
    if pinned:  # only then, so that the hashes of states without pins stay what they were
        summary["pinned"] = pinned
    return summary


def state_hash(exchange: Exchange) -> str:
    """SHA-256 of `state_summary` in canonical JSON."""
    encoded = msgspec.json.encode(state_summary(exchange), order="sorted")
    return hashlib.sha256(encoded).hexdigest()
