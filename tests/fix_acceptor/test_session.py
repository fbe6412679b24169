"""The sans-I/O FIX session layer (fix_acceptor/session.py, FIX.md §2).

No sockets: messages are `Message` objects and time is a number passed in.

Logons carry real RSA-PSS signatures made with the fixed test keys (tests/api/signing.py).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import given
from hypothesis import strategies as st

from fix_acceptor.codec import timestamp
from fix_acceptor.message import Field, Message
from fix_acceptor.session import (
    SESSION_TYPES,
    CancelOnDisconnect,
    Close,
    Deliver,
    FixSession,
    LoggedOn,
    Output,
    Send,
    SessionSettings,
    SessionStore,
    is_known_msg_type,
)
from tests.api.signing import fixed_private_key, fixed_public_pem

T0 = 1_795_000_000_123  # 2026-11-18, wall clock ms
HB = 30
KEY = "11111111-2222-3333-4444-555555555555"
KEY2 = "66666666-7777-8888-9999-000000000000"
PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


class Auth:
    """Authenticator over a {key id: public key} table and a live-session set."""

    def __init__(self, keys: dict[str, int] | None = None) -> None:
        self.keys: dict[str, rsa.RSAPublicKey] = {}
        for key_id, n in (keys or {KEY: 1, KEY2: 2}).items():
            public = serialization.load_pem_public_key(fixed_public_pem(n).encode())
            assert isinstance(public, rsa.RSAPublicKey)
            self.keys[key_id] = public
        self.live: set[tuple[str, str]] = set()
        self.payloads: list[bytes] = []

    def verify_logon(self, key_id: str, payload: bytes, signature: bytes) -> str | None:
        self.payloads.append(payload)
        public = self.keys.get(key_id)
        if public is None:
            return "signature error: unknown key"
        try:
            public.verify(signature, payload, PSS, hashes.SHA256())
        except InvalidSignature:
            return "signature error: invalid signature"
        return None

    def claim(self, key_id: str, session_type: str) -> bool:
        if (key_id, session_type) in self.live:
            return False
        self.live.add((key_id, session_type))
        return True

    def release(self, key_id: str, session_type: str) -> None:
        self.live.remove((key_id, session_type))


class Stores:
    def __init__(self) -> None:
        self.stores: dict[tuple[str, str], SessionStore] = {}
        self.calls: list[tuple[str, str]] = []

    def __call__(self, key: tuple[str, str]) -> SessionStore:
        self.calls.append(key)
        return self.stores.setdefault(key, SessionStore())


def sign(payload: str, key_number: int = 1) -> str:
    signature = fixed_private_key(key_number).sign(payload.encode(), PSS, hashes.SHA256())
    return base64.b64encode(signature).decode()


def logon(
    session_type: str = "KalshiNR",
    seq: int = 1,
    sent_ms: int = T0,
    *,
    key_id: str = KEY,
    key_number: int = 1,
    reset: bool | None = True,
    heartbeat: str | None = str(HB),
    extra: Iterable[Field] = (),
    drop: Iterable[int] = (),
    signed_time: str | None = None,
) -> Message:
    """A Logon as kalshi-sdk writes it (FIX.md Appendix A), signed with fixed key `key_number`."""
    sent = timestamp(sent_ms)
    payload = "\x01".join([signed_time or sent, "A", str(seq), key_id, session_type])
    signature = sign(payload, key_number)
    fields: list[Field] = [
        (35, "A"),
        (49, key_id),
        (56, session_type),
        (34, str(seq)),
        (52, sent),
        (98, "0"),
    ]
    if heartbeat is not None:
        fields.append((108, heartbeat))
    fields += [(95, str(len(signature))), (96, signature)]
    if reset is not None:
        fields.append((141, "Y" if reset else "N"))
    fields += [(1137, "9"), (21005, "Y"), *extra]
    skip = set(drop)
    return Message([f for f in fields if f[0] not in skip])


def msg(
    kind: str,
    seq: int | None,
    *body: Field,
    sent_ms: int = T0,
    session_type: str = "KalshiNR",
    key_id: str = KEY,
    poss_dup: bool = False,
) -> Message:
    """A client message with the SDK's header order."""
    fields: list[Field] = [(35, kind), (49, key_id), (56, session_type)]
    if seq is not None:
        fields.append((34, str(seq)))
    if poss_dup:
        fields.append((43, "Y"))
    fields.append((52, timestamp(sent_ms)))
    if poss_dup:
        fields.append((122, timestamp(sent_ms - 1000)))
    fields += body
    return Message(fields)


def sent(outputs: Iterable[Output]) -> list[Message]:
    return [o.message for o in outputs if isinstance(o, Send)]


def delivered(outputs: Iterable[Output]) -> list[Message]:
    return [o.message for o in outputs if isinstance(o, Deliver)]


def kinds(outputs: Iterable[Output]) -> list[str]:
    """`Send:<35>`, `Deliver:<35>`, `LoggedOn`, `Close`, `Cancel` per output."""
    names: list[str] = []
    for o in outputs:
        if isinstance(o, Send):
            names.append(f"Send:{o.message.msg_type}")
        elif isinstance(o, Deliver):
            names.append(f"Deliver:{o.message.msg_type}")
        elif isinstance(o, LoggedOn):
            names.append("LoggedOn")
        elif isinstance(o, Close):
            names.append("Close")
        else:
            names.append("Cancel")
    return names


def state_of(session: FixSession) -> str:
    """`session.state`, unnarrowed (mypy keeps an earlier `assert session.state == ...`)."""
    return session.state


