"""QuickFIX (the quickfix-py wheel) as the client: a standard FIX engine logs on, trades, logs out,
on KalshiRT comes back to the reports queued while it was away, and follows a book on KalshiMD.

QuickFIX checks what kalshi-sdk does not: that the acceptor's SenderCompID (49) is the
TargetCompID it logged on to, that the Logon reply is a valid FIXT.1.1 Logon, and that every
message it receives validates against the FIXT11/FIX50SP2 dictionaries shipped in the wheel
(unknown tags allowed, as Kalshi's custom tags are not in them). The FIX50SP2 dictionary is
cut down to the application messages a test exchanges (D, 8, 9, j; V, W, X, Y for market data)
with every component they use and every field: the wheel takes seconds to load the whole of
it. The Kalshi signature is added in `toAdmin` (FIX.md §2.3): RSA-PSS/SHA-256, salt 32, over
`52 SOH A SOH 34 SOH 49 SOH 56`, in 95/96, with 141=Y (ResetOnLogon, except on the RT
reconnect) and 1137=9 (DefaultApplVerID FIX.5.0SP2).

Skipped when quickfix-py is not installed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import queue
import sysconfig
import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import quickfix as fix  # type: ignore[import-untyped]
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from fix_acceptor.settings import FixSettings
from simulator.server.scenarios import load_scenario
from tests.api.served import NewUser
from tests.e2e.fix_helpers import TIMEOUT, FixLiveServer, fix_live_server

BTC = "KXBTCPERP"
DICTIONARIES = Path(sysconfig.get_path("data")) / "share" / "quickfix"
SOH = "\x01"


@pytest.fixture(scope="module")
def server() -> Iterator[FixLiveServer]:
    with fix_live_server() as live:
        yield live


@pytest.fixture(scope="module")
def app_dictionary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """FIX50SP2.xml with only the messages D, 8, 9 and j (and all they need)."""
    return trimmed_dictionary(tmp_path_factory.mktemp("quickfix"), ("D", "8", "9", "j"))


@pytest.fixture(scope="module")
def md_dictionary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """FIX50SP2.xml with only the market-data messages V, W, X, Y (and j)."""
    return trimmed_dictionary(tmp_path_factory.mktemp("quickfix"), ("V", "W", "X", "Y", "j"))


def trimmed_dictionary(directory: Path, msg_types: tuple[str, ...]) -> Path:
    """The wheel's FIX50SP2.xml cut down to `msg_types`, every component they use, every field."""
    tree = ET.parse(DICTIONARIES / "FIX50SP2.xml")
    root = tree.getroot()
    messages, components = root.find("messages"), root.find("components")
    assert messages is not None and components is not None
    by_name = {c.get("name"): c for c in components}
    needed: set[str] = set()

    def walk(element: ET.Element) -> None:
        for child in element:
            name = child.get("name")
            if child.tag == "component" and name not in needed:
                needed.add(name or "")
                walk(by_name[name])
            elif child.tag == "group":
                walk(child)

    for message in list(messages):
        if message.get("msgtype") in msg_types:
            walk(message)
        else:
            messages.remove(message)
    for component in list(components):
        if component.get("name") not in needed:
            components.remove(component)
    path = directory / "FIX50SP2-trimmed.xml"
    tree.write(path)
    return path


def sign_logon(key: rsa.RSAPrivateKey, message: Any) -> str:
    header = message.getHeader()
    pre_hash = SOH.join(
        [header.getField(52), "A", header.getField(34), header.getField(49), header.getField(56)]
    )
    signature = key.sign(
        pre_hash.encode(),
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
        hashes.SHA256(),
    )
    return base64.b64encode(signature).decode()


