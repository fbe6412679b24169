"""Market data on KalshiMD (FIX.md §3.11): MarketDataRequest V, snapshot W, incremental X, reject Y.

Subscriptions are keyed by Symbol (no MDReqID). `263=0` gets one W per symbol; `263=1` gets the
W and then X messages in event order: each run of book changes between two trades, per
symbol, in one X (`279=1` a new or changed level, `2` a deleted one; 271 the level's new
absolute size), and each trade in an X of its own (`279=0`, `269=2`, 2446 the aggressor
side). Trade entries travel alone because kalshi-sdk's positional group parser stops at
2446 and would drop the entries after it (FIX.md "Things that will break the SDK", §5.5).
`263=2` cancels the listed symbols, or every subscription when 146 is absent.

A new level is sent as a Change (`279=1`) with its size, not as New (`0`): Kalshi's examples
use `279=1` for book changes, and kalshi-sdk's `FixOrderBook` applies only Change and Delete
(its `MDUpdateAction` says Kalshi MD does not emit New), so a `279=0` level never reached its
book. A client that follows the table (`0` New, `1` Change, both carrying the absolute size)
builds the same book either way.

With `last_update_time` (`--fix md_last_update_time=true`) a W also carries LastUpdateTime
(779, the exchange's time of the snapshot). Kalshi's W lists no such field, but the stock
FIX50SP2 dictionary that QuickFIX engines validate against requires it: without it QuickFIX
rejects every W (35=3, 371=779) and its application never sees a snapshot. kalshi-sdk reads
a W either way.

An unknown symbol is not rejected: it gets a W with `268=0` (the documented behaviour).
Refused: an unsupported 263 (`Y 281=4`), more than `max_symbols` per session (`Y 281=2`).
Events from before a symbol's snapshot are never applied on top of it (each subscription keeps
the journal seq its snapshot was read at).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from fix_acceptor.codec import timestamp
from fix_acceptor.message import Field, Message, Tag
from fix_acceptor.wire import business_reject
from matching import Side
from simulator.core.bus import Feed, Reset
from simulator.core.events import BookDelta, Event, TradeExecuted
from simulator.core.money import format_count, format_price
from simulator.server.runtime import Runtime

__all__ = ["MarketDataFeed", "MarketDataSession"]

_ENTRY_TYPES = {Side.BID: "0", Side.ASK: "1"}
_AGGRESSOR = {Side.BID: "1", Side.ASK: "2"}


def _wanted(event: Event) -> bool:
    return isinstance(event, BookDelta | TradeExecuted)


@dataclass(eq=False)
class MarketDataSession:
    """One KalshiMD session: its symbols and the journal seq each snapshot was read at."""

    feed: MarketDataFeed
    send: Callable[[Message], None]
    symbols: dict[str, int] = field(default_factory=dict)

    def handle(self, message: Message, ref_seq: int) -> None:
        """Answer one application message of the session."""
        if message.msg_type != "V":
            self.send(business_reject(message, ref_seq, 3, "Unsupported Message Type"))
            return
        request = message.get(Tag.SubscriptionRequestType)
        symbols = list(dict.fromkeys(message.get_all(Tag.Symbol)))
        if request == "2":
            for symbol in symbols or list(self.symbols):
                self.feed.unwatch(self, symbol)
            return
        if request not in ("0", "1") or not symbols:
            self.send(_reject(4 if request not in ("0", "1") else 2, "Invalid request"))
            return
        added = [s for s in symbols if s not in self.symbols]
        if request == "1" and len(self.symbols) + len(added) > self.feed.max_symbols:
            self.send(_reject(2, f"at most {self.feed.max_symbols} symbols per session"))
            return
        for symbol in symbols:
            seq = self.feed.runtime.exchange.journal.last_seq
            self.send(self.feed.snapshot(symbol))
            if request == "1":
                self.symbols[symbol] = seq
                self.feed.watch(self, symbol)


def _reject(reason: int, text: str) -> Message:
    return Message([(Tag.MsgType, "Y"), (Tag.MDReqRejReason, str(reason)), (Tag.Text, text)])


class MarketDataFeed:
    """The KalshiMD sessions of a server and the book and trade events they follow."""

    def __init__(
        self, runtime: Runtime, max_symbols: int = 500, *, last_update_time: bool = False
    ) -> None:
        self.runtime = runtime
        self.max_symbols = max_symbols
        self.last_update_time = last_update_time
        self._watchers: dict[str, dict[MarketDataSession, None]] = defaultdict(dict)
        self._sessions: set[MarketDataSession] = set()
        self._feed = Feed(runtime.bus, self.deliver, _wanted, "FIX market data")

    def open(self, send: Callable[[Message], None]) -> MarketDataSession:
        session = MarketDataSession(self, send)
        self._sessions.add(session)
        self._feed.start()
        return session

    def close(self, session: MarketDataSession) -> None:
        self._sessions.discard(session)
        for symbol in list(session.symbols):
            self.unwatch(session, symbol)
        if not self._sessions:
            self._feed.stop()

    async def aclose(self) -> None:
        for session in list(self._sessions):
            self.close(session)
        await self._feed.aclose()

    def watch(self, session: MarketDataSession, symbol: str) -> None:
        self._watchers[symbol][session] = None

    def unwatch(self, session: MarketDataSession, symbol: str) -> None:
        session.symbols.pop(symbol, None)
        watchers = self._watchers.get(symbol)
        if watchers is not None:
            watchers.pop(session, None)
            if not watchers:
                del self._watchers[symbol]

    def snapshot(self, symbol: str) -> Message:
        """The W of `symbol` now (268=0 for an empty book or an unknown symbol)."""
        data = self.runtime.exchange.markets.get(symbol)
        entries: list[Field] = []
        if data is not None:
            depth = data.book.depth(0, 1)
            for entry_type, levels in (("0", depth.bids), ("1", depth.asks)):
                for price, count in levels:
                    entries += [
                        (Tag.MDEntryType, entry_type),
                        (Tag.MDEntryPx, format_price(price)),
                        (Tag.MDEntrySize, format_count(count)),
                    ]
        fields: list[Field] = [(Tag.MsgType, "W"), (Tag.Symbol, symbol)]
        if self.last_update_time:
            fields.append((Tag.LastUpdateTime, timestamp(self.runtime.exchange.now())))
        return Message([*fields, (Tag.NoMDEntries, str(len(entries) // 3)), *entries])

    def pump(self) -> None:
        self._feed.pump()

    def deliver(self, items: list[tuple[int, Event] | Reset]) -> None:
        """Send the X messages of `items` in event order (module docstring)."""
        pending: dict[str, list[tuple[int, BookDelta]]] = defaultdict(list)
        for item in items:
            if isinstance(item, Reset):
                self._send_book(pending)
                for session in list(self._sessions):
                    for symbol in list(session.symbols):
                        session.symbols[symbol] = -1  # new exchange: every seq is newer
                continue
            seq, event = item
            if isinstance(event, BookDelta):
                if event.ticker in self._watchers:
                    pending[event.ticker].append((seq, event))
            elif isinstance(event, TradeExecuted) and event.trade.ticker in self._watchers:
                self._send_book(pending)  # what changed before the trade goes first
                self._send_trade(seq, event)
        self._send_book(pending)

    def _send_book(self, pending: dict[str, list[tuple[int, BookDelta]]]) -> None:
        for symbol, deltas in pending.items():
            for session in list(self._watchers.get(symbol, ())):
                since = session.symbols.get(symbol, 0)
                entries = [_level_entry(d) for s, d in deltas if s > since]
                if entries:
                    fields: list[Field] = [(Tag.MsgType, "X"), (Tag.NoMDEntries, str(len(entries)))]
                    for entry in entries:
                        fields += entry
                    session.send(Message(fields))
        pending.clear()

    def _send_trade(self, seq: int, event: TradeExecuted) -> None:
        trade = event.trade
        message = Message(
            [
                (Tag.MsgType, "X"),
                (Tag.NoMDEntries, "1"),
                (Tag.MDUpdateAction, "0"),
                (Tag.Symbol, trade.ticker),
                (Tag.MDEntryType, "2"),
                (Tag.MDEntryPx, format_price(trade.price)),
                (Tag.MDEntrySize, format_count(trade.count)),
                (Tag.AggressorSide, _AGGRESSOR[trade.taker_side]),
            ]
        )
        for session in list(self._watchers.get(trade.ticker, ())):
            if seq > session.symbols.get(trade.ticker, 0):
                session.send(message)


def _level_entry(delta: BookDelta) -> list[Field]:
    action = "2" if delta.count <= 0 else "1"  # a new level too: see the module docstring
    return [
        (Tag.MDUpdateAction, action),
        (Tag.Symbol, delta.ticker),
        (Tag.MDEntryType, _ENTRY_TYPES[delta.side]),
        (Tag.MDEntryPx, format_price(delta.price)),
        (Tag.MDEntrySize, format_count(max(delta.count, 0))),
    ]