def seq_of(message: Message) -> int:
    return int(message.get(34) or 0)


class Harness:
    """One acceptor's shared state (auth, RT stores) and helpers to open sessions on it."""

    def __init__(self, settings: SessionSettings | None = None) -> None:
        self.settings = settings or SessionSettings()
        self.auth = Auth()
        self.stores = Stores()

    def session(self, connected_ms: int | None = None) -> FixSession:
        return FixSession(self.settings, self.auth, self.stores, connected_ms=connected_ms)

    def logged_on(
        self, session_type: str = "KalshiNR", now: int = T0, **kwargs: object
    ) -> tuple[FixSession, list[Output]]:
        session = self.session()
        out = session.receive(logon(session_type, sent_ms=now, **kwargs), now)  # type: ignore[arg-type]
        assert session.state == "active", out
        return session, out


def expect_refused(out: list[Output], text: str) -> Message:
    """A refused Logon: exactly Logout(58=text) at 34=1, then Close."""
    assert kinds(out) == ["Send:5", "Close"], out
    reply = sent(out)[0]
    assert reply.get(58) == text
    assert reply.get(34) == "1"
    return reply


# -- Logon ------------------------------------------------------------------------------------


@pytest.mark.parametrize("session_type", SESSION_TYPES)
def test_logon_success_reply_fields(session_type: str) -> None:
    h = Harness()
    session = h.session()
    out = session.receive(logon(session_type), T0 + 5)
    assert kinds(out) == ["Send:A", "LoggedOn"]
    reply = sent(out)[0]
    assert reply.fields == [
        (35, "A"),
        (49, session_type),
        (56, KEY),
        (34, "1"),
        (52, timestamp(T0 + 5)),
        (98, "0"),
        (108, "30"),
        (141, "Y"),
        (1137, "9"),
    ]
    assert session.state == "active"
    assert session.logon is not None
    assert session.logon.session_type == session_type
    assert session.logon.key_id == KEY
    assert session.logon.heartbeat_s == HB
    assert session.logon.reset
    assert out[1] == LoggedOn(session.logon)
    assert session.next_in_seq == 2
    assert session.next_out_seq == 2
    assert h.auth.live == {(KEY, session_type)}
    # the signature covered 52 SOH A SOH 34 SOH 49 SOH 56, values as sent
    assert h.auth.payloads == [f"{timestamp(T0)}\x01A\x011\x01{KEY}\x01{session_type}".encode()]
    assert h.stores.calls == ([(KEY, "KalshiRT")] if session_type == "KalshiRT" else [])


def test_logon_reply_without_reset_on_rt_has_no_141() -> None:
    session, out = Harness().logged_on("KalshiRT", reset=None)
    reply = sent(out)[0]
    assert not reply.has(141)
    assert reply.get(34) == "1"
    assert session.logon is not None and not session.logon.reset


def test_logon_flags_and_heartbeat() -> None:
    extra = [(8013, "Y"), (21011, "Y"), (21012, "Y"), (21007, "Y"), (21008, "Y")]
    session, out = Harness().logged_on(heartbeat="3", extra=extra)
    assert session.logon is not None
    assert session.logon.heartbeat_s == 3
    assert sent(out)[0].get(108) == "3"
    assert session.logon.cancel_on_disconnect
    assert session.logon.skip_pending
    assert session.logon.use_expired_status
    assert session.logon.ioc_cancel_report
    assert session.logon.preserve_order_qty
    assert not session.logon.listener
    assert session.logon.message.get(21005) == "Y"


def test_logon_without_heartbeat_defaults_to_30() -> None:
    session, out = Harness().logged_on(heartbeat=None)
    assert session.logon is not None and session.logon.heartbeat_s == 30
    assert sent(out)[0].get(108) == "30"


def test_sender_comp_id_setting() -> None:
    h = Harness(SessionSettings(sender_comp_id="Kalshi"))
    _, out = h.logged_on("KalshiMD")
    assert sent(out)[0].get(49) == "Kalshi"


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"key_number": 2}, "signature error: invalid signature"),  # KEY is registered with 1
        ({"key_id": "not-registered"}, "signature error: unknown key"),
        ({"signed_time": timestamp(T0 + 1)}, "signature error: invalid signature"),
    ],
)
def test_bad_signature(kwargs: dict[str, object], text: str) -> None:
    h = Harness()
    session = h.session()
    out = session.receive(logon(**kwargs), T0)  # type: ignore[arg-type]
    expect_refused(out, text)
    assert session.state == "closing"
    assert session.logon is None
    assert h.auth.live == set()
    assert session.connection_lost(T0) == []
    assert state_of(session) == "closed"


def test_signature_fields_malformed() -> None:
    bad_b64 = logon()
    bad_b64.fields = [(t, "!!!!" if t == 96 else ("4" if t == 95 else v)) for t, v in bad_b64]
    text = "signature error: RawData (96) is not base64"
    expect_refused(Harness().session().receive(bad_b64, T0), text)
    wrong_len = logon()
    wrong_len.fields = [(t, "12" if t == 95 else v) for t, v in wrong_len]
    text = "RawDataLength (95) does not match RawData (96)"
    expect_refused(Harness().session().receive(wrong_len, T0), text)
    no_sig = logon(drop=[95, 96])
    expect_refused(Harness().session().receive(no_sig, T0), "RawData (96) signature missing")


