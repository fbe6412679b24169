"""The pytest plugin (`simulator.server.pytest_plugin`), from a user's side.

Each `pytester` run is a separate pytest process in a fresh directory with no conftest, the way
a client project runs: its tests use the `perps_sim` fixtures and record what they saw in
`observed.jsonl`, which the test here reads. Three runs (each starts one to four servers):

- the fixtures in a session: attributes, a signed REST call of `perps_sim_user`, `advance`
  (also in the background),
  `set_reference_price`, control-plane errors, the reset between tests and its opt-out, a
  module-scoped server of another scenario that is stopped after its module, the ini's seed;
- options and ini keys reaching `perps-sim serve`, a server that cannot start, a bad marker;
- `-n 2` under pytest-xdist: one server per worker.

The child runs load only this plugin (`PYTEST_DISABLE_PLUGIN_AUTOLOAD`, `-p`), since the dev
environment's other plugins take seconds to import; the entry point is checked on its own, and
`make test-examples` runs the plugin from its entry point in a clean install.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import simulator
from simulator.server.pytest_plugin import PerpsSim, PerpsSimStartupError, ServerConfig

pytest_plugins = ["pytester"]

PLUGIN = "simulator.server.pytest_plugin"
RUN_TIMEOUT_S = 240  # only reached when something hangs

# shared by the child tests: signing a REST request (REST.md (a)) and recording observations
HELPERS = """
import base64
import json
import time

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

BTC = "KXBTCPERP"


def record(name, value):
    with open("observed.jsonl", "a") as out:
        out.write(json.dumps([name, value]) + "\\n")


def observed(name):
    with open("observed.jsonl") as lines:
        return [value for key, value in map(json.loads, lines) if key == name]


def signed(user, method, path):
    key = serialization.load_pem_private_key(user.private_key_pem.encode(), None)
    timestamp = str(int(time.time() * 1000))
    message = f"{timestamp}{method}/trade-api/v2{path}".encode()
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
    signature = base64.b64encode(key.sign(message, pss, hashes.SHA256())).decode()
    return {
        "KALSHI-ACCESS-KEY": user.api_key_id,
        "KALSHI-ACCESS-TIMESTAMP": timestamp,
        "KALSHI-ACCESS-SIGNATURE": signature,
    }


def book(sim):
    return httpx.get(f"{sim.rest_url}/margin/markets/{BTC}/orderbook").json()["orderbook"]


def health(sim):
    return httpx.get(sim.control_url + "/health").json()
"""

SESSION_TESTS = """
from helpers import BTC, book, health, record, signed
import httpx
import pytest
import socket

from simulator.server.pytest_plugin import ControlPlaneError


def test_attributes(perps_sim):
    record("session", perps_sim.rest_url)
    record("fresh_hash", perps_sim.state_hash())
    base = perps_sim.rest_url.removesuffix("/trade-api/v2")
    assert base.startswith("http://127.0.0.1:")
    assert perps_sim.ws_url == base.replace("http://", "ws://") + "/trade-api/ws/v2/margin"
    assert perps_sim.control_url == base + "/sim/v1"
    assert perps_sim.fix_host == "127.0.0.1"
    assert sorted(perps_sim.fix_ports) == ["KalshiDC", "KalshiMD", "KalshiNR", "KalshiRT"]
    assert len(set(perps_sim.fix_ports.values())) == 4
    socket.create_connection((perps_sim.fix_host, perps_sim.fix_ports["KalshiNR"])).close()
    assert (health(perps_sim)["scenario"], health(perps_sim)["clock"]) == ("bare", "manual")
    assert perps_sim.control("GET", "/state")["seed"] == 7  # the ini's perps_sim_seed


def test_user_signs_a_rest_call(perps_sim, perps_sim_user):
    response = httpx.get(
        perps_sim.rest_url + "/margin/balance",
        headers=signed(perps_sim_user, "GET", "/margin/balance"),
    )

    assert response.status_code == 200, response.text
    assert response.json()["settled_funds"] == "10000.0000"
    assert perps_sim_user.private_key_path.read_text() == perps_sim_user.private_key_pem
    assert perps_sim.create_user(balance="25.5").user_id != perps_sim_user.user_id


def test_advance_moves_the_clock(perps_sim):
    before = httpx.get(perps_sim.control_url + "/clock").json()

    answer = perps_sim.advance(90_000)

    after = httpx.get(perps_sim.control_url + "/clock").json()
    assert after["now_ms"] - before["now_ms"] == 90_000
    assert answer == after == perps_sim.clock()


