"""The composition root: one runtime, its HTTP app and the clock driver on one event loop.

This is the one `simulator` module that imports a transport (DESIGN.md, dependency rule; the
import-linter contract lists it as the single exception). `serve(options)` builds the
`Runtime`, binds the listening socket itself with `simulator.server.listeners.listen_tcp` (so port 0
works, the real port is known before serving and connections skip Nagle's algorithm), serves
`api.app.create_app(runtime)` (REST, the margin WebSocket and the control plane) with uvicorn
on that socket, drives timers for wall and
accelerated clocks with `clock_driver.drive_current` (always on the current exchange, which a
reset replaces), and once the socket is served:

- writes the ready file atomically (temporary file, then rename) with `rest_url`, `ws_url`,
  `control_url` and, unless `--no-fix`, `fix` (`host` and the `ports` by session type);
- prints a startup banner ending with the line `perps-sim ready: <base url>`.

Logging: the `perps_sim` loggers (advance progress and summaries, the driver's lag warning, the
stats line, errors) go to stderr in uvicorn's format at `--log-level`. Wall and accelerated
runs watch the driver's lag (`clock_driver.LagWatch`) and, unless `--stats-interval 0`, log
the stats line (`simulator.server.run_stats`) every interval. A replayed reference logs when
it runs out, in every clock mode (`simulator.server.replays.ReplayWatch`). uvicorn's record of
a client's WebSocket text frame that is not UTF-8 becomes one warning (`uvicorn_logs`).

SIGINT and SIGTERM stop it cleanly: uvicorn finishes open requests, the driver and stats tasks
and a background advance (stopped at a slice boundary) are cancelled, the journal (with
`--state-dir`) is closed, the ready file is removed, and `serve` returns 0.

Assumption: a wildcard bind address (`0.0.0.0`, `::`) is advertised as the loopback address
in the ready file and the banner, since that is where local clients connect.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import signal
import socket
import ssl
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import msgspec
import uvicorn
from uvicorn.config import LOG_LEVELS
from uvicorn.logging import DefaultFormatter

from api.app import create_app, server_options
from fix_acceptor.server import SESSION_PORTS, FixServer, FixSettings, parse_fix_settings
from simulator.core.errors import RejectError
from simulator.server import log_text, replays
from simulator.server.clock_driver import LagWatch, drive_current, position
from simulator.server.journal import Durability
from simulator.server.listeners import is_loopback_host, listen_tcp
from simulator.server.run_stats import RunStats, report
from simulator.server.runtime import (
    SNAPSHOT_EVERY,
    AuthMode,
    ClockMode,
    Runtime,
    ServerSettings,
    SnapshotMode,
)
from simulator.server.scenarios import (
    Scenario,
    ScenarioError,
    load_scenario,
    scenario_file,
)
from simulator.server.snapshots import InvalidSnapshotError
from simulator.server.uvicorn_logs import ClientMistakes
from simulator.server.ws_settings import WsSettings

__all__ = [
    "READY_LINE",
    "ServeOptions",
    "StartupError",
    "advertised_urls",
    "parse_fix_settings",  # for the CLI, which may not import the transports itself
    "serve",
]

READY_LINE = "perps-sim ready:"
"""Start of the banner's last line; tests and scripts can block until they read it."""

_LOG = logging.getLogger("perps_sim")
_WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


