"""The built image serves REST, WebSocket and FIX to clients outside its container.

Run by `make test-container` (root, buildah, minutes: `make test` leaves tests/container out)
after `../shared/tools/container-smoke` has built `localhost/perps-sim-smoke:latest` from the
Dockerfile. The module starts one container of that image (`buildah run --isolation=chroot
--network=host`, the image's own user and environment) on free ports, reads the server's ready
file from a bind mount, and talks to it on the loopback address (tests send traffic to nothing
else); that its sockets listen on every interface, as `docker run -p` needs (the image's
`PERPS_SIM_HOST=0.0.0.0`), is read from the kernel's socket table (/proc/net/tcp). The
clients are independent of the server's code: httpx and websockets signed with tests/api/signing,
and a FIX Logon encoded and signed with kalshi-sdk's codec and `FixSigner`. The container is
removed at the end, also when a test fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from kalshi.fix.auth import FixSigner
from kalshi.fix.codec import FixParser, RawMessage, encode
from websockets.asyncio.client import connect

from simulator.core.clock import WallClock
from tests.api import signing

IMAGE = os.environ.get("PERPS_SIM_IMAGE", "localhost/perps-sim-smoke:latest")
ROOT = Path(__file__).resolve().parents[2]
WS_PATH = "/trade-api/ws/v2/margin"
STARTUP_POLLS = 300  # of POLL_S each: the server starts in about a second
POLL_S = 0.2
TIMEOUT = 15.0
"""Seconds for one request or frame (only reached when something is wrong)."""

pytestmark = pytest.mark.timeout(180)


@dataclass
class Container:
    name: str
    host: str
    http_port: int
    fix_ports: dict[str, int]
    log: Path

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    def run(
        self,
        *command: str,
        env: dict[str, str] | None = None,
        mounts: dict[Path, str] | None = None,
    ) -> str:
        """Run `command` in the container (its user, its environment, `mounts` of host
        directories at container paths); its output."""
        options = [
            item for name, value in (env or {}).items() for item in ("-e", f"{name}={value}")
        ]
        options += [
            item for host, inside in (mounts or {}).items() for item in ("-v", f"{host}:{inside}")
        ]
        result = subprocess.run(
            ["buildah", "run", "--isolation=chroot", "--network=host", *options, self.name,
             "--", *command],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 0, f"{command}: {result.returncode}\n{result.stderr}"
        return result.stdout


def _listening_addresses(port: int) -> set[str]:
    """The IPv4 addresses (hex, as the kernel writes them) of the sockets listening on `port`."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, _, hex_port = local.partition(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
            found.add(address)
    return found


def _port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None, url
    return port


def _tail(path: Path) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-30:]) if path.exists() else ""


