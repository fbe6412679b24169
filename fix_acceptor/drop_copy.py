"""Drop copy on KalshiDC (FIX.md §3.10): a history query of a user's ExecutionReports.

`U1` (BeginExecID 21001, inclusive; EndExecID 21002, inclusive, default the latest) is answered
with the ExecutionReports of the user's orders from every transport (REST, WebSocket-visible
activity and FIX alike) in that range, then `U2` (RefSeqNum 45, ResendEventCount 21003); or
with `U3` (EventResendRejectReason 21004) alone: `2` for a malformed ExecID, `3` when
BeginExecID is older than what the journal retains, `4` when EndExecID is past the latest
event. Reports older than the look-back window are left out. Rejected orders and pending
reports are not in it (they have no valid ExecID).

The reports are rendered again from the exchange's event journal with the renderer the live
sessions use (`fix_acceptor.wire.Reports`), so a replayed report has the ExecID, quantities and
prices it had live; the replayed ones carry fresh sequence numbers of the DC session.

Look-back: `LOOKBACK_MS` (3 hours) of simulated time, and at most what the journal retains.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from fix_acceptor import wire
from fix_acceptor.message import Message, Tag
from simulator.core.events import FillExecuted, OrderSnapshot, OrderUpdated
from simulator.exchange import Exchange

__all__ = ["LOOKBACK_MS", "parse_exec_id", "replay"]

LOOKBACK_MS: Final = 3 * 3600 * 1000


def parse_exec_id(text: str) -> tuple[int, int] | None:
    """`(time ms, journal seq)` of an ExecID `clock;event`, or None when malformed."""
    head, sep, tail = text.partition(";")
    if not sep or not head.lstrip("-").isdigit() or not tail.split(";")[0].isdigit():
        return None
    return int(head), int(tail.split(";")[0])


def replay(
    exchange: Exchange,
    user_id: str,
    request: Message,
    ref_seq: int,
    cancel_ids: Mapping[str, str] | None = None,
) -> list[Message]:
    """The answer to a `U1`: the reports then `U2`, or a lone `U3`.

    `cancel_ids` (order id -> ClOrdID of the OrderCancelRequest that cancelled it, kept by the
    application layer: the journal does not know FIX ClOrdIDs) gives a replayed cancel the 11
    and 41 it had live.
    """
    begin_text = request.get(Tag.BeginExecID) or ""
    begin = parse_exec_id(begin_text)
    end_text = request.get(Tag.EndExecID)
    end = parse_exec_id(end_text) if end_text else None
    journal = exchange.journal
    retained = journal.since(0, 1)
    first_seq = retained[0][0] if retained else journal.last_seq + 1
    now = exchange.now()
    if begin is None or (end_text and end is None):
        return [_reject(ref_seq, 2)]
    if begin[1] < first_seq and first_seq > 1:  # older than what the journal still holds
        return [_reject(ref_seq, 3)]
    if end is not None and end[1] > journal.last_seq:
        return [_reject(ref_seq, 4)]
    last = end[1] if end is not None else journal.last_seq
    reports = wire.Reports(cancel_ids=cancel_ids or {})
    snapshots: dict[str, OrderSnapshot] = {}
    found: list[Message] = []
    for seq, event in journal.since(0):
        if seq > last:
            break
        report: Message | None = None
        if isinstance(event, OrderUpdated) and event.order.user_id == user_id:
            snapshots[event.order.order_id] = event.order
            report = reports.order_updated(
                seq, event.order, event.created, event.previous_client_order_id
            )
        elif isinstance(event, FillExecuted) and event.fill.user_id == user_id:
            report = reports.fill(seq, event.fill, snapshots.get(event.fill.order_id))
        if report is not None and seq >= begin[1] and event.ts_ms >= now - LOOKBACK_MS:
            found.append(report)
    done = Message(
        [
            (Tag.MsgType, "U2"),
            (Tag.RefSeqNum, str(ref_seq)),
            (Tag.ResendEventCount, str(len(found))),
        ]
    )
    return [*found, done]


def _reject(ref_seq: int, reason: int) -> Message:
    return Message(
        [
            (Tag.MsgType, "U3"),
            (Tag.RefSeqNum, str(ref_seq)),
            (Tag.EventResendRejectReason, str(reason)),
        ]
    )
