"""The pytest plugin: a running simulator for a client's tests, with no conftest.

Registered in the `pytest11` entry-point group as `perps_sim` (so `-p no:perps_sim` turns it
off). It is a harness around `perps-sim serve`: the server runs in a subprocess
(`python -P -m simulator serve --clock manual --port 0 --ready-file ...`; `-P` keeps the working
directory, the client project's, off the front of its import path, where a package of the
client's named like one of ours, such as `api`, would shadow it) on free ports and this module
talks to it over HTTP. It is loaded by every pytest run of every project that has
perps-sim installed, so it must not import the exchange, FastAPI or `api`; httpx is imported
when the first server starts.

Fixtures:

- `perps_sim`: a `PerpsSim`, a handle to a running server. Servers are shared: by default one
  per test session (per xdist worker) for each distinct configuration; the `perps_sim` marker
  or the `perps_sim_scope` ini option gives a module (or a test) a server of its own. Before a
  test, a server that an earlier test used is reset (`POST /sim/v1/reset`, once an advance the
  earlier test left running in the background has ended), unless the test is marked
  `perps_sim(reset=False)`. The fixture itself is function-scoped, consistent with the
  reset: users, orders and keys do not outlive a test.
- `perps_sim_user`: a `SimUser` funded with $10,000 on that server, new for each test.

Configuration, most specific first (the marker's `args` are added to the options' args, which
are added to the ini's):

- marker `@pytest.mark.perps_sim(scope=..., scenario=..., seed=..., args=[...], reset=...)`, on
  a test, a class or a module (`pytestmark`); the closest marker wins for each argument;
- options `--perps-sim-scenario NAME|PATH`, `--perps-sim-seed N`, `--perps-sim-arg ARGS`
  (repeatable);
- ini keys `perps_sim_scenario`, `perps_sim_seed`, `perps_sim_args` (one or more arguments a
  line), `perps_sim_scope` (`session`, `module` or `function`) and
  `perps_sim_startup_timeout` (seconds, default 60);
- defaults: scenario `bare` (no liquidity), the scenario's seed, session scope.

Each `args` value is split like a shell command line and passed to `serve` after the plugin's
`--clock manual --scenario ... --seed ...` (so `--clock wall` overrides them) and before
`--port 0 --ready-file ...` (which the plugin owns). The server ignores `PERPS_SIM_*` environment
variables, so a developer's shell cannot change a test run; a relative scenario path is relative
to the directory pytest was started in.
"""

from __future__ import annotations

import collections
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import pytest

if TYPE_CHECKING:
    import httpx

__all__ = [
    "ControlPlaneError",
    "PerpsSim",
    "PerpsSimError",
    "PerpsSimStartupError",
    "ServerConfig",
    "SimUser",
]

Scope = Literal["session", "module", "function"]
_SCOPES: tuple[Scope, ...] = ("session", "module", "function")
_MARKER_ARGS = ("scope", "scenario", "seed", "args", "reset")
_READY_LINE = "perps-sim ready:"  # simulator.server.serve.READY_LINE (not imported: it is heavy)
_ENV_PREFIX = "PERPS_SIM_"
_DEFAULT_SCENARIO = "bare"
_DEFAULT_STARTUP_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 30.0
_REQUEST_TIMEOUT_S = 60.0
_OUTPUT_LINES = 200
_SHOWN_LINES = 60


class PerpsSimError(Exception):
    """The simulator harness failed: the server died, or a control-plane call was refused."""


class PerpsSimStartupError(PerpsSimError):
    """`perps-sim serve` exited, or did not become ready in time; the message has its output."""


class ControlPlaneError(PerpsSimError):
    """A `/sim/v1` call answered with an error status; `body` is the response text."""

    def __init__(self, method: str, url: str, status_code: int, body: str) -> None:
        super().__init__(f"{method} {url} answered {status_code}: {body}")
        self.method = method
        self.url = url
        self.status_code = status_code
        self.body = body


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """What a server is started with; servers are shared between tests with equal configs."""

    scenario: str = _DEFAULT_SCENARIO
    seed: int | None = None
    args: tuple[str, ...] = ()

    def serve_args(self) -> list[str]:
        """The `serve` arguments before the plugin's `--port 0 --ready-file ...`."""
        seed = [] if self.seed is None else ["--seed", str(self.seed)]
        return ["--clock", "manual", "--scenario", self.scenario, *seed, *self.args]