def test_advance_to_moves_the_clock_to_an_instant(perps_sim):
    start = perps_sim.clock()["now_ms"]

    assert perps_sim.advance_to(start + 61_500)["now_ms"] == start + 61_500
    started = perps_sim.advance_to(start + 3_600_000, wait=False)
    assert started["advance"]["target_ms"] == start + 3_600_000
    assert perps_sim.wait_for_advance()["now_ms"] == start + 3_600_000
    with pytest.raises(ControlPlaneError, match="is before now"):
        perps_sim.advance_to(start)


def test_a_background_advance_answers_at_once(perps_sim):
    start = perps_sim.clock()["now_ms"]

    answer = perps_sim.advance(86_400_000, wait=False)

    assert answer["advance"]["target_ms"] == start + 86_400_000
    assert perps_sim.wait_for_advance()["now_ms"] == start + 86_400_000


def test_reference_price_is_visible(perps_sim):
    perps_sim.set_reference_price(BTC, "6.3100")

    market = httpx.get(f"{perps_sim.rest_url}/margin/markets/{BTC}").json()["market"]
    assert market["reference_price"]["price"] == "6.3100"


def test_control_plane_errors_carry_the_body(perps_sim):
    with pytest.raises(ControlPlaneError) as info:
        perps_sim.set_reference_price("NOPE", "1")

    assert info.value.status_code == 404
    assert "market_not_found" in str(info.value)
    assert "/sim/v1/markets/NOPE/reference_price" in str(info.value)


def test_reset_1_places_an_order(perps_sim, perps_sim_user):
    order = {
        "ticker": BTC,
        "client_order_id": "resting-1",
        "side": "bid",
        "count": "1",
        "price": "6.0000",
        "time_in_force": "good_till_canceled",
        "self_trade_prevention_type": "taker_at_cross",
    }
    response = httpx.post(
        perps_sim.rest_url + "/margin/orders",
        json=order,
        headers=signed(perps_sim_user, "POST", "/margin/orders"),
    )

    assert response.status_code == 201, response.text
    assert book(perps_sim)["bids"] == [["6.0000", "1.00"]]


@pytest.mark.perps_sim(reset=False)
def test_reset_2_opted_out_sees_the_order(perps_sim):
    assert book(perps_sim)["bids"] == [["6.0000", "1.00"]]


def test_reset_3_starts_fresh(perps_sim):
    assert book(perps_sim) == {"bids": [], "asks": []}
    record("reset_hash", perps_sim.state_hash())
"""

MODULE_TESTS = """
from helpers import book, health, record
import pytest

pytestmark = pytest.mark.perps_sim(scope="module", scenario="default")


def test_module_server_1(perps_sim):
    record("module", perps_sim.rest_url)
    assert health(perps_sim)["scenario"] == "default"
    assert book(perps_sim)["asks"]  # the default scenario's market maker
    assert perps_sim.control("GET", "/state")["seed"] == 7


def test_module_server_2(perps_sim):
    record("module", perps_sim.rest_url)
"""

AFTER_MODULE_TESTS = """
from helpers import observed, record
import httpx
import pytest


def test_after_the_module(perps_sim):
    record("session", perps_sim.rest_url)
    with pytest.raises(httpx.ConnectError):  # the module's server stopped with its module
        httpx.get(observed("module")[0] + "/margin/exchange/status")
"""

OPTION_TESTS = """
from helpers import book, health
import uuid

import httpx


def test_options_and_ini_reach_serve(perps_sim):
    assert health(perps_sim)["scenario"] == "default"  # the option over the ini's bare
    assert health(perps_sim)["clock"] == "wall"  # --perps-sim-arg after the plugin's --clock
    assert perps_sim.control("GET", "/state")["seed"] == 11
    assert book(perps_sim)["asks"]
    # the ini's `--auth open`: any well-formed key id, unsigned, is a funded user
    headers = {"KALSHI-ACCESS-KEY": str(uuid.uuid4())}
    response = httpx.get(perps_sim.rest_url + "/margin/balance", headers=headers)
    assert response.status_code == 200, response.text
"""

BROKEN_TESTS = """
import pytest

pytestmark = pytest.mark.perps_sim(scenario="no-such-scenario")


def test_broken_1(perps_sim):
    pass


def test_broken_2(perps_sim):
    pass


@pytest.mark.perps_sim(sceanrio="default")
def test_misspelt_marker(perps_sim):
    pass
"""

XDIST_TESTS = """
import os

from helpers import record


def _record(sim):
    record("worker", [os.environ["PYTEST_XDIST_WORKER"], sim.rest_url])


def test_1(perps_sim):
    _record(perps_sim)


