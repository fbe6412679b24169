"""The FIX application layer: order entry on KalshiNR/KalshiRT, and where reports go.

`FixApplication` (one per server) holds the live application sessions and, while any exists,
an `Inbox` on the runtime's event bus. Each logged-on connection gets an `OrderEntry`: its
`handle` turns an application message into exchange commands and answers what must be answered
at once (OrderCancelReject 9, BusinessMessageReject j, OrderMassCancelReport r,
OrderGroupResponse UOH, the Rejected report of a refused order); every other ExecutionReport is
rendered from the exchange's events after the command (`fix_acceptor.wire.Reports`) and sent to:

- the session that entered the order (by API key and session type). A KalshiRT session that is
  not connected gets them queued (`offline`), to be delivered after it logs on again;
- every listener session (20126=Y) of the same user.

Orders entered over REST produce no reports on order-entry sessions (they reach listener
sessions, and the drop copy).

Deviation: CancelOrdersOnDisconnect (8013=Y) cancels every resting order of the user, not only
those the session entered (Kalshi: "cancels all open orders on any disconnect").
"""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial

from fix_acceptor import codec, wire
from fix_acceptor.message import Message, Tag
from simulator.core.bus import Feed, Reset
from simulator.core.errors import RejectError
from simulator.core.events import Event, FillExecuted, FillRecord, OrderSnapshot, OrderUpdated
from simulator.core.money import parse_count
from simulator.model.orders import OrderRecord
from simulator.server.runtime import Runtime

__all__ = ["FixApplication", "OrderEntry", "SessionKey"]

_LOG = logging.getLogger("perps_sim.fix")

SessionKey = tuple[str, str]
"""(API key id, session type) of a FIX session."""

Send = Callable[[Message], None]

_ORDER_ENTRY = frozenset({"KalshiNR", "KalshiRT"})
_NOT_ON_MARGIN = frozenset(
    {"R", "b", "S", "AI", "Z", "U7", "U8", "U9", "UA", "UB", "UC", "UD", "UE", "AG", "UMS"}
)


_HANDLERS = {
    "D": "_new_order",
    "F": "_cancel",
    "G": "_replace",
    "q": "_mass_cancel",
    "UOG": "_order_group",
}
"""MsgType -> the `OrderEntry` method that runs it."""


def _wanted(event: Event) -> bool:
    return isinstance(event, OrderUpdated | FillExecuted)


