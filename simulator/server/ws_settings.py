"""Settings of the WebSocket API: the open questions of WEBSOCKET.md §14 and the limits.

Each open question of the reference is a switch whose default is the reference's suggestion
(§14.1), chosen so that kalshi-sdk 22.4.0 works unchanged; tests flip them to see the other
behaviours a real server might have. `perps-sim serve --ws NAME=VALUE` (repeatable, or
`PERPS_SIM_WS="NAME=VALUE,NAME=VALUE"`) sets any of them; `parse_ws_settings` reads that form.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, get_args

from simulator.server.name_value import apply_items

__all__ = [
    "EmptyBookSides",
    "GetSnapshotReply",
    "RepeatSubscribe",
    "WsSettings",
    "parse_ws_settings",
]

GetSnapshotReply = Literal["ok_then_snapshot", "snapshot_then_ok", "snapshot_only"]
RepeatSubscribe = Literal["new_sid", "ok_merge"]
EmptyBookSides = Literal["omit", "empty"]


@dataclass(frozen=True, slots=True)
class WsSettings:
    """How the WebSocket API answers where the references leave it open (§14), and its limits.

    Attributes:
        get_snapshot_reply: §14.1: `ok` first, then the snapshot carrying the command id
            (kalshi-sdk applies a snapshot only in this order); or the two other orders.
        control_frames_consume_seq: §14.2: whether `ok`/`unsubscribed`/`error` frames of a
            sequenced subscription use up a seq number (default: they carry the latest one).
        repeat_subscribe: §14.3: a second subscribe to a channel already subscribed gets a new
            sid (default) or an `ok` with the existing sid and the merged markets (the
            event-contract server's behaviour, which kalshi-sdk cannot follow).
        add_markets_snapshots: §14.4: `add_markets` on `orderbook_delta` sends a snapshot per
            added market after the `ok`.
        empty_book_sides: §14.5: `omit` leaves an empty side out of a snapshot; `empty` sends
            `[]`.
        no_trade_price: §14.5: the ticker's `price` before the first trade (and `bid`/`ask`
            of an empty side): a decimal string the schema accepts.
        sending_ts_ms: put `sending_ts_ms` (simulated time of sending) on every frame.
        unsubscribed_after_terminal_error: §14.7: follow a terminal error (25) with an
            `unsubscribed` for each subscription before closing.
        per_message_deflate: offer permessage-deflate compression at the handshake. Off by
            default: compressing every frame for every subscriber costs more CPU than the
            loopback saves, and clients work either way.
        ping_interval_s: seconds between server Pings (§3: 10).
        ping_timeout_s: seconds without a Pong before the connection is closed (1011).
        max_frame_bytes: largest client frame read at all; a bigger one closes the connection
            with 1009 (message too big), as the WebSocket protocol has it.
        max_command_bytes: largest command parsed; a bigger frame (up to max_frame_bytes) gets
            error 1 and the connection stays open.
        max_connections_per_key: open connections per API key; one more is refused at the
            handshake with HTTP 429.
        max_subscriptions: subscriptions per connection; one more gets error 11.
        max_markets_per_subscription: markets per subscription; past it error 26.
        commands_per_second: client frames (commands) a connection may send per second of
            wall-clock time, with a burst of as many; past it a command gets error 27 and is
            not run. Assumption: Kalshi caps the command rate per subscription at an
            unpublished value; a per-connection bucket is what a client can observe.
        send_queue_frames: frames queued for one connection; past it the connection gets the
            terminal error 25 and is closed with 1013 (try again later).
        reset_close_code: close code sent to every connection when the exchange is reset or
            its state imported; kalshi-sdk reconnects on it and gets fresh snapshots.
    """

    get_snapshot_reply: GetSnapshotReply = "ok_then_snapshot"
    control_frames_consume_seq: bool = False
    repeat_subscribe: RepeatSubscribe = "new_sid"
    add_markets_snapshots: bool = True
    empty_book_sides: EmptyBookSides = "omit"
    no_trade_price: str = "0.0000"
    sending_ts_ms: bool = True
    unsubscribed_after_terminal_error: bool = False
    per_message_deflate: bool = False
    ping_interval_s: float = 10.0
    ping_timeout_s: float = 30.0
    max_frame_bytes: int = 1 << 20
    max_command_bytes: int = 64 << 10
    max_connections_per_key: int = 64
    max_subscriptions: int = 256
    max_markets_per_subscription: int = 500
    commands_per_second: int = 100
    send_queue_frames: int = 100_000
    reset_close_code: int = 1012


def parse_ws_settings(items: Iterable[str], base: WsSettings | None = None) -> WsSettings:
    """`base` (default settings) with each `NAME=VALUE` of `items` applied.

    Raises:
        ValueError: An unknown name or a value of the wrong kind, naming the item.
    """
    choices = {
        "get_snapshot_reply": get_args(GetSnapshotReply),
        "repeat_subscribe": get_args(RepeatSubscribe),
        "empty_book_sides": get_args(EmptyBookSides),
    }
    return apply_items(base or WsSettings(), items, choices=choices)
