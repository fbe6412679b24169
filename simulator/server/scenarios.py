"""Scenarios: the markets, settings, users and liquidity a server starts from.

A scenario is a JSON file (`fixtures/scenarios/<name>.json`, or any path) decoded strictly with
msgspec. `load_scenario("default")` is the built-in default. `build_exchange` turns a scenario
into a fresh `Exchange` on a given clock; `Runtime.reset` calls it again to go back to the
initial state. A `liquidity` block (`simulator.server.bots.LiquidityConfig`) adds the house
market maker, which quotes from the first instant and refreshes on the exchange's timers; a
`takers` block (`simulator.server.noise_takers.TakerConfig`) adds noise takers, random IOC
orders at a configured rate that trade against the book.

`feeds` replaces the reference-price feeds of the markets file, by ticker or `"*"` (every market
without an entry of its own): each is a feed config (`simulator.model.feeds.feed_from_config`)
whose `price`, when left out, is the market file's reference price. `bare` has
`{"*": {"kind": "static"}}`: its references move only when the control plane sets them.
"""

from __future__ import annotations

import calendar
import dataclasses
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import msgspec

from matching import Side, TimeInForce
from simulator.core.clock import Clock
from simulator.core.config import ExchangeConfig
from simulator.core.errors import RejectError
from simulator.core.money import parse_count, parse_dollars, parse_price
from simulator.exchange import Exchange
from simulator.model.markets import MarketSpec, load_markets
from simulator.model.orders import PlaceOrder
from simulator.server.bots import LiquidityConfig, attach_liquidity
from simulator.server.noise_takers import TakerConfig, attach_takers

__all__ = [
    "FIXTURES_DIR",
    "Scenario",
    "ScenarioError",
    "ScenarioOrder",
    "ScenarioUser",
    "build_exchange",
    "load_scenario",
    "scenario_file",
]

FIXTURES_DIR = Path(__file__).resolve().parents[2] / "fixtures"
_SCENARIOS_DIR = FIXTURES_DIR / "scenarios"


class ScenarioOrder(msgspec.Struct, forbid_unknown_fields=True):
    """An order a scenario user places at start, after the house market maker has quoted
    (dollar price and count strings, as in the REST API)."""

    ticker: str
    side: Literal["bid", "ask"]
    price: str
    count: str
    time_in_force: Literal["good_till_canceled", "immediate_or_cancel", "fill_or_kill"] = (
        "immediate_or_cancel"
    )


class ScenarioUser(msgspec.Struct, forbid_unknown_fields=True):
    """A user created at start: a fixed key id and public key, an opening balance, optionally
    a per-market notional limit and orders placed at start (to open positions)."""

    user_id: str
    api_key_id: str
    public_key_file: str | None = None
    public_key_pem: str | None = None
    balance: str = "0"
    notional_limit: str | None = None
    orders: list[ScenarioOrder] = msgspec.field(default_factory=list)


class Scenario(msgspec.Struct, forbid_unknown_fields=True):
    """A scenario file. A relative path it names (`markets_file`, a user's `public_key_file`, a
    replay feed's `path`) is looked for beside the scenario file, then under `fixtures/`, then
    in the working directory."""

    name: str
    description: str = ""
    markets_file: str = "markets/default.json"
    tickers: list[str] | None = None
    start_time: str = "2026-06-15T00:00:00Z"
    seed: int = 1
    config: dict[str, Any] = msgspec.field(default_factory=dict)
    users: list[ScenarioUser] = msgspec.field(default_factory=list)
    liquidity: LiquidityConfig | None = None
    takers: TakerConfig | None = None
    feeds: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    path: str = ""

    @property
    def start_ms(self) -> int:
        """`start_time` (RFC 3339, UTC) as epoch milliseconds."""
        moment = datetime.fromisoformat(self.start_time.replace("Z", "+00:00"))
        return calendar.timegm(moment.utctimetuple()) * 1000 + moment.microsecond // 1000