@pytest.mark.parametrize("skew", [30_001, -30_001, 120_000])
def test_sending_time_skew_rejected_then_logout(skew: int) -> None:
    h = Harness()
    session = h.session()
    out = session.receive(logon(sent_ms=T0 - skew), T0)
    assert kinds(out) == ["Send:3", "Send:5", "Close"]
    reject, logout = sent(out)
    assert reject.get(34) == "1" and logout.get(34) == "2"
    assert reject.get(373) == "10"
    assert reject.get(45) == "1"
    assert reject.get(371) == "52"
    assert reject.get(372) == "A"
    assert logout.get(58) == "SendingTime accuracy problem"
    assert h.auth.live == set()


@pytest.mark.parametrize("skew", [30_000, -30_000, 0])
def test_sending_time_within_tolerance(skew: int) -> None:
    session = Harness().session()
    out = session.receive(logon(sent_ms=T0 - skew), T0)
    assert kinds(out) == ["Send:A", "LoggedOn"]


def test_duplicate_logon_already_exists() -> None:
    h = Harness()
    first, _ = h.logged_on("KalshiNR")
    second = h.session()
    expect_refused(second.receive(logon("KalshiNR"), T0), "already exists")
    assert second.connection_lost(T0) == []
    assert h.auth.live == {(KEY, "KalshiNR")}  # the failed one released nothing
    h.logged_on("KalshiRT")  # another session type of the key is fine
    first.connection_lost(T0 + 1)
    h.logged_on("KalshiNR", now=T0 + 2)
    assert h.auth.live == {(KEY, "KalshiNR"), (KEY, "KalshiRT")}


@pytest.mark.parametrize("session_type", ["KalshiNR", "KalshiDC", "KalshiMD"])
@pytest.mark.parametrize("reset", [None, False])
def test_missing_reset_flag(session_type: str, reset: bool | None) -> None:
    out = Harness().session().receive(logon(session_type, reset=reset), T0)
    expect_refused(out, f"ResetSeqNumFlag (141=Y) required on {session_type}")


def test_sender_sub_id_on_logon_rejected() -> None:
    out = Harness().session().receive(logon(extra=[(50, "operator1")]), T0)
    expect_refused(out, "SenderSubID (50) is not allowed on Logon")


@pytest.mark.parametrize(
    ("message", "text"),
    [
        (msg("D", 1), "First message must be a Logon (35=A)"),
        (msg("0", 1), "First message must be a Logon (35=A)"),
        (logon(drop=[34]), "MsgSeqNum (34) missing or invalid"),
        (logon(session_type="KalshiPT"), "CompID problem: unknown TargetCompID (56) 'KalshiPT'"),
        (logon(drop=[98]), "EncryptMethod (98) must be 0"),
        (logon(drop=[1137]), "DefaultApplVerID (1137) must be 9"),
        (logon(drop=[52]), "SendingTime (52) missing"),
        (logon(heartbeat="2"), "HeartBtInt (108) must be an integer from 3 to 300"),
        (logon(heartbeat="301"), "HeartBtInt (108) must be an integer from 3 to 300"),
        (logon(heartbeat="x"), "HeartBtInt (108) must be an integer from 3 to 300"),
        (logon(extra=[(8013, "maybe")]), "Tag 8013 must be Y or N"),
        (logon(extra=[(58, "")]), "Tag specified without a value: 58"),
        (logon(seq=2), "MsgSeqNum too high, expected 1 but received 2"),
    ],
)
def test_logon_checks(message: Message, text: str) -> None:
    h = Harness()
    session = h.session()
    out = session.receive(message, T0)
    reply = expect_refused(out, text)
    assert h.auth.live == set()
    assert reply.get(35) == "5"


def test_refused_logon_addresses_the_client() -> None:
    out = Harness().session().receive(logon("KalshiDC", reset=None), T0)
    reply = sent(out)[0]
    assert reply.get(49) == "KalshiDC"
    assert reply.get(56) == KEY
    assert reply.get(52) == timestamp(T0)


LISTENER: Field = (20126, "Y")
SKIP: Field = (21011, "Y")
ONLY_NR_RT = "ListenerSession (20126) is only allowed on KalshiNR and KalshiRT"
NEEDS_SKIP = "ListenerSession (20126) requires SkipPendingExecReports (21011=Y)"
NO_CANCEL_ON_DISCONNECT = "CancelOrdersOnDisconnect (8013) must be N on a listener session"


@pytest.mark.parametrize(
    ("session_type", "extra", "text"),
    [
        ("KalshiDC", [LISTENER, SKIP], ONLY_NR_RT),
        ("KalshiMD", [LISTENER, SKIP], ONLY_NR_RT),
        ("KalshiNR", [LISTENER], NEEDS_SKIP),
        ("KalshiRT", [LISTENER, SKIP, (8013, "Y")], NO_CANCEL_ON_DISCONNECT),
    ],
)
def test_listener_rules(session_type: str, extra: list[Field], text: str) -> None:
    expect_refused(Harness().session().receive(logon(session_type, extra=extra), T0), text)


@pytest.mark.parametrize("session_type", ["KalshiNR", "KalshiRT"])
def test_listener_session_accepted(session_type: str) -> None:
    session, _ = Harness().logged_on(session_type, extra=[(20126, "Y"), (21011, "Y")])
    assert session.logon is not None and session.logon.listener


def test_logon_timeout() -> None:
    session = Harness().session(connected_ms=T0)
    assert session.next_timer_ms() == T0 + 10_000
    assert session.tick(T0 + 9_999) == []
    assert session.tick(T0 + 10_000) == [Close("no Logon received", unresponsive=True)]
    assert session.state == "closing"


# -- heartbeats -------------------------------------------------------------------------------