class StartupError(Exception):
    """The server could not start (unreadable scenario, address in use, ...)."""


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """Everything `perps-sim serve` accepts (see `simulator.server.cli`)."""

    host: str = "127.0.0.1"
    port: int = 8000
    scenario: str = "default"
    seed: int | None = None
    clock: ClockMode = "wall"
    speed: float = 1.0
    state_dir: Path | None = None
    durability: Durability = "flush"
    snapshot_every: int = SNAPSHOT_EVERY
    snapshot_mode: SnapshotMode = "fork"
    auth: AuthMode = "verify"
    auth_window_ms: int = 30_000
    rate_limits: bool = False
    ready_file: Path | None = None
    log_level: str = "info"
    ws: WsSettings = field(default_factory=WsSettings)
    fix: FixSettings = field(default_factory=FixSettings)
    fix_host: str | None = None
    fix_ports: tuple[int, int, int, int] | None = None
    no_fix: bool = False
    fix_tls_cert: Path | None = None
    fix_tls_key: Path | None = None
    control_token: str | None = None
    allowed_hosts: tuple[str, ...] = ()
    open_max_accounts: int = 1_000
    stats_interval: float = 10.0

    def control_hosts(self) -> tuple[str, ...]:
        """`allowed_hosts`, plus `host` when it is a name or address of its own (not a
        wildcard such as 0.0.0.0, whose clients arrive under whatever name they used)."""
        host = self.host.lower().rstrip(".")
        if host in _WILDCARDS or host in self.allowed_hosts:
            return self.allowed_hosts
        return (*self.allowed_hosts, host)

    def control_exposed(self) -> bool:
        """Whether the control plane listens beyond loopback without a token."""
        return self.control_token is None and not is_loopback_host(self.host.strip("[]"))

    def fix_port_map(self) -> dict[str, int]:
        """The FIX port of each session type: given, else 0 with `--port 0`, else the defaults."""
        if self.fix_ports is not None:
            return dict(zip(SESSION_PORTS, self.fix_ports, strict=True))
        if self.port == 0:
            return dict.fromkeys(SESSION_PORTS, 0)
        return dict(SESSION_PORTS)


def advertised_urls(host: str, port: int) -> dict[str, str]:
    """The ready file's URLs for a server bound to `host`:`port`."""
    shown = _WILDCARDS.get(host, host)
    if ":" in shown:
        shown = f"[{shown}]"
    base = f"http://{shown}:{port}"
    return {
        "rest_url": f"{base}/trade-api/v2",
        "ws_url": f"ws://{shown}:{port}/trade-api/ws/v2/margin",
        "control_url": f"{base}/sim/v1",
    }


def build_runtime(options: ServeOptions) -> Runtime:
    """The runtime `options` describe; `StartupError` if the scenario cannot be used."""
    try:
        scenario = load_scenario(options.scenario)
    except ScenarioError as exc:
        raise StartupError(f"scenario {exc}") from None
    except (OSError, ValueError, msgspec.MsgspecError) as exc:
        raise StartupError(f"scenario {options.scenario!r}: {exc}") from None
    settings = ServerSettings(
        auth=options.auth,
        auth_window_ms=options.auth_window_ms,
        rate_limits=options.rate_limits,
        ws=options.ws,
        open_max_accounts=options.open_max_accounts,
        control_token=options.control_token,
        allowed_hosts=options.control_hosts(),
    )
    try:
        return Runtime(
            scenario,
            clock_mode=options.clock,
            speed=options.speed,
            seed=options.seed,
            settings=settings,
            state_dir=options.state_dir,
            durability=options.durability,
            snapshot_every=options.snapshot_every,
            snapshot_mode=options.snapshot_mode,
        )
    except InvalidSnapshotError as exc:
        raise StartupError(f"state directory {options.state_dir}: {exc}") from None
    except OSError as exc:
        raise StartupError(str(exc)) from None
    except (ValueError, msgspec.MsgspecError, RejectError) as exc:
        raise StartupError(f"scenario {scenario.name!r}: {exc}") from None


def bind(host: str, port: int) -> socket.socket:
    """Listen on `host`:`port` (0 picks a free port) with `listen_tcp`; `StartupError` if not."""
    try:
        return listen_tcp(host, port)
    except OSError as exc:
        raise StartupError(f"cannot listen on {host}:{port}: {exc}") from None