def load_scenario(name_or_path: str = "default") -> Scenario:
    """Load a built-in scenario by name, or a scenario file by path."""
    candidate = Path(name_or_path)
    if candidate.suffix != ".json" and not candidate.exists():
        candidate = _SCENARIOS_DIR / f"{name_or_path}.json"
    if not candidate.is_file():
        known = sorted(path.stem for path in _SCENARIOS_DIR.glob("*.json"))
        raise ValueError(f"unknown scenario {name_or_path!r}; built-in scenarios: {known}")
    data = candidate.read_bytes()
    try:
        data.decode("utf-8")  # msgspec's own error for bytes that are not UTF-8 names no place
    except UnicodeDecodeError as exc:
        where = _position(data, f"(byte {exc.start})")
        raise ScenarioError(f"{candidate}{where}: not UTF-8 text") from None
    try:
        scenario = msgspec.json.decode(data, type=Scenario)
    except msgspec.ValidationError as exc:
        raise ScenarioError(f"{candidate}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ScenarioError(f"{candidate}{_position(data, str(exc))}: {exc}") from None
    return msgspec.structs.replace(scenario, path=str(candidate.resolve()))


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file (and line, for JSON)."""


def _position(data: bytes, message: str) -> str:
    """``:<line>:<column>`` of the "(byte N)" a JSON syntax error names, else ""."""
    match = re.search(r"\(byte (\d+)\)", message)
    if match is None:
        return ""
    offset = min(int(match.group(1)), len(data))
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return f":{line}:{column}"


def scenario_file(scenario: Scenario, relative: str) -> Path:
    """A file the scenario names: an absolute path as it is; a relative one beside the scenario
    file, else under `fixtures/` (what the shipped scenarios name), else from the working
    directory, the first that is a file.

    Raises:
        ScenarioError: It is none of these; the message says where it was looked for.
    """
    path = Path(relative)
    if path.is_absolute():
        return path
    places = [FIXTURES_DIR / path, path]
    if scenario.path:
        places.insert(0, Path(scenario.path).parent / path)
    found = next((place for place in places if place.is_file()), None)
    if found is None:
        raise ScenarioError(
            f"{relative!r} is not a file beside the scenario, "
            f"under {FIXTURES_DIR} or in the working directory ({Path.cwd()})"
        )
    return found


def _with_feeds(scenario: Scenario, specs: list[MarketSpec]) -> list[MarketSpec]:
    feeds = scenario.feeds
    unknown = sorted(set(feeds) - {"*"} - {spec.ticker for spec in specs})
    if unknown:
        raise ValueError(f"scenario {scenario.name!r} has feeds for unknown markets {unknown}")
    replaced = []
    for spec in specs:
        override = feeds.get(spec.ticker, feeds.get("*"))
        if override is not None:
            reference = dict(override)
            if "price" in spec.reference and override.get("kind") != "replay":
                reference.setdefault("price", spec.reference["price"])
            path = reference.get("path")
            if isinstance(path, str) and path:
                reference["path"] = str(scenario_file(scenario, path))
            spec = dataclasses.replace(spec, reference=reference)
        replaced.append(spec)
    return replaced


def _place(exchange: Exchange, user_id: str, index: int, order: ScenarioOrder) -> None:
    where = f"user {user_id!r} order {index}"
    try:
        command = PlaceOrder(
            ticker=order.ticker,
            side=Side(order.side),
            price=parse_price(order.price),
            count=parse_count(order.count),
            client_order_id=f"scenario-{user_id}-{index}",
            time_in_force=TimeInForce(order.time_in_force),
        )
        exchange.place_order(user_id, command)
    except (ValueError, RejectError) as exc:
        raise ScenarioError(f"{where} is refused: {exc}") from None


def build_exchange(scenario: Scenario, clock: Clock, seed: int | None = None) -> Exchange:
    """A fresh exchange in the scenario's initial state on `clock`."""
    specs = load_markets(scenario_file(scenario, scenario.markets_file))
    if scenario.tickers is not None:
        by_ticker = {spec.ticker: spec for spec in specs}
        unknown = [ticker for ticker in scenario.tickers if ticker not in by_ticker]
        if unknown:
            raise ValueError(f"scenario {scenario.name!r} names unknown markets {unknown}")
        specs = [by_ticker[ticker] for ticker in scenario.tickers]
    specs = _with_feeds(scenario, specs)
    fields = {field.name for field in dataclasses.fields(ExchangeConfig)}
    unknown_settings = sorted(set(scenario.config) - fields)
    if unknown_settings:
        raise ValueError(f"scenario {scenario.name!r} has unknown settings {unknown_settings}")
    config = ExchangeConfig(**scenario.config)
    exchange = Exchange(
        specs, clock=clock, seed=scenario.seed if seed is None else seed, config=config
    )
    for user in scenario.users:
        pem = user.public_key_pem
        if pem is None and user.public_key_file is not None:
            pem = scenario_file(scenario, user.public_key_file).read_text()
        exchange.create_user(
            user_id=user.user_id,
            api_key_id=user.api_key_id,
            public_key_pem=pem,
            balance=parse_dollars(user.balance),
            notional_limit=None
            if user.notional_limit is None
            else parse_dollars(user.notional_limit),
        )
    if scenario.liquidity is not None:
        attach_liquidity(exchange, scenario.liquidity)
    for user in scenario.users:
        for index, order in enumerate(user.orders):
            _place(exchange, user.user_id, index, order)
    if scenario.takers is not None:
        attach_takers(exchange, scenario.takers)
    return exchange
