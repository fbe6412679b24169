"""`perps-sim serve`: a real server process, its ready file, flags and environment variables."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import os
import re
import select
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from websockets.asyncio.client import connect

from fix_acceptor import codec
from fix_acceptor.message import Message
from fix_acceptor.settings import FixSettings
from simulator.core.clock import WallClock
from simulator.server.cli import main, parse_serve_options
from simulator.server.serve import READY_LINE, ServeOptions, advertised_urls, build_runtime, serve
from simulator.server.ws_settings import WsSettings
from tests.api import signing

ROOT = Path(__file__).resolve().parents[3]
_START_TIMEOUT_S = 60.0


class _Process:
    def __init__(self, popen: subprocess.Popen[bytes], banner: list[str]) -> None:
        self.popen = popen
        self.banner = banner


def _read_banner(popen: subprocess.Popen[bytes]) -> list[str]:
    # block on stdout until the banner's last line: select on the raw pipe (no buffered reads
    # that could hide lines from select) so a silent child cannot hang the test
    assert popen.stdout is not None
    fd = popen.stdout.fileno()
    received = b""
    while True:
        ready, _, _ = select.select([fd], [], [], _START_TIMEOUT_S)
        if not ready:
            raise AssertionError(f"no ready line within {_START_TIMEOUT_S} s: {received!r}")
        chunk = os.read(fd, 65_536)
        if not chunk:
            _, err = popen.communicate(timeout=30)
            raise AssertionError(f"server exited ({popen.returncode}): {received!r} {err!r}")
        received += chunk
        lines = received.decode().split("\n")[:-1]
        for index, line in enumerate(lines):
            if line.startswith(READY_LINE):
                return lines[: index + 1]


@contextmanager
def _serve(*args: str, env: dict[str, str] | None = None) -> Iterator[_Process]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PERPS_SIM_")}
    environ.update(env or {})
    popen = subprocess.Popen(
        [sys.executable, "-m", "simulator", "serve", *args],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
    )
    try:
        yield _Process(popen, _read_banner(popen))
    finally:
        if popen.poll() is None:
            popen.kill()
            popen.communicate(timeout=30)


def _stop(process: _Process, signum: int) -> int:
    process.popen.send_signal(signum)
    process.popen.communicate(timeout=60)
    return process.popen.returncode


async def _fix_logon(
    port: int, tls: ssl.SSLContext | None = None, *, late_ms: int = 0
) -> tuple[str, str]:
    # a hand-built Logon with the demo key, on the NR listener, its SendingTime `late_ms` in
    # the past; the reply's 35 and 49
    key = signing.demo_private_key()
    sending = codec.timestamp(WallClock().now_ms() - late_ms)
    pre = "\x01".join([sending, "A", "1", signing.DEMO_KEY_ID, "KalshiNR"]).encode()
    signature = base64.b64encode(
        key.sign(
            pre,
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
            hashes.SHA256(),
        )
    ).decode()
    logon = Message(
        [
            (35, "A"),
            (49, signing.DEMO_KEY_ID),
            (56, "KalshiNR"),
            (34, "1"),
            (52, sending),
            (98, "0"),
            (108, "30"),
            (95, str(len(signature))),
            (96, signature),
            (141, "Y"),
            (1137, "9"),
        ]
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls)
    writer.write(codec.encode(logon))
    decoder = codec.FrameDecoder()
    try:
        while True:
            data = await asyncio.wait_for(reader.read(65536), 30)
            assert data, "the acceptor closed the connection"
            for item in decoder.feed(data):
                assert isinstance(item, Message), item
                return item.get(35) or "", item.get(49) or ""
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def _ws_subscribe(url: str) -> dict[str, Any]:
    path = "/trade-api/ws/v2/margin"
    headers = signing.headers(signing.DEMO_KEY_ID, signing.demo_private_key(), "GET", path)
    async with connect(url, additional_headers=headers) as ws:
        await ws.send(json.dumps({"id": 1, "cmd": "subscribe", "params": {"channels": ["trade"]}}))
        reply: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 30))
        return reply


def test_serve_writes_the_ready_file_serves_and_stops_cleanly(tmp_path):
    ready = tmp_path / "ready.json"
    with _serve(
        "--port", "0", "--clock", "manual", "--ready-file", str(ready), "--log-level", "warning"
    ) as process:
        urls = json.loads(ready.read_text())
        port = int(urls["rest_url"].rsplit(":", 1)[1].split("/", 1)[0])
        fix_ports = urls["fix"]["ports"]
        assert urls == {
            "rest_url": f"http://127.0.0.1:{port}/trade-api/v2",
            "ws_url": f"ws://127.0.0.1:{port}/trade-api/ws/v2/margin",
            "control_url": f"http://127.0.0.1:{port}/sim/v1",
            "fix": {"host": "127.0.0.1", "ports": fix_ports},
        }
        assert list(fix_ports) == ["KalshiNR", "KalshiDC", "KalshiRT", "KalshiMD"]
        assert all(p > 0 for p in fix_ports.values())  # --port 0: every FIX port free too
        assert asyncio.run(_fix_logon(fix_ports["KalshiNR"]))[:2] == ("A", "KalshiNR")
        assert process.banner[-1].startswith(f"{READY_LINE} http://127.0.0.1:{port}")
        banner = "\n".join(process.banner)
        assert signing.DEMO_KEY_ID in banner
        assert "demo_private.pem (TEST ONLY)" in banner

        health = httpx.get(f"{urls['control_url']}/health", timeout=30).json()
        assert health["status"] == "ok"
        assert health["scenario"] == "default"
        assert health["clock"] == "manual"
        assert health["now_ms"] == 1_781_481_600_000  # the scenario's start, 2026-06-15

        auth = signing.KalshiAuth(signing.DEMO_KEY_ID, signing.demo_private_key())
        response = httpx.get(f"{urls['rest_url']}/margin/balance", auth=auth, timeout=30)
        assert response.status_code == 200
        primary = response.json()["subaccount_balances"][0]
        assert primary["subaccount"] == 0
        assert primary["account_equity"] == "10000.0000"
        unsigned = httpx.get(f"{urls['rest_url']}/margin/balance", timeout=30)
        assert unsigned.status_code == 401
        assert asyncio.run(_ws_subscribe(urls["ws_url"])) == {
            "type": "subscribed",
            "id": 1,
            "msg": {"channel": "trade", "sid": 1},
            "sending_ts_ms": 1_781_481_600_000,
        }
        assert f"WebSocket   {urls['ws_url']}" in banner

        assert _stop(process, signal.SIGTERM) == 0
    assert not ready.exists()  # removed on a clean stop


def test_environment_variables_configure_serve_and_flags_win(tmp_path):
    ready = tmp_path / "ready.json"
    env = {
        "PERPS_SIM_PORT": "0",
        "PERPS_SIM_READY_FILE": str(ready),
        "PERPS_SIM_SCENARIO": "bare",
        "PERPS_SIM_CLOCK": "accelerated",
        "PERPS_SIM_SPEED": "60",
        "PERPS_SIM_AUTH": "open",
        "PERPS_SIM_LOG_LEVEL": "debug",
    }
    with _serve("--log-level", "warning", env=env) as process:
        urls = json.loads(ready.read_text())
        health = httpx.get(f"{urls['control_url']}/health", timeout=30).json()
        assert (health["scenario"], health["clock"]) == ("bare", "accelerated")
        assert "accelerated x60" in "\n".join(process.banner)
        # open auth: any well-formed key id gets a funded account, no signature needed
        opened = httpx.get(
            f"{urls['rest_url']}/margin/enabled",
            headers={"KALSHI-ACCESS-KEY": "anyone-at-all"},
            timeout=30,
        )
        assert opened.status_code == 200
        assert _stop(process, signal.SIGINT) == 0


def test_manual_clock_from_the_environment(tmp_path):
    ready = tmp_path / "ready.json"
    env = {"PERPS_SIM_CLOCK": "manual", "PERPS_SIM_PORT": "0", "PERPS_SIM_LOG_LEVEL": "warning"}
    with _serve("--ready-file", str(ready), env=env) as process:
        control = json.loads(ready.read_text())["control_url"]
        moved = httpx.post(f"{control}/clock/advance", json={"ms": 1_000}, timeout=30)
        assert moved.json()["now_ms"] == 1_781_481_601_000
        assert _stop(process, signal.SIGTERM) == 0


def _read_stderr_until(popen: subprocess.Popen[bytes], needle: str) -> str:
    # the server's log (stderr) up to the first line holding `needle`, waiting on the pipe
    assert popen.stderr is not None
    fd = popen.stderr.fileno()
    received = b""
    while needle.encode() not in received:
        ready, _, _ = select.select([fd], [], [], _START_TIMEOUT_S)
        assert ready, f"no {needle!r} line within {_START_TIMEOUT_S} s: {received!r}"
        chunk = os.read(fd, 65_536)
        assert chunk, f"server exited: {received!r}"
        received += chunk
    return received.decode()


def test_an_accelerated_server_logs_its_stats_line_every_interval(tmp_path):
    ready = tmp_path / "ready.json"
    args = ["--port", "0", "--clock", "accelerated", "--speed", "100", "--no-fix"]
    args += ["--ready-file", str(ready), "--stats-interval", "0.05"]
    with _serve(*args) as process:
        log = _read_stderr_until(process.popen, "stats: ")
        clock = httpx.get(json.loads(ready.read_text())["control_url"] + "/clock", timeout=30)
        assert _stop(process, signal.SIGTERM) == 0

    (line,) = [line for line in log.splitlines() if "stats: " in line][:1]
    assert line.startswith("INFO:")
    assert re.search(
        r"stats: 2026-06-15T\S+Z, [\d.,]+x real time over [\d.]+ s; orders \d+, fills \d+, "
        r"funding payments \d+, liquidations \d+$",
        line,
    ), line
    assert isinstance(clock.json()["lag_ms"], int)


def test_a_server_that_cannot_keep_up_logs_its_own_speed_and_how_far_behind_it_is(tmp_path):
    # x10^9: no machine fires a simulated day of the default scenario in 86 us of real time
    args = ["--port", "0", "--clock", "accelerated", "--speed", "1000000000", "--no-fix"]
    args += ["--stats-interval", "0.2"]
    with _serve(*args) as process:
        log = _read_stderr_until(process.popen, "behind the clock")
        assert _stop(process, signal.SIGTERM) == 0

    assert "the exchange cannot keep up with the x1,000,000,000 clock" in log
    line = next(line for line in log.splitlines() if "behind the clock" in line)
    found = re.search(
        r"stats: \S+Z, ([\d.,]+)x real time over [\d.]+ s, \S+ behind the clock; ", line
    )
    assert found, line
    assert float(found.group(1).replace(",", "")) < 1e9  # its own pace, not the clock's


def test_a_state_directory_survives_a_restart(tmp_path):
    ready = tmp_path / "ready.json"
    args = ["--port", "0", "--clock", "manual", "--log-level", "warning"]
    args += ["--ready-file", str(ready), "--state-dir", str(tmp_path / "state")]
    with _serve(*args) as process:
        assert "journaled in" in "\n".join(process.banner)
        control = json.loads(ready.read_text())["control_url"]
        httpx.post(f"{control}/clock/advance", json={"ms": 7_000}, timeout=30).raise_for_status()
        assert _stop(process, signal.SIGTERM) == 0

    with _serve(*args) as process:
        control = json.loads(ready.read_text())["control_url"]
        clock = httpx.get(f"{control}/clock", timeout=30).json()
        assert clock["now_ms"] == 1_781_481_607_000  # where the first run stopped
        assert _stop(process, signal.SIGTERM) == 0


def test_options_resolve_flag_then_environment_then_default():
    options = parse_serve_options(
        {"port": "9001", "clock": None, "rate_limits": None, "auth": "open"},
        {"PERPS_SIM_PORT": "9002", "PERPS_SIM_CLOCK": "Manual", "PERPS_SIM_RATE_LIMITS": "yes"},
    )

    assert options == ServeOptions(port=9001, clock="manual", rate_limits=True, auth="open")
    assert parse_serve_options({}, {}) == ServeOptions()
    assert parse_serve_options({"rate_limits": False}, {"PERPS_SIM_RATE_LIMITS": "1"}) == (
        ServeOptions(rate_limits=False)
    )


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--clock", "sometimes"], {}, "--clock must be one of wall, manual, accelerated"),
        (["--port", "70000"], {}, "--port must be a port number from 0 to 65535"),
        (["--speed", "0"], {}, "--speed must be a positive number"),
        (["--seed", "x"], {}, "--seed must be an integer"),
        ([], {"PERPS_SIM_PORT": "abc"}, "PERPS_SIM_PORT must be an integer, was 'abc'"),
        ([], {"PERPS_SIM_AUTH": "maybe"}, "PERPS_SIM_AUTH must be one of verify, open"),
        ([], {"PERPS_SIM_RATE_LIMITS": "2"}, "PERPS_SIM_RATE_LIMITS must be true or false"),
        ([], {"PERPS_SIM_AUTH_WINDOW_MS": "-1"}, "PERPS_SIM_AUTH_WINDOW_MS must not be negative"),
        (["--ws", "nonsense=1"], {}, "--ws: 'nonsense=1' is not NAME=VALUE"),
        ([], {"PERPS_SIM_WS": "get_snapshot_reply=never"}, "PERPS_SIM_WS: get_snapshot_reply must"),
        (["--fix", "pace_bytes=-1"], {}, "--fix: pace_bytes must be at least 0, was -1"),
        ([], {"PERPS_SIM_FIX": "session=x"}, "PERPS_SIM_FIX: 'session=x' is not NAME=VALUE"),
        (["--fix", "min_heartbeat_s=400"], {}, "--fix: need 1 <= min_heartbeat_s <= max"),
        (["--stats-interval", "-1"], {}, "--stats-interval must be 0 (off) or a positive number"),
        ([], {"PERPS_SIM_STATS_INTERVAL": "often"}, "PERPS_SIM_STATS_INTERVAL must be a number"),
    ],
)
def test_bad_values_exit_with_status_2_and_name_the_source(argv, env, message, monkeypatch, capsys):
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(SystemExit) as exited:
        main(["serve", *argv])

    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_the_stats_interval_comes_from_the_flag_or_the_environment():
    assert ServeOptions().stats_interval == 10.0
    assert parse_serve_options({"stats_interval": "2.5"}, {}).stats_interval == 2.5
    assert parse_serve_options({}, {"PERPS_SIM_STATS_INTERVAL": "0"}).stats_interval == 0.0
    flag_wins = parse_serve_options({"stats_interval": "1"}, {"PERPS_SIM_STATS_INTERVAL": "30"})
    assert flag_wins.stats_interval == 1.0


def test_fix_settings_come_from_repeated_flags_or_the_environment():
    flags = parse_serve_options(
        {"fix": ["sending_time_tolerance_ms=120000", "max-sessions-per-key=2"]},
        {"PERPS_SIM_FIX": "pace_bytes=0"},
    )
    assert flags.fix.session.sending_time_tolerance_ms == 120_000
    assert (flags.fix.max_sessions_per_key, flags.fix.pace_bytes) == (2, 1_048_576)
    env = parse_serve_options({}, {"PERPS_SIM_FIX": "pace_bytes=0, sender_comp_id=Kalshi"})
    assert (env.fix.pace_bytes, env.fix.session.sender_comp_id) == (0, "Kalshi")
    assert parse_serve_options({}, {}).fix == FixSettings()


def test_a_served_fix_setting_reaches_the_acceptor(tmp_path):
    # SendingTime tolerance (30 s on Kalshi's current pages, 120 s on older ones) and
    # SenderCompID (`Kalshi` in the text, the session type in the examples), FIX.md §5
    ready = tmp_path / "ready.json"
    base = ("--port", "0", "--clock", "manual", "--log-level", "warning", "--ready-file")
    late = 60_000
    with _serve(*base, str(ready)):
        port = json.loads(ready.read_text())["fix"]["ports"]["KalshiNR"]
        assert asyncio.run(_fix_logon(port, late_ms=late))[0] != "A"
    ready.unlink()
    tolerant = {"PERPS_SIM_FIX": "sending_time_tolerance_ms=120000,sender_comp_id=Kalshi"}
    with _serve(*base, str(ready), env=tolerant):
        port = json.loads(ready.read_text())["fix"]["ports"]["KalshiNR"]
        assert asyncio.run(_fix_logon(port, late_ms=late)) == ("A", "Kalshi")


def test_ws_settings_come_from_repeated_flags_or_the_environment():
    flags = parse_serve_options(
        {"ws": ["get_snapshot_reply=snapshot_only", "max_subscriptions=5"]},
        {"PERPS_SIM_WS": "sending_ts_ms=false"},
    )
    assert flags.ws == WsSettings(get_snapshot_reply="snapshot_only", max_subscriptions=5)
    env = parse_serve_options(
        {}, {"PERPS_SIM_WS": "sending_ts_ms=false, repeat_subscribe=ok_merge"}
    )
    assert env.ws == WsSettings(sending_ts_ms=False, repeat_subscribe="ok_merge")
    assert build_runtime(env).settings.ws == env.ws


def test_fix_options_resolve_and_port_zero_frees_every_fix_port():
    options = parse_serve_options(
        {"fix_ports": "1,2,3,4", "fix_host": "::1"}, {"PERPS_SIM_NO_FIX": "yes"}
    )
    assert (options.fix_ports, options.fix_host, options.no_fix) == ((1, 2, 3, 4), "::1", True)
    assert options.fix_port_map() == {"KalshiNR": 1, "KalshiDC": 2, "KalshiRT": 3, "KalshiMD": 4}
    assert ServeOptions().fix_port_map() == {
        "KalshiNR": 8228,
        "KalshiDC": 8229,
        "KalshiRT": 8230,
        "KalshiMD": 8233,
    }
    assert set(ServeOptions(port=0).fix_port_map().values()) == {0}
    assert parse_serve_options({"no_fix": True}, {}).no_fix is True
    with pytest.raises(ValueError, match="--fix-ports must be four ports"):
        parse_serve_options({"fix_ports": "1,2"}, {})
    with pytest.raises(ValueError, match="PERPS_SIM_FIX_PORTS must be a port number"):
        parse_serve_options({}, {"PERPS_SIM_FIX_PORTS": "1,2,3,99999"})


def test_no_fix_leaves_fix_out_of_the_ready_file_and_banner(tmp_path):
    ready = tmp_path / "ready.json"
    with _serve("--port", "0", "--clock", "manual", "--no-fix", "--ready-file", str(ready)) as p:
        assert "fix" not in json.loads(ready.read_text())
        assert "FIX         off (--no-fix)" in "\n".join(p.banner)
        assert _stop(p, signal.SIGINT) == 0


def test_fix_over_tls_with_a_given_certificate(tmp_path):
    cert, key = _self_signed(tmp_path)
    ready = tmp_path / "ready.json"
    args = ["--port", "0", "--clock", "manual", "--ready-file", str(ready)]
    with _serve(*args, "--fix-tls-cert", str(cert), "--fix-tls-key", str(key)) as process:
        urls = json.loads(ready.read_text())
        assert ", TLS" in "\n".join(process.banner)
        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False
        reply = asyncio.run(_fix_logon(urls["fix"]["ports"]["KalshiRT"], context))
        assert reply == ("A", "KalshiNR")  # any listener takes any session type
        assert _stop(process, signal.SIGTERM) == 0


def test_a_fix_certificate_without_its_key_exits_with_status_1(tmp_path, capsys):
    cert, _ = _self_signed(tmp_path)
    assert main(["serve", "--port", "0", "--fix-tls-cert", str(cert)]) == 1
    assert "--fix-tls-cert and --fix-tls-key go together" in capsys.readouterr().err


def _self_signed(directory: Path) -> tuple[Path, Path]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.fromtimestamp(WallClock().now_ms() / 1000, datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "fix.crt", directory / "fix.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_unknown_flags_and_missing_command_exit_with_status_2(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--fix-port", "8228"])
    assert exited.value.code == 2
    assert "unrecognized arguments: --fix-port" in capsys.readouterr().err

    assert main([]) == 2
    assert "serve" in capsys.readouterr().err


def test_unknown_scenario_exits_with_status_1(capsys):
    assert main(["serve", "--port", "0", "--scenario", "no-such-scenario"]) == 1
    err = capsys.readouterr().err
    assert "unknown scenario 'no-such-scenario'" in err
    assert "'bare', 'default'" in err


def test_a_ready_file_in_a_missing_directory_exits_with_status_1(tmp_path, capsys):
    ready = tmp_path / "missing" / "ready.json"
    code = main(["serve", "--port", "0", "--scenario", "bare", "--ready-file", str(ready)])

    assert code == 1
    assert "is not a directory" in capsys.readouterr().err


def test_a_port_in_use_exits_with_status_1(capsys):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code = main(["serve", "--port", str(port), "--clock", "manual", "--scenario", "bare"])

    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


class _ReadyStream(io.StringIO):
    """The banner's stream: `ready` is set once the ready line is written."""

    def __init__(self) -> None:
        super().__init__()
        self.ready = asyncio.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        if READY_LINE in text:
            self.ready.set()
        return written