def test_2(perps_sim):
    _record(perps_sim)


def test_3(perps_sim):
    _record(perps_sim)


def test_4(perps_sim):
    _record(perps_sim)
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(helpers=HELPERS)
    return pytester


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "-p", PLUGIN, "-p", "no:cacheprovider", *args, timeout=RUN_TIMEOUT_S
    )


def _observed(pytester: pytest.Pytester, name: str) -> list[Any]:
    lines = (pytester.path / "observed.jsonl").read_text().splitlines()
    return [value for key, value in map(json.loads, lines) if key == name]


def test_fixtures_share_a_session_server_reset_between_tests(project: pytest.Pytester) -> None:
    project.makeini("[pytest]\nperps_sim_seed = 7\n")
    project.makepyfile(
        test_a_session=SESSION_TESTS,
        test_b_module=MODULE_TESTS,
        test_c_after_module=AFTER_MODULE_TESTS,
    )

    result = _run(project)

    result.assert_outcomes(passed=13)
    session, module = _observed(project, "session"), _observed(project, "module")
    assert len(set(session)) == 1  # before and after the module-scoped one
    assert len(set(module)) == 1
    assert session[0] != module[0]
    assert _observed(project, "reset_hash") == _observed(project, "fresh_hash")


def test_options_and_ini_reach_serve_and_failures_are_reported(project: pytest.Pytester) -> None:
    project.makeini("[pytest]\nperps_sim_scenario = bare\nperps_sim_args =\n    --auth open\n")
    project.makepyfile(test_options=OPTION_TESTS, test_z_broken=BROKEN_TESTS)

    result = _run(
        project,
        "--perps-sim-scenario",
        "default",
        "--perps-sim-seed",
        "11",
        "--perps-sim-arg=--clock wall",
    )

    result.assert_outcomes(passed=1, errors=3)
    # Only the ERRORS section: the short summary repeats messages in full when CI is set.
    output = result.stdout.str().partition("short test summary info")[0]
    assert output.count("exited with status 1 before it was ready") == 2
    assert output.count("not started again: it failed for an earlier test") == 1
    assert "unknown scenario 'no-such-scenario'" in output  # the server's own message
    assert "--- server output ---" in output
    assert "unknown perps_sim marker argument 'sceanrio'" in output


def test_each_xdist_worker_gets_its_own_server(project: pytest.Pytester) -> None:
    project.makepyfile(test_workers=XDIST_TESTS)

    result = _run(project, "-p", "xdist.plugin", "-n", "2")

    result.assert_outcomes(passed=4)
    by_worker: dict[str, set[str]] = {}
    for worker, url in _observed(project, "worker"):
        by_worker.setdefault(worker, set()).add(url)
    assert sorted(by_worker) == ["gw0", "gw1"]
    assert all(len(urls) == 1 for urls in by_worker.values())  # shared within a worker
    assert by_worker["gw0"] != by_worker["gw1"]


def test_a_server_that_is_not_ready_in_time_is_stopped_and_reported(tmp_path: Path) -> None:
    with pytest.raises(PerpsSimStartupError) as info:
        PerpsSim.start(ServerConfig(), workdir=tmp_path, startup_timeout=0)

    assert "was not ready within 0 s" in str(info.value)
    assert "command: " in str(info.value)
    command = f"{sys.executable} -P -m simulator serve --clock manual --scenario bare"
    assert command in str(info.value)


def test_the_entry_point_names_the_plugin() -> None:
    points = importlib.metadata.entry_points(group="pytest11")

    assert [point.value for point in points if point.name == "perps_sim"] == [PLUGIN]


def test_loading_the_plugin_imports_neither_the_exchange_nor_a_transport() -> None:
    probe = textwrap.dedent(
        f"""
        import json, sys
        import {PLUGIN}
        print(json.dumps(sorted(sys.modules)))
        """
    )

    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)

    loaded = set(json.loads(done.stdout))
    heavy = {"simulator.exchange", "fastapi", "api", "httpx", "uvicorn", "matching"}
    assert loaded & heavy == set()
    assert not any(name.startswith(("api.", "fastapi.", "simulator.core")) for name in loaded)


def test_the_package_exports_its_names_on_first_use() -> None:
    homes: dict[str, str] = vars(simulator)["_HOMES"]

    assert sorted(homes) == sorted(simulator.__all__)
    for name, home in homes.items():
        assert getattr(simulator, name) is getattr(sys.modules[home], name)
    assert set(simulator.__all__) <= set(dir(simulator))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        simulator.nothing  # type: ignore[attr-defined]  # noqa: B018
