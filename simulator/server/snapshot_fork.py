"""A snapshot pickled in a forked child, so the event loop never waits for it.

Pickling the exchange takes about 0.3 s for a state of 7 MB (the default scenario after four
simulated days) and grows with it. Taken on the event loop (`snapshots.take`), every request,
WebSocket ping and FIX heartbeat waits that long once every `--snapshot-every` commands. Here
the runtime forks instead (about 3 ms for a server of 150 MB): the child holds a copy-on-write
image of the state exactly as it is between two commands, pickles it, writes the journal's
snapshot file when the runtime has a state directory (`write`: the file write and its fsync are
the other slow part, 7 to 30 ms measured for 7 MB), and writes the SHA-256 and the bytes into a
pipe; the parent goes on serving and reads the pipe from its event loop as the bytes arrive,
then only switches the journal to a new segment naming the file. The state hash, the instant and
the command count are the parent's, read just before the fork, so the `Base` is the one
`snapshots.take` would have built then.

Commands that run while the child works are not in the snapshot: the command log is sealed at
the fork (`CommandLog.seal`, so a later `run_due` does not coalesce into the last entry the
snapshot covers) and the runtime drops only the entries recorded before it. The child changes
nothing the parent sees but the one new snapshot file: it closes its copy of the pipe's read
end, stops its garbage collector (collections would only copy pages), writes, and leaves with
`os._exit` (no atexit handlers, no flushing of inherited buffers, no closing of inherited
sockets).

Where `os.fork` does not exist (Windows), or outside a running event loop (tests and tools that
drive a runtime synchronously), the runtime snapshots inline as before. Memory: pages the parent
writes while the child runs are copied, so a snapshot can briefly cost up to a second copy of
what changed meanwhile, never more than the process's size.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import os
import signal
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

from simulator.core.command_log import Base, hold
from simulator.exchange import Exchange
from simulator.server import state_pickle
from simulator.server.state_hash import state_hash

__all__ = ["ForkedSnapshot", "available", "start"]

_SHA_LEN = 64  # hex digits of a SHA-256, written before the pickle
_CHUNK = 1 << 20


def available() -> bool:
    """Whether this platform can fork and an event loop is running to read the child."""
    if not hasattr(os, "fork"):
        return False
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@dataclass(eq=False)
class ForkedSnapshot:
    """One snapshot in flight: the child's pid and pipe, and what the parent read at the fork.

    Attributes:
        exchange: The exchange snapshotted.
        covered: How many of the command log's entries the snapshot includes.
        state_hash, now_ms, commands: The `Base` fields read at the fork.
        done: Resolved with the `Base` (or the exception) once the child has finished.
    """

    exchange: Exchange
    covered: int
    state_hash: str
    now_ms: int
    commands: int
    pid: int
    fd: int
    done: asyncio.Future[Base]
    _chunks: list[bytes] = field(default_factory=list)

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, _CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:
            self._finish(exc)
            return
        if data:
            self._chunks.append(data)
            return
        self._finish(None)

    def _finish(self, error: BaseException | None) -> None:
        loop = self.done.get_loop()
        loop.remove_reader(self.fd)
        os.close(self.fd)
        # the child closes the pipe by exiting: reaping it waits for no more than its teardown
        _, status = os.waitpid(self.pid, 0)
        if error is None and os.waitstatus_to_exitcode(status) != 0:
            error = RuntimeError(f"the snapshot process exited with status {status}")
        raw = b"".join(self._chunks)
        self._chunks.clear()
        if error is None and len(raw) <= _SHA_LEN:
            error = RuntimeError("the snapshot process wrote no state")
        if error is not None:
            self.done.set_exception(error)
            return
        sha, blob = raw[:_SHA_LEN].decode("ascii"), raw[_SHA_LEN:]
        self.done.set_result(Base(blob, sha, self.state_hash, self.now_ms, self.commands))


def start(
    exchange: Exchange,
    on_done: Callable[[ForkedSnapshot], None],
    write: Callable[[Base], None] | None = None,
) -> ForkedSnapshot:
    """Fork a child that pickles `exchange` as it is now (between commands).

    `on_done` is called on the event loop once the child has finished (`done` resolved).
    `write`, if given, is called in the child with the `Base` before it is sent (the journal's
    `write_snapshot` for the record the snapshot covers); the child fails if it raises.

    Raises:
        OSError: The pipe or the fork failed; nothing changed.
    """
    loop = asyncio.get_running_loop()
    log = exchange.command_log
    read_fd, write_fd = os.pipe()
    try:
        with hold(exchange.clock) as now:
            digest = state_hash(exchange)
            with warnings.catch_warnings():
                # Python 3.12 warns when a process with threads (fsync workers) forks: the
                # child only pickles and writes to its pipe, taking no lock those threads use
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
            if pid == 0:  # the child: never returns
                _child(exchange, read_fd, write_fd, write, (digest, now, log.commands))
    except BaseException:
        os.close(read_fd)
        os.close(write_fd)
        raise
    os.close(write_fd)
    os.set_blocking(read_fd, False)
    log.seal()
    pending = ForkedSnapshot(
        exchange=exchange,
        covered=len(log.entries),
        state_hash=digest,
        now_ms=now,
        commands=log.commands,
        pid=pid,
        fd=read_fd,
        done=loop.create_future(),
    )
    pending.done.add_done_callback(lambda _: on_done(pending))
    loop.add_reader(read_fd, pending._readable)
    return pending


def _child(
    exchange: Exchange,
    read_fd: int,
    write_fd: int,
    write: Callable[[Base], None] | None,
    fields: tuple[str, int, int],
) -> None:
    status = 1
    try:
        os.close(read_fd)
        gc.disable()
        # a signal meant for the server must not reach its event loop through the inherited
        # wake-up descriptor: the child ends with the default action instead
        with contextlib.suppress(ValueError):  # only the main thread may (it is, after a fork)
            signal.set_wakeup_fd(-1)
            for number in (signal.SIGINT, signal.SIGTERM):
                signal.signal(number, signal.SIG_DFL)
        blob = state_pickle.dumps(exchange)
        sha = hashlib.sha256(blob).hexdigest()
        if write is not None:
            write(Base(blob, sha, *fields))
        view = memoryview(sha.encode("ascii") + blob)
        while view:
            view = view[os.write(write_fd, view[:_CHUNK]) :]
        status = 0
    finally:
        os._exit(status)