class Client(fix.Application):  # type: ignore[misc]
    """Signs the Logon; hands every message it receives to the test thread."""

    def __init__(self, key: rsa.RSAPrivateKey, *, reset: bool = True) -> None:
        super().__init__()
        self.key = key
        self.reset = reset  # 141=Y on the Logon
        self.logged_on = threading.Event()
        self.logged_out = threading.Event()
        self.app: queue.Queue[str] = queue.Queue()
        self.admin: list[str] = []
        self.sent_admin: list[str] = []
        self.session_id: Any = None

    def onCreate(self, session_id: Any) -> None:
        self.session_id = session_id

    def onLogon(self, session_id: Any) -> None:
        self.logged_on.set()

    def onLogout(self, session_id: Any) -> None:
        self.logged_out.set()

    def toAdmin(self, message: Any, session_id: Any) -> None:
        if message.getHeader().getField(35) == "A":
            signature = sign_logon(self.key, message)
            message.setField(fix.RawDataLength(len(signature)))
            message.setField(fix.RawData(signature))
            if self.reset:
                message.setField(fix.ResetSeqNumFlag(True))
        self.sent_admin.append(message.toString())

    def fromAdmin(self, message: Any, session_id: Any) -> None:
        self.admin.append(message.toString())

    def toApp(self, message: Any, session_id: Any) -> None:
        pass

    def fromApp(self, message: Any, session_id: Any) -> None:
        self.app.put(message.toString())


def settings_file(
    tmp_path: Path,
    port: int,
    user: NewUser,
    app_dictionary: Path,
    *,
    target: str = "KalshiNR",
    reset_on_logon: bool = True,
) -> Path:
    path = tmp_path / "initiator.cfg"
    path.write_text(
        "\n".join(
            [
                "[DEFAULT]",
                "ConnectionType=initiator",
                "ReconnectInterval=60",
                f"FileStorePath={tmp_path / 'store'}",
                f"FileLogPath={tmp_path / 'log'}",
                "StartTime=00:00:00",
                "EndTime=00:00:00",
                "UseDataDictionary=Y",
                f"TransportDataDictionary={DICTIONARIES / 'FIXT11.xml'}",
                f"AppDataDictionary={app_dictionary}",
                "AllowUnknownMsgFields=Y",
                "ValidateUserDefinedFields=N",
                f"ResetOnLogon={'Y' if reset_on_logon else 'N'}",
                "HeartBtInt=30",
                "SocketConnectHost=127.0.0.1",
                f"SocketConnectPort={port}",
                "",
                "[SESSION]",
                "BeginString=FIXT.1.1",
                "DefaultApplVerID=FIX.5.0SP2",
                f"SenderCompID={user.api_key_id}",
                f"TargetCompID={target}",
                "",
            ]
        )
    )
    return path


def fields(text: str) -> dict[int, str]:
    out: dict[int, str] = {}
    for part in text.split(SOH):
        if part:
            tag, _, value = part.partition("=")
            out.setdefault(int(tag), value)
    return out


def _new_order(cl_ord_id: str, qty: int, price: float) -> Any:
    nos = fix.Message()
    nos.getHeader().setField(fix.MsgType("D"))
    nos.setField(fix.ClOrdID(cl_ord_id))
    nos.setField(fix.Side(fix.Side_BUY))
    nos.setField(fix.TransactTime())
    nos.setField(fix.OrdType(fix.OrdType_LIMIT))
    nos.setField(fix.OrderQty(qty))
    nos.setField(fix.Price(price))
    nos.setField(fix.Symbol(BTC))
    nos.setField(fix.TimeInForce(fix.TimeInForce_GOOD_TILL_CANCEL))
    return nos