def test_heartbeat_when_nothing_sent() -> None:
    session, _ = Harness().logged_on()
    assert session.next_timer_ms() == T0 + HB * 1000
    assert session.tick(T0 + HB * 1000 - 1) == []
    out = session.tick(T0 + HB * 1000)
    assert kinds(out) == ["Send:0"]
    heartbeat = sent(out)[0]
    assert heartbeat.get(34) == "2" and not heartbeat.has(112)
    assert heartbeat.get(52) == timestamp(T0 + HB * 1000)
    # an application message counts as sending
    session.receive(msg("0", 2, sent_ms=T0 + 40_000), T0 + 40_000)
    session.send_application(Message([(35, "8"), (17, "e1")]), T0 + 50_000)
    assert session.tick(T0 + 79_999) == []
    assert kinds(session.tick(T0 + 80_000)) == ["Send:0"]


def test_test_request_answered() -> None:
    session, _ = Harness().logged_on()
    out = session.receive(msg("1", 2, (112, "TR1")), T0 + 1)
    assert kinds(out) == ["Send:0"]
    assert sent(out)[0].get(112) == "TR1"
    assert session.next_in_seq == 3


def test_heartbeat_timeout_test_request_then_logout() -> None:
    session, _ = Harness().logged_on(heartbeat="10")
    grace = 15_000  # 1.5 x 10 s
    # our own heartbeat at 10 s, no TestRequest yet
    assert kinds(session.tick(T0 + 10_000)) == ["Send:0"]
    assert session.tick(T0 + grace - 1) == []
    assert session.next_timer_ms() == T0 + grace
    out = session.tick(T0 + grace)
    assert kinds(out) == ["Send:1"]
    assert sent(out)[0].get(112) == "TEST1"
    assert session.next_timer_ms() == T0 + grace + 10_000
    assert session.tick(T0 + grace + 9_999) == []
    out = session.tick(T0 + grace + 10_000)
    assert kinds(out) == ["Send:5", "Close"]
    assert sent(out)[0].get(58) == "heartbeat timeout"
    assert out[1] == Close("heartbeat timeout", unresponsive=True)
    assert session.state == "closing"
    assert session.tick(T0 + 100_000) == []
    assert session.next_timer_ms() is None


def test_client_answer_clears_the_test_request() -> None:
    session, _ = Harness().logged_on(heartbeat="10")
    assert kinds(session.tick(T0 + 15_000)) == ["Send:1"]
    session.receive(msg("0", 2, (112, "TEST1"), sent_ms=T0 + 16_000), T0 + 16_000)
    assert kinds(session.tick(T0 + 25_000)) == ["Send:0"]  # 10 s after our TestRequest
    assert session.tick(T0 + 30_999) == []
    assert session.state == "active"
    assert kinds(session.tick(T0 + 31_000)) == ["Send:1"]  # 1.5 x 10 s after 16 s


# -- inbound sequence numbers ---------------------------------------------------------------


@pytest.mark.parametrize("session_type", ["KalshiNR", "KalshiDC", "KalshiMD"])
def test_seq_too_high_without_retransmission_is_fatal(session_type: str) -> None:
    session, _ = Harness().logged_on(session_type)
    out = session.receive(msg("0", 5, session_type=session_type), T0 + 1)
    assert kinds(out) == ["Send:5", "Close"]
    assert sent(out)[0].get(58) == "MsgSeqNum too high, expected 2 but received 5"
    assert session.state == "closing"
    assert session.receive(msg("0", 2, session_type=session_type), T0 + 2) == []


def test_seq_too_high_on_rt_resend_request_then_gap_fill_releases() -> None:
    session, _ = Harness().logged_on("KalshiRT")
    rt = "KalshiRT"
    out = session.receive(msg("D", 4, (11, "c4"), session_type=rt), T0 + 1)
    assert kinds(out) == ["Send:2"]
    request = sent(out)[0]
    assert (request.get(7), request.get(16), request.get(34)) == ("2", "0", "2")
    out = session.receive(msg("D", 5, (11, "c5"), session_type=rt), T0 + 2)
    assert out == []  # one ResendRequest per gap
    # the SDK gap-fills 2..3 (FIX.md §2.7)
    gap_fill = msg("4", 2, (123, "Y"), (36, "4"), session_type=rt, poss_dup=True)
    out = session.receive(gap_fill, T0 + 3)
    assert [m.get(11) for m in delivered(out)] == ["c4", "c5"]
    assert session.next_in_seq == 6
    # a new gap gets a new ResendRequest
    out = session.receive(msg("D", 7, (11, "c7"), session_type=rt), T0 + 4)
    assert kinds(out) == ["Send:2"]
    assert sent(out)[0].get(7) == "6"


def test_rt_gap_closed_by_resent_messages() -> None:
    session, _ = Harness().logged_on("KalshiRT")
    rt = "KalshiRT"
    session.receive(msg("D", 3, (11, "c3"), session_type=rt), T0 + 1)
    out = session.receive(msg("D", 2, (11, "c2"), session_type=rt, poss_dup=True), T0 + 2)
    assert [m.get(11) for m in delivered(out)] == ["c2", "c3"]
    assert delivered(out)[0].get(43) == "Y"
    assert session.next_in_seq == 4


def test_rt_resend_request_in_a_gap_is_answered_at_once() -> None:
    h = Harness()
    session, _ = h.logged_on("KalshiRT")
    rt = "KalshiRT"
    out = session.receive(msg("2", 3, (7, "1"), (16, "0"), session_type=rt), T0 + 1)
    assert kinds(out) == ["Send:2", "Send:4"]
    ours, fill = sent(out)
    assert ours.get(7) == "2"
    # our 1 (Logon) and 2 (the ResendRequest just sent) are session messages: one gap fill
    assert (fill.get(34), fill.get(36), fill.get(123), fill.get(43)) == ("1", "3", "Y", "Y")
    gap_fill = msg("4", 2, (123, "Y"), (36, "3"), session_type=rt, poss_dup=True)
    assert session.receive(gap_fill, T0 + 2) == []
    assert session.next_in_seq == 4  # the ResendRequest's seq was consumed when the gap closed


