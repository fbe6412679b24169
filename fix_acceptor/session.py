"""The FIX session layer (FIX.md §2): a sans-I/O state machine per connection.

Like the protocol objects of the `websockets` library, `FixSession` does no I/O and reads no
clock: the transport feeds it decoded messages (`fix_acceptor.message.Message`) with the wall
clock in epoch milliseconds, and carries out the outputs it returns, in order. It never depends
on the codec except for `timestamp` / `parse_timestamp` (SendingTime 52 formatting).

API
===

Constants: `SESSION_TYPES = ("KalshiNR", "KalshiDC", "KalshiRT", "KalshiMD")`.

`SessionSettings` (frozen dataclass, defaults documented on the class).

`FixSession(settings, auth, stores, listener_port_type=None, *, connected_ms=None)`:

- `receive(message, now_ms) -> list[Output]`: one decoded inbound message.
- `receive_error(reason, now_ms) -> list[Output]`: the codec dropped a frame. Counted in
  `decode_errors` (last reason in `last_decode_error`); never consumes a MsgSeqNum, is not
  inbound activity for the heartbeat timers, and returns `[]`.
- `tick(now_ms) -> list[Output]`: timers (Heartbeat, TestRequest, heartbeat timeout, the Logon
  timeout when `connected_ms` was given). Call it at `next_timer_ms()` or just periodically.
- `next_timer_ms() -> int | None`: when `tick` next has something to do (None: nothing).
- `send_application(message, now_ms) -> list[Output]`: an application message for the client
  (8, 9, j, r, UOH, W/X/Y, U2/U3, ...): `message` holds 35 and the body; the session adds
  49/56/34/52 (header fields the message carries are dropped), numbers it and, on KalshiRT,
  stores it for resends. On a KalshiRT session that is closing or closed the message is queued
  in the store and sent after the next Logon (so a report is never lost on RT); on other
  session types it is dropped (`[]`). Raises `RuntimeError` if the session never logged on.
- `logout(text, now_ms) -> list[Output]`: the acceptor ends the session (Logout 58=text, Close).
- `connection_lost(now_ms) -> list[Output]`: TCP is gone. Releases the claim; returns
  `[CancelOnDisconnect(key_id, session_type)]` when the session logged on with 8013=Y, else
  `[]`. Idempotent.
- Attributes: `state` (`"awaiting_logon"` → `"active"` → `"closing"` (a Close was emitted) →
  `"closed"` (after `connection_lost`)), `logon: Logon | None` (set on a successful Logon),
  `settings`, `port_type` (the `listener_port_type` given), `decode_errors`,
  `last_decode_error`; properties `key_id`, `session_type`, `next_out_seq`, `next_in_seq`.

Outputs (frozen dataclasses; `Output` is their union):

- `Send(message)`: a complete message (35, 49, 56, 34, 52 first; 43/122 on resends) ready for
  `codec.encode`.
- `Deliver(message)`: an inbound application message, as received (34 included, for 45 of a
  35=j). Every known MsgType that is not a session message is delivered whatever the session
  type: the application answers 35=j (380=3) for those its session type does not take (e.g.
  q on KalshiRT, D on KalshiMD).
- `LoggedOn(logon)`: right after the Send of the Logon reply.
- `Close(reason, unresponsive)`: close the TCP connection once the outputs before it are
  written; `unresponsive` after a heartbeat or Logon timeout (the client may never read them).
- `CancelOnDisconnect(key_id, session_type)`: only from `connection_lost`.

`Logon` (frozen dataclass): `key_id`, `session_type`, `heartbeat_s`, `reset` (141=Y),
`cancel_on_disconnect` (8013), `listener` (20126), `skip_pending` (21011), `use_expired_status`
(21012), `ioc_cancel_report` (21007), `preserve_order_qty` (21008), `message` (the raw Logon).

`Authenticator` (Protocol): `verify_logon(key_id, payload, signature) -> str | None` (None:
valid; else the Logout text), `claim(key_id, session_type) -> bool` (False: a session is live:
Logout "already exists"), `release(key_id, session_type)`.

`SessionStore`: the KalshiRT continuity across reconnects, owned by the acceptor, one per
`(key_id, "KalshiRT")`; `stores` is called with that pair after a successful RT Logon check
(NR/DC/MD sessions use a private store, discarded with the session). It holds `next_out_seq`,
`next_in_seq`, the last `limit` application messages sent (by seq), and a queue of application
messages produced while no connection was live (`queue(message)`, same bound, oldest dropped
and counted in `dropped`). A session that takes the store sets `limit` to
`settings.rt_store_messages`.

Decisions (FIX.md references in brackets)
=========================================

Logon [§2.2-2.4, §2.10]: the first message must be a Logon; anything else, and every failed
check, gets one Logout (58 = the reason, 34=1, nothing before it [§2.4]) and Close. Checks in
order: well-formed fields (tag > 0, value non-empty); 34 an integer >= 1; 56 in
`SESSION_TYPES`, on any port (routing by 56; `listener_port_type` is informational only, FIX.md
Appendix B 2); 49 present; no 50; 98=0; 108 an integer in [min_heartbeat_s, max_heartbeat_s]
(absent: 30, the margin docs' default); 1137=9 (required: the SDK and QuickFIX send it);
booleans (141, 8013, 20126, 21011, 21012, 21007, 21008, 21005) Y or N; 52 present and
parseable; 96 present, 95 = len(96), 96 base64; signature (`auth.verify_logon` over
`52 SOH "A" SOH 34 SOH 49 SOH 56`, values as on the wire, latin-1 = the wire bytes); SendingTime
within `sending_time_tolerance_ms` of `now_ms` (else Reject 373=10 at 34=1, then Logout at
34=2 [§2.4, §4]: the one case with a message before the Logout); 141=Y on NR/DC/MD; listener
(20126=Y) only on NR/RT, with 21011=Y, without 8013=Y; on NR/DC/MD 34 must be 1; `auth.claim`.
Logout texts: "First message must be a Logon (35=A)", "MsgSeqNum (34) missing or invalid",
"CompID problem: unknown TargetCompID (56) '<v>'", "SenderCompID (49) missing",
"SenderSubID (50) is not allowed on Logon", "EncryptMethod (98) must be 0",
"HeartBtInt (108) must be an integer from 3 to 300", "DefaultApplVerID (1137) must be 9",
"Tag <t> must be Y or N", "SendingTime (52) missing", "SendingTime (52) invalid",
"RawData (96) signature missing", "RawDataLength (95) does not match RawData (96)",
"signature error: RawData (96) is not base64", <the authenticator's text>,
"SendingTime accuracy problem", "ResetSeqNumFlag (141=Y) required on <type>",
"ListenerSession (20126) is only allowed on KalshiNR and KalshiRT",
"ListenerSession (20126) requires SkipPendingExecReports (21011=Y)",
"CancelOrdersOnDisconnect (8013) must be N on a listener session",
"MsgSeqNum too high, expected 1 but received <n>", "already exists".

Logon reply: `35=A 98=0 108=<client value> [141=Y when the client reset] 1137=9`, 49 = the
client's 56 (or `settings.sender_comp_id`), 56 = the key id. After a reset (always on NR/DC/MD;
141=Y on RT, which also clears the RT store's numbering and stored messages but keeps its
queue: the client has never seen those) it is 34=1. An RT Logon without 141 resumes from the
store: reply at `next_out_seq`; the Logon's 34 lower than `next_in_seq` → Logout "MsgSeqNum too
low, expected N but received M" (at the store's next seq) + Close; higher → after the reply,
ResendRequest `7=<expected> 16=0`. Then the messages queued in the store are sent (numbered and
stored as usual).

Every outbound 52 is `timestamp(now_ms)`: the wall clock the caller passes.

Inbound MsgSeqNum [§2.6, §2.7]: a Logout (35=5) is answered (Logout without 58, Close) whatever
its 34. Otherwise: missing/invalid 34 → Logout + Close; 49/56 not the Logon's → Reject 373=9,
Logout "CompID problem" + Close. Then by 34 against the expected seq:
- lower: 43=Y → dropped silently, except a gap-fill SequenceReset that moves expected forward
  (the SDK answers a ResendRequest with `34=<BeginSeqNo>`, 43=Y, 123=Y); a reset-mode
  SequenceReset is processed (its 34 is ignored, per FIX); else Logout "MsgSeqNum too low,
  expected N but received M" + Close.
- higher, NR/DC/MD: Logout "MsgSeqNum too high, expected N but received M" + Close.
- higher, RT: the message is buffered (at most `max_inbound_buffer` messages, else Logout
  "too many messages waiting for a resend" + Close) and one ResendRequest `7=<expected> 16=0`
  goes out per gap (not again until the buffer has drained). A ResendRequest or a reset-mode
  SequenceReset among them is acted on at once (as FIX asks, so both sides never wait on each
  other). Buffered messages are processed in seq order as soon as the gap is closed by the
  client's resends or gap fill; those a gap fill skips are discarded.
- equal: validated and processed; expected +1 (also when the message is rejected).

Validation of a processed message, each failure a Reject 35=3 (45, 371, 372, 373, 58) that
consumes the seq: tag <= 0 → 373=0; empty value → 4; no 35 → 1; 35 not a FIX/Kalshi MsgType
→ 11; 52 missing → 1, unparseable → 6, outside the tolerance → 10; 43 not Y/N → 6; TestRequest
without 112 → 1; ResendRequest 7/16 missing → 1, not integers → 6, 7 < 1, 16 < 7 (16 != 0) or
7 past the last seq sent → 5; SequenceReset 36 missing → 1, not an integer / 123 not Y/N → 6,
36 lower than expected (reset) or not above 34 (gap fill) → 5 (never backwards); ResendRequest
or SequenceReset on NR/DC/MD → 373=11 (not supported there, [§2.6]); a Logon on an active
session → Logout + Close. 122 is not required nor checked. An inbound Reject (35=3) is
consumed (no answer).
Known MsgTypes: the FIXT session types, the FIX namespace (one character 0-9, A-Z but U, a-z;
two letters A-D + A-Z), and the Kalshi ones (U1 U2 U3 U7 U8 U9 UA UB UC UD UE UMS UOG UOH).

Resends on RT [§2.7]: a ResendRequest [7, 16 or the last sent] resends the stored application
messages with their seq, 43=Y, 122=<original 52>, a new 52 and the same body; every run of
seqs not stored (session messages, or evicted by the `rt_store_messages` bound) becomes one
`35=4 43=Y 122=<now> 123=Y 36=<seq after the run>` at 34=<first of the run>. Neither uses a new
seq.

Heartbeats [§2.5]: a Heartbeat when nothing was sent for HeartBtInt; a TestRequest is answered
at once with 35=0 echoing 112; after `heartbeat_grace` x HeartBtInt without any inbound message
a TestRequest `112=TEST<n>` goes out, and if nothing arrives within another HeartBtInt:
Logout "heartbeat timeout" + Close. Any inbound message counts as activity.
Logon timeout: with `connected_ms`, no Logon within `logon_timeout_ms` → Close (no Logout: the
peer is unidentified).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal, Protocol

from fix_acceptor.codec import parse_timestamp, timestamp
from fix_acceptor.message import Field, Message, Tag

__all__ = [
    "SESSION_TYPES",
    "Authenticator",
    "CancelOnDisconnect",
    "Close",
    "Deliver",
    "FixSession",
    "LoggedOn",
    "Logon",
    "Output",
    "Send",
    "SessionSettings",
    "SessionState",
    "SessionStore",
    "is_known_msg_type",
]

SESSION_TYPES: Final = ("KalshiNR", "KalshiDC", "KalshiRT", "KalshiMD")
RETRANSMISSION: Final = "KalshiRT"
_RESET_REQUIRED: Final = frozenset({"KalshiNR", "KalshiDC", "KalshiMD"})
_LISTENER_TYPES: Final = frozenset({"KalshiNR", "KalshiRT"})
_SESSION_MSG_TYPES: Final = frozenset({"0", "1", "2", "3", "4", "5", "A"})
_KALSHI_MSG_TYPES: Final = frozenset(
    {"U1", "U2", "U3", "U7", "U8", "U9", "UA", "UB", "UC", "UD", "UE", "UMS", "UOG", "UOH"}
)
_FIX_MSG_TYPE: Final = re.compile(r"[0-9A-TV-Za-z]|[A-D][A-Z]")
_BOOLEAN_LOGON_TAGS: Final = (
    Tag.ResetSeqNumFlag,
    Tag.CancelOrdersOnDisconnect,
    Tag.ListenerSession,
    Tag.SkipPendingExecReports,
    Tag.UseExpiredOrdStatus,
    Tag.EnableIocCancelReport,
    Tag.PreserveOriginalOrderQty,
    Tag.UseDollars,
)
_HEADER_TAGS: Final = frozenset(
    {
        Tag.BeginString,
        Tag.BodyLength,
        Tag.CheckSum,
        Tag.MsgType,
        Tag.SenderCompID,
        Tag.TargetCompID,
        Tag.MsgSeqNum,
        Tag.SendingTime,
        Tag.PossDupFlag,
        Tag.PossResend,
        Tag.OrigSendingTime,
    }
)
_DEFAULT_HEARTBEAT_S: Final = 30
_SOH: Final = "\x01"

# SessionRejectReason (373)
_INVALID_TAG: Final = 0
_REQUIRED_MISSING: Final = 1
_NO_VALUE: Final = 4
_BAD_VALUE: Final = 5
_BAD_FORMAT: Final = 6
_COMP_ID: Final = 9
_SENDING_TIME: Final = 10
_BAD_MSG_TYPE: Final = 11

SessionState = Literal["awaiting_logon", "active", "closing", "closed"]


@lru_cache(maxsize=256)
def is_known_msg_type(msg_type: str) -> bool:
    """Whether `msg_type` is a FIX / Kalshi MsgType (else a session Reject 373=11)."""
    return (
        msg_type in _SESSION_MSG_TYPES
        or msg_type in _KALSHI_MSG_TYPES
        or _FIX_MSG_TYPE.fullmatch(msg_type) is not None
    )


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """Settings of the session layer.

    Attributes:
        sending_time_tolerance_ms: Largest |SendingTime (52) - wall clock| accepted (FIX.md
            §2.1: 30 s).
        min_heartbeat_s: Smallest HeartBtInt (108) accepted (margin: >= 3).
        max_heartbeat_s: Largest HeartBtInt accepted (our choice: 300 s; a longer interval
            would keep a dead connection claimed for more than 12 minutes).
        heartbeat_grace: Inbound silence tolerated before our TestRequest, in HeartBtInts; the
            connection is dropped one more HeartBtInt later (FIX.md §2.5: the SDK can be up to
            ~1.5 x 108 apart).
        rt_store_messages: Application messages kept per KalshiRT store for resends (older
            ones are answered with a gap fill), and the bound of its offline queue.
        sender_comp_id: Our SenderCompID (49); None echoes the client's 56 (e.g. `KalshiNR`).
        max_inbound_buffer: KalshiRT messages held while waiting for a resend; one more ends
            the session.
        logon_timeout_ms: With `FixSession(connected_ms=...)`: time allowed for the Logon.
    """

    sending_time_tolerance_ms: int = 30_000
    min_heartbeat_s: int = 3
    max_heartbeat_s: int = 300
    heartbeat_grace: float = 1.5
    rt_store_messages: int = 100_000
    sender_comp_id: str | None = None
    max_inbound_buffer: int = 10_000
    logon_timeout_ms: int = 10_000

    def __post_init__(self) -> None:
        if not 1 <= self.min_heartbeat_s <= self.max_heartbeat_s:
            raise ValueError("need 1 <= min_heartbeat_s <= max_heartbeat_s")
        if self.heartbeat_grace < 1 or self.rt_store_messages < 0 or self.max_inbound_buffer < 1:
            raise ValueError("need heartbeat_grace >= 1, rt_store_messages >= 0, buffer >= 1")


@dataclass(frozen=True, slots=True)
class Logon:
    """A successful Logon (35=A) and the options it chose (FIX.md §2.2)."""

    key_id: str
    session_type: str
    heartbeat_s: int
    reset: bool
    cancel_on_disconnect: bool
    listener: bool
    skip_pending: bool
    use_expired_status: bool
    ioc_cancel_report: bool
    preserve_order_qty: bool
    message: Message


@dataclass(frozen=True, slots=True)
class Send:
    """Write `message` (complete but for 8, 9 and 10, which `codec.encode` adds)."""

    message: Message


@dataclass(frozen=True, slots=True)
class Deliver:
    """An inbound application message for the application layer."""

    message: Message


@dataclass(frozen=True, slots=True)
class LoggedOn:
    """The session is logged on (its Logon reply is the Send just before)."""

    logon: Logon


@dataclass(frozen=True, slots=True)
class Close:
    """Close the TCP connection after writing what came before.

    `unresponsive`: the client went silent (a heartbeat or Logon timeout), so what is still
    unsent may never be read: the connection need not wait for it.
    """

    reason: str
    unresponsive: bool = False


@dataclass(frozen=True, slots=True)
class CancelOnDisconnect:
    """The session had CancelOrdersOnDisconnect (8013=Y): cancel the key's open orders."""

    key_id: str
    session_type: str


