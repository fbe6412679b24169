"""Fan-out of exchange events to WebSocket subscriptions (WEBSOCKET.md §7).

One `Hub` per app. While any connection is open it holds an `Inbox` on the runtime's event
bus, and its task drains it: each event is rendered once per channel and market (a book delta
also once per owner, for the owner's copy) and spliced into each subscriber's frame with that
subscriber's sid and seq (`api.wire.ws.frame`).

Delivery: the exchange hands the hub a command's events when the command completes; the hub's
task renders them on the next turn of the event loop, so a REST call's frames are queued right
after its response (a `POST /sim/v1/clock/advance` included: the frames of everything the advance
fired are queued in event order once it returns).

Pacing: while connections are open the hub tells the runtime's advancer how full the fullest
send queue is (`backlog`), and a long `POST /sim/v1/clock/advance` waits between slices for a
slow reader to catch up instead of overflowing its queue (`simulator.server.pacing`).

Reset and state import: every connection opened before the replacement is closed with
`reset_close_code` (default 1012, "service restart"), so clients reconnect and get fresh
snapshots; kalshi-sdk does so by itself.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from functools import partial
from typing import Any

from api.wire import ws as wire
from api.ws.session import Session, Subscription
from simulator.core.bus import Feed, Reset
from simulator.core.events import (
    BookDelta,
    Event,
    FillExecuted,
    OrderGroupChanged,
    OrderUpdated,
    TickerChanged,
    TradeExecuted,
)
from simulator.server.runtime import Runtime

__all__ = ["Hub"]

_PUBLIC = ("orderbook_delta", "ticker", "trade")
_WANTED = (BookDelta, TickerChanged, TradeExecuted, FillExecuted, OrderUpdated, OrderGroupChanged)


def _wanted(event: Event) -> bool:
    return isinstance(event, _WANTED)


class Hub:
    """Open sessions, the index of their subscriptions, and the task that feeds them."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.sessions: set[Session] = set()
        self._by_key: dict[str, int] = defaultdict(int)
        self._by_user: dict[str, set[Session]] = defaultdict(set)
        # public channels: channel -> ticker -> subscriptions, and channel -> all-market ones
        self._markets: dict[str, dict[str, dict[Subscription, None]]] = {
            c: defaultdict(dict) for c in _PUBLIC
        }
        self._everywhere: dict[str, dict[Subscription, None]] = {c: {} for c in _PUBLIC}
        self._feed = Feed(runtime.bus, self.deliver, _wanted, "WebSocket")
        self._generation = runtime.generation
        self._touched: dict[Session, None] = {}
        self._unpace: Callable[[], None] | None = None

    # ------------------------------------------------------------ connections

    def can_open(self, key_id: str) -> bool:
        return self._by_key[key_id] < self.runtime.settings.ws.max_connections_per_key

    def open(
        self,
        user_id: str,
        key_id: str,
        flusher: Callable[[], None] = lambda: None,
        on_close: Callable[[], None] = lambda: None,
    ) -> Session:
        """A new session for an authenticated connection."""
        session = Session(
            self, self.runtime, user_id, key_id, self.runtime.generation, flusher, on_close
        )
        self.sessions.add(session)
        self._by_key[key_id] += 1
        self._by_user[user_id].add(session)
        if not self._feed.active:
            self._generation = self.runtime.generation
            self._feed.start()
        if self._unpace is None:
            self._unpace = self.runtime.advancer.pacer.add(self.backlog)
        return session

    def close(self, session: Session) -> None:
        """Forget a session whose connection ended."""
        if session not in self.sessions:
            return
        self.sessions.discard(session)
        self.drop_all(session)
        self._by_key[session.key_id] -= 1
        if not self._by_key[session.key_id]:
            del self._by_key[session.key_id]
        users = self._by_user[session.user_id]
        users.discard(session)
        if not users:
            del self._by_user[session.user_id]
        if not self.sessions:
            self._feed.stop()
            if self._unpace is not None:
                self._unpace()
                self._unpace = None

    def backlog(self) -> float:
        """How full the fullest open connection's send queue is (1.0: at `send_queue_frames`);
        a long advance waits between slices while it is high (`simulator.server.pacing`)."""
        fullest = max((len(s.outbox) for s in self.sessions if s.close_code is None), default=0)
        return fullest / self.runtime.settings.ws.send_queue_frames

    async def aclose(self) -> None:
        """Stop the delivery task (server shutdown)."""
        await self._feed.aclose()

    # ------------------------------------------------------------ index

    def index(self, sub: Subscription, markets: list[str] | None) -> None:
        if sub.channel not in self._markets:
            return  # private channels are found through the session
        if markets is None:
            self._everywhere[sub.channel][sub] = None
            return
        by_ticker = self._markets[sub.channel]
        for ticker in markets:
            by_ticker[ticker][sub] = None

    def unindex(self, sub: Subscription, markets: list[str] | None = None) -> None:
        if sub.channel not in self._markets:
            return
        self._everywhere[sub.channel].pop(sub, None)
        by_ticker = self._markets[sub.channel]
        for ticker in markets if markets is not None else list(sub.markets or ()):
            subs = by_ticker.get(ticker)
            if subs is not None:
                subs.pop(sub, None)
                if not subs:
                    del by_ticker[ticker]

    def drop_all(self, session: Session) -> None:
        for sub in session.subscriptions.values():
            self.unindex(sub)
        session.subscriptions.clear()

    # ------------------------------------------------------------ delivery

    def pump(self) -> None:
        """Deliver what the inbox holds now, without waiting for the task's turn."""
        self._feed.pump()

    def deliver(self, items: list[tuple[int, Event] | Reset]) -> None:
        """Render and queue the frames of `items` (events with their journal seq, resets)."""
        settings = self.runtime.settings.ws
        ts = wire.frame_tail(self.runtime.exchange.now() if settings.sending_ts_ms else None)
        for item in items:
            if isinstance(item, Reset):
                self._reset(item)
                continue
            seq, event = item
            if isinstance(event, BookDelta):
                self._book_delta(seq, event, ts)
            elif isinstance(event, TradeExecuted):
                trade = event.trade
                self._public(seq, "trade", trade.ticker, partial(wire.trade_msg, trade), ts)
            elif isinstance(event, TickerChanged):
                build = partial(wire.ticker_msg, event, no_trade_price=settings.no_trade_price)
                self._public(seq, "ticker", event.ticker, build, ts)
            elif isinstance(event, FillExecuted):
                fill = event.fill
                if fill.user_id in self._by_user:
                    msg = wire.encode(wire.fill_msg(fill))
                    self._private(seq, "fill", fill.user_id, fill.ticker, msg, ts)
            elif isinstance(event, OrderUpdated):
                order = event.order
                if order.user_id in self._by_user:
                    msg = wire.encode(wire.user_order_msg(order))
                    self._private(seq, "user_orders", order.user_id, order.ticker, msg, ts)
            elif isinstance(event, OrderGroupChanged) and event.user_id in self._by_user:
                msg = wire.encode(wire.order_group_msg(event))
                self._private(seq, "order_group_updates", event.user_id, None, msg, ts)
        touched = self._touched
        self._touched = {}
        for session in touched:
            session.flush()

    def _live(self, sub: Subscription, seq: int, ticker: str | None) -> bool:
        session = sub.session
        if session.generation != self._generation or session.close_code is not None:
            return False
        return seq > (sub.after if ticker is None else sub.since(ticker))

    def _targets(self, channel: str, ticker: str) -> list[Subscription]:
        subs = self._markets[channel].get(ticker)
        everywhere = self._everywhere[channel]
        if not everywhere:
            return list(subs) if subs else []
        return [*(subs or ()), *everywhere]

    def _book_delta(self, seq: int, event: BookDelta, ts: str) -> None:
        subs = self._targets("orderbook_delta", event.ticker)
        if not subs:
            return
        public: str | None = None
        own: str | None = None
        for sub in subs:
            if not self._live(sub, seq, event.ticker):
                continue
            if event.user_id is not None and sub.session.user_id == event.user_id:
                if own is None:
                    own = wire.encode(wire.book_delta_msg(event, own=True))
                msg = own
            else:
                if public is None:
                    public = wire.encode(wire.book_delta_msg(event, own=False))
                msg = public
            sub.session.data(sub, "orderbook_delta", msg, ts)
            self._touched[sub.session] = None

    def _public(
        self,
        seq: int,
        channel: str,
        ticker: str,
        build: Callable[[], dict[str, Any]],
        ts: str,
    ) -> None:
        subs = self._targets(channel, ticker)
        if not subs:
            return
        kind = wire.FRAME_TYPES[channel]
        msg: str | None = None
        for sub in subs:
            if self._live(sub, seq, ticker):
                if msg is None:
                    msg = wire.encode(build())
                sub.session.data(sub, kind, msg, ts)
                self._touched[sub.session] = None

    def _private(
        self,
        seq: int,
        channel: str,
        user_id: str,
        ticker: str | None,
        msg: str,
        ts: str,
    ) -> None:
        sessions = self._by_user.get(user_id)
        if not sessions:
            return
        kind = wire.FRAME_TYPES[channel]
        for session in list(sessions):
            for sub in list(session.subscriptions.values()):
                if sub.channel != channel or not self._live(sub, seq, None):
                    continue
                if ticker is not None and not sub.covers(ticker):
                    continue
                session.data(sub, kind, msg, ts)
                self._touched[session] = None

    def _reset(self, notice: Reset) -> None:
        self._generation = notice.generation
        code = self.runtime.settings.ws.reset_close_code
        for session in list(self.sessions):
            if session.generation < notice.generation:
                session.close(code, f"exchange {notice.reason}")
                self.drop_all(session)