@dataclass(eq=False)
class OrderEntry:
    """The application side of one logged-on order-entry session.

    Attributes:
        key: (API key id, session type).
        user_id: The key's user.
        listener: 20126=Y: reports only, no trading.
        send: Hands a message to the session layer (which numbers and stamps it).
    """

    app: FixApplication
    key: SessionKey
    user_id: str
    listener: bool
    send: Send
    cancel_on_disconnect: bool = False
    reports: wire.Reports = field(default_factory=wire.Reports)

    def handle(self, message: Message, ref_seq: int) -> None:
        """Run one application message (its MsgSeqNum `ref_seq` for rejects)."""
        kind = message.msg_type
        session_type = self.key[1]
        if kind in _NOT_ON_MARGIN:
            self._business_reject(message, ref_seq, 3, "Unsupported Message Type")
            return
        name = _HANDLERS.get(kind)
        if name is None or session_type not in _ORDER_ENTRY:
            self._business_reject(message, ref_seq, 3, "Unsupported Message Type")
            return
        if self.listener:
            self._business_reject(message, ref_seq, 6, "Not authorized on a listener session")
            return
        if kind == "q" and session_type != "KalshiNR":
            self._business_reject(message, ref_seq, 3, "Unsupported Message Type")
            return
        try:
            getattr(self, name)(message, ref_seq)
        except wire.FieldError as error:
            self.send(_session_reject(ref_seq, kind, error))

    # ------------------------------------------------------------ orders

    def _new_order(self, message: Message, ref_seq: int) -> None:
        exchange = self.app.runtime.exchange
        command = wire.place_command(message, exchange.now())
        try:
            result = exchange.place_order(self.user_id, command)
        except RejectError as error:
            self.send(
                self.reports.rejected(command, error.fix_text, error.fix_reason, exchange.now())
            )
            return
        self.app.adopt(result.order.order_id, self.key)

    def _find(self, message: Message) -> str | None:
        exchange = self.app.runtime.exchange
        order_id = message.get(Tag.OrderID)
        if order_id:
            record = exchange.orders.get(order_id)
            return order_id if record is not None and record.user_id == self.user_id else None
        original = message.get(Tag.OrigClOrdID)
        if original is None:
            return None
        live = exchange.live_client_ids
        found = live.get((self.user_id, original))
        if found is None and not original.isascii():
            # a REST id beyond latin-1 went out as its UTF-8 bytes (codec.encode): read them so
            wide = codec.utf8_reading(original)
            if wide is not None:
                found = live.get((self.user_id, wide))
        return found

    def _cancel(self, message: Message, ref_seq: int) -> None:
        cl_ord_id = _required(message, Tag.ClOrdID)
        _required(message, Tag.OrigClOrdID)
        order_id = self._find(message)
        exchange = self.app.runtime.exchange
        if order_id is None:
            self.send(_cancel_reject(message, "1", "1", "ORDER_NOT_FOUND", None))
            return
        record = exchange.orders[order_id]
        self.reports.expect_cancel(order_id, cl_ord_id)
        self.app.remember_cancel(order_id, cl_ord_id)
        self.app.adopt(order_id, self.key)
        try:
            exchange.cancel_order(self.user_id, order_id, record.subaccount)
        except RejectError as error:
            context = self.reports.orders.get(order_id)
            if context is not None:
                context.pending_cancel = None
                if record.remaining == 0:  # a done order: no update will drop its context
                    del self.reports.orders[order_id]
            self.app.cancel_ids.pop(order_id, None)
            self.send(_cancel_reject(message, "1", "0", error.fix_text, record.order_id))

    def _replace(self, message: Message, ref_seq: int) -> None:
        order_id = self._find(message)
        exchange = self.app.runtime.exchange
        if order_id is None:
            self.send(_cancel_reject(message, "2", "1", "ORDER_NOT_FOUND", None))
            return
        record = exchange.orders[order_id]
        command = wire.amend_command(message, record.price, exchange.now())
        self.app.adopt(order_id, self.key)
        try:
            exchange.amend_order(self.user_id, order_id, command)
        except RejectError as error:
            self.send(_cancel_reject(message, "2", "2", error.fix_text, order_id))

    def _mass_cancel(self, message: Message, ref_seq: int) -> None:
        cl_ord_id = _required(message, Tag.ClOrdID)
        request_type = message.get(Tag.MassCancelRequestType)
        reply = Message([(Tag.MsgType, "r"), (Tag.ClOrdID, cl_ord_id)])
        if request_type != "6":
            reply.fields += [
                (Tag.OrderID, "NONE"),
                (Tag.MassCancelResponse, "0"),
                (Tag.MassCancelRejectReason, "99"),
                (Tag.Text, "MassCancelRequestType must be 6"),
            ]
            self.send(reply)
            return
        exchange = self.app.runtime.exchange
        for record in exchange.live_orders(self.user_id):
            self.app.adopt(record.order_id, self.key)
        cancelled = exchange.cancel_all(self.user_id)
        reply.fields += [
            (Tag.OrderID, f"mass-{exchange.journal.last_seq}"),
            (Tag.MassCancelResponse, "6"),
        ]
        self.send(reply)
        _LOG.debug("mass cancel %s: %d orders", cl_ord_id, len(cancelled))

    def _order_group(self, message: Message, ref_seq: int) -> None:
        action = _required(message, Tag.OrderGroupAction)
        groups = self.app.runtime.exchange.groups
        group_id = message.get(Tag.OrderGroupID)
        sub_text = message.get(Tag.AllocAccount)
        subaccount = int(sub_text) if sub_text is not None and sub_text.isdigit() else None
        limit_text = message.get(Tag.OrderGroupContractsLimit)
        try:
            if action == "1":
                if group_id:
                    raise wire.FieldError(Tag.OrderGroupID, 2, "OrderGroupID not allowed on Create")
                limit = _limit(limit_text)
                group = groups.create(self.user_id, subaccount or 0, limit)
                group_id = group.id
            else:
                if not group_id:
                    raise wire.FieldError(Tag.OrderGroupID, 1, "Required tag missing: 20130")
                if action == "2":
                    groups.reset(self.user_id, group_id, subaccount)
                elif action == "3":
                    groups.delete(self.user_id, group_id, subaccount)
                elif action == "4":
                    groups.trigger(self.user_id, group_id, subaccount)
                elif action == "5":
                    limit = _limit(limit_text)
                    groups.update_limit(self.user_id, group_id, limit, subaccount)
                else:
                    raise wire.FieldError(
                        Tag.OrderGroupAction, 5, "Value is incorrect (out of range) for this tag"
                    )
        except RejectError as error:
            self._business_reject(message, ref_seq, 0, error.fix_text)
            return
        reply = Message([(Tag.MsgType, "UOH"), (Tag.OrderGroupID, group_id)])
        if action in ("1", "5") and limit_text:
            reply.append(Tag.OrderGroupContractsLimit, limit_text)
        reply.append(Tag.AllocAccount, str(subaccount or 0))
        self.send(reply)

    def _business_reject(self, message: Message, ref_seq: int, reason: int, text: str) -> None:
        self.send(wire.business_reject(message, ref_seq, reason, text))


