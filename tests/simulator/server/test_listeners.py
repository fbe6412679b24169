"""Listening sockets: accepted connections skip Nagle's algorithm; addresses as create_server."""

from __future__ import annotations

import asyncio
import errno
import socket

import pytest

from simulator.server.listeners import listen_tcp


def _has_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


_IPV6 = pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback")


async def _accepted_nodelay(listener: socket.socket, client_host: str) -> int:
    # TCP_NODELAY of the server side of one connection an asyncio server accepted on `listener`
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set_result(
            writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        )
        writer.close()

    server = await asyncio.start_server(on_connection, sock=listener)
    async with server:
        _, writer = await asyncio.open_connection(client_host, listener.getsockname()[1])
        nodelay = await accepted
        writer.close()
    return nodelay


@pytest.mark.parametrize(
    ("host", "client_host"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("0.0.0.0", "127.0.0.1"),
        pytest.param("::1", "::1", marks=_IPV6),
        pytest.param("::", "::1", marks=_IPV6),
    ],
)
def test_connections_accepted_by_asyncio_have_tcp_nodelay(host: str, client_host: str) -> None:
    listener = listen_tcp(host, 0)

    nodelay = asyncio.run(_accepted_nodelay(listener, client_host))

    assert listener.proto == socket.IPPROTO_TCP
    assert nodelay != 0


def test_port_0_picks_a_free_port_on_the_loopback() -> None:
    with listen_tcp("127.0.0.1", 0) as listener:
        host, port = listener.getsockname()

    assert (listener.family, listener.type) == (socket.AF_INET, socket.SOCK_STREAM)
    assert host == "127.0.0.1"
    assert port > 0


@_IPV6
def test_the_ipv6_wildcard_listens_on_ipv6_only() -> None:
    with listen_tcp("::", 0) as listener:
        v6only = listener.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
        host = listener.getsockname()[0]

    assert listener.family == socket.AF_INET6
    assert host == "::"
    assert v6only == 1


def test_a_port_in_use_raises_address_in_use() -> None:
    with listen_tcp("127.0.0.1", 0) as taken:
        port = taken.getsockname()[1]

        with pytest.raises(OSError) as raised:
            listen_tcp("127.0.0.1", port)

    assert raised.value.errno == errno.EADDRINUSE
