"""The README's Python examples run as written.

Blocks fenced as ```python run on their own; blocks fenced as ```python server talk to a
server at http://127.0.0.1:8000 and run against a live server of the default scenario (the
URL is replaced by the live server's), from the repository root.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from simulator.server.scenarios import load_scenario
from tests.api.live import live_server
from tests.e2e.fix_helpers import fix_live_server

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
TEXT = README.read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", TEXT, flags=re.DOTALL)
SERVER_BLOCKS = re.findall(r"```python server\n(.*?)```", TEXT, flags=re.DOTALL)
WS_BLOCKS = re.findall(r"```python ws-server\n(.*?)```", TEXT, flags=re.DOTALL)
FIX_BLOCKS = re.findall(r"```python fix-server\n(.*?)```", TEXT, flags=re.DOTALL)
_URL = "http://127.0.0.1:8000"
_WS_URL = "ws://127.0.0.1:8000"


@pytest.mark.parametrize("source", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_python_block_runs(source):
    exec(compile(source, str(README), "exec"), {})


@pytest.mark.parametrize(
    "source", SERVER_BLOCKS, ids=[f"server_block{i}" for i in range(len(SERVER_BLOCKS))]
)
def test_readme_server_block_runs_against_a_live_server(source, monkeypatch, tmp_path):
    assert _URL in source
    monkeypatch.chdir(tmp_path)  # the example finds the key from any directory
    with live_server(load_scenario("default")) as server:
        exec(compile(source.replace(_URL, server.base), str(README), "exec"), {})
        demo = server.runtime.exchange.users["demo-user"].subaccounts[0]
    assert demo.positions["KXBTCPERP"].qty == 200  # the example bought 2 contracts


@pytest.mark.parametrize("source", WS_BLOCKS, ids=[f"ws_block{i}" for i in range(len(WS_BLOCKS))])
def test_readme_websocket_block_runs_against_a_live_server(source, monkeypatch, capsys, tmp_path):
    assert _WS_URL in source
    monkeypatch.chdir(tmp_path)
    with live_server(load_scenario("default")) as server:
        ws_base = server.base.replace("http://", "ws://")
        exec(
            compile(source.replace(_URL, server.base).replace(_WS_URL, ws_base), "README", "exec"),
            {},
        )
    assert capsys.readouterr().out == "KXBTCPERP 6.2600\n"


@pytest.mark.parametrize(
    "source", FIX_BLOCKS, ids=[f"fix_block{i}" for i in range(len(FIX_BLOCKS))]
)
def test_readme_fix_block_runs_against_a_live_server(source, monkeypatch, capsys, tmp_path):
    assert "port=8228" in source
    monkeypatch.chdir(tmp_path)
    with fix_live_server(load_scenario("default")) as server:
        code = source.replace("port=8228", f"port={server.fix_port}")
        exec(compile(code, "README", "exec"), {})
    assert capsys.readouterr().out == "0 F 2.00\n"


def test_the_readme_has_a_server_example():
    assert len(SERVER_BLOCKS) == 1
    assert len(WS_BLOCKS) == 1
    assert len(FIX_BLOCKS) == 1
