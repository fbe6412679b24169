"""One WebSocket connection's subscriptions and commands, without I/O (WEBSOCKET.md §5, §8).

A `Session` is fed the client's frames (`receive_text`, `receive_binary`) and the hub's data
(`data`), and queues the frames to send in `outbox`; the endpoint only moves frames between the
socket and the session. Commands are answered in the order they arrive; each reply echoes the
command `id` (§12.3).

Numbering: sids count from 1 on each connection; `seq` counts the data frames of one sid from 1
(snapshots, deltas, trades, order-group updates). Control frames carry the sid's latest seq
without using one up unless `control_frames_consume_seq` (§14.2); an `unsubscribed` of a sid
that sent no sequenced frame carries 1, the schema's minimum.

Events before a subscription (or before a snapshot of one of its markets) are never delivered
on it: each subscription remembers the journal seq it was made at, and a snapshot the seq it was
read at, so a book rebuilt from snapshot + deltas counts each change once.

Assumption: unknown market tickers are accepted silently (error 16 is retired) and get no
snapshot; `market_ticker` and `market_tickers` together mean both.
Assumption: `add_markets` on a subscription to every market leaves it on every market;
`delete_markets` on one removes nothing. `ok` acks list the subscription's markets.
Assumption: over `max_subscriptions` a subscribe gets error 11 (the table has no closer code).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from api.wire import ws as wire
from api.ws.errors import MESSAGES, CommandError
from simulator.core.clock import WallClock
from simulator.server.runtime import Runtime
from simulator.server.ws_settings import WsSettings

__all__ = ["Index", "Session", "Subscription"]

_MARKETS_OPTIONAL = frozenset({"ticker", "trade", "fill", "user_orders"})
_UPDATABLE = frozenset({"orderbook_delta", "ticker", "trade", "fill", "user_orders"})
_ACTIONS = ("add_markets", "delete_markets", "get_snapshot")
_decoder = msgspec.json.Decoder()


@dataclass(eq=False)
class Subscription:
    """One sid: a channel, its markets (None: every market) and its seq counter.

    Attributes:
        after: Journal seq the subscription was made at; older events are not delivered.
        after_market: Per market, the journal seq its last snapshot was read at.
    """

    sid: int
    channel: str
    session: Session
    markets: dict[str, None] | None
    after: int
    skip_ticker_ack: bool = False
    seq: int = 0
    after_market: dict[str, int] = field(default_factory=dict)

    def covers(self, ticker: str) -> bool:
        return self.markets is None or ticker in self.markets

    def since(self, ticker: str) -> int:
        return self.after_market.get(ticker, self.after)


class Index(Protocol):
    """Where the hub looks up the subscriptions an event goes to."""

    def index(self, sub: Subscription, markets: list[str] | None) -> None:
        """Deliver `markets` (None: every market) of `sub`'s channel to it from now on."""

    def unindex(self, sub: Subscription, markets: list[str] | None = None) -> None:
        """Stop delivering `markets` (None: all of them) to `sub`."""

    def drop_all(self, session: Session) -> None:
        """Stop delivering anything to `session`."""


