"""HTTP head limits on a real socket (`api.http_limits`): size cap, head timeout.

The server under test has a 4 KiB head cap and a 0.2 s head timeout. The tests wait for the
server to close a connection (a read returning EOF), never for a fixed time.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from simulator.server.runtime import ServerSettings
from simulator.server.scenarios import load_scenario
from tests.api.live import LiveServer, live_server

CAP = 4096
SETTINGS = ServerSettings(max_head_bytes=CAP, head_timeout_s=0.2)


@pytest.fixture(scope="module")
def live() -> Iterator[LiveServer]:
    with live_server(load_scenario("bare"), settings=SETTINGS) as server:
        yield server


def _connect(live: LiveServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", live.port), timeout=30)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _healthy(live: LiveServer) -> None:
    response = httpx.get(f"{live.base}/sim/v1/health", timeout=30)
    assert response.status_code == 200


def test_a_head_over_the_cap_is_431_and_closed(live: LiveServer) -> None:
    with _connect(live) as sock:
        head = b"GET /sim/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * (2 * CAP)
        sock.sendall(head + b"\r\n\r\n")
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b'"code":"request_header_fields_too_large"' in answer
    _healthy(live)


def test_a_huge_header_stream_is_cut_off_early(live: LiveServer) -> None:
    sent = 0
    with _connect(live) as sock:
        sock.sendall(b"GET /sim/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
        chunk = b"b" * 65536
        try:
            while sent < 100 * 1024 * 1024:
                sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            answer = _read_all(sock)
        except ConnectionResetError:
            answer = b""
    assert sent < 100 * 1024 * 1024  # the server stopped reading long before
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431 ")
    _healthy(live)


def test_a_head_within_the_cap_is_served(live: LiveServer) -> None:
    response = httpx.get(
        f"{live.base}/sim/v1/health", headers={"x-padding": "c" * (CAP // 2)}, timeout=30
    )
    assert response.status_code == 200


def test_a_connection_that_never_sends_is_closed(live: LiveServer) -> None:
    with _connect(live) as sock:
        assert _read_all(sock) == b""
    _healthy(live)


def test_a_head_sent_too_slowly_is_closed(live: LiveServer) -> None:
    with _connect(live) as sock:
        sock.sendall(b"GET /sim/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        assert _read_all(sock) == b""  # the rest never came
    _healthy(live)


def test_keep_alive_requests_each_get_their_own_head_time(live: LiveServer) -> None:
    with httpx.Client(base_url=live.base, timeout=30) as client:
        for _ in range(5):
            assert client.get("/sim/v1/health").status_code == 200