Output = Send | Deliver | LoggedOn | Close | CancelOnDisconnect


class Authenticator(Protocol):
    """What the session layer needs from the key registry and the table of live sessions."""

    def verify_logon(self, key_id: str, payload: bytes, signature: bytes) -> str | None:
        """None if `signature` over `payload` is valid for `key_id`'s key, else the Logout text."""
        ...

    def claim(self, key_id: str, session_type: str) -> bool:
        """Reserve the (key, session type) pair; False when a session of it is already live."""
        ...

    def release(self, key_id: str, session_type: str) -> None:
        """Undo a successful `claim`."""
        ...


class SessionStore:
    """Sequence numbers and messages of a KalshiRT session, kept across its connections.

    Args:
        limit: How many sent application messages are kept, and how many queued ones.
    """

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self.next_out_seq = 1
        self.next_in_seq = 1
        self.dropped = 0
        self._sent: OrderedDict[int, Message] = OrderedDict()
        self._queue: deque[Message] = deque()

    def __len__(self) -> int:
        """How many sent messages are stored."""
        return len(self._sent)

    def remember(self, seq: int, message: Message) -> None:
        """Keep sent application message `seq` (the complete message as sent)."""
        if self.limit <= 0:
            return
        self._sent[seq] = message
        while len(self._sent) > self.limit:
            self._sent.popitem(last=False)

    def stored(self, seq: int) -> Message | None:
        return self._sent.get(seq)

    def first_stored(self) -> int | None:
        """The lowest seq still stored."""
        return next(iter(self._sent), None)

    def queue(self, message: Message) -> None:
        """An application message (35 and body) for the next connection of this session."""
        if len(self._queue) >= max(self.limit, 1):
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(message)

    @property
    def queued(self) -> int:
        return len(self._queue)

    def take_queued(self) -> list[Message]:
        items = list(self._queue)
        self._queue.clear()
        return items

    def reset(self) -> None:
        """ResetSeqNumFlag: numbering from 1 both ways, nothing to resend (the queue stays)."""
        self.next_out_seq = 1
        self.next_in_seq = 1
        self._sent.clear()