def test_rt_inbound_buffer_bound() -> None:
    h = Harness(SessionSettings(max_inbound_buffer=3))
    session, _ = h.logged_on("KalshiRT")
    for seq in (3, 4, 5):
        session.receive(msg("D", seq, session_type="KalshiRT"), T0 + seq)
    out = session.receive(msg("D", 6, session_type="KalshiRT"), T0 + 6)
    assert kinds(out) == ["Send:5", "Close"]
    assert sent(out)[0].get(58) == "too many messages waiting for a resend"


@pytest.mark.parametrize("session_type", SESSION_TYPES)
def test_seq_too_low(session_type: str) -> None:
    session, _ = Harness().logged_on(session_type)
    session.receive(msg("0", 2, session_type=session_type), T0 + 1)
    out = session.receive(msg("0", 2, session_type=session_type), T0 + 2)
    assert kinds(out) == ["Send:5", "Close"]
    assert sent(out)[0].get(58) == "MsgSeqNum too low, expected 3 but received 2"


@pytest.mark.parametrize("session_type", SESSION_TYPES)
def test_seq_too_low_poss_dup_dropped(session_type: str) -> None:
    session, _ = Harness().logged_on(session_type)
    session.receive(msg("D", 2, (11, "a"), session_type=session_type), T0 + 1)
    out = session.receive(msg("D", 2, (11, "a"), session_type=session_type, poss_dup=True), T0 + 2)
    assert out == []
    assert session.state == "active"
    assert session.next_in_seq == 3


def test_sdk_gap_fill_below_expected_accepted() -> None:
    """Appendix A: our ResendRequest 7=1 is answered with 34=1 43=Y 123=Y 36=2."""
    session, _ = Harness().logged_on("KalshiRT")
    gap_fill = msg("4", 1, (123, "Y"), (36, "2"), session_type="KalshiRT", poss_dup=True)
    assert session.receive(gap_fill, T0 + 1) == []
    assert session.state == "active" and session.next_in_seq == 2
    ahead = msg("4", 1, (123, "Y"), (36, "5"), session_type="KalshiRT", poss_dup=True)
    assert session.receive(ahead, T0 + 2) == []
    assert session.next_in_seq == 5


def test_missing_seq_num_is_fatal() -> None:
    session, _ = Harness().logged_on()
    out = session.receive(msg("0", None), T0 + 1)
    assert kinds(out) == ["Send:5", "Close"]
    assert sent(out)[0].get(58) == "MsgSeqNum (34) missing or invalid"


def test_sequence_reset_modes() -> None:
    session, _ = Harness().logged_on("KalshiRT")
    rt = "KalshiRT"
    # reset mode: 34 ignored, expected moves to 36
    assert session.receive(msg("4", 99, (36, "10"), session_type=rt), T0 + 1) == []
    assert session.next_in_seq == 10
    # never backwards
    out = session.receive(msg("4", 10, (123, "N"), (36, "5"), session_type=rt), T0 + 2)
    assert kinds(out) == ["Send:3"]
    reject = sent(out)[0]
    assert (reject.get(373), reject.get(371), reject.get(45)) == ("5", "36", "10")
    assert session.next_in_seq == 10
    # gap fill in sequence
    assert session.receive(msg("4", 10, (123, "Y"), (36, "12"), session_type=rt), T0 + 3) == []
    assert session.next_in_seq == 12
    out = session.receive(msg("4", 12, (123, "Y"), (36, "12"), session_type=rt), T0 + 4)
    assert sent(out)[0].get(373) == "5"
    assert session.next_in_seq == 13


@pytest.mark.parametrize("kind", ["2", "4"])
@pytest.mark.parametrize("session_type", ["KalshiNR", "KalshiDC", "KalshiMD"])
def test_resend_and_sequence_reset_not_supported(kind: str, session_type: str) -> None:
    session, _ = Harness().logged_on(session_type)
    body: list[Field] = [(7, "1"), (16, "0")] if kind == "2" else [(123, "Y"), (36, "5")]
    out = session.receive(msg(kind, 2, *body, session_type=session_type), T0 + 1)
    assert kinds(out) == ["Send:3"]
    reject = sent(out)[0]
    assert (reject.get(373), reject.get(372), reject.get(45)) == ("11", kind, "2")
    assert session.next_in_seq == 3


# -- session rejects --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "reason", "ref_tag"),
    [
        (msg("ZZZ", 2), "11", "35"),
        (msg("U5", 2), "11", "35"),
        (msg("D", 2, (58, "")), "4", "58"),
        (msg("D", 2, (0, "x")), "0", "0"),
        (Message([(35, "D"), (49, KEY), (56, "KalshiNR"), (34, "2")]), "1", "52"),
        (Message([(35, "D"), (49, KEY), (56, "KalshiNR"), (34, "2"), (52, "today")]), "6", "52"),
        (msg("D", 2, sent_ms=T0 + 60_000), "10", "52"),
        (msg("1", 2), "1", "112"),
        (msg("D", 2, (43, "X")), "6", "43"),
    ],
)
def test_session_reject(message: Message, reason: str, ref_tag: str) -> None:
    session, _ = Harness().logged_on()
    out = session.receive(message, T0 + 1)
    assert kinds(out) == ["Send:3"]
    reject = sent(out)[0]
    assert reject.get(45) == "2"
    assert reject.get(373) == reason
    assert reject.get(371) == ref_tag
    assert reject.get(58)
    assert session.next_in_seq == 3  # a rejected message consumes its seq
    assert delivered(session.receive(msg("D", 3, (11, "next")), T0 + 2))[0].get(11) == "next"