def test_quickfix_logon_order_logout(
    server: FixLiveServer, tmp_path: Path, app_dictionary: Path
) -> None:
    server.control("POST", "/reset").raise_for_status()
    alice = server.new_user("1000.0000")
    client = Client(alice.key)
    settings = fix.SessionSettings(
        str(settings_file(tmp_path, server.fix_port, alice, app_dictionary))
    )
    initiator = fix.SocketInitiator(
        client, fix.FileStoreFactory(settings), settings, fix.FileLogFactory(settings)
    )
    initiator.start()
    try:
        assert client.logged_on.wait(TIMEOUT), f"no Logon; admin messages: {client.admin}"
        (reply,) = [fields(m) for m in client.admin if fields(m)[35] == "A"]
        assert (reply[49], reply[56], reply[34]) == ("KalshiNR", alice.api_key_id, "1")
        assert (reply[141], reply[1137]) == ("Y", "9")

        cl_ord_id = str(uuid.uuid4())
        assert fix.Session.sendToTarget(_new_order(cl_ord_id, 5, 6.25), client.session_id)

        try:
            report = fields(client.app.get(timeout=TIMEOUT))
        except queue.Empty:
            raise AssertionError(f"no ExecutionReport; admin messages: {client.admin}") from None
        assert (report[35], report[150], report[39], report[11]) == ("8", "0", "0", cl_ord_id)
        assert (report[55], report[54], report[44], report[38]) == (BTC, "1", "6.2500", "5.00")
        # QuickFIX rejected nothing it received (35=3 from it), nor did the acceptor
        assert [m for m in client.sent_admin if fields(m)[35] == "3"] == []
        assert [m for m in client.admin if fields(m)[35] == "3"] == []
        with server.client(alice.auth) as rest:
            order = rest.get(f"/margin/orders/{report[37]}").json()["order"]
        assert (order["client_order_id"], order["remaining_count"]) == (cl_ord_id, "5.00")
        # Logout: QuickFIX sends it from its timer (within a second), the acceptor answers
        fix.Session.lookupSession(client.session_id).logout()
        assert client.logged_out.wait(TIMEOUT), f"no Logout; admin messages: {client.admin}"
    finally:
        initiator.stop(True)
    # the acceptor answered QuickFIX's Logout
    assert [fields(m)[35] for m in client.admin][-1] == "5"


def test_quickfix_on_rt_gets_the_reports_of_fills_made_while_it_was_away(
    server: FixLiveServer, tmp_path: Path, app_dictionary: Path
) -> None:
    """KalshiRT without 141=Y: QuickFIX's file store keeps its sequence numbers across the
    reconnect, as the acceptor keeps its own; what went out while it was away reaches it."""
    server.control("POST", "/reset").raise_for_status()
    alice, bob = server.new_user("1000.0000"), server.new_user("1000.0000")
    path = settings_file(
        tmp_path, server.fix_port, alice, app_dictionary, target="KalshiRT", reset_on_logon=False
    )
    factories: list[Any] = []  # they must outlive the initiators (QuickFIX crashes otherwise)

    def connect(client: Client) -> Any:
        settings = fix.SessionSettings(str(path))
        store, log = fix.FileStoreFactory(settings), fix.FileLogFactory(settings)
        factories.append((settings, store, log))
        initiator = fix.SocketInitiator(client, store, settings, log)
        initiator.start()
        assert client.logged_on.wait(TIMEOUT), f"no Logon; admin messages: {client.admin}"
        return initiator

    first = Client(alice.key, reset=False)
    initiator = connect(first)
    try:
        cl_ord_id = str(uuid.uuid4())
        assert fix.Session.sendToTarget(_new_order(cl_ord_id, 5, 6.25), first.session_id)
        report = fields(first.app.get(timeout=TIMEOUT))
        assert (report[150], report[11]) == ("0", cl_ord_id)
    finally:
        initiator.stop(True)
        del initiator  # its session leaves QuickFIX's registry, for the next one's
    asyncio.run(server.released(alice.api_key_id, "KalshiRT"))

    # while alice is away, bob sells into her bid three times
    with server.client(bob.auth) as rest:
        for n in range(3):
            body = {
                "ticker": BTC,
                "client_order_id": f"bob-{n}",
                "side": "ask",
                "count": "1",
                "price": "6.2500",
                "time_in_force": "immediate_or_cancel",
                "self_trade_prevention_type": "taker_at_cross",
            }
            assert rest.post("/margin/orders", json=body).status_code == 201

    second = Client(alice.key, reset=False)
    initiator = connect(second)
    try:
        try:
            fills = [fields(second.app.get(timeout=TIMEOUT)) for _ in range(3)]
        except queue.Empty:
            raise AssertionError(f"reports missing; admin messages: {second.admin}") from None
        assert [(f[35], f[150], f[11], f[32], f[151]) for f in fills] == [
            ("8", "F", cl_ord_id, "1.00", "4.00"),
            ("8", "F", cl_ord_id, "1.00", "3.00"),
            ("8", "F", cl_ord_id, "1.00", "2.00"),
        ]
        assert len({f[17] for f in fills}) == 3  # three ExecIDs
        # the second connection carried on the first's numbers on both sides
        (logon,) = [fields(m) for m in second.admin if fields(m)[35] == "A"]
        assert int(logon[34]) > 2
        assert [m for m in second.sent_admin + second.admin if fields(m)[35] == "3"] == []
        assert second.app.empty()  # each report once
    finally:
        initiator.stop()  # a Logout, waiting for the acceptor's
    assert second.logged_out.is_set()
    assert [fields(m)[35] for m in second.admin][-1] == "5"
    asyncio.run(server.released(alice.api_key_id, "KalshiRT"))