@dataclass(frozen=True, slots=True)
class SimUser:
    """A user created on the control plane, with its generated key pair.

    `private_key_path` is the PEM written to a file (for clients that want a path).
    """

    user_id: str
    api_key_id: str
    private_key_pem: str = field(repr=False)
    private_key_path: Path


class PerpsSim:
    """A `perps-sim serve` subprocess and a keep-alive client of its control plane.

    Start one with `PerpsSim.start(...)` (or use it as a context manager); the `perps_sim`
    fixture does that for you.
    """

    rest_url: str
    ws_url: str
    control_url: str
    fix_host: str | None
    fix_ports: dict[str, int]
    """FIX port by session type: `KalshiNR`, `KalshiDC`, `KalshiRT`, `KalshiMD` (empty with
    `--no-fix`)."""
    config: ServerConfig
    process: subprocess.Popen[str]

    def __init__(
        self,
        process: subprocess.Popen[str],
        ready: Mapping[str, Any],
        config: ServerConfig,
        workdir: Path,
        output: _Output,
        *,
        owns_workdir: bool = False,
    ) -> None:
        import httpx

        self.process = process
        self.config = config
        self.rest_url = str(ready["rest_url"])
        self.ws_url = str(ready["ws_url"])
        self.control_url = str(ready["control_url"])
        fix = ready.get("fix")
        self.fix_host = str(fix["host"]) if isinstance(fix, dict) else None
        self.fix_ports = (
            {str(name): int(port) for name, port in fix["ports"].items()}
            if isinstance(fix, dict)
            else {}
        )
        self._workdir = workdir
        self._owns_workdir = owns_workdir
        self._output = output
        self._keys = 0
        # loopback only: no proxy from the environment
        self._client: httpx.Client = httpx.Client(timeout=_REQUEST_TIMEOUT_S, trust_env=False)

    @classmethod
    def start(
        cls,
        config: ServerConfig | None = None,
        *,
        workdir: Path | None = None,
        startup_timeout: float = _DEFAULT_STARTUP_TIMEOUT_S,
        cwd: Path | None = None,
    ) -> PerpsSim:
        """Start `perps-sim serve` on free ports and wait until it is ready.

        Args:
            config: Scenario, seed and extra `serve` arguments (default: the bare scenario).
            workdir: Where the ready file and the users' PEM files go (default: a temporary
                directory removed by `close`).
            startup_timeout: Seconds to wait for the server to listen.
            cwd: The server's working directory (relative scenario paths resolve there).

        Raises:
            PerpsSimStartupError: The server exited or was not ready in time; the message
                holds its output.
        """
        __tracebackhide__ = True
        config = config or ServerConfig()
        owns = workdir is None
        base = Path(tempfile.mkdtemp(prefix="perps-sim-")) if workdir is None else workdir
        ready_file = Path(tempfile.mkdtemp(prefix="server-", dir=base)) / "ready.json"
        command = [
            sys.executable,
            "-P",  # not the working directory first: a client's own `api` package would shadow ours
            "-m",
            "simulator",
            "serve",
            *config.serve_args(),
            "--port",
            "0",
            "--ready-file",
            str(ready_file),
        ]
        env = {name: text for name, text in os.environ.items() if not name.startswith(_ENV_PREFIX)}
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=env,
            cwd=cwd,
        )
        output = _Output(process)
        try:
            if not output.ready.wait(startup_timeout):
                _stop(process, output)
                raise PerpsSimStartupError(
                    f"perps-sim serve was not ready within {startup_timeout:g} s "
                    f"(perps_sim_startup_timeout); stopped it.\n" + _report(command, output)
                )
            if not output.saw_ready:
                _stop(process, output)
                raise PerpsSimStartupError(
                    f"perps-sim serve exited with status {process.returncode} before it was "
                    f"ready.\n" + _report(command, output)
                )
            try:
                ready = json.loads(ready_file.read_text())
            except (OSError, ValueError) as exc:
                _stop(process, output)
                raise PerpsSimStartupError(
                    f"perps-sim serve printed its ready line but {ready_file} is unreadable "
                    f"({exc}); was --ready-file overridden?\n" + _report(command, output)
                ) from None
            return cls(process, ready, config, base, output, owns_workdir=owns)
        except BaseException:
            if process.poll() is None:
                _stop(process, output)
            if owns:
                shutil.rmtree(base, ignore_errors=True)
            raise

    def __repr__(self) -> str:
        return f"<PerpsSim {self.rest_url} {self.config}>"

    def __enter__(self) -> PerpsSim:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 30 s) and close the client."""
        self._client.close()
        _stop(self.process, self._output)
        if self._owns_workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def output(self) -> str:
        """The last lines the server printed (stdout and stderr)."""
        return "".join(self._output.lines)

    def control(self, method: str, path: str, json: Any = None) -> Any:
        """Call the control plane (`path` below `/sim/v1`); the decoded JSON answer.

        Raises:
            ControlPlaneError: The answer had an error status (the message has its body).
            PerpsSimError: The server could not be reached (the message has its output).
        """
        __tracebackhide__ = True
        import httpx

        url = self.control_url + path
        try:
            response = self._client.request(method, url, json=json)
        except httpx.TransportError as exc:
            code = self.process.poll()
            state = "is running" if code is None else f"exited with status {code}"
            raise PerpsSimError(
                f"{method} {url} failed: {exc!r}; the server {state}.\n"
                f"--- server output ---\n{self.output()}"
            ) from exc
        if response.is_error:
            raise ControlPlaneError(method, url, response.status_code, response.text)
        return response.json()

    def create_user(self, balance: object = "10000") -> SimUser:
        """A new user with `balance` dollars (`"10000"`, `"2500.50"`) and a generated key."""
        created = self.control("POST", "/users", {"balance": str(balance)})
        self._keys += 1
        path = self._workdir / f"key-{os.getpid()}-{id(self):x}-{self._keys}.pem"
        pem = str(created["private_key_pem"])
        path.write_text(pem)
        path.chmod(0o600)
        return SimUser(str(created["user_id"]), str(created["api_key_id"]), pem, path)

    def clock(self) -> dict[str, Any]:
        """`GET /clock`: `{"mode", "now_ms", "now"}`, and `advance` while one runs."""
        return cast(dict[str, Any], self.control("GET", "/clock"))

    def advance(self, ms: int, *, wait: bool = True) -> dict[str, Any]:
        """Move simulated time by `ms`, firing every due timer; the clock afterwards.

        With `wait=False` the server answers at once and advances in the background: the
        answer's `advance` holds `target_ms`, `reached_ms`, `percent` and `eta_ms`, and
        `clock()` shows the progress until `advance` is gone. Meanwhile reads are served,
        writes wait for the end, and another advance or a reset raises `ControlPlaneError`
        (409 `advance_in_progress`).
        """
        body: dict[str, Any] = {"ms": ms} if wait else {"ms": ms, "wait": False}
        return cast(dict[str, Any], self.control("POST", "/clock/advance", body))

    def advance_to(self, ts_ms: int, *, wait: bool = True) -> dict[str, Any]:
        """Move simulated time to the instant `ts_ms` (epoch ms, not before now), as `advance`
        of the span to it does; the clock afterwards."""
        body: dict[str, Any] = {"to_ms": ts_ms} if wait else {"to_ms": ts_ms, "wait": False}
        return cast(dict[str, Any], self.control("POST", "/clock/advance", body))

    def wait_for_advance(self) -> dict[str, Any]:
        """Return once no advance runs (one started with `wait=False` has ended); the clock.

        It sends a write that changes nothing (`POST /exchange/status` with `{}`): writes wait
        for a running advance to end.
        """
        self.control("POST", "/exchange/status", {})
        return self.clock()

    def set_reference_price(self, ticker: str, price: object) -> dict[str, Any]:
        """Set `ticker`'s reference (index) price, e.g. `"6.3000"`."""
        path = f"/markets/{ticker}/reference_price"
        return cast(dict[str, Any], self.control("POST", path, {"price": str(price)}))

    def reset(self) -> dict[str, Any]:
        """Back to the scenario's initial state (users created since are gone)."""
        return cast(dict[str, Any], self.control("POST", "/reset"))

    def state_hash(self) -> str:
        """The hash of the exchange's whole state (`GET /state/hash`)."""
        return str(self.control("GET", "/state/hash")["state_hash"])


