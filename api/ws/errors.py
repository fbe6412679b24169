"""The WebSocket error table (WEBSOCKET.md §9): codes and their `msg` texts.

Only the codes margin documents are produced, never the retired 6, 16 and 17. Texts for 2, 7, 8,
9 and 14 are the spec's examples; the others are the names of the shared error table.
"""

from __future__ import annotations

from typing import Final

__all__ = ["MESSAGES", "TERMINAL", "CommandError"]

MESSAGES: Final = {
    1: "Unable to process message",
    2: "Params required",
    3: "Channels required",
    4: "Subscription IDs required",
    5: "Unknown command",
    7: "Unknown subscription ID",
    8: "Unknown channel name",
    9: "Authentication required",
    10: "Channel error",
    11: "Invalid parameter",
    12: "Exactly one subscription ID is required",
    13: "Unsupported action",
    14: "Market Ticker required",
    15: "Action required",
    18: "Command timeout",
    25: "Subscription buffer overflow",
    26: "Subscription market limit exceeded",
    27: "Too many requests",
}

TERMINAL: Final = frozenset({10, 25})
"""Errors after which the subscription is gone (§9)."""


class CommandError(Exception):
    """A command refused with one of the §9 codes.

    Args:
        code: The error code.
        sid: The subscription it concerns, if any.
        market_tickers: The markets it concerns, if any.
    """

    def __init__(
        self, code: int, *, sid: int | None = None, market_tickers: list[str] | None = None
    ) -> None:
        super().__init__(MESSAGES[code])
        self.code = code
        self.sid = sid
        self.market_tickers = market_tickers
