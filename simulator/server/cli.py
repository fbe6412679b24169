"""The `perps-sim` command line (also `python -m simulator`).

`perps-sim serve` starts the REST API, the WebSocket endpoint and the control plane on one HTTP
port (DESIGN.md, "Interfaces users and tests rely on"). Every flag can also be set by an
environment variable named `PERPS_SIM_<FLAG>` (upper case, dashes as underscores, e.g.
`PERPS_SIM_CLOCK=manual`, `PERPS_SIM_RATE_LIMITS=1`), for Docker; a flag given on the command
line wins over the environment, which wins over the default. Bad values, from either source,
exit with status 2 and a message naming the flag or variable; a server that cannot start
(unreadable scenario, address in use) exits with status 1.

`--ws NAME=VALUE` (repeatable; `PERPS_SIM_WS=NAME=VALUE,NAME=VALUE`) sets one of the WebSocket
API's switches and limits (`simulator.server.ws_settings.WsSettings`); `--fix NAME=VALUE`
(`PERPS_SIM_FIX`) one of the FIX acceptor's (`fix_acceptor.settings.FixSettings`: SendingTime
tolerance, heartbeat bounds, SenderCompID, sessions per key, pacing).

FIX listeners: `--fix-host` (default: `--host`), `--fix-ports NR,DC,RT,MD` (default
8228,8229,8230,8233; with `--port 0` all four are 0 unless given; 0 = a free port), `--no-fix`,
and TLS with `--fix-tls-cert` and `--fix-tls-key` (PEM files; both or neither).

`--stats-interval SECONDS` (default 10; 0 = off; fractions allowed) logs a stats line that
often in wall and accelerated runs (`simulator.server.run_stats`); a manual clock ignores it.

Control-plane safety (`api.control_guard`): `--control-token` (`PERPS_SIM_CONTROL_TOKEN`),
`--allowed-hosts` (`PERPS_SIM_ALLOWED_HOSTS`), and `--open-max-accounts` for `--auth open`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from simulator.server.journal import Durability
from simulator.server.runtime import SNAPSHOT_EVERY, AuthMode, ClockMode
from simulator.server.scenario_check import check_scenario
from simulator.server.serve import ServeOptions, StartupError, parse_fix_settings, serve
from simulator.server.ws_settings import parse_ws_settings

T = TypeVar("T")

__all__ = ["ENV_PREFIX", "main", "parse_serve_options"]

ENV_PREFIX = "PERPS_SIM_"
_CLOCKS = ("wall", "manual", "accelerated")
_AUTHS = ("verify", "open")
_DURABILITY = ("flush", "fsync")
_SNAPSHOT_MODES = ("fork", "inline")
_LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _port(text: str) -> int:
    value = _integer(text)
    if not 0 <= value <= 65_535:
        raise ValueError(f"must be a port number from 0 to 65535, was {text!r}")
    return value


def _integer(text: str) -> int:
    try:
        return int(text, 10)
    except ValueError:
        raise ValueError(f"must be an integer, was {text!r}") from None


def _non_negative(text: str) -> int:
    value = _integer(text)
    if value < 0:
        raise ValueError(f"must not be negative, was {text!r}")
    return value


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"must be a number, was {text!r}") from None
    if not 0 < value < float("inf"):
        raise ValueError(f"must be a positive number, was {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"must be a number of seconds, was {text!r}") from None
    if not 0 <= value < float("inf"):
        raise ValueError(f"must be 0 (off) or a positive number of seconds, was {text!r}")
    return value


def _choice(choices: Sequence[str]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}; was {text!r}")
        return value

    return parse


def _flag(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"must be true or false (1/0, yes/no, on/off), was {text!r}")


def _text(text: str) -> str:
    if not text:
        raise ValueError("must not be empty")
    return text


def _path(text: str) -> Path:
    return Path(_text(text))


def _positive(text: str) -> int:
    value = _integer(text)
    if value < 1:
        raise ValueError(f"must be at least 1, was {text!r}")
    return value


def _hosts(text: str) -> tuple[str, ...]:
    hosts = tuple(part.strip().lower().rstrip(".") for part in text.split(",") if part.strip())
    if not hosts:
        raise ValueError(f"must be host names separated by commas, was {text!r}")
    return hosts


def _fix_ports(text: str) -> tuple[int, int, int, int]:
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != 4:
        raise ValueError(f"must be four ports NR,DC,RT,MD, was {text!r}")
    ports = tuple(_port(part) for part in parts)
    return ports[0], ports[1], ports[2], ports[3]


# flag name -> (parser, default)
_OPTIONS: dict[str, tuple[Callable[[str], Any], Any]] = {
    "host": (_text, "127.0.0.1"),
    "port": (_port, 8000),
    "scenario": (_text, "default"),
    "seed": (_integer, None),
    "clock": (_choice(_CLOCKS), "wall"),
    "speed": (_speed, 1.0),
    "state_dir": (_path, None),
    "durability": (_choice(_DURABILITY), "flush"),
    "snapshot_every": (_non_negative, SNAPSHOT_EVERY),
    "snapshot_mode": (_choice(_SNAPSHOT_MODES), "fork"),
    "auth": (_choice(_AUTHS), "verify"),
    "auth_window_ms": (_non_negative, 30_000),
    "rate_limits": (_flag, False),
    "ready_file": (_path, None),
    "log_level": (_choice(_LOG_LEVELS), "info"),
    "fix_host": (_text, None),
    "fix_ports": (_fix_ports, None),
    "no_fix": (_flag, False),
    "fix_tls_cert": (_path, None),
    "fix_tls_key": (_path, None),
    "stats_interval": (_seconds, 10.0),
    "control_token": (_text, None),
    "allowed_hosts": (_hosts, ()),
    "open_max_accounts": (_positive, 1_000),
}

_HELP = {
    "host": "address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)",
    "port": "HTTP port for REST, WebSocket and the control plane (default 8000; 0 = any free)",
    "scenario": "built-in scenario name or path to a scenario JSON file (default: default)",
    "seed": "seed of ids, reference feeds and bots (default: the scenario's)",
    "clock": "wall (real time), manual (moves only via the control plane) or accelerated",
    "speed": "simulated seconds per real second with --clock accelerated (default 1)",
    "state_dir": "directory for the command journal and snapshots (default: in memory only)",
    "durability": "flush: journal lines reach the OS before acknowledgements (survive kill -9);"
    " fsync: acknowledgements wait for a shared fsync (survive power loss) (default flush)",
    "snapshot_every": "snapshot the state every N commands, dropping them from memory and "
    f"starting a new journal segment (default {SNAPSHOT_EVERY}; 0 = never)",
    "snapshot_mode": "fork: pickle the state in a forked child while the server goes on "
    "(default; inline where the platform cannot fork); inline: on the event loop",
    "auth": "verify: check RSA-PSS signatures; open: accept any key id (default verify)",
    "auth_window_ms": "allowed distance of KALSHI-ACCESS-TIMESTAMP from now (default 30000)",
    "rate_limits": "enforce Kalshi's token-bucket rate limits for every user (default off)",
    "ready_file": "write the server's URLs as JSON to this path once it is listening",
    "log_level": "critical, error, warning, info (default), debug (logs each request), trace",
    "fix_host": "address of the FIX listeners (default: --host)",
    "fix_ports": "FIX ports of KalshiNR,KalshiDC,KalshiRT,KalshiMD (default 8228,8229,8230,8233;"
    " 0 = any free; all 0 with --port 0)",
    "no_fix": "do not start the FIX acceptor",
    "fix_tls_cert": "PEM certificate (chain) for TLS on the FIX listeners",
    "fix_tls_key": "PEM private key for --fix-tls-cert",
    "stats_interval": "log a stats line (simulated time, speed, orders, fills, funding, "
    "liquidations) this often with --clock wall or accelerated (default 10; 0 = off)",
    "control_token": "require Authorization: Bearer TOKEN on /sim/v1 (health excepted)",
    "allowed_hosts": "Host names the control plane answers besides loopback names, comma-"
    "separated (* = any; default: loopback and --host)",
    "open_max_accounts": "most accounts --auth open creates for new key ids (default 1000)",
}

_METAVARS = {
    "host": "HOST",
    "port": "PORT",
    "scenario": "NAME|PATH",
    "seed": "N",
    "clock": "{wall,manual,accelerated}",
    "speed": "FACTOR",
    "state_dir": "DIR",
    "durability": "{flush,fsync}",
    "snapshot_every": "N",
    "snapshot_mode": "{fork,inline}",
    "auth": "{verify,open}",
    "auth_window_ms": "MS",
    "ready_file": "PATH",
    "log_level": "LEVEL",
    "fix_host": "HOST",
    "fix_ports": "NR,DC,RT,MD",
    "fix_tls_cert": "PEM",
    "fix_tls_key": "PEM",
    "stats_interval": "SECONDS",
    "control_token": "TOKEN",
    "allowed_hosts": "HOST,HOST",
    "open_max_accounts": "N",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="perps-sim",
        description="Local, deterministic simulator of Kalshi's Perps (margin) exchange.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve_parser = commands.add_parser(
        "serve",
        allow_abbrev=False,
        help="run the simulator's REST, WebSocket and control-plane server",
        description=(
            "Run the simulator. Every option can also be set by an environment variable "
            f"{ENV_PREFIX}<OPTION> (e.g. {ENV_PREFIX}CLOCK=manual); options win over the "
            "environment."
        ),
    )
    for name in _OPTIONS:
        flag = "--" + name.replace("_", "-")
        env = ENV_PREFIX + name.upper()
        if name == "no_fix":
            serve_parser.add_argument(
                flag, dest=name, action="store_true", default=None, help=f"{_HELP[name]} [{env}]"
            )
        elif name == "rate_limits":
            serve_parser.add_argument(
                flag,
                dest=name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=f"{_HELP[name]} [{env}]",
            )
        else:
            serve_parser.add_argument(
                flag, dest=name, metavar=_METAVARS[name], help=f"{_HELP[name]} [{env}]"
            )
    validate_parser = commands.add_parser(
        "validate-scenario",
        allow_abbrev=False,
        help="check scenario files (or built-in scenario names) without starting a server",
        description=(
            "Load each scenario strictly and build its exchange once on a manual clock; print "
            "a summary of each good one and the file, place and reason for each bad one. Exit "
            "status 0 when all are good, 1 otherwise."
        ),
    )
    validate_parser.add_argument("scenarios", nargs="+", metavar="FILE")
    serve_parser.add_argument(
        "--fix",
        dest="fix",
        action="append",
        metavar="NAME=VALUE",
        help=(
            "a FIX acceptor setting, e.g. sending_time_tolerance_ms=120000 or "
            f"sender_comp_id=Kalshi; repeatable [{ENV_PREFIX}FIX, comma-separated]"
        ),
    )
    serve_parser.add_argument(
        "--ws",
        dest="ws",
        action="append",
        metavar="NAME=VALUE",
        help=(
            "a WebSocket switch or limit, e.g. get_snapshot_reply=snapshot_only or "
            f"max_markets_per_subscription=50; repeatable [{ENV_PREFIX}WS, comma-separated]"
        ),
    )
    return parser


def parse_serve_options(
    values: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> ServeOptions:
    """Resolve each option from the flag, else the environment, else the default.

    `values` holds the flags as given (strings, None when absent); a bad value raises
    `ValueError` naming its flag or environment variable.
    """
    env = os.environ if environ is None else environ
    resolved: dict[str, Any] = {}
    for name, (parse, default) in _OPTIONS.items():
        given = values.get(name)
        variable = ENV_PREFIX + name.upper()
        if isinstance(given, bool):
            resolved[name] = given
            continue
        if given is not None:
            source, text = "--" + name.replace("_", "-"), str(given)
        elif variable in env:
            source, text = variable, env[variable]
        else:
            resolved[name] = default
            continue
        try:
            resolved[name] = parse(text)
        except ValueError as exc:
            raise ValueError(f"{source} {exc}") from None
    clock: ClockMode = resolved.pop("clock")
    auth: AuthMode = resolved.pop("auth")
    durability: Durability = resolved.pop("durability")
    ws = _settings("ws", parse_ws_settings, values, env)
    fix = _settings("fix", parse_fix_settings, values, env)
    return ServeOptions(clock=clock, auth=auth, durability=durability, ws=ws, fix=fix, **resolved)


def _settings(
    name: str,
    parse: Callable[[Sequence[str]], T],
    values: Mapping[str, Any],
    env: Mapping[str, str],
) -> T:
    # `--NAME NAME=VALUE` (repeatable), else the comma-separated environment variable
    items = values.get(name)
    source, variable = f"--{name}", ENV_PREFIX + name.upper()
    if not items and variable in env:
        source = variable
        items = [item for item in env[variable].split(",") if item.strip()]
    try:
        return parse(items or ())
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "validate-scenario":
        return _validate(args.scenarios)
    if args.command != "serve":
        parser.print_help(sys.stderr)
        return 2
    try:
        options = parse_serve_options(vars(args))
    except ValueError as exc:
        parser.exit(2, f"perps-sim serve: error: {exc}\n")
    try:
        return asyncio.run(serve(options))
    except StartupError as exc:
        print(f"perps-sim serve: error: {exc}", file=sys.stderr)
        return 1


def _validate(scenarios: Sequence[str]) -> int:
    status = 0
    for name in scenarios:
        try:
            summary = check_scenario(name)
        except (OSError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
        else:
            print(f"{name}: ok: {summary}")
    return status
