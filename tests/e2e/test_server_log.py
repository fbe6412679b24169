"""The log of a served `perps-sim serve` when a client breaks the WebSocket protocol.

A text frame that is not UTF-8 closes the connection with 1007 (RFC 6455) and leaves one
warning line in the log, not an error with a traceback; the server goes on serving.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import websockets
from websockets.exceptions import ConnectionClosedError

from simulator.server.pytest_plugin import PerpsSim, ServerConfig


async def _send_text_that_is_not_utf8(sim: PerpsSim) -> int | None:
    headers = {"KALSHI-ACCESS-KEY": "broken-client"}  # --auth open
    async with websockets.connect(sim.ws_url, additional_headers=headers) as ws:
        # the protocol layer sends the bytes as they are; `ws.send(str)` could not
        ws.protocol.send_text(b'{"id":1,"cmd":"subscribe","params":{"channels":["tr\xffade"]}}')
        ws.send_data()
        with pytest.raises(ConnectionClosedError):
            await asyncio.wait_for(ws.recv(), 30)
        return ws.close_code


def test_a_text_frame_that_is_not_utf8_is_closed_with_1007_and_logged_as_one_warning(
    tmp_path: Path,
) -> None:
    config = ServerConfig(scenario="bare", args=("--auth", "open"))
    with PerpsSim.start(config, workdir=tmp_path) as sim:
        assert asyncio.run(_send_text_that_is_not_utf8(sim)) == 1007
        assert sim.control("GET", "/health")["status"] == "ok"
        log = sim.output()

    (line,) = [line for line in log.splitlines() if "not UTF-8" in line]
    assert line.startswith("WARNING:")
    assert "closed the connection with 1007" in line
    assert "Traceback" not in log and "UnicodeDecodeError" not in log