def _stop(process: subprocess.Popen[bytes]) -> None:
    # the server and buildah are in the process group this module started
    for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(wait_s)
            return


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    if shutil.which("buildah") is None:
        pytest.fail("buildah is not installed: run `make test-container`")
    inspect = subprocess.run(
        ["buildah", "inspect", "--type", "image", IMAGE], capture_output=True, check=False
    )
    if inspect.returncode != 0:
        pytest.fail(f"no image {IMAGE}: run `make test-container` (it builds the image first)")
    shared = tmp_path_factory.mktemp("ready")
    shared.chmod(0o777)  # the server runs as the image's non-root user
    log = shared / "server.log"
    name = subprocess.run(
        ["buildah", "from", IMAGE], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    process: subprocess.Popen[bytes] | None = None
    try:
        with log.open("wb") as out:
            process = subprocess.Popen(
                ["buildah", "run", "--isolation=chroot", "--network=host",
                 "-v", f"{shared}:/ready", "-e", "PERPS_SIM_STATE_DIR=/data", name,
                 "--", "perps-sim", "serve", "--port", "0", "--ready-file", "/ready/ready.json"],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        ready = shared / "ready.json"
        for _ in range(STARTUP_POLLS):
            if ready.exists() or process.poll() is not None:
                break
            time.sleep(POLL_S)
        assert ready.exists(), f"no ready file (exit {process.poll()}):\n{_tail(log)}"
        urls: dict[str, Any] = json.loads(ready.read_text())
        yield Container(
            name=name,
            host="127.0.0.1",
            http_port=_port(urls["rest_url"]),
            fix_ports=dict(urls["fix"]["ports"]),
            log=log,
        )
        assert process.poll() is None, f"the server stopped:\n{_tail(log)}"
    finally:
        if process is not None:
            _stop(process)
        subprocess.run(["buildah", "rm", name], capture_output=True, check=False, timeout=60)


def test_every_listener_is_on_every_interface(container: Container) -> None:
    for port in (container.http_port, *container.fix_ports.values()):
        assert _listening_addresses(port) == {"00000000"}, port  # 0.0.0.0, not 127.0.0.1


def test_a_signed_rest_call_of_the_demo_user(container: Container) -> None:
    auth = signing.KalshiAuth(signing.DEMO_KEY_ID, signing.demo_private_key())
    with httpx.Client(base_url=container.base, auth=auth, timeout=TIMEOUT) as client:
        response = client.get("/trade-api/v2/margin/balance")
    assert response.status_code == 200, f"{response.text}\n{_tail(container.log)}"
    assert response.json()["settled_funds"] == "10000.0000", response.text  # the demo user's


def test_a_websocket_subscription_gets_its_snapshot(container: Container) -> None:
    async def snapshot() -> dict[str, Any]:
        headers = signing.headers(signing.DEMO_KEY_ID, signing.demo_private_key(), "GET", WS_PATH)
        url = f"ws://{container.host}:{container.http_port}{WS_PATH}"
        async with connect(url, additional_headers=headers, open_timeout=TIMEOUT) as ws:
            params = {"channels": ["orderbook_delta"], "market_tickers": ["KXBTCPERP"]}
            await ws.send(json.dumps({"id": 1, "cmd": "subscribe", "params": params}))
            while True:
                frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
                assert frame["type"] != "error", frame
                if frame["type"] == "orderbook_snapshot":
                    return frame

    frame = asyncio.run(snapshot())
    assert frame["msg"]["market_ticker"] == "KXBTCPERP"
    assert frame["msg"]["ask"], frame  # the default scenario's market maker quotes


def _sending_time(epoch_ms: int) -> str:
    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(epoch_ms // 1000)) + (
        f".{epoch_ms % 1000:03d}"
    )


def test_a_fix_logon_is_answered_with_a_logon(container: Container) -> None:
    signer = FixSigner(signing.DEMO_KEY_ID, signing.demo_private_key())
    sending = _sending_time(WallClock().now_ms())
    signature = signer.sign_logon(sending_time=sending, msg_seq_num=1, target_comp_id="KalshiNR")
    logon = encode(
        [(35, "A"), (49, signing.DEMO_KEY_ID), (56, "KalshiNR"), (34, "1"), (52, sending),
         (98, "0"), (108, "30"), (95, str(len(signature))), (96, signature), (141, "Y"),
         (1137, "9")]
    )  # fmt: skip

    async def reply() -> RawMessage:
        port = container.fix_ports["KalshiNR"]
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(container.host, port), TIMEOUT
        )
        try:
            writer.write(logon)
            parser = FixParser()
            while (message := parser.get_message()) is None:
                data = await asyncio.wait_for(reader.read(65536), TIMEOUT)
                assert data, "the acceptor closed the connection without an answer"
                parser.append(data)
            return message
        finally:
            writer.close()

    message = asyncio.run(reply())
    assert message.msg_type == "A", message
    assert message.get(49) == "KalshiNR" and message.get(56) == signing.DEMO_KEY_ID, message


def test_the_server_runs_as_the_image_user_and_journals_to_data(container: Container) -> None:
    probe = (
        "import json, os; print(json.dumps({'uid': os.getuid(), 'data': os.listdir('/data'),"
        " 'key': open('/opt/perps-sim/fixtures/keys/demo_private.pem').read()}))"
    )
    seen = json.loads(container.run("python", "-c", probe))
    assert seen["uid"] != 0
    assert "journal.jsonl" in seen["data"]  # PERPS_SIM_STATE_DIR=/data, writable by the user
    assert seen["key"] == (ROOT / "fixtures" / "keys" / "demo_private.pem").read_text()


def test_a_mounted_scenario_finds_the_replay_beside_it(
    container: Container, tmp_path: Path
) -> None:
    mine = tmp_path / "scenarios"
    mine.mkdir()
    (mine / "btc.csv").write_text("ts_ms,price\n1781481600000,6.0\n1781481660000,6.1\n")
    scenario = {"name": "mine", "feeds": {"KXBTCPERP": {"kind": "replay", "path": "btc.csv"}}}
    (mine / "mine.json").write_text(json.dumps(scenario))
    for path in (tmp_path, mine, *mine.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)  # readable by the image's user
    out = container.run(
        "perps-sim", "validate-scenario", "/scenarios/mine.json", mounts={mine: "/scenarios"}
    )
    assert "(replay KXBTCPERP 2 points over 1m00s)" in out, out


def test_the_dockerfile_healthcheck_passes(container: Container) -> None:
    # buildah's OCI images drop HEALTHCHECK, so its command is read from the Dockerfile
    dockerfile = (ROOT / "Dockerfile").read_text()
    found = re.search(r"^HEALTHCHECK [^\n]*\\\n\s*CMD (\[[^\n]*\])$", dockerfile, re.M)
    assert found is not None
    command: list[str] = json.loads(found.group(1))
    container.run(*command, env={"PERPS_SIM_PORT": str(container.http_port)})