class Session:
    """The state of one connection.

    Args:
        hub: Where subscriptions are indexed for delivery.
        runtime: The running simulator (the exchange is read through it at each use).
        user_id: The authenticated user; private channels carry only its data.
        generation: The runtime generation the connection was opened in.
        flusher: Sends what `outbox` holds; `flush` calls it (the endpoint's writer; the hub
            flushes each session it queued frames for once per batch of events, the endpoint
            after each command).
        on_close: Called once when the session asks for the connection to be closed (the
            endpoint then stops its writer, which may be blocked on a full socket).
        wall_ms: Real time, for the command rate limit (a transport concern: never the
            simulated clock).
    """

    def __init__(
        self,
        hub: Index,
        runtime: Runtime,
        user_id: str,
        key_id: str,
        generation: int,
        flusher: Callable[[], None] = lambda: None,
        on_close: Callable[[], None] = lambda: None,
        wall_ms: Callable[[], int] | None = None,
    ) -> None:
        self.hub = hub
        self.runtime = runtime
        self.settings: WsSettings = runtime.settings.ws
        self.user_id = user_id
        self.key_id = key_id
        self.generation = generation
        self.subscriptions: dict[int, Subscription] = {}
        self.outbox: deque[str] = deque()
        self.close_code: tuple[int, str] | None = None
        self._flusher = flusher
        self._on_close = on_close
        self._wall_ms = wall_ms if wall_ms is not None else WallClock().now_ms
        self._tokens = float(self.settings.commands_per_second)
        self._refilled_ms = self._wall_ms()
        self._next_sid = 1
        self._held_until_ms = 0  # a ws_latency fault: nothing is sent before this wall time

    # ------------------------------------------------------------ output

    def send(self, frame: str) -> None:
        """Queue one frame; past `send_queue_frames` the connection is ended with error 25."""
        if self.close_code is not None:
            return
        self.outbox.append(frame)
        if len(self.outbox) > self.settings.send_queue_frames:
            self._overflow()

    def flush(self) -> None:
        """Hand what is queued to the connection's writer."""
        if self.outbox:
            self._flusher()

    def held_ms(self) -> int:
        """How long the writer must still wait before sending (a `ws_latency` fault), in ms."""
        if not self._held_until_ms:
            return 0
        left = self._held_until_ms - self._wall_ms()
        if left <= 0:
            self._held_until_ms = 0
            return 0
        return left

    def close(self, code: int, reason: str) -> None:
        """Ask the endpoint to close the connection after what is queued."""
        if self.close_code is None:
            self.close_code = (code, reason)
            self._on_close()

    def data(self, sub: Subscription, kind: str, msg: str, tail: str) -> None:
        """Queue one data frame of `sub` (its seq counted if the channel is sequenced).

        `tail` is the frame's end after `msg` (`wire.frame_tail`), the same for a whole batch.
        A `ws_latency` fault that applies holds the connection's frames back (`held_ms`).
        """
        faults = self.runtime.faults
        if len(faults):
            latency = faults.ws_latency(self.user_id, sub.channel)
            if latency:
                until = self._wall_ms() + latency
                self._held_until_ms = max(self._held_until_ms, until)
        if sub.channel in wire.SEQUENCED:
            sub.seq += 1
            self.send(f'{{"type":"{kind}","sid":{sub.sid},"seq":{sub.seq},"msg":{msg}{tail}')
        else:
            self.send(f'{{"type":"{kind}","sid":{sub.sid},"msg":{msg}{tail}')

    def _overflow(self) -> None:
        self.outbox.clear()
        ts = self._sending_ts()
        for sub in list(self.subscriptions.values()):
            self.outbox.append(self._error_frame(None, CommandError(25, sid=sub.sid), ts))
            if self.settings.unsubscribed_after_terminal_error:
                self.outbox.append(
                    wire.frame("unsubscribed", None, sid=sub.sid, seq=max(sub.seq, 1))
                )
        if not self.subscriptions:
            self.outbox.append(self._error_frame(None, CommandError(25), ts))
        self.close_code = (1013, "subscription buffer overflow")
        self.hub.drop_all(self)
        self._on_close()

    def _sending_ts(self) -> int | None:
        return self.runtime.exchange.now() if self.settings.sending_ts_ms else None

    # ------------------------------------------------------------ input

    def receive_binary(self) -> None:
        """A binary frame: not a command (§1: text frames only)."""
        self._reply_error(None, CommandError(1 if self._take_token() else 27))

    def _take_token(self) -> bool:
        rate = self.settings.commands_per_second
        now = self._wall_ms()
        elapsed = max(now - self._refilled_ms, 0)
        self._refilled_ms = now
        self._tokens = min(float(rate), self._tokens + elapsed * rate / 1000)
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def receive_text(self, text: str) -> None:
        """Handle one command frame."""
        if not self._take_token():
            self._reply_error(_command_id(text), CommandError(27))
            return
        if len(text) > self.settings.max_command_bytes:
            self._reply_error(None, CommandError(1))
            return
        try:
            command = _decoder.decode(text)
        except (msgspec.DecodeError, RecursionError, ValueError):
            self._reply_error(None, CommandError(1))
            return
        if not isinstance(command, dict):
            self._reply_error(None, CommandError(1))
            return
        command_id = command.get("id")
        if command_id is not None and (
            type(command_id) is not int or command_id < 0 or command_id >= 1 << 63
        ):
            self._reply_error(None, CommandError(1))
            return
        try:
            self._dispatch(command_id, command)
        except CommandError as error:
            self._reply_error(command_id, error)

    def _dispatch(self, command_id: int | None, command: dict[str, Any]) -> None:
        cmd = command.get("cmd")
        if not isinstance(cmd, str):
            raise CommandError(1 if "cmd" in command else 5)
        if cmd == "list_subscriptions":
            self._list(command_id)
            return
        handler = {
            "subscribe": self._subscribe,
            "unsubscribe": self._unsubscribe,
            "update_subscription": self._update,
        }.get(cmd)
        if handler is None:
            raise CommandError(5)
        params = command.get("params")
        if params is None:
            raise CommandError(2)
        if not isinstance(params, dict):
            raise CommandError(1)
        handler(command_id, params)

    # ------------------------------------------------------------ commands

    def _subscribe(self, command_id: int | None, params: dict[str, Any]) -> None:
        channels = params.get("channels")
        if channels is None or channels == []:
            raise CommandError(3)
        if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
            raise CommandError(1)
        unknown = [c for c in channels if c not in wire.CHANNELS]
        if unknown:
            raise CommandError(8)
        markets = _markets(params)
        initial = _flag(params, "send_initial_snapshot")
        skip_ack = _flag(params, "skip_ticker_ack")
        if "orderbook_delta" in channels and not markets:
            raise CommandError(14)
        if len(markets) > self.settings.max_markets_per_subscription:
            raise CommandError(26, market_tickers=markets)
        merge = self.settings.repeat_subscribe == "ok_merge"
        targets = [(c, self._existing(c) if merge else None) for c in dict.fromkeys(channels)]
        opening = sum(1 for _, existing in targets if existing is None)
        if len(self.subscriptions) + opening > self.settings.max_subscriptions:
            raise CommandError(11)
        for channel, existing in targets:
            if existing is not None:
                self._merge(command_id, existing, markets)
            else:
                self._open(command_id, channel, markets, initial=initial, skip_ack=skip_ack)

    def _existing(self, channel: str) -> Subscription | None:
        for sub in self.subscriptions.values():
            if sub.channel == channel:
                return sub
        return None

    def _open(
        self,
        command_id: int | None,
        channel: str,
        markets: list[str],
        *,
        initial: bool,
        skip_ack: bool,
    ) -> None:
        exchange = self.runtime.exchange
        sid = self._next_sid
        self._next_sid += 1
        chosen = dict.fromkeys(markets) if markets or channel not in _MARKETS_OPTIONAL else None
        if channel == "order_group_updates":
            chosen = None
        sub = Subscription(
            sid, channel, self, chosen, exchange.journal.last_seq, skip_ticker_ack=skip_ack
        )
        self.subscriptions[sid] = sub
        self.hub.index(sub, None if chosen is None else list(chosen))
        ts = self._sending_ts()
        msg = wire.encode({"channel": channel, "sid": sid})
        self.send(wire.frame("subscribed", msg, command_id=command_id, sending_ts_ms=ts))
        if channel == "orderbook_delta":
            for ticker in markets:
                self._snapshot(sub, ticker, None)
        elif channel == "ticker" and initial:
            self._tickers(sub, markets or list(exchange.markets))

    def _merge(self, command_id: int | None, sub: Subscription, markets: list[str]) -> None:
        # repeat_subscribe=ok_merge: the event-contract server's answer to a second subscribe
        self._check_room(sub, markets)
        added = self._add(sub, markets)
        self._ack(command_id, sub)
        self._added_snapshots(sub, added)

    def _check_room(self, sub: Subscription, markets: list[str]) -> None:
        if sub.markets is None:
            return
        after = len(sub.markets) + sum(1 for m in markets if m not in sub.markets)
        if after > self.settings.max_markets_per_subscription:
            raise CommandError(26, sid=sub.sid, market_tickers=markets)

    def _unsubscribe(self, command_id: int | None, params: dict[str, Any]) -> None:
        sids = params.get("sids")
        if sids is None or sids == []:
            raise CommandError(4)
        if not isinstance(sids, list) or not all(type(s) is int for s in sids):
            raise CommandError(1)
        for sid in sids:
            if sid not in self.subscriptions:
                raise CommandError(7)
        ts = self._sending_ts()
        for sid in dict.fromkeys(sids):
            sub = self.subscriptions.pop(sid)
            self.hub.unindex(sub)
            seq = self._control_seq(sub) or 1
            self.send(
                wire.frame(
                    "unsubscribed", None, command_id=command_id, sid=sid, seq=seq, sending_ts_ms=ts
                )
            )

    def _update(self, command_id: int | None, params: dict[str, Any]) -> None:
        action = params.get("action")
        if action is None:
            raise CommandError(15)
        if not isinstance(action, str):
            raise CommandError(1)
        sid = _one_sid(params)
        sub = self.subscriptions.get(sid)
        if sub is None:
            raise CommandError(7)
        if action not in _ACTIONS or sub.channel not in _UPDATABLE:
            raise CommandError(13, sid=sub.sid)
        if action == "get_snapshot" and sub.channel != "orderbook_delta":
            raise CommandError(13, sid=sub.sid)
        markets = _markets(params)
        if action == "get_snapshot":
            self._get_snapshot(command_id, sub, markets)
            return
        if not markets:
            raise CommandError(14, sid=sub.sid)
        if action == "add_markets":
            self._check_room(sub, markets)
            added = self._add(sub, markets)
            self._ack(command_id, sub)
            self._added_snapshots(sub, added)
            if sub.channel == "ticker" and _flag(params, "send_initial_snapshot"):
                self._tickers(sub, added)
            return
        if sub.markets is not None:
            removed = [m for m in markets if m in sub.markets]
            for ticker in removed:
                del sub.markets[ticker]
                sub.after_market.pop(ticker, None)
            self.hub.unindex(sub, removed)
        self._ack(command_id, sub)

    def _add(self, sub: Subscription, markets: list[str]) -> list[str]:
        if sub.markets is None:
            return []
        added = [m for m in dict.fromkeys(markets) if m not in sub.markets]
        for ticker in added:
            sub.markets[ticker] = None
        self.hub.index(sub, added)
        return added

    def _added_snapshots(self, sub: Subscription, added: list[str]) -> None:
        if sub.channel == "orderbook_delta" and self.settings.add_markets_snapshots:
            for ticker in added:
                self._snapshot(sub, ticker, None)

    def _get_snapshot(self, command_id: int | None, sub: Subscription, markets: list[str]) -> None:
        chosen = [m for m in markets if sub.covers(m)] if markets else list(sub.markets or {})
        order = self.settings.get_snapshot_reply
        if order == "ok_then_snapshot":
            self._ack(command_id, sub)
        for ticker in chosen:
            self._snapshot(sub, ticker, command_id)
        if order == "snapshot_then_ok":
            self._ack(command_id, sub)

    def _list(self, command_id: int | None) -> None:
        items = [{"channel": s.channel, "sid": s.sid} for s in self.subscriptions.values()]
        self.send(
            wire.frame(
                "ok", wire.encode(items), command_id=command_id, sending_ts_ms=self._sending_ts()
            )
        )

    # ------------------------------------------------------------ frames

    def _snapshot(self, sub: Subscription, ticker: str, command_id: int | None) -> None:
        exchange = self.runtime.exchange
        data = exchange.markets.get(ticker)
        if data is None:
            return
        sub.after_market[ticker] = exchange.journal.last_seq
        msg = wire.book_snapshot_msg(data, omit_empty=self.settings.empty_book_sides == "omit")
        sub.seq += 1
        self.send(
            wire.frame(
                "orderbook_snapshot",
                wire.encode(msg),
                command_id=command_id,
                sid=sub.sid,
                seq=sub.seq,
                sending_ts_ms=self._sending_ts(),
            )
        )

    def _tickers(self, sub: Subscription, markets: Iterable[str]) -> None:
        exchange = self.runtime.exchange
        ts = self._sending_ts()
        for ticker in markets:
            data = exchange.markets.get(ticker)
            if data is None:
                continue
            msg = wire.ticker_now(exchange, data, no_trade_price=self.settings.no_trade_price)
            self.send(wire.frame("ticker", wire.encode(msg), sid=sub.sid, sending_ts_ms=ts))

    def _control_seq(self, sub: Subscription) -> int | None:
        if sub.channel not in wire.SEQUENCED:
            return None
        if self.settings.control_frames_consume_seq:
            sub.seq += 1
        return sub.seq or None

    def _ack(self, command_id: int | None, sub: Subscription) -> None:
        msg = None
        if not sub.skip_ticker_ack:
            msg = wire.encode({"market_tickers": list(sub.markets or {})})
        self.send(
            wire.frame(
                "ok",
                msg,
                command_id=command_id,
                sid=sub.sid,
                seq=self._control_seq(sub),
                sending_ts_ms=self._sending_ts(),
            )
        )

    def _error_frame(self, command_id: int | None, error: CommandError, ts: int | None) -> str:
        body: dict[str, Any] = {"code": error.code, "msg": MESSAGES[error.code]}
        if error.market_tickers:
            body["market_ticker"] = error.market_tickers[0]
            body["market_tickers"] = error.market_tickers
        sub = self.subscriptions.get(error.sid) if error.sid is not None else None
        seq = self._control_seq(sub) if sub is not None else None
        return wire.frame(
            "error",
            wire.encode(body),
            command_id=command_id,
            sid=sub.sid if sub is not None else None,
            seq=seq,
            sending_ts_ms=ts,
        )

    def _reply_error(self, command_id: int | None, error: CommandError) -> None:
        self.send(self._error_frame(command_id, error, self._sending_ts()))


