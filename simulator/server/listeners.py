"""Listening TCP sockets for every server the simulator runs (HTTP and WebSocket, later FIX).

asyncio turns Nagle's algorithm off (`TCP_NODELAY`) on the connections it accepts only when
the listening socket says it is TCP (`sock.proto == IPPROTO_TCP`); `socket.create_server`
leaves `proto` at 0. Without TCP_NODELAY a response written in two parts (uvicorn sends the
head, then the body) holds its second segment until the client's delayed ACK, about 40 ms on
Linux, so every request on a keep-alive connection waits that long. Every listener of the
simulator is made here, so none of them can miss it.

`is_loopback_host` says whether a host name or address stays on this machine (the control
plane answers such names, `api.control_guard`; the server warns when it listens elsewhere).
"""

from __future__ import annotations

import ipaddress
import os
import socket

__all__ = ["DEFAULT_BACKLOG", "is_loopback_host", "listen_tcp"]

DEFAULT_BACKLOG = 2048
"""Connections the kernel queues for a listener before it accepts them."""


def listen_tcp(host: str, port: int, *, backlog: int = DEFAULT_BACKLOG) -> socket.socket:
    """Open a listening TCP socket on `host`:`port` whose accepted connections skip Nagle.

    Behaves as `socket.create_server` on the first address `host` resolves to: port 0 picks
    a free port, the address is reusable at once after a restart (POSIX), and an IPv6
    address listens on IPv6 only (`::` is not dual-stack). The socket is created with
    `IPPROTO_TCP`, so asyncio servers given it (`loop.create_server(sock=...)`, uvicorn's
    `sockets=`) set TCP_NODELAY on every connection they accept.

    Args:
        host: An address or host name; `0.0.0.0` and `::` listen on every interface.
        port: The port; 0 lets the system pick a free one (read it with `getsockname()`).
        backlog: Connections the kernel queues before the server accepts them.

    Returns:
        The bound, listening socket; the caller closes it.

    Raises:
        OSError: The host does not resolve (`socket.gaierror`) or the address cannot be
            bound (in use, not a local address, no permission).
    """
    family, kind, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, socket.IPPROTO_TCP)
    try:
        if os.name not in ("nt", "cygwin"):  # on Windows it would let others share the port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


def is_loopback_host(host: str) -> bool:
    """Whether `host` (a name or address, without port or brackets) is a loopback host:
    `localhost`, a `*.localhost` name (RFC 6761), `127.0.0.0/8` or `::1`."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