def _required(message: Message, tag: int) -> str:
    value = message.get(tag)
    if not value:
        raise wire.FieldError(tag, 1, f"Required tag missing: {tag}")
    return value


def _limit(text: str | None) -> int:
    if not text:
        raise wire.FieldError(Tag.OrderGroupContractsLimit, 1, "Required tag missing: 20132")
    try:
        limit = parse_count(text)
    except ValueError:
        raise wire.FieldError(Tag.OrderGroupContractsLimit, 6, "Incorrect data format") from None
    if not 100 <= limit <= 1_000_000 * 100 or limit % 100:
        raise wire.FieldError(Tag.OrderGroupContractsLimit, 5, "Value is incorrect (out of range)")
    return limit


def _session_reject(ref_seq: int, ref_type: str, error: wire.FieldError) -> Message:
    return Message(
        [
            (Tag.MsgType, "3"),
            (Tag.RefSeqNum, str(ref_seq)),
            (Tag.Text, error.text),
            (Tag.RefTagID, str(error.tag)),
            (Tag.RefMsgType, ref_type),
            (Tag.SessionRejectReason, str(error.reason)),
        ]
    )


def _cancel_reject(
    message: Message, response_to: str, reason: str, text: str, order_id: str | None
) -> Message:
    reply = Message(
        [
            (Tag.MsgType, "9"),
            (Tag.OrderID, order_id or "NONE"),
            (Tag.ClOrdID, message.get(Tag.ClOrdID) or ""),
        ]
    )
    original = message.get(Tag.OrigClOrdID)
    if original:
        reply.append(Tag.OrigClOrdID, original)
    reply.fields += [
        (Tag.OrdStatus, "8" if order_id is None else "0"),
        (Tag.CxlRejResponseTo, response_to),
        (Tag.CxlRejReason, reason),
        (Tag.Text, text),
    ]
    return reply


def _updated(seq: int, event: OrderUpdated, reports: wire.Reports) -> Message | None:
    return reports.order_updated(seq, event.order, event.created, event.previous_client_order_id)


def _filled(
    seq: int, fill: FillRecord, snapshot: OrderSnapshot | None, reports: wire.Reports
) -> Message | None:
    return reports.fill(seq, fill, snapshot)


MAX_CANCEL_IDS = 10_000
"""Cancel requests remembered for their reports (`FixApplication.remember_cancel`): about as
many orders as the event journal's default retention (100,000 events) still holds for a
drop-copy replay."""