@pytest.mark.parametrize("last_update_time", [True, False])
def test_quickfix_market_data_validates_with_last_update_time_on_w(
    tmp_path: Path, md_dictionary: Path, last_update_time: bool
) -> None:
    """KalshiMD against the stock dictionary: X messages validate as they are; a W needs
    LastUpdateTime (779), which `md_last_update_time` adds."""
    settings = FixSettings(md_last_update_time=last_update_time)
    with fix_live_server(load_scenario("default"), fix_settings=settings) as server:
        alice = server.new_user("100000.0000")
        client = Client(alice.key)
        path = settings_file(tmp_path, server.fix_port, alice, md_dictionary, target="KalshiMD")
        session_settings = fix.SessionSettings(str(path))
        store, log = fix.FileStoreFactory(session_settings), fix.FileLogFactory(session_settings)
        initiator = fix.SocketInitiator(client, store, session_settings, log)
        initiator.start()
        try:
            assert client.logged_on.wait(TIMEOUT), f"no Logon; admin messages: {client.admin}"
            request = fix.Message()
            request.getHeader().setField(fix.MsgType("V"))
            request.setField(fix.MDReqID("books"))
            request.setField(fix.SubscriptionRequestType("1"))
            request.setField(fix.MarketDepth(0))
            symbols = fix.Group(146, 55)
            symbols.setField(fix.Symbol(BTC))
            request.addGroup(symbols)
            assert fix.Session.sendToTarget(request, client.session_id)
            server.control("POST", "/clock/advance", json={"ms": 60_000}).raise_for_status()
            # then a snapshot request: its W comes after every X the advance caused
            request.setField(fix.SubscriptionRequestType("0"))
            assert fix.Session.sendToTarget(request, client.session_id)
            got: list[dict[int, str]] = []

            def snapshots() -> int:  # the Ws QuickFIX delivered or rejected
                delivered = sum(1 for m in got if m[35] == "W")
                return delivered + sum(1 for m in client.sent_admin if fields(m)[35] == "3")

            for _ in range(int(TIMEOUT / 0.05)):  # at most TIMEOUT in all
                if snapshots() >= 2:
                    break
                with contextlib.suppress(queue.Empty):
                    got.append(fields(client.app.get(timeout=0.05)))
            while not client.app.empty():  # what came before the last W (QuickFIX keeps order)
                got.append(fields(client.app.get_nowait()))
        finally:
            initiator.stop(True)
        rejects = [fields(m) for m in client.sent_admin if fields(m)[35] == "3"]
    assert "X" in [m[35] for m in got]  # the maker's re-quotes, validated
    assert all(r.get(372) == "W" and r.get(371) == "779" for r in rejects)
    if last_update_time:
        assert rejects == []
        first, last = got[0], got[-1]
        assert (first[35], first[55], first[779]) == ("W", BTC, "20260615-00:00:00.000")
        assert (last[35], last[779]) == ("W", "20260615-00:01:00.000")
    else:  # QuickFIX refused both, and its application never saw a snapshot
        assert len(rejects) == 2
        assert [m for m in got if m[35] == "W"] == []
