"""Settings of the FIX acceptor, and the `NAME=VALUE` form `perps-sim serve --fix` takes.

`parse_fix_settings` reads one flat list of names: the acceptor's own (`max_sessions_per_key`,
`max_md_symbols`, `pace_bytes`) and the session layer's (`SessionSettings`: SendingTime
tolerance, heartbeat bounds, RT store, SenderCompID, ...). Some answer where Kalshi's references
disagree (FIX.md §5): the SendingTime tolerance is 30 s on the current pages and 120 s on older
ones; the acceptor's SenderCompID is `Kalshi` in the text and the session type (`KalshiNR`, ...)
in the examples. The defaults are the current pages' and the examples'.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field

from fix_acceptor.session import SessionSettings
from simulator.server.name_value import apply_items

__all__ = ["FixSettings", "parse_fix_settings"]

# 0: no pacing; no resend store; no limit
_MINIMUMS = {"pace_bytes": 0, "rt_store_messages": 0, "max_unsent_bytes": 0}


@dataclass(frozen=True, slots=True)
class FixSettings:
    """Settings of the FIX acceptor.

    Attributes:
        session: The session layer's (SendingTime tolerance, heartbeat bounds, RT store size).
        max_sessions_per_key: Live FIX sessions of one API key across session types; one more
            gets Logout "too many sessions".
        max_md_symbols: Symbols one KalshiMD session may subscribe to.
        pace_bytes: Bytes written to a connection and not yet sent (in its write buffer,
            after the kernel's) above which a long advance waits between slices, until half
            that is left; 0: FIX connections do not pace advances.
        md_last_update_time: Put LastUpdateTime (779) on each W, for QuickFIX engines with
            the stock FIX50SP2 dictionary, which requires it (`fix_acceptor.market_data`).
        max_held_messages: Order-entry messages of one connection that may wait for a running
            advance to end (they are applied after it, in order); one more is refused with
            BusinessMessageReject 380=4 (Application not available) until it has.
        max_unsent_bytes: Bytes written to a connection and not yet sent above which the
            connection is dropped (a warning says so): a client that stopped reading, whose
            backlog would otherwise grow without bound (a KalshiMD session of the default
            books gets about 1.2 MB a simulated hour); 0: no limit.
    """

    session: SessionSettings = field(default_factory=SessionSettings)
    max_sessions_per_key: int = 8
    max_md_symbols: int = 500
    pace_bytes: int = 1_048_576
    md_last_update_time: bool = False
    max_held_messages: int = 10_000
    max_unsent_bytes: int = 67_108_864


def parse_fix_settings(items: Iterable[str], base: FixSettings | None = None) -> FixSettings:
    """`base` (default settings) with each `NAME=VALUE` of `items` applied, a session layer's
    name to `session`.

    Raises:
        ValueError: An unknown name, a value of the wrong kind, or settings that do not fit
            together (e.g. `min_heartbeat_s` above `max_heartbeat_s`).
    """
    current = base or FixSettings()
    own_names = [f.name for f in dataclasses.fields(FixSettings) if f.name != "session"]
    session_names = [f.name for f in dataclasses.fields(SessionSettings)]
    own: list[str] = []
    session: list[str] = []
    for item in items:
        name, sep, _ = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in own_names + session_names:
            known = ", ".join(own_names + session_names)
            raise ValueError(f"{item!r} is not NAME=VALUE with NAME one of {known}")
        (session if name in session_names else own).append(item)
    layer = apply_items(current.session, session, minimums=_MINIMUMS)
    return apply_items(dataclasses.replace(current, session=layer), own, minimums=_MINIMUMS)