def _command_id(text: str) -> int | None:
    # the id of a refused command when it is cheap to find (a small, well-formed frame)
    if len(text) > 4096:
        return None
    try:
        command = _decoder.decode(text)
    except (msgspec.DecodeError, RecursionError, ValueError):
        return None
    command_id = command.get("id") if isinstance(command, dict) else None
    return command_id if type(command_id) is int and 0 <= command_id < 1 << 63 else None


def _markets(params: dict[str, Any]) -> list[str]:
    single = params.get("market_ticker")
    many = params.get("market_tickers")
    found: list[str] = []
    if single is not None:
        if not isinstance(single, str) or not single:
            raise CommandError(11)
        found.append(single)
    if many is not None:
        if not isinstance(many, list) or not all(isinstance(m, str) and m for m in many):
            raise CommandError(11)
        found.extend(many)
    return list(dict.fromkeys(found))


def _flag(params: dict[str, Any], name: str) -> bool:
    value = params.get(name, False)
    if not isinstance(value, bool):
        raise CommandError(11)
    return value


def _one_sid(params: dict[str, Any]) -> int:
    sid = params.get("sid")
    sids = params.get("sids")
    if (sid is None) == (sids is None):
        raise CommandError(12)
    if sids is not None:
        if not isinstance(sids, list) or len(sids) != 1:
            raise CommandError(12)
        sid = sids[0]
    if type(sid) is not int:
        raise CommandError(1)
    return sid