def test_serve_answers_on_connections_with_tcp_nodelay(monkeypatch):
    # Nagle's algorithm would hold each response's second segment for the client's delayed ACK
    accepted: list[socket.socket] = []
    accept = socket.socket.accept

    def recording_accept(self: socket.socket) -> tuple[socket.socket, Any]:
        connection, address = accept(self)
        accepted.append(connection)
        return connection, address

    monkeypatch.setattr(socket.socket, "accept", recording_accept)
    options = ServeOptions(port=0, scenario="bare", clock="manual", log_level="warning")

    async def run() -> tuple[bytes, list[int], int]:
        out = _ReadyStream()
        served = asyncio.create_task(serve(options, out=out))
        ready = asyncio.create_task(out.ready.wait())
        await asyncio.wait({served, ready}, return_when=asyncio.FIRST_COMPLETED)
        assert out.ready.is_set(), served.result()
        found = re.search(rf"{READY_LINE} http://127\.0\.0\.1:(\d+)", out.getvalue())
        assert found is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", int(found[1]))
        writer.write(b"GET /sim/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status = await reader.readline()
        nodelay = [c.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for c in accepted]
        writer.close()
        await writer.wait_closed()
        signal.raise_signal(signal.SIGTERM)  # serve's own handler: a clean stop
        return status, nodelay, await served

    status, nodelay, code = asyncio.run(run())

    assert status.startswith(b"HTTP/1.1 200")
    assert len(nodelay) == 1 and nodelay[0] != 0
    assert code == 0


def test_wildcard_hosts_are_advertised_as_loopback():
    assert advertised_urls("0.0.0.0", 8000)["rest_url"] == "http://127.0.0.1:8000/trade-api/v2"
    assert advertised_urls("::", 8000)["ws_url"] == "ws://[::1]:8000/trade-api/ws/v2/margin"
    assert advertised_urls("localhost", 1)["control_url"] == "http://localhost:1/sim/v1"


def test_control_plane_safety_options_resolve_and_reach_the_settings():
    options = parse_serve_options(
        {"control_token": "t0k", "open_max_accounts": "5"},
        {"PERPS_SIM_ALLOWED_HOSTS": "perps-sim, Sim.Example.", "PERPS_SIM_HOST": "0.0.0.0"},
    )
    assert options.control_token == "t0k"
    assert options.allowed_hosts == ("perps-sim", "sim.example")
    settings = build_runtime(options).settings
    assert settings.control_token == "t0k"
    assert settings.open_max_accounts == 5
    assert settings.allowed_hosts == ("perps-sim", "sim.example")  # 0.0.0.0 is no name
    named = ServeOptions(host="192.168.1.5", scenario="bare")
    assert build_runtime(named).settings.allowed_hosts == ("192.168.1.5",)


@pytest.mark.parametrize(
    ("host", "token", "exposed"),
    [
        ("127.0.0.1", None, False),
        ("localhost", None, False),
        ("::1", None, False),
        ("0.0.0.0", None, True),
        ("192.168.1.5", None, True),
        ("0.0.0.0", "t0k", False),
    ],
)
def test_the_server_warns_when_the_control_plane_is_open_to_the_network(host, token, exposed):
    assert ServeOptions(host=host, control_token=token).control_exposed() is exposed


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--open-max-accounts", "0"], "--open-max-accounts must be at least 1"),
        (["--allowed-hosts", " , "], "--allowed-hosts must be host names separated by commas"),
        (["--control-token", ""], "--control-token must not be empty"),
    ],
)
def test_bad_control_plane_safety_values_exit_with_status_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["serve", *argv])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_a_replayed_reference_is_in_the_banner_and_logs_when_it_runs_out(tmp_path):
    ready = tmp_path / "ready.json"
    args = ["--port", "0", "--no-fix", "--clock", "manual", "--ready-file", str(ready)]
    with _serve(*args, "--scenario", "liquidation-cascade", "--log-level", "info") as process:
        assert (
            "  replay      KXBTCPERP: 31 points, 2026-06-15T00:00:00.000Z to "
            "2026-06-15T00:10:29.000Z (10m29s)"
        ) in process.banner
        control = json.loads(ready.read_text())["control_url"]
        advanced = httpx.post(f"{control}/clock/advance", json={"ms": 11 * 60_000}, timeout=60)
        assert advanced.json()["replays"][0]["done"] is True
        process.popen.send_signal(signal.SIGINT)
        _, err = process.popen.communicate(timeout=60)
    assert process.popen.returncode == 0
    assert (
        "replay of KXBTCPERP ran out at 2026-06-15T00:10:29.000Z (31 points over 10m29s): its "
        "reference stays at 4.6285 until set"
    ) in err.decode()