def test_comp_id_mismatch() -> None:
    session, _ = Harness().logged_on()
    out = session.receive(msg("D", 2, key_id=KEY2), T0 + 1)
    assert kinds(out) == ["Send:3", "Send:5", "Close"]
    reject, logout = sent(out)
    assert (reject.get(373), reject.get(371)) == ("9", "49")
    assert logout.get(58) == "CompID problem"


def test_logon_while_logged_on() -> None:
    session, _ = Harness().logged_on()
    out = session.receive(logon(seq=2), T0 + 1)
    assert kinds(out) == ["Send:5", "Close"]


def test_inbound_reject_and_heartbeat_consumed() -> None:
    session, _ = Harness().logged_on()
    assert session.receive(msg("3", 2, (45, "1")), T0 + 1) == []
    assert session.receive(msg("0", 3), T0 + 2) == []
    assert session.next_in_seq == 4


@pytest.mark.parametrize(
    ("session_type", "kind"),
    [
        ("KalshiNR", "D"),
        ("KalshiNR", "q"),
        ("KalshiRT", "q"),  # not taken on RT: the application answers 35=j
        ("KalshiRT", "UOG"),
        ("KalshiDC", "U1"),
        ("KalshiMD", "V"),
        ("KalshiMD", "e"),
        ("KalshiMD", "D"),
        ("KalshiNR", "R"),  # RFQ, not on margin: 35=j from the application
        ("KalshiNR", "8"),
    ],
)
def test_application_messages_delivered(session_type: str, kind: str) -> None:
    session, _ = Harness().logged_on(session_type)
    message = msg(kind, 2, (11, "x"), session_type=session_type)
    assert session.receive(message, T0 + 1) == [Deliver(message)]


def test_known_msg_types() -> None:
    for kind in ["0", "A", "D", "8", "j", "q", "AE", "BZ", "UOG", "UMS", "U1", "V", "e"]:
        assert is_known_msg_type(kind), kind
    for kind in ["", "U", "U5", "ZZZ", "XY", "a1", "UOGX", "d "]:
        assert not is_known_msg_type(kind), kind


def test_decode_errors_never_consume_a_seq() -> None:
    session, _ = Harness().logged_on()
    assert session.receive_error("bad checksum", T0 + 1) == []
    assert session.decode_errors == 1 and session.last_decode_error == "bad checksum"
    assert session.next_in_seq == 2
    assert session.receive(msg("0", 2), T0 + 2) == []


# -- outbound, resends ------------------------------------------------------------------------


def er(exec_id: str) -> Message:
    return Message([(35, "8"), (37, "O1"), (11, "c1"), (17, exec_id), (150, "0"), (39, "0")])


def test_send_application_header() -> None:
    session, _ = Harness().logged_on("KalshiNR")
    app = Message([(35, "8"), (49, "ignored"), (34, "77"), (17, "e1")])
    out = session.send_application(app, T0 + 7)
    assert sent(out)[0].fields == [
        (35, "8"),
        (49, "KalshiNR"),
        (56, KEY),
        (34, "2"),
        (52, timestamp(T0 + 7)),
        (17, "e1"),
    ]


def test_rt_resend_stored_messages_and_gap_fill_admin() -> None:
    h = Harness()
    session, _ = h.logged_on("KalshiRT")  # our 1: Logon
    rt = "KalshiRT"
    first = sent(session.send_application(er("e2"), T0 + 1_000))[0]  # 2
    sent(session.send_application(er("e3"), T0 + 2_000))  # 3
    session.receive(msg("0", 2, sent_ms=T0 + 2_500, session_type=rt), T0 + 2_500)
    assert kinds(session.tick(T0 + 32_000)) == ["Send:0"]  # 4: heartbeat
    session.receive(msg("1", 3, (112, "TR1"), session_type=rt, sent_ms=T0 + 33_000), T0 + 33_000)
    session.send_application(er("e6"), T0 + 34_000)  # 5 was our Heartbeat answer; 6
    now = T0 + 40_000
    request = msg("2", 4, (7, "1"), (16, "0"), session_type=rt, sent_ms=now)
    out = session.receive(request, now)
    messages = sent(out)
    assert [(m.msg_type, m.get(34), m.get(36)) for m in messages] == [
        ("4", "1", "2"),
        ("8", "2", None),
        ("8", "3", None),
        ("4", "4", "6"),
        ("8", "6", None),
    ]
    resent = messages[1]
    assert resent.get(43) == "Y"
    assert resent.get(52) == timestamp(now)
    assert resent.get(122) == first.get(52) == timestamp(T0 + 1_000)
    assert [(t, v) for t, v in resent if t not in (43, 52, 122)] == [
        (t, v) for t, v in first if t != 52
    ]
    fill = messages[0]
    assert fill.fields[:4] == [(35, "4"), (49, rt), (56, KEY), (34, "1")]
    assert (fill.get(43), fill.get(123)) == ("Y", "Y")
    assert fill.has(122)
    assert session.next_out_seq == 7  # resends use no new seq
    # a bounded range
    out = session.receive(msg("2", 5, (7, "3"), (16, "4"), session_type=rt, sent_ms=now), now)
    assert [(m.msg_type, m.get(34), m.get(36)) for m in sent(out)] == [
        ("8", "3", None),
        ("4", "4", "5"),
    ]
    # out of range
    out = session.receive(msg("2", 6, (7, "9"), (16, "0"), session_type=rt, sent_ms=now), now)
    assert sent(out)[0].get(373) == "5"
    out = session.receive(msg("2", 7, (7, "3"), (16, "2"), session_type=rt, sent_ms=now), now)
    assert sent(out)[0].get(373) == "5"
    out = session.receive(msg("2", 8, (16, "2"), session_type=rt, sent_ms=now), now)
    assert (sent(out)[0].get(373), sent(out)[0].get(371)) == ("1", "7")