def write_ready_file(path: Path, urls: dict[str, Any]) -> None:
    """Write `urls` as JSON to `path` atomically (readers never see a partial file)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(urls, indent=2) + "\n")
    os.replace(temporary, path)


def banner(options: ServeOptions, runtime: Runtime, urls: dict[str, Any]) -> str:
    """The startup banner; its last line starts with `READY_LINE`."""
    scenario = runtime.scenario
    seed = f"{runtime.seed}" + (" (the scenario's)" if options.seed is None else "")
    clock = runtime.clock_mode + (
        f" {log_text.clock_speed(runtime.speed)}" if runtime.clock_mode == "accelerated" else ""
    )
    auth: str = runtime.settings.auth
    if auth == "verify":
        auth += f" (timestamp window {runtime.settings.auth_window_ms} ms)"
    lines = [
        "perps-sim: a local simulator of Kalshi's Perps (margin) exchange",
        f"  scenario    {scenario.name}  ({_shown_path(Path(scenario.path))})",
        f"  clock       {clock}, seed {seed}",
        f"  auth        {auth}, rate limits {'on' if runtime.settings.rate_limits else 'off'}",
        f"  REST        {urls['rest_url']}",
        f"  WebSocket   {urls['ws_url']}",
        f"  control     {urls['control_url']}",
    ]
    fix = urls.get("fix")
    if isinstance(fix, dict):
        tls = ", TLS" if options.fix_tls_cert is not None else ""
        ports = ", ".join(f"{name} {port}" for name, port in fix["ports"].items())
        lines.append(f"  FIX         {fix['host']}: {ports}{tls}")
    else:
        lines.append("  FIX         off (--no-fix)")
    lines += _key_lines(scenario)
    lines += replays.banner_lines(runtime.exchange)
    state = (
        "in memory only"
        if options.state_dir is None
        else f"journaled in {options.state_dir} ({options.durability})"
    )
    lines.append(f"  state       {state}")
    if options.ready_file is not None:
        lines.append(f"  ready file  {options.ready_file}")
    base = urls["rest_url"].removesuffix("/trade-api/v2")
    lines.append(f"{READY_LINE} {base} (Ctrl+C to stop)")
    return "\n".join(lines)


def _key_lines(scenario: Scenario) -> list[str]:
    # each scenario user with a key file, and the absolute path of its private key when one
    # sits next to it (clients run from any directory; installed, it is under site-packages)
    lines = []
    for user in scenario.users:
        line = f"  user        {user.user_id}: key id {user.api_key_id}"
        if user.public_key_file is not None:
            public = scenario_file(scenario, user.public_key_file)
            private = public.with_name(public.name.replace("public", "private"))
            if private != public and private.is_file():
                line += f", private key {private.resolve()} (TEST ONLY)"
        lines.append(line)
    return lines


def _shown_path(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(Path.cwd()))
    return str(path)


class _Server(uvicorn.Server):
    """uvicorn that leaves signals to us and reports when it serves."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # `serve` installs loop signal handlers; uvicorn's would re-raise the signal on exit
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit:
            self._on_started()


async def serve(options: ServeOptions, *, out: TextIO | None = None) -> int:
    """Run the server until SIGINT/SIGTERM; the process exit code (0 after a clean stop)."""
    stream = out or sys.stdout
    runtime = build_runtime(options)
    with _logging(options.log_level):
        try:
            return await _serve(options, runtime, stream)
        finally:
            runtime.close()


@contextlib.contextmanager
def _logging(level: str) -> Iterator[None]:
    # the simulator's own lines, formatted like uvicorn's, on stderr while serving
    logger = logging.getLogger("perps_sim")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(DefaultFormatter("%(levelprefix)s %(message)s"))
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(LOG_LEVELS[level])
    # uvicorn's own lines about a client's broken input, without a traceback
    uvicorn_errors, mistakes = logging.getLogger("uvicorn.error"), ClientMistakes()
    uvicorn_errors.addFilter(mistakes)
    try:
        yield
    finally:
        uvicorn_errors.removeFilter(mistakes)
        logger.removeHandler(handler)
        logger.setLevel(previous)