class _Output:
    """Reads the server's output on a thread: the last lines, and whether it is ready."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=_OUTPUT_LINES)
        self.ready = threading.Event()  # set on the ready line, or at the end of the output
        self.saw_ready = False
        assert process.stdout is not None
        self._stream = process.stdout
        self._thread = threading.Thread(target=self._read, name="perps-sim-output", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        # reading to the end also keeps the pipe from filling up and blocking the server
        try:
            for line in self._stream:
                self.lines.append(line)
                if not self.saw_ready and line.startswith(_READY_LINE):
                    self.saw_ready = True
                    self.ready.set()
        finally:
            self.ready.set()

    def join(self) -> None:
        self._thread.join(_STOP_TIMEOUT_S)
        self._stream.close()


def _stop(process: subprocess.Popen[str], output: _Output) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    output.join()


def _report(command: Sequence[str], output: _Output) -> str:
    lines = list(output.lines)[-_SHOWN_LINES:]
    return f"command: {shlex.join(command)}\n--- server output ---\n" + "".join(lines)


# --- the pytest side -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Wanted:
    scope: Scope
    config: ServerConfig
    reset: bool


class _Pool:
    """The servers of one pytest process, by (scope node, config)."""

    def __init__(self, workdir: Path, startup_timeout: float, cwd: Path) -> None:
        self._workdir = workdir
        self._startup_timeout = startup_timeout
        self._cwd = cwd
        self._servers: dict[tuple[str, ServerConfig], PerpsSim] = {}
        self._failed: dict[tuple[str, ServerConfig], str] = {}
        self._used: set[tuple[str, ServerConfig]] = set()

    def acquire(self, wanted: _Wanted, item: pytest.Item) -> PerpsSim:
        __tracebackhide__ = True
        owner: pytest.Item | pytest.Module | None = item
        if wanted.scope == "session":
            owner = None
        elif wanted.scope == "module":
            owner = item.getparent(pytest.Module)  # None for items outside a module: session
        key = ("" if owner is None else owner.nodeid, wanted.config)
        sim = self._servers.get(key)
        if sim is None:
            if key in self._failed:  # do not wait for a server that failed once again
                raise PerpsSimStartupError(
                    "not started again: it failed for an earlier test.\n" + self._failed[key]
                )
            try:
                sim = PerpsSim.start(
                    wanted.config,
                    workdir=self._workdir,
                    startup_timeout=self._startup_timeout,
                    cwd=self._cwd,
                )
            except PerpsSimStartupError as exc:
                self._failed[key] = str(exc)
                raise
            self._servers[key] = sim
            if owner is not None:
                owner.addfinalizer(lambda: self._stop(key))
        elif sim.process.poll() is not None:
            raise PerpsSimError(
                f"the simulator at {sim.rest_url} exited with status {sim.process.returncode} "
                f"during the run.\n--- server output ---\n{sim.output()}"
            )
        elif wanted.reset and key in self._used:
            sim.wait_for_advance()  # one an earlier test left running in the background
            sim.reset()
        self._used.add(key)
        return sim

    def _stop(self, key: tuple[str, ServerConfig]) -> None:
        sim = self._servers.pop(key, None)
        self._used.discard(key)
        if sim is not None:
            sim.close()

    def close(self) -> None:
        for key in list(self._servers):
            self._stop(key)


def _split(values: Sequence[object], source: str) -> tuple[str, ...]:
    args: list[str] = []
    for value in values:
        if not isinstance(value, str):
            raise pytest.UsageError(f"{source} must be strings, was {value!r}")
        args += shlex.split(value)
    return tuple(args)


def _seed(value: object, source: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise pytest.UsageError(f"{source} must be an integer, was {value!r}")
    if isinstance(value, int):
        return value
    try:
        return int(str(value), 10)
    except ValueError:
        raise pytest.UsageError(f"{source} must be an integer, was {value!r}") from None


def _scope(value: object, source: str) -> Scope:
    for scope in _SCOPES:
        if value == scope:
            return scope
    raise pytest.UsageError(f"{source} must be one of {', '.join(_SCOPES)}; was {value!r}")


def _marker_args(item: pytest.Item) -> dict[str, Any]:
    __tracebackhide__ = True
    merged: dict[str, Any] = {}
    for marker in item.iter_markers("perps_sim"):  # closest first
        if marker.args:
            raise pytest.UsageError(
                f"{item.nodeid}: the perps_sim marker takes keyword arguments only "
                f"({', '.join(_MARKER_ARGS)}), was {marker.args!r}"
            )
        for name, value in marker.kwargs.items():
            if name not in _MARKER_ARGS:
                raise pytest.UsageError(
                    f"{item.nodeid}: unknown perps_sim marker argument {name!r}; "
                    f"expected one of {', '.join(_MARKER_ARGS)}"
                )
            merged.setdefault(name, value)
    return merged


def _wanted(item: pytest.Item) -> _Wanted:
    __tracebackhide__ = True
    config = item.config
    marked = _marker_args(item)
    where = f"{item.nodeid}: perps_sim marker"
    if "scope" in marked:
        scope = _scope(marked["scope"], f"{where} scope")
    else:
        scope = _scope(config.getini("perps_sim_scope"), "ini option perps_sim_scope")
    scenario = (
        marked.get("scenario")
        or config.getoption("perps_sim_scenario")
        or config.getini("perps_sim_scenario")
        or _DEFAULT_SCENARIO
    )
    if not isinstance(scenario, str | os.PathLike):
        raise pytest.UsageError(f"{where} scenario must be a name or a path, was {scenario!r}")
    if "seed" in marked:
        seed = _seed(marked["seed"], f"{where} seed")
    elif config.getoption("perps_sim_seed") is not None:
        seed = _seed(config.getoption("perps_sim_seed"), "--perps-sim-seed")
    else:
        seed = _seed(config.getini("perps_sim_seed"), "ini option perps_sim_seed")
    marker_args = marked.get("args", ())
    if isinstance(marker_args, str):
        marker_args = [marker_args]
    args = (
        _split(config.getini("perps_sim_args"), "ini option perps_sim_args")
        + _split(config.getoption("perps_sim_args") or [], "--perps-sim-arg")
        + _split(list(marker_args), f"{where} args")
    )
    reset = marked.get("reset", True)
    if not isinstance(reset, bool):
        raise pytest.UsageError(f"{where} reset must be True or False, was {reset!r}")
    return _Wanted(scope, ServerConfig(os.fspath(scenario), seed, args), reset)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("perps-sim", "perps-sim simulator (the perps_sim fixture)")
    group.addoption(
        "--perps-sim-scenario",
        dest="perps_sim_scenario",
        metavar="NAME|PATH",
        help="scenario of the perps_sim servers (default: bare)",
    )
    group.addoption(
        "--perps-sim-seed",
        dest="perps_sim_seed",
        type=int,
        metavar="N",
        help="seed of the perps_sim servers (default: the scenario's)",
    )
    group.addoption(
        "--perps-sim-arg",
        dest="perps_sim_args",
        action="append",
        metavar="ARGS",
        help="arguments for `perps-sim serve` (split like a shell line); repeatable",
    )
    parser.addini("perps_sim_scenario", "scenario of the perps_sim servers (default: bare)")
    parser.addini("perps_sim_seed", "seed of the perps_sim servers (default: the scenario's)")
    parser.addini(
        "perps_sim_args", "arguments for `perps-sim serve`, one or more a line", type="linelist"
    )
    parser.addini(
        "perps_sim_scope",
        "how widely a perps_sim server is shared: session (default), module or function",
        default="session",
    )
    parser.addini(
        "perps_sim_startup_timeout",
        "seconds to wait for a perps_sim server to start (default 60)",
        default=str(_DEFAULT_STARTUP_TIMEOUT_S),
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "perps_sim(scope='session', scenario=None, seed=None, args=(), reset=True): the "
        "perps_sim server of these tests: shared per session, module or function, its scenario, "
        "seed and extra `perps-sim serve` arguments, and whether it is reset before each test",
    )


@pytest.fixture(scope="session")
def _perps_sim_pool(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[_Pool]:
    config = request.config
    text = str(config.getini("perps_sim_startup_timeout"))
    try:
        timeout = float(text)
    except ValueError:
        raise pytest.UsageError(
            f"ini option perps_sim_startup_timeout must be a number of seconds, was {text!r}"
        ) from None
    pool = _Pool(tmp_path_factory.mktemp("perps-sim"), timeout, config.invocation_params.dir)
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def perps_sim(request: pytest.FixtureRequest, _perps_sim_pool: _Pool) -> PerpsSim:
    """A running simulator (manual clock), reset before the test unless marked otherwise."""
    __tracebackhide__ = True
    item = request.node
    assert isinstance(item, pytest.Item)
    return _perps_sim_pool.acquire(_wanted(item), item)


@pytest.fixture
def perps_sim_user(perps_sim: PerpsSim) -> SimUser:
    """A new user with $10,000 and a generated key pair on the `perps_sim` server."""
    return perps_sim.create_user()