def test_rt_store_bound() -> None:
    h = Harness(SessionSettings(rt_store_messages=3))
    session, _ = h.logged_on("KalshiRT")
    for n in range(2, 7):
        session.send_application(er(f"e{n}"), T0 + n)
    store = h.stores.stores[(KEY, "KalshiRT")]
    assert store.limit == 3 and len(store) == 3
    request = msg("2", 2, (7, "1"), (16, "0"), session_type="KalshiRT")
    out = session.receive(request, T0 + 10)
    assert [(m.msg_type, m.get(34), m.get(36), m.get(17)) for m in sent(out)] == [
        ("4", "1", "4", None),
        ("8", "4", None, "e4"),
        ("8", "5", None, "e5"),
        ("8", "6", None, "e6"),
    ]


def test_store_queue_bound() -> None:
    store = SessionStore(limit=2)
    for n in range(3):
        store.queue(er(f"e{n}"))
    assert store.queued == 2 and store.dropped == 1
    assert [m.get(17) for m in store.take_queued()] == ["e1", "e2"]
    assert store.queued == 0


def test_no_store_on_nr() -> None:
    session, _ = Harness().logged_on("KalshiNR")
    session.send_application(er("e2"), T0 + 1)
    out = session.receive(msg("2", 2, (7, "1"), (16, "0")), T0 + 2)
    assert sent(out)[0].get(373) == "11"


# -- RT continuity ----------------------------------------------------------------------------


def test_rt_reconnect_resumes_and_flushes_queued() -> None:
    h = Harness()
    rt = "KalshiRT"
    first, _ = h.logged_on(rt)  # in 1, out 1
    first.send_application(er("e2"), T0 + 1)  # out 2
    first.receive(msg("D", 2, (11, "c2"), session_type=rt), T0 + 2)  # in 2
    assert first.connection_lost(T0 + 3) == []
    assert h.auth.live == set()
    # produced while away: by the acceptor into the store, or by a late call on the old session
    store = h.stores.stores[(KEY, rt)]
    store.queue(er("e3"))
    assert first.send_application(er("e4"), T0 + 4) == []
    assert store.queued == 2 and store.next_out_seq == 3 and store.next_in_seq == 3

    second = h.session()
    now = T0 + 5_000
    out = second.receive(logon(rt, seq=3, sent_ms=now, reset=None), now)
    assert kinds(out) == ["Send:A", "LoggedOn", "Send:8", "Send:8"]
    reply, a, b = sent(out)
    assert reply.get(34) == "3" and not reply.has(141)
    assert [(m.get(34), m.get(17)) for m in (a, b)] == [("4", "e3"), ("5", "e4")]
    assert second.next_in_seq == 4
    # the queued ones are stored like any other: resendable
    out = second.receive(msg("2", 4, (7, "2"), (16, "0"), session_type=rt, sent_ms=now), now)
    assert [(m.msg_type, m.get(34), m.get(17)) for m in sent(out)] == [
        ("8", "2", "e2"),
        ("4", "3", None),
        ("8", "4", "e3"),
        ("8", "5", "e4"),
    ]


def test_rt_reconnect_client_ahead_gets_resend_request() -> None:
    h = Harness()
    rt = "KalshiRT"
    first, _ = h.logged_on(rt)
    first.connection_lost(T0 + 1)
    second = h.session()
    out = second.receive(logon(rt, seq=7, reset=None), T0 + 2)
    assert kinds(out) == ["Send:A", "LoggedOn", "Send:2"]
    reply, request = sent(out)
    assert reply.get(34) == "2"
    assert (request.get(34), request.get(7), request.get(16)) == ("3", "2", "0")
    # the SDK gap-fills from BeginSeqNo to its next seq (8)
    fill = msg("4", 2, (123, "Y"), (36, "8"), session_type=rt, poss_dup=True)
    assert second.receive(fill, T0 + 3) == []
    assert second.next_in_seq == 8


def test_rt_reconnect_client_behind_is_refused() -> None:
    h = Harness()
    rt = "KalshiRT"
    first, _ = h.logged_on(rt)
    first.receive(msg("0", 2, session_type=rt), T0 + 1)
    first.connection_lost(T0 + 2)
    second = h.session()
    out = second.receive(logon(rt, seq=1, reset=None), T0 + 3)
    assert kinds(out) == ["Send:5", "Close"]
    assert sent(out)[0].get(58) == "MsgSeqNum too low, expected 3 but received 1"
    assert second.logon is None
    second.connection_lost(T0 + 4)
    assert h.auth.live == set()


def test_rt_reset_clears_numbering_keeps_queue() -> None:
    h = Harness()
    rt = "KalshiRT"
    first, _ = h.logged_on(rt)
    first.send_application(er("e2"), T0 + 1)
    first.connection_lost(T0 + 2)
    h.stores.stores[(KEY, rt)].queue(er("e3"))
    second = h.session()
    out = second.receive(logon(rt, reset=True), T0 + 3)
    assert [(m.msg_type, m.get(34)) for m in sent(out)] == [("A", "1"), ("8", "2")]
    assert sent(out)[0].get(141) == "Y"