def _int(value: str | None) -> int | None:
    if value is None or not value.isascii() or not value.isdigit():
        return None
    return int(value)


def _field_problem(message: Message) -> tuple[int, int, str] | None:
    """(373 reason, tag, text) of the first malformed field."""
    if message.well_formed:
        return None
    for tag, value in message.fields:
        if tag <= 0:
            return _INVALID_TAG, tag, f"Invalid tag number {tag}"
        if value == "":
            return _NO_VALUE, tag, f"Tag specified without a value: {tag}"
    return None


class _Problem(Exception):
    """A failed check: Reject 35=3 with these fields (raised and caught inside the session)."""

    def __init__(self, reason: int, tag: int | None, text: str) -> None:
        super().__init__(text)
        self.reason = reason
        self.tag = tag
        self.text = text


_MISSING: Final = object()


class FixSession:
    """One FIX connection's session layer (module docstring: the API and its rules).

    Args:
        settings: The session layer's settings.
        auth: Signature check and the live-session table.
        stores: The KalshiRT store of `(key_id, "KalshiRT")`, kept by the acceptor.
        listener_port_type: The session type of the port the connection came in on, or None;
            informational (routing is by 56 on every port).
        connected_ms: When the connection was accepted: enables the Logon timeout.
    """

    def __init__(
        self,
        settings: SessionSettings,
        auth: Authenticator,
        stores: Callable[[tuple[str, str]], SessionStore],
        listener_port_type: str | None = None,
        *,
        connected_ms: int | None = None,
    ) -> None:
        self.settings = settings
        self.port_type = listener_port_type
        self.state: SessionState = "awaiting_logon"
        self.logon: Logon | None = None
        self.decode_errors = 0
        self.last_decode_error: str | None = None
        self._auth = auth
        self._stores = stores
        self._connected_ms = connected_ms
        self._store = SessionStore(0)
        self._claimed: tuple[str, str] | None = None
        self._sender = settings.sender_comp_id or "Kalshi"
        self._target = "unknown"
        self._heartbeat_ms = _DEFAULT_HEARTBEAT_S * 1000
        self._last_sent_ms = 0
        self._last_received_ms = 0
        self._test_request: tuple[str, int] | None = None
        self._test_requests = 0
        self._buffer: dict[int, Message | None] = {}
        self._resend_requested = False
        # the last SendingTime read and its value (a client stamps many messages alike)
        self._sending_time: tuple[str, int] = ("", 0)
        self._retransmission = False  # a KalshiRT session is logged on

    # -- inspection --------------------------------------------------------------------------

    @property
    def key_id(self) -> str | None:
        return self.logon.key_id if self.logon is not None else None

    @property
    def session_type(self) -> str | None:
        return self.logon.session_type if self.logon is not None else None

    @property
    def next_out_seq(self) -> int:
        return self._store.next_out_seq

    @property
    def next_in_seq(self) -> int:
        return self._store.next_in_seq

    def next_timer_ms(self) -> int | None:
        """When `tick` next has something to do; None when no timer runs."""
        if self.state == "awaiting_logon":
            if self._connected_ms is None:
                return None
            return self._connected_ms + self.settings.logon_timeout_ms
        if self.state != "active":
            return None
        heartbeat = self._last_sent_ms + self._heartbeat_ms
        if self._test_request is not None:
            silence = self._test_request[1] + self._heartbeat_ms
        else:
            silence = self._last_received_ms + self._grace_ms
        return min(heartbeat, silence)

    @property
    def _grace_ms(self) -> int:
        return round(self.settings.heartbeat_grace * self._heartbeat_ms)

    # -- inputs ------------------------------------------------------------------------------

    def receive(self, message: Message, now_ms: int) -> list[Output]:
        """One decoded inbound message."""
        if self.state == "awaiting_logon":
            return self._on_logon(message, now_ms)
        if self.state != "active":
            return []
        self._last_received_ms = now_ms
        self._test_request = None
        return self._on_message(message, now_ms)

    def receive_error(self, reason: str, now_ms: int) -> list[Output]:
        """The codec dropped a frame: counted, nothing else."""
        self.decode_errors += 1
        self.last_decode_error = reason
        return []

    def tick(self, now_ms: int) -> list[Output]:
        """Run the timers due at `now_ms`."""
        if self.state == "awaiting_logon":
            due = self.next_timer_ms()
            if due is not None and now_ms >= due:
                self.state = "closing"
                return [Close("no Logon received", unresponsive=True)]
            return []
        if self.state != "active":
            return []
        out: list[Output] = []
        if self._test_request is not None:
            if now_ms - self._test_request[1] >= self._heartbeat_ms:
                self.state = "closing"
                text = "heartbeat timeout"
                return [self._logout_message(text, now_ms), Close(text, unresponsive=True)]
        elif now_ms - self._last_received_ms >= self._grace_ms:
            self._test_requests += 1
            test_id = f"TEST{self._test_requests}"
            out.append(self._send("1", [(Tag.TestReqID, test_id)], now_ms))
            self._test_request = (test_id, now_ms)
        if now_ms - self._last_sent_ms >= self._heartbeat_ms:
            out.append(self._send("0", [], now_ms))
        return out

    def send_application(self, message: Message, now_ms: int) -> list[Output]:
        """An application message for the client (module docstring)."""
        if self.logon is None:
            raise RuntimeError("send_application on a session that is not logged on")
        if not message.msg_type:
            raise ValueError("an application message needs MsgType (35)")
        if self.state == "active":
            return [self._send_application(message, now_ms)]
        if self._retransmission:
            self._store.queue(message)
        return []

    def skip_out_seq(self, count: int) -> None:
        """Leave `count` outbound sequence numbers unused (an injected gap: the client's
        ResendRequest for them is answered with a SequenceReset-GapFill)."""
        if count < 0:
            raise ValueError(f"count must not be negative, was {count}")
        self._store.next_out_seq += count

    def logout(self, text: str, now_ms: int) -> list[Output]:
        """End the session from our side: Logout (58=text) and Close."""
        if self.state == "active":
            return self._terminate(text, now_ms)
        if self.state == "awaiting_logon":
            self.state = "closing"
            return [Close(text)]
        return []

    def connection_lost(self, now_ms: int) -> list[Output]:
        """The TCP connection is gone."""
        if self.state == "closed":
            return []
        self.state = "closed"
        self._buffer.clear()
        if self._claimed is not None:
            self._auth.release(*self._claimed)
            self._claimed = None
        logon = self.logon
        if logon is not None and logon.cancel_on_disconnect:
            return [CancelOnDisconnect(logon.key_id, logon.session_type)]
        return []

    # -- output helpers ----------------------------------------------------------------------

    def _header(self, msg_type: str, seq: int) -> list[Field]:
        return [
            (Tag.MsgType, msg_type),
            (Tag.SenderCompID, self._sender),
            (Tag.TargetCompID, self._target),
            (Tag.MsgSeqNum, str(seq)),
        ]

    def _send(
        self, msg_type: str, body: Iterable[Field], now_ms: int, *, keep: bool = False
    ) -> Send:
        store = self._store
        seq = store.next_out_seq
        store.next_out_seq = seq + 1
        fields = self._header(msg_type, seq)
        fields.append((Tag.SendingTime, timestamp(now_ms)))
        fields += body
        message = Message(fields)
        if keep:
            store.remember(seq, message)
        self._last_sent_ms = now_ms
        return Send(message)

    def _send_application(self, message: Message, now_ms: int) -> Send:
        # `_send` with the header and the body in one list (one of these per ExecutionReport)
        store = self._store
        seq = store.next_out_seq
        store.next_out_seq = seq + 1
        fields = [
            (Tag.MsgType, message.msg_type),
            (Tag.SenderCompID, self._sender),
            (Tag.TargetCompID, self._target),
            (Tag.MsgSeqNum, str(seq)),
            (Tag.SendingTime, timestamp(now_ms)),
        ]
        fields += [field for field in message.fields if field[0] not in _HEADER_TAGS]
        sent = Message(fields)
        if self._retransmission:
            store.remember(seq, sent)
        self._last_sent_ms = now_ms
        return Send(sent)

    def _logout_message(self, text: str | None, now_ms: int) -> Send:
        return self._send("5", [] if text is None else [(Tag.Text, text)], now_ms)

    def _terminate(self, text: str, now_ms: int) -> list[Output]:
        self.state = "closing"
        return [self._logout_message(text, now_ms), Close(text)]

    def _reject(
        self, message: Message, seq: int, reason: int, tag: int | None, text: str, now_ms: int
    ) -> Send:
        body: list[Field] = [(Tag.RefSeqNum, str(seq))]
        if tag is not None:
            body.append((Tag.RefTagID, str(tag)))
        if message.msg_type:
            body.append((Tag.RefMsgType, message.msg_type))
        body += [(Tag.SessionRejectReason, str(reason)), (Tag.Text, text)]
        return self._send("3", body, now_ms)

    def _resend_request(self, begin: int, now_ms: int) -> Send:
        self._resend_requested = True
        return self._send("2", [(Tag.BeginSeqNo, str(begin)), (Tag.EndSeqNo, "0")], now_ms)

    # -- Logon -------------------------------------------------------------------------------

    def _refuse(self, text: str, now_ms: int, before: list[Output] | None = None) -> list[Output]:
        """A failed Logon: [what must precede,] Logout at the private store's seqs, Close."""
        self.state = "closing"
        return [*(before or []), self._logout_message(text, now_ms), Close(text)]

    def _on_logon(self, message: Message, now_ms: int) -> list[Output]:
        target = message.get(Tag.TargetCompID) or ""
        self._sender = self.settings.sender_comp_id or target or "Kalshi"
        self._target = message.get(Tag.SenderCompID) or "unknown"
        try:
            return self._logon(message, now_ms)
        except _Problem as problem:
            return self._refuse(problem.text, now_ms)

    def _logon(self, message: Message, now_ms: int) -> list[Output]:
        settings = self.settings
        if message.msg_type != "A":
            raise _Problem(_BAD_MSG_TYPE, None, "First message must be a Logon (35=A)")
        problem = _field_problem(message)
        if problem is not None:
            raise _Problem(*problem)
        seq_text = message.get(Tag.MsgSeqNum)
        seq = _int(seq_text)
        if seq_text is None or seq is None or seq < 1:
            raise _Problem(_REQUIRED_MISSING, Tag.MsgSeqNum, "MsgSeqNum (34) missing or invalid")
        session_type = message.get(Tag.TargetCompID) or ""
        if session_type not in SESSION_TYPES:
            text = f"CompID problem: unknown TargetCompID (56) {session_type!r}"
            raise _Problem(_COMP_ID, Tag.TargetCompID, text)
        key_id = message.get(Tag.SenderCompID)
        if not key_id:
            raise _Problem(_REQUIRED_MISSING, Tag.SenderCompID, "SenderCompID (49) missing")
        if message.has(Tag.SenderSubID):
            raise _Problem(_BAD_VALUE, Tag.SenderSubID, "SenderSubID (50) is not allowed on Logon")
        if message.get(Tag.EncryptMethod) != "0":
            raise _Problem(_BAD_VALUE, Tag.EncryptMethod, "EncryptMethod (98) must be 0")
        heartbeat_text = message.get(Tag.HeartBtInt)
        heartbeat = _DEFAULT_HEARTBEAT_S if heartbeat_text is None else _int(heartbeat_text)
        if heartbeat is None or not (
            settings.min_heartbeat_s <= heartbeat <= settings.max_heartbeat_s
        ):
            text = (
                f"HeartBtInt (108) must be an integer from {settings.min_heartbeat_s}"
                f" to {settings.max_heartbeat_s}"
            )
            raise _Problem(_BAD_VALUE, Tag.HeartBtInt, text)
        if message.get(Tag.DefaultApplVerID) != "9":
            raise _Problem(_BAD_VALUE, Tag.DefaultApplVerID, "DefaultApplVerID (1137) must be 9")
        for tag in _BOOLEAN_LOGON_TAGS:
            if message.get(tag, "N") not in ("Y", "N"):
                raise _Problem(_BAD_FORMAT, tag, f"Tag {tag} must be Y or N")
        sending_time = message.get(Tag.SendingTime)
        if sending_time is None:
            raise _Problem(_REQUIRED_MISSING, Tag.SendingTime, "SendingTime (52) missing")
        try:
            sent_ms = parse_timestamp(sending_time)
        except ValueError:
            raise _Problem(_BAD_FORMAT, Tag.SendingTime, "SendingTime (52) invalid") from None
        raw_data = message.get(Tag.RawData)
        if raw_data is None:
            raise _Problem(_REQUIRED_MISSING, Tag.RawData, "RawData (96) signature missing")
        if _int(message.get(Tag.RawDataLength)) != len(raw_data):
            text = "RawDataLength (95) does not match RawData (96)"
            raise _Problem(_BAD_VALUE, Tag.RawDataLength, text)
        try:
            signature = base64.b64decode(raw_data.encode("latin-1"), validate=True)
        except (binascii.Error, ValueError):
            text = "signature error: RawData (96) is not base64"
            raise _Problem(_BAD_FORMAT, Tag.RawData, text) from None
        payload = _SOH.join([sending_time, "A", seq_text, key_id, session_type])
        refused = self._auth.verify_logon(key_id, payload.encode("latin-1"), signature)
        if refused is not None:
            raise _Problem(_BAD_VALUE, Tag.RawData, refused)
        if abs(now_ms - sent_ms) > settings.sending_time_tolerance_ms:
            text = "SendingTime accuracy problem"
            reject = self._reject(message, seq, _SENDING_TIME, Tag.SendingTime, text, now_ms)
            return self._refuse(text, now_ms, [reject])
        flags = {tag: message.get(tag) == "Y" for tag in _BOOLEAN_LOGON_TAGS}
        reset = flags[Tag.ResetSeqNumFlag]
        if session_type in _RESET_REQUIRED and not reset:
            text = f"ResetSeqNumFlag (141=Y) required on {session_type}"
            raise _Problem(_REQUIRED_MISSING, Tag.ResetSeqNumFlag, text)
        listener = flags[Tag.ListenerSession]
        if listener:
            if session_type not in _LISTENER_TYPES:
                text = "ListenerSession (20126) is only allowed on KalshiNR and KalshiRT"
                raise _Problem(_BAD_VALUE, Tag.ListenerSession, text)
            if not flags[Tag.SkipPendingExecReports]:
                text = "ListenerSession (20126) requires SkipPendingExecReports (21011=Y)"
                raise _Problem(_REQUIRED_MISSING, Tag.SkipPendingExecReports, text)
            if flags[Tag.CancelOrdersOnDisconnect]:
                text = "CancelOrdersOnDisconnect (8013) must be N on a listener session"
                raise _Problem(_BAD_VALUE, Tag.CancelOrdersOnDisconnect, text)
        if session_type != RETRANSMISSION and seq != 1:
            text = f"MsgSeqNum too high, expected 1 but received {seq}"
            raise _Problem(_BAD_VALUE, Tag.MsgSeqNum, text)
        if not self._auth.claim(key_id, session_type):
            raise _Problem(_BAD_VALUE, None, "already exists")
        self._claimed = (key_id, session_type)
        if session_type == RETRANSMISSION:
            store = self._stores((key_id, session_type))
            store.limit = settings.rt_store_messages
            if reset:
                store.reset()
            self._store = store
        expected = self._store.next_in_seq
        if seq < expected:
            return self._terminate(
                f"MsgSeqNum too low, expected {expected} but received {seq}", now_ms
            )
        logon = Logon(
            key_id=key_id,
            session_type=session_type,
            heartbeat_s=heartbeat,
            reset=reset,
            cancel_on_disconnect=flags[Tag.CancelOrdersOnDisconnect],
            listener=listener,
            skip_pending=flags[Tag.SkipPendingExecReports],
            use_expired_status=flags[Tag.UseExpiredOrdStatus],
            ioc_cancel_report=flags[Tag.EnableIocCancelReport],
            preserve_order_qty=flags[Tag.PreserveOriginalOrderQty],
            message=message,
        )
        self.logon = logon
        self._retransmission = logon.session_type == RETRANSMISSION
        self.state = "active"
        self._heartbeat_ms = heartbeat * 1000
        self._last_received_ms = now_ms
        body: list[Field] = [(Tag.EncryptMethod, "0"), (Tag.HeartBtInt, str(heartbeat))]
        if reset:
            body.append((Tag.ResetSeqNumFlag, "Y"))
        body.append((Tag.DefaultApplVerID, "9"))
        out: list[Output] = [self._send("A", body, now_ms), LoggedOn(logon)]
        if seq == expected:
            self._store.next_in_seq = seq + 1
        else:  # RT only (others need 34=1): the Logon is done, its seq waits for the gap
            self._buffer[seq] = None
            out.append(self._resend_request(expected, now_ms))
        out.extend(self._send_application(m, now_ms) for m in self._store.take_queued())
        return out

    # -- active session ----------------------------------------------------------------------

    def _on_message(self, message: Message, now_ms: int) -> list[Output]:
        logon = self.logon
        assert logon is not None
        kind = message.msg_type
        fields = message.index()
        seq = _int(fields.get(Tag.MsgSeqNum))
        if kind == "5":
            if seq is not None and seq == self._store.next_in_seq:
                self._store.next_in_seq = seq + 1
            self.state = "closing"
            return [self._logout_message(None, now_ms), Close("client Logout")]
        if seq is None or seq < 1:
            return self._terminate("MsgSeqNum (34) missing or invalid", now_ms)
        if (
            fields.get(Tag.SenderCompID) != logon.key_id
            or fields.get(Tag.TargetCompID) != logon.session_type
        ):
            text = "CompID problem"
            wrong_sender = message.get(Tag.SenderCompID) != logon.key_id
            tag = Tag.SenderCompID if wrong_sender else Tag.TargetCompID
            reject = self._reject(message, seq, _COMP_ID, tag, text, now_ms)
            return [reject, *self._terminate(text, now_ms)]
        expected = self._store.next_in_seq
        reset_mode = kind == "4" and fields.get(Tag.GapFillFlag) != "Y"
        if seq < expected:
            if reset_mode:
                return self._process_and_drain(message, seq, now_ms)
            if message.get(Tag.PossDupFlag) == "Y":
                if kind == "4" and self._retransmission:
                    new = _int(message.get(Tag.NewSeqNo))
                    if new is not None and new > expected:
                        self._advance_to(new)
                        return self._drain(now_ms)
                return []
            return self._terminate(
                f"MsgSeqNum too low, expected {expected} but received {seq}", now_ms
            )
        if seq > expected:
            if not self._retransmission:
                return self._terminate(
                    f"MsgSeqNum too high, expected {expected} but received {seq}", now_ms
                )
            if reset_mode:
                return self._process_and_drain(message, seq, now_ms)
            return self._buffer_message(message, seq, kind, expected, now_ms)
        return self._process_and_drain(message, seq, now_ms)

    def _buffer_message(
        self, message: Message, seq: int, kind: str, expected: int, now_ms: int
    ) -> list[Output]:
        if seq not in self._buffer and len(self._buffer) >= self.settings.max_inbound_buffer:
            return self._terminate("too many messages waiting for a resend", now_ms)
        out: list[Output] = []
        if not self._resend_requested:
            out.append(self._resend_request(expected, now_ms))
        if kind == "2":  # answered at once; its seq is consumed when the gap closes
            self._buffer[seq] = None
            out += self._process(message, seq, now_ms)
        else:
            self._buffer[seq] = message
        return out

    def _advance_to(self, new: int) -> None:
        self._store.next_in_seq = new
        if self._buffer:
            self._buffer = {k: v for k, v in self._buffer.items() if k >= new}

    def _process_and_drain(self, message: Message, seq: int, now_ms: int) -> list[Output]:
        out = self._process(message, seq, now_ms)
        if self._buffer:
            out += self._drain(now_ms)
        else:
            self._resend_requested = False
        return out

    def _drain(self, now_ms: int) -> list[Output]:
        out: list[Output] = []
        while self._buffer and self.state == "active":
            expected = self._store.next_in_seq
            item = self._buffer.pop(expected, _MISSING)
            if item is _MISSING:
                break
            if isinstance(item, Message):
                out += self._process(item, expected, now_ms)
            else:  # already acted on (the Logon, a ResendRequest)
                self._store.next_in_seq = expected + 1
        if not self._buffer:
            self._resend_requested = False
        return out

    def _process(self, message: Message, seq: int, now_ms: int) -> list[Output]:
        """Validate and act on one message; a message at the expected seq consumes it."""
        kind = message.msg_type
        reset_mode = kind == "4" and message.get(Tag.GapFillFlag) != "Y"
        if seq == self._store.next_in_seq and not reset_mode:  # reset mode ignores 34
            self._store.next_in_seq = seq + 1
        try:
            return self._act(message, kind, seq, now_ms)
        except _Problem as problem:
            reason, tag, text = problem.reason, problem.tag, problem.text
            return [self._reject(message, seq, reason, tag, text, now_ms)]

    def _act(self, message: Message, kind: str, seq: int, now_ms: int) -> list[Output]:
        problem = _field_problem(message)
        if problem is not None:
            raise _Problem(*problem)
        if not kind:
            raise _Problem(_REQUIRED_MISSING, Tag.MsgType, "Required tag missing: MsgType (35)")
        if not is_known_msg_type(kind):
            raise _Problem(_BAD_MSG_TYPE, Tag.MsgType, f"Invalid MsgType {kind!r}")
        self._check_sending_time(message, now_ms)
        if message.get(Tag.PossDupFlag, "N") not in ("Y", "N"):
            raise _Problem(_BAD_FORMAT, Tag.PossDupFlag, "PossDupFlag (43) must be Y or N")
        if kind not in _SESSION_MSG_TYPES:
            return [Deliver(message)]
        if kind == "0" or kind == "3":
            return []
        if kind == "1":
            test_id = message.get(Tag.TestReqID)
            if test_id is None:
                raise _Problem(_REQUIRED_MISSING, Tag.TestReqID, "TestReqID (112) missing")
            return [self._send("0", [(Tag.TestReqID, test_id)], now_ms)]
        if kind == "A":
            return self._terminate("Logon received on a logged-on session", now_ms)
        if not self._retransmission:
            name = "ResendRequest" if kind == "2" else "SequenceReset"
            text = f"{name} (35={kind}) is not supported on {self.session_type}"
            raise _Problem(_BAD_MSG_TYPE, Tag.MsgType, text)
        if kind == "2":
            return self._resend(message, now_ms)
        self._sequence_reset(message, seq)  # kind == "4"
        return []

    def _check_sending_time(self, message: Message, now_ms: int) -> None:
        text = message.get(Tag.SendingTime)
        if text is None:
            raise _Problem(_REQUIRED_MISSING, Tag.SendingTime, "SendingTime (52) missing")
        last_text, sent_ms = self._sending_time
        if text != last_text:
            try:
                sent_ms = parse_timestamp(text)
            except ValueError:
                raise _Problem(_BAD_FORMAT, Tag.SendingTime, "SendingTime (52) invalid") from None
            self._sending_time = (text, sent_ms)
        if abs(now_ms - sent_ms) > self.settings.sending_time_tolerance_ms:
            raise _Problem(_SENDING_TIME, Tag.SendingTime, "SendingTime accuracy problem")

    def _sequence_reset(self, message: Message, seq: int) -> None:
        new_text = message.get(Tag.NewSeqNo)
        if new_text is None:
            raise _Problem(_REQUIRED_MISSING, Tag.NewSeqNo, "NewSeqNo (36) missing")
        new = _int(new_text)
        if new is None:
            raise _Problem(_BAD_FORMAT, Tag.NewSeqNo, "NewSeqNo (36) must be an integer")
        gap_fill = message.get(Tag.GapFillFlag, "N")
        if gap_fill not in ("Y", "N"):
            raise _Problem(_BAD_FORMAT, Tag.GapFillFlag, "GapFillFlag (123) must be Y or N")
        if gap_fill == "Y":
            if new <= seq:
                text = f"NewSeqNo (36) {new} must be above MsgSeqNum {seq}"
                raise _Problem(_BAD_VALUE, Tag.NewSeqNo, text)
        elif new < self._store.next_in_seq:
            text = f"NewSeqNo (36) {new} is below the expected {self._store.next_in_seq}"
            raise _Problem(_BAD_VALUE, Tag.NewSeqNo, text)
        if new >= self._store.next_in_seq:
            self._advance_to(new)

    def _resend(self, message: Message, now_ms: int) -> list[Output]:
        begin_text = message.get(Tag.BeginSeqNo)
        end_text = message.get(Tag.EndSeqNo)
        if begin_text is None:
            raise _Problem(_REQUIRED_MISSING, Tag.BeginSeqNo, "BeginSeqNo (7) missing")
        if end_text is None:
            raise _Problem(_REQUIRED_MISSING, Tag.EndSeqNo, "EndSeqNo (16) missing")
        begin, end = _int(begin_text), _int(end_text)
        if begin is None:
            raise _Problem(_BAD_FORMAT, Tag.BeginSeqNo, "BeginSeqNo (7) must be an integer")
        if end is None:
            raise _Problem(_BAD_FORMAT, Tag.EndSeqNo, "EndSeqNo (16) must be an integer")
        last = self._store.next_out_seq - 1
        if begin < 1 or begin > last:
            text = f"BeginSeqNo (7) must be from 1 to the last seq sent ({last})"
            raise _Problem(_BAD_VALUE, Tag.BeginSeqNo, text)
        if end != 0 and end < begin:
            raise _Problem(_BAD_VALUE, Tag.EndSeqNo, "EndSeqNo (16) is below BeginSeqNo (7)")
        if end == 0 or end > last:
            end = last
        out: list[Output] = []
        first = self._store.first_stored()
        gap_start: int | None = None
        if first is None or first > end:
            return [self._gap_fill(begin, end + 1, now_ms)]
        if begin < first:
            gap_start = begin
        for seq in range(max(begin, first), end + 1):
            stored = self._store.stored(seq)
            if stored is None:
                if gap_start is None:
                    gap_start = seq
                continue
            if gap_start is not None:
                out.append(self._gap_fill(gap_start, seq, now_ms))
                gap_start = None
            out.append(self._resend_one(seq, stored, now_ms))
        if gap_start is not None:
            out.append(self._gap_fill(gap_start, end + 1, now_ms))
        return out

    def _gap_fill(self, seq: int, new: int, now_ms: int) -> Send:
        sent = timestamp(now_ms)
        message = Message(self._header("4", seq))
        message.fields += [
            (Tag.PossDupFlag, "Y"),
            (Tag.SendingTime, sent),
            (Tag.OrigSendingTime, sent),
            (Tag.GapFillFlag, "Y"),
            (Tag.NewSeqNo, str(new)),
        ]
        self._last_sent_ms = now_ms
        return Send(message)

    def _resend_one(self, seq: int, stored: Message, now_ms: int) -> Send:
        message = Message(self._header(stored.msg_type, seq))
        message.fields += [
            (Tag.PossDupFlag, "Y"),
            (Tag.SendingTime, timestamp(now_ms)),
            (Tag.OrigSendingTime, stored.get(Tag.SendingTime) or timestamp(now_ms)),
        ]
        message.fields += [(t, v) for t, v in stored.fields if t not in _HEADER_TAGS]
        self._last_sent_ms = now_ms
        return Send(message)