async def _serve(options: ServeOptions, runtime: Runtime, stream: TextIO) -> int:
    ready_file = options.ready_file
    if ready_file is not None and not ready_file.parent.is_dir():
        raise StartupError(f"ready file {ready_file}: {ready_file.parent} is not a directory")
    tls = _fix_tls(options)
    sock = bind(options.host, options.port)
    port = sock.getsockname()[1]
    urls: dict[str, Any] = dict(advertised_urls(options.host, port))
    fix: FixServer | None = None
    if not options.no_fix:
        fix = FixServer(runtime, options.fix)
        fix_host = options.fix_host or options.host
        try:
            ports = await fix.start(fix_host, options.fix_port_map(), tls)
        except OSError as exc:
            sock.close()
            await fix.close()
            raise StartupError(f"cannot listen for FIX on {fix_host}: {exc}") from None
        shown = _WILDCARDS.get(fix_host, fix_host)
        urls["fix"] = {"host": shown, "ports": ports}
    config = uvicorn.Config(
        create_app(runtime),
        host=options.host,
        port=port,
        log_level=options.log_level,
        lifespan="off",
        # One access-log line per request costs more than a signature check and floods the
        # terminal of a trading bot's run: only at debug level.
        access_log=options.log_level in ("debug", "trace"),
        **server_options(runtime.settings),
    )

    def started() -> None:
        # what start-up built (modules, the app, the scenario) lives as long as the process: out
        # of the collector's way, so that a full collection only walks what trading made
        gc.freeze()
        if ready_file is not None:
            write_ready_file(ready_file, urls)
        print(banner(options, runtime, urls), file=stream, flush=True)
        if options.control_exposed():
            _LOG.warning(
                "the control plane (/sim/v1: users, money, reset, state) listens on %s without "
                "a token: anyone who reaches the port can use it; set --control-token "
                "(PERPS_SIM_CONTROL_TOKEN)",
                options.host,
            )

    server = _Server(config, started)
    failed: list[BaseException] = []
    loop = asyncio.get_running_loop()

    def request_exit() -> None:
        if server.should_exit:
            server.force_exit = True
        server.should_exit = True

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, request_exit)
    tasks: list[asyncio.Task[None]] = []
    unsubscribers = [runtime.bus.subscribe(replays.ReplayWatch(lambda: runtime.exchange))]
    if runtime.clock_mode != "manual":
        watch = LagWatch(runtime.speed)
        driver = asyncio.create_task(
            drive_current(
                lambda: runtime.exchange, asyncio.Event(), speed=runtime.speed, watch=watch
            )
        )

        def driver_done(task: asyncio.Task[None]) -> None:
            error = None if task.cancelled() else task.exception()
            if error is not None:
                failed.append(error)
                _LOG.error("clock driver failed; stopping", exc_info=error)
                server.should_exit = True

        driver.add_done_callback(driver_done)
        tasks.append(driver)
        if options.stats_interval > 0:
            stats = RunStats(lag_threshold_ms=watch.threshold_ms)
            unsubscribers.append(runtime.bus.subscribe(stats))

            def reached() -> tuple[int, int]:
                return position(runtime.exchange)  # the current exchange: a reset replaces it

            def replayed() -> str:
                return replays.progress_now(runtime.exchange)  # the current exchange, too

            tasks.append(
                asyncio.create_task(report(stats, reached, options.stats_interval, extra=replayed))
            )
    try:
        await server.serve(sockets=[sock])
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for unsubscribe in unsubscribers:
            unsubscribe()
        await runtime.advancer.aclose()
        sock.close()
        if fix is not None:
            await fix.close()
        if ready_file is not None:
            with contextlib.suppress(FileNotFoundError):
                ready_file.unlink()
    return 1 if failed else 0


def _fix_tls(options: ServeOptions) -> ssl.SSLContext | None:
    cert, key = options.fix_tls_cert, options.fix_tls_key
    if options.no_fix or (cert is None and key is None):
        return None
    if cert is None or key is None:
        raise StartupError("--fix-tls-cert and --fix-tls-key go together")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise StartupError(f"FIX TLS certificate {cert} / key {key}: {exc}") from None
    return context