def test_nr_reconnect_starts_over() -> None:
    h = Harness()
    first, _ = h.logged_on("KalshiNR")
    first.send_application(er("e2"), T0 + 1)
    first.receive(msg("0", 2), T0 + 1)
    first.connection_lost(T0 + 2)
    assert first.send_application(er("late"), T0 + 3) == []  # dropped: no queue on NR
    _, out = h.logged_on("KalshiNR", now=T0 + 4)
    assert sent(out)[0].get(34) == "1"
    assert h.stores.calls == []


# -- Logout, disconnect ---------------------------------------------------------------------


def test_client_logout_answered() -> None:
    h = Harness()
    session, _ = h.logged_on()
    out = session.receive(msg("5", 2), T0 + 1)
    assert kinds(out) == ["Send:5", "Close"]
    answer = sent(out)[0]
    assert not answer.has(58) and answer.get(34) == "2"
    assert session.state == "closing"
    assert session.receive(msg("0", 3), T0 + 2) == []
    assert session.tick(T0 + 100_000) == []
    assert session.connection_lost(T0 + 3) == []
    assert state_of(session) == "closed"
    assert session.connection_lost(T0 + 4) == []
    assert h.auth.live == set()


def test_server_logout() -> None:
    session, _ = Harness().logged_on()
    out = session.logout("maintenance", T0 + 1)
    assert kinds(out) == ["Send:5", "Close"]
    assert sent(out)[0].get(58) == "maintenance"
    assert session.logout("again", T0 + 2) == []


@pytest.mark.parametrize("cancel", [True, False])
def test_cancel_on_disconnect(cancel: bool) -> None:
    h = Harness()
    extra = [(8013, "Y")] if cancel else []
    session, _ = h.logged_on("KalshiNR", extra=extra)
    session.receive(msg("5", 2), T0 + 1)  # even after a clean Logout
    out = session.connection_lost(T0 + 2)
    assert out == ([CancelOnDisconnect(KEY, "KalshiNR")] if cancel else [])
    assert h.auth.live == set()


def test_send_application_before_logon_raises() -> None:
    session = Harness().session()
    with pytest.raises(RuntimeError):
        session.send_application(er("e1"), T0)


# -- properties -------------------------------------------------------------------------------


@given(
    plan=st.lists(st.booleans(), min_size=1, max_size=40),
    bounds=st.tuples(st.integers(1, 45), st.integers(0, 45)),
    limit=st.integers(0, 20),
)
def test_resend_covers_the_range_exactly(
    plan: list[bool], bounds: tuple[int, int], limit: int
) -> None:
    """Every seq of the range once: a stored message resent as sent, or inside a gap fill."""
    h = Harness(SessionSettings(rt_store_messages=limit))
    session, _ = h.logged_on("KalshiRT")
    originals: dict[int, Message] = {}
    client_seq = 2
    for n, application in enumerate(plan):
        if application:
            message = sent(session.send_application(er(f"e{n}"), T0 + n))[0]
            originals[seq_of(message)] = message
        else:  # session traffic: our Heartbeat answering a TestRequest
            test = msg("1", client_seq, (112, f"T{n}"), session_type="KalshiRT")
            assert kinds(session.receive(test, T0 + n)) == ["Send:0"]
            client_seq += 1
    last = session.next_out_seq - 1
    begin, end = bounds
    request = msg("2", client_seq, (7, str(begin)), (16, str(end)), session_type="KalshiRT")
    out = session.receive(request, T0 + 100)
    messages = sent(out)
    if begin > last or (end != 0 and end < begin):
        assert [m.get(373) for m in messages] == ["5"]
        return
    stop = last if end == 0 or end > last else end
    covered: list[int] = []
    for m in messages:
        seq = seq_of(m)
        assert m.get(43) == "Y" and m.has(122)
        if m.msg_type == "4":
            assert m.get(123) == "Y"
            new = int(m.get(36) or 0)
            assert new > seq
            covered += range(seq, new)
        else:
            original = originals[seq]
            assert seq in originals and h.stores.stores[(KEY, "KalshiRT")].stored(seq)
            assert m.get(122) == original.get(52)
            assert [f for f in m if f[0] not in (43, 52, 122)] == [
                f for f in original if f[0] != 52
            ]
            covered.append(seq)
    assert covered == list(range(begin, stop + 1))
    kept = set(list(originals)[-limit:]) if limit else set()
    resent = {seq_of(m) for m in messages if m.msg_type == "8"}
    assert resent == {s for s in kept if begin <= s <= stop}
    assert session.next_out_seq == last + 1


@given(order=st.permutations(list(range(2, 14))))
def test_rt_delivers_in_seq_order_whatever_the_arrival_order(order: list[int]) -> None:
    """Messages arriving out of order on RT come out in seq order, one ResendRequest per gap."""
    session, _ = Harness().logged_on("KalshiRT")
    out: list[Output] = []
    for seq in order:
        out += session.receive(msg("D", seq, (11, f"c{seq}"), session_type="KalshiRT"), T0 + 1)
    assert [m.get(11) for m in delivered(out)] == [f"c{s}" for s in range(2, 14)]
    requests = [m for m in sent(out) if m.msg_type == "2"]
    assert all(m.get(16) == "0" for m in requests)
    assert len(requests) <= len(order) // 2 + 1
    assert session.next_in_seq == 14 and session.state == "active"