class FixApplication:
    """Live order-entry sessions and the delivery of their ExecutionReports.

    Args:
        runtime: The running simulator.
        offline: Called with (session key, report) for a report of a KalshiRT session that is
            not connected (the acceptor queues it in that session's store).
    """

    def __init__(
        self, runtime: Runtime, offline: Callable[[SessionKey, Message], None] | None = None
    ) -> None:
        self.runtime = runtime
        self.offline = offline
        self.sessions: dict[SessionKey, OrderEntry] = {}
        self._by_user: dict[str, list[OrderEntry]] = defaultdict(list)
        self._origins: dict[str, SessionKey] = {}
        self._cancel_ids: dict[str, str] = {}
        self._generation = runtime.generation
        self._reports: dict[SessionKey, wire.Reports] = {}
        self._rt_users: dict[SessionKey, str] = {}
        self._feed = Feed(runtime.bus, self.deliver, _wanted, "FIX reports")

    def open(
        self,
        key: SessionKey,
        user_id: str,
        send: Send,
        *,
        listener: bool = False,
        cancel_on_disconnect: bool = False,
        use_expired_status: bool = False,
        preserve_order_qty: bool = False,
    ) -> OrderEntry:
        """The application side of a session that just logged on."""
        reports = self._reports.get(key) if key[1] == "KalshiRT" else None
        if reports is None:
            reports = wire.Reports(cancel_ids=self.cancel_ids)
            self._reports[key] = reports
        # a KalshiRT session's reports carry on across logons, with the latest Logon's options
        reports.use_expired_status = use_expired_status
        reports.preserve_order_qty = preserve_order_qty
        entry = OrderEntry(self, key, user_id, listener, send, cancel_on_disconnect, reports)
        self.sessions[key] = entry
        self._by_user[user_id].append(entry)
        if key[1] == "KalshiRT":
            self._rt_users[key] = user_id
        self._start()
        return entry

    def close(self, entry: OrderEntry) -> None:
        """The session's connection ended (after a Logout or not)."""
        if self.sessions.get(entry.key) is not entry:
            return
        del self.sessions[entry.key]
        users = self._by_user[entry.user_id]
        users.remove(entry)
        if not users:
            del self._by_user[entry.user_id]
        if entry.key[1] != "KalshiRT":
            self._reports.pop(entry.key, None)
        if entry.cancel_on_disconnect and not entry.listener:
            with contextlib.suppress(RejectError):
                self.runtime.exchange.cancel_all(entry.user_id)
        if not self.sessions and not self._rt_users:
            self._stop()

    @property
    def cancel_ids(self) -> dict[str, str]:
        """Order id -> ClOrdID of the F that cancelled it (`wire.Reports.cancel_ids`), for the
        current exchange (the same dict throughout: the sessions' `Reports` share it)."""
        if self._generation != self.runtime.generation:  # reset while nobody listened
            self._forget(self.runtime.generation)
        return self._cancel_ids

    def remember_cancel(self, order_id: str, cl_ord_id: str) -> None:
        """The F `cl_ord_id` asks to cancel `order_id` (its report carries that 11 everywhere).

        Kept for the newest `MAX_CANCEL_IDS` cancels (a drop-copy replay of an older one falls
        back to the order's own ClOrdID).
        """
        cancel_ids = self.cancel_ids
        cancel_ids.pop(order_id, None)
        cancel_ids[order_id] = cl_ord_id
        if len(cancel_ids) > MAX_CANCEL_IDS:
            del cancel_ids[next(iter(cancel_ids))]

    def adopt(self, order_id: str, key: SessionKey) -> None:
        """Reports of `order_id` go to the session `key` from now on."""
        self._origins[order_id] = key

    def _start(self) -> None:
        if self._feed.active:
            return
        if self._generation != self.runtime.generation:  # reset while nobody listened
            self._forget(self.runtime.generation)
        self._feed.start()

    def _stop(self) -> None:
        self._feed.stop()

    async def aclose(self) -> None:
        await self._feed.aclose()

    def pump(self) -> None:
        """Deliver the reports of what the inbox holds now."""
        self._feed.pump()

    def deliver(self, items: list[tuple[int, Event] | Reset]) -> None:
        """Render and route the reports of `items`; one that fails is logged and skipped, so a
        rendering bug costs that report, not the rest of the batch."""
        orders = self.runtime.exchange.orders
        for item in items:
            if isinstance(item, Reset):
                self._forget(item.generation)
                continue
            try:
                self._deliver_event(item[0], item[1], orders)
            except Exception:
                _LOG.exception("the FIX reports of event %d were not delivered", item[0])

    def _deliver_event(self, seq: int, event: Event, orders: Mapping[str, OrderRecord]) -> None:
        if isinstance(event, OrderUpdated):
            order = event.order
            self._route(order.order_id, order.user_id, partial(_updated, seq, event))
            if order.remaining_count == 0:  # its last update (after its last fill)
                self._origins.pop(order.order_id, None)
        elif isinstance(event, FillExecuted):
            fill = event.fill
            record = orders.get(fill.order_id)
            snapshot = record.snapshot() if record is not None else None
            self._route(fill.order_id, fill.user_id, partial(_filled, seq, fill, snapshot))

    def _forget(self, generation: int) -> None:
        """The exchange was replaced: its order ids mean nothing now (and new ones repeat them,
        ids being seeded)."""
        self._origins.clear()
        self._cancel_ids.clear()
        self._generation = generation

    def _route(
        self,
        order_id: str,
        user_id: str,
        render: Callable[[wire.Reports], Message | None],
    ) -> None:
        origin = self._origins.get(order_id)
        entries = self._by_user.get(user_id, [])
        if origin is not None:
            reports = self._reports.get(origin)
            if reports is not None:
                report = render(reports)
                if report is not None:
                    live = self.sessions.get(origin)
                    if live is not None:
                        live.send(report)
                    elif origin[1] == "KalshiRT" and self.offline is not None:
                        self.offline(origin, report)
        for entry in entries:
            if entry.listener and entry.key != origin:
                report = render(entry.reports)
                if report is not None:
                    entry.send(report)
