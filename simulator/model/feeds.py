"""Reference-price feeds: the underlying index scaled to one contract, per market.

This module owns where a market's reference price comes from (MECHANICS §4.1): a constant, a
seeded random walk, or a replayed series, plus the config parser that picks one. Prices are
integer ticks of $0.0001 and times integer epoch milliseconds passed in by the caller; nothing
here reads a clock, and the only I/O is `load_replay_file`.

Every feed answers `price_at(ts_ms)` with `(price_ticks, source_ts_ms)`, where the source time
is the index's own timestamp (the `ts_ms` of the ticker's `reference_price`), and tells the
simulator when the price can next change so it can set a timer instead of polling.

Assumption: the index publishes once per step (1 s by default, as observed on the demo ticker
whose reference `ts_ms` sits on whole seconds), so a walk's source time is the start of the
current step even when that step's move rounds to zero ticks.
"""

from __future__ import annotations

import bisect
import json
import os
import random
import re
import struct
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

from simulator.core.money import parse_price

__all__ = [
    "RandomWalkFeed",
    "ReferenceFeed",
    "ReplayFeed",
    "StaticFeed",
    "feed_from_config",
    "load_replay_file",
    "parse_replay_lines",
]

_BPS = 10_000
_UNIFORM_BITS = 32
_UNIFORM_TERMS = 12  # Irwin-Hall: the sum of 12 uniforms has variance 12 * (1/12) = 1
_UNIFORM_MASK = (1 << _UNIFORM_BITS) - 1
_UNIFORM_CENTER = _UNIFORM_TERMS * _UNIFORM_MASK // 2
# steps drawn at once: `getrandbits(k * 384)` yields the same 32-bit words, least significant
# first, as k calls of `getrandbits(384)`, so a batch is the next k steps' draws in order
_BATCH_STEPS = 64
_BATCH_WORDS = _BATCH_STEPS * _UNIFORM_TERMS
_BATCH_WORD_FORMAT = struct.Struct(f"<{_BATCH_WORDS}I")
_INTEGER = re.compile(r"^\d+$")


@runtime_checkable
class ReferenceFeed(Protocol):
    """A source of reference prices queried at non-decreasing simulated times."""

    def price_at(self, ts_ms: int) -> tuple[int, int] | None:
        """Return `(price_ticks, source_ts_ms)` in force at `ts_ms`, or None before any price."""
        ...

    def next_change_after(self, ts_ms: int) -> int | None:
        """Return the first instant after `ts_ms` at which the price can change, or None."""
        ...

    def set_price(self, ts_ms: int, price_ticks: int) -> None:
        """Set the index to `price_ticks` from `ts_ms` on (the control plane's override)."""
        ...


def _check_price(price_ticks: int, what: str = "price") -> int:
    if isinstance(price_ticks, bool) or not isinstance(price_ticks, int):
        raise ValueError(f"{what} must be an integer number of ticks, was {price_ticks!r}")
    if price_ticks < 1:
        raise ValueError(f"{what} must be at least 1 tick, was {price_ticks}")
    return price_ticks


def _check_ts(ts_ms: int, what: str = "ts_ms") -> int:
    if isinstance(ts_ms, bool) or not isinstance(ts_ms, int):
        raise ValueError(f"{what} must be integer epoch milliseconds, was {ts_ms!r}")
    return ts_ms


class StaticFeed:
    """A constant index; `set_price` replaces the constant.

    Assumption: a constant index still publishes once per `publish_ms`, so its source time is
    the start of the current publication interval (never earlier than the last `set_price`).

    >>> feed = StaticFeed(62_590)
    >>> feed.price_at(1_700_000_000_250)
    (62590, 1700000000000)
    >>> feed.set_price(1_700_000_000_500, 62_600)
    >>> feed.price_at(1_700_000_000_700), feed.next_change_after(1_700_000_000_700)
    ((62600, 1700000000500), None)
    """

    def __init__(self, price: int, *, publish_ms: int = 1_000) -> None:
        """Start a constant feed at `price` ticks, publishing every `publish_ms` milliseconds."""
        if isinstance(publish_ms, bool) or not isinstance(publish_ms, int) or publish_ms < 1:
            raise ValueError(f"publish_ms must be a positive integer, was {publish_ms!r}")
        self._price = _check_price(price)
        self._publish_ms = publish_ms
        self._set_ts: int | None = None

    def price_at(self, ts_ms: int) -> tuple[int, int]:
        """Return the constant and the start of the publication interval holding `ts_ms`."""
        source = ts_ms - ts_ms % self._publish_ms
        if self._set_ts is not None and self._set_ts > source:
            source = self._set_ts
        return self._price, source

    def next_change_after(self, ts_ms: int) -> int | None:
        """Return None: a constant never changes by itself."""
        return None

    def set_price(self, ts_ms: int, price_ticks: int) -> None:
        """Replace the constant from `ts_ms` on."""
        self._price = _check_price(price_ticks)
        self._set_ts = _check_ts(ts_ms)


class RandomWalkFeed:
    """A seeded multiplicative random walk, generated lazily one step at a time.

    The walk starts at `start_price` at `start_ts_ms` (or at the first call of any method when
    `start_ts_ms` is None) and moves once at every whole multiple of `step_ms` since the epoch
    after that. Each move is `round_half_even(price * volatility_bps * z / 10_000)` ticks where
    `z` is a standard-normal-like draw, and the price never goes below 1 tick. Steps are drawn
    from `random.Random(seed)` strictly in step order, so the price at a given time depends only
    on the seed, the start and any `set_price` calls, never on how often the feed was queried.
    Memory is O(1): the current step and price, and the draws of at most 64 steps ahead.

    Assumption: `z` is an Irwin-Hall draw (the sum of 12 uniform 32-bit integers, centred and
    scaled to unit variance; bounded at +-6 sigma) rather than `random.gauss`, so the walk is
    pure integer arithmetic and identical on every platform. One draw is consumed per step even
    when the move rounds to zero ticks.

    >>> feed = RandomWalkFeed(62_590, seed=7, start_ts_ms=0)
    >>> feed.price_at(0), feed.next_change_after(0)
    ((62590, 0), 1000)
    >>> feed.price_at(3_600_000) == RandomWalkFeed(62_590, 7, start_ts_ms=0).price_at(3_600_000)
    True
    """

    def __init__(
        self,
        start_price: int,
        seed: int,
        step_ms: int = 1_000,
        volatility_bps: int = 1,
        *,
        start_ts_ms: int | None = None,
    ) -> None:
        """Configure the walk; nothing is drawn until a price is asked for.

        Args:
            start_price: Price in ticks at the start (at least 1).
            seed: Seed of the walk's private `random.Random`.
            step_ms: Step length in milliseconds; steps sit on whole multiples since the epoch.
            volatility_bps: Standard deviation of one step's relative move, in basis points.
            start_ts_ms: When the walk starts; None starts it at the first call.
        """
        if isinstance(step_ms, bool) or not isinstance(step_ms, int) or step_ms < 1:
            raise ValueError(f"step_ms must be a positive integer, was {step_ms!r}")
        if (
            isinstance(volatility_bps, bool)
            or not isinstance(volatility_bps, int)
            or volatility_bps < 0
        ):
            raise ValueError(
                f"volatility_bps must be a non-negative integer, was {volatility_bps!r}"
            )
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an integer, was {seed!r}")
        self._start_price = _check_price(start_price, "start_price")
        self._step_ms = step_ms
        self._volatility_bps = volatility_bps
        self._rng = random.Random(seed)
        self._draws: list[int] = []  # the next steps' centred sums, the next one last
        self._scale = _BPS << _UNIFORM_BITS
        self._start_ts: int | None = None
        self._price = self._start_price
        self._step = 0  # index of the last step applied (step k sits at k * step_ms)
        self._source_ts = 0
        if start_ts_ms is not None:
            self._start(_check_ts(start_ts_ms, "start_ts_ms"), self._start_price)

    @property
    def start_ts_ms(self) -> int | None:
        """Return when the walk started (None until it has)."""
        return self._start_ts

    def _start(self, ts_ms: int, price: int) -> None:
        self._start_ts = ts_ms
        self._price = price
        self._step = ts_ms // self._step_ms
        self._source_ts = ts_ms

    def _refill(self) -> None:
        # the next _BATCH_STEPS draws: per step the sum of its 12 uniforms, centred (standard
        # deviation ~ 2**32), stored last step first so that each step pops its own
        bits = self._rng.getrandbits(_UNIFORM_BITS * _BATCH_WORDS)
        words = _BATCH_WORD_FORMAT.unpack(bits.to_bytes(4 * _BATCH_WORDS, "little"))
        terms = _UNIFORM_TERMS
        self._draws = [
            sum(words[i : i + terms]) - _UNIFORM_CENTER
            for i in range(_BATCH_WORDS - terms, -1, -terms)
        ]

    def _walk(self, price: int, steps: int) -> int:
        # `steps` moves from `price`, each round_half_even(price * volatility * z, scale)
        # with the rounding inlined: this runs once per market per simulated second
        volatility, scale = self._volatility_bps, self._scale
        draws = self._draws
        for _ in range(steps):
            if not draws:
                self._refill()
                draws = self._draws
            move, remainder = divmod(price * volatility * draws.pop(), scale)
            twice = 2 * remainder
            if twice > scale or (twice == scale and move & 1):
                move += 1
            price += move
            if price < 1:
                price = 1
        return price

    def _advance(self, ts_ms: int) -> bool:
        """Apply every step up to `ts_ms`; return False when the walk has not started yet."""
        if self._start_ts is None:
            self._start(ts_ms, self._start_price)
            return True
        if ts_ms < self._start_ts:
            return False
        target = ts_ms // self._step_ms
        if target < self._step:
            raise ValueError(f"time went backwards: {ts_ms} is before the walk's current step")
        if target > self._step:
            self._price = self._walk(self._price, target - self._step)
            self._step = target
            self._source_ts = target * self._step_ms
        return True

    def price_at(self, ts_ms: int) -> tuple[int, int] | None:
        """Return the walk's price and source time at `ts_ms`, drawing any steps up to it."""
        # once per market per simulated second: the started walk's `_advance` inlined
        start = self._start_ts
        if type(ts_ms) is not int or start is None or ts_ms < start:
            if not self._advance(_check_ts(ts_ms)):
                return None
            return self._price, self._source_ts
        target = ts_ms // self._step_ms
        step = self._step
        if target != step:
            if target < step:
                raise ValueError(f"time went backwards: {ts_ms} is before the walk's current step")
            self._price = self._walk(self._price, target - step)
            self._step = target
            self._source_ts = target * self._step_ms
        return self._price, self._source_ts

    def next_change_after(self, ts_ms: int) -> int:
        """Return the walk's start if still ahead, else the next step boundary after `ts_ms`."""
        if self._start_ts is None:
            self._start(_check_ts(ts_ms), self._start_price)
        if self._start_ts is not None and ts_ms < self._start_ts:
            return self._start_ts
        return (ts_ms // self._step_ms + 1) * self._step_ms

    def set_price(self, ts_ms: int, price_ticks: int) -> None:
        """Move the walk to `price_ticks` at `ts_ms`; later steps continue from there.

        A walk that has not started by `ts_ms` starts at `ts_ms` from `price_ticks`.
        """
        price = _check_price(price_ticks)
        _check_ts(ts_ms)
        if self._start_ts is None or ts_ms < self._start_ts:
            self._start(ts_ms, price)
            return
        self._advance(ts_ms)
        self._price = price
        self._source_ts = ts_ms


class ReplayFeed:
    """A recorded series of `(ts_ms, price_ticks)` points, each in force until the next.

    Points must be in non-decreasing time order; of several points at the same instant the
    last one wins. Before the first point there is no price. `set_price` overrides the series
    until the next point strictly after the override's time.

    >>> feed = ReplayFeed([(1_000, 62_582), (2_000, 62_590)])
    >>> feed.price_at(999), feed.price_at(1_500), feed.next_change_after(1_500)
    (None, (62582, 1000), 2000)
    >>> feed.next_change_after(2_000) is None
    True
    """

    def __init__(self, points: Iterable[tuple[int, int]]) -> None:
        """Keep `points` (at least one), checking their order and values."""
        times: list[int] = []
        prices: list[int] = []
        for index, (ts_ms, price) in enumerate(points):
            _check_ts(ts_ms, f"point {index} ts_ms")
            _check_price(price, f"point {index} price")
            if times and ts_ms < times[-1]:
                raise ValueError(
                    f"replay points must be sorted by time: point {index} at {ts_ms} "
                    f"comes after {times[-1]}"
                )
            times.append(ts_ms)
            prices.append(price)
        if not times:
            raise ValueError("a replay feed needs at least one point")
        self._times = times
        self._prices = prices
        self._override: tuple[int, int] | None = None

    def __len__(self) -> int:
        """Return the number of replay points."""
        return len(self._times)

    @property
    def first_ts_ms(self) -> int:
        """Return the time of the first replay point."""
        return self._times[0]

    @property
    def last_ts_ms(self) -> int:
        """Return the time of the last replay point: the replay has run out from then on."""
        return self._times[-1]

    def points_reached(self, ts_ms: int) -> int:
        """Return how many replay points are at or before `ts_ms` (0 before the first)."""
        return bisect.bisect_right(self._times, ts_ms)

    def price_at(self, ts_ms: int) -> tuple[int, int] | None:
        """Return the point (or override) in force at `ts_ms`, or None before the first."""
        index = bisect.bisect_right(self._times, ts_ms) - 1
        override = self._override
        if (
            override is not None
            and override[0] <= ts_ms
            and (index < 0 or self._times[index] <= override[0])
        ):
            return override[1], override[0]
        if index < 0:
            return None
        return self._prices[index], self._times[index]

    def next_change_after(self, ts_ms: int) -> int | None:
        """Return the first replay point strictly after `ts_ms`, or None after the last."""
        index = bisect.bisect_right(self._times, ts_ms)
        return self._times[index] if index < len(self._times) else None

    def set_price(self, ts_ms: int, price_ticks: int) -> None:
        """Override the series with `price_ticks` from `ts_ms` until the next replay point."""
        self._override = (_check_ts(ts_ms), _check_price(price_ticks))


def _parse_csv_line(line: str, where: str) -> tuple[int, int] | None:
    fields = [field.strip() for field in line.split(",")]
    if len(fields) != 2:
        raise ValueError(f"{where}: expected 'ts_ms,price', got {line!r}")
    ts_text, price_text = fields
    if not _INTEGER.match(ts_text):
        return None  # maybe a header; the caller decides
    return int(ts_text), parse_price(price_text)


def _parse_json_line(line: str, where: str) -> tuple[int, int]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: invalid JSON: {exc.msg}") from exc
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected a JSON object")
    ts_ms = record.get("ts_ms")
    price = record.get("price")
    if isinstance(ts_ms, bool) or not isinstance(ts_ms, int):
        raise ValueError(f"{where}: 'ts_ms' must be an integer, was {ts_ms!r}")
    if not isinstance(price, str):
        raise ValueError(f"{where}: 'price' must be a dollar string like \"6.2582\", was {price!r}")
    return ts_ms, parse_price(price)


def parse_replay_lines(lines: Iterable[str], source: str = "<replay>") -> list[tuple[int, int]]:
    """Parse replay lines into `(ts_ms, price_ticks)` points.

    Each non-blank line is either CSV `ts_ms,price` or a JSON object
    `{"ts_ms": ..., "price": "..."}`; prices are dollar strings with at most 4 decimals. The
    first non-blank CSV line may be a header. Lines starting with `#` are comments.

    Args:
        lines: The lines of a replay file.
        source: Name used in error messages.

    Returns:
        The points in file order.

    Raises:
        ValueError: A line is malformed (the message names `source` and the line number).

    >>> parse_replay_lines(["ts_ms,price", "1000,6.2582", '{"ts_ms": 2000, "price": "6.259"}'])
    [(1000, 62582), (2000, 62590)]
    """
    points: list[tuple[int, int]] = []
    seen_line = False
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{source}:{number}"
        try:
            point = (
                _parse_json_line(line, where)
                if line.startswith("{")
                else _parse_csv_line(line, where)
            )
        except ValueError as exc:
            if str(exc).startswith(where):
                raise
            raise ValueError(f"{where}: {exc}") from exc
        first, seen_line = not seen_line, True
        if point is None:
            if not first:
                raise ValueError(f"{where}: ts_ms must be an integer, got {line!r}")
            continue  # a header, allowed only on the first line
        points.append(point)
    return points


def load_replay_file(path: str | os.PathLike[str]) -> ReplayFeed:
    """Read a CSV or JSON-lines replay file (see `parse_replay_lines`) into a `ReplayFeed`.

    Raises:
        OSError: The file cannot be read.
        ValueError: The file is malformed, empty or out of time order.
    """
    file_path = Path(path)
    try:
        with file_path.open(encoding="utf-8-sig") as handle:
            points = parse_replay_lines(handle, str(file_path))
    except UnicodeDecodeError:
        raise ValueError(f"{file_path}: replay file is not UTF-8 text") from None
    if not points:
        raise ValueError(f"{file_path}: replay file has no points")
    try:
        return ReplayFeed(points)
    except ValueError as exc:
        raise ValueError(f"{file_path}: {exc}") from exc


_CONFIG_KEYS: Mapping[str, tuple[frozenset[str], frozenset[str]]] = {
    "static": (frozenset({"kind", "price"}), frozenset()),
    "random_walk": (
        frozenset({"kind", "price"}),
        frozenset({"seed", "step_ms", "volatility_bps", "start_ts_ms"}),
    ),
    "replay": (frozenset({"kind", "path"}), frozenset()),
}


def _config_price(config: Mapping[str, object]) -> int:
    price = config["price"]
    if not isinstance(price, str):
        raise ValueError(f"feed 'price' must be a dollar string like \"6.2590\", was {price!r}")
    try:
        ticks = parse_price(price)
    except ValueError as exc:
        raise ValueError(f"feed 'price': {exc}") from exc
    if ticks < 1:
        raise ValueError(f"feed 'price' must be positive, was {price!r}")
    return ticks


def _config_int(config: Mapping[str, object], key: str, default: int) -> int:
    value = _config_optional_int(config, key)
    return default if value is None else value


def _config_optional_int(config: Mapping[str, object], key: str) -> int | None:
    value = config.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"feed '{key}' must be an integer, was {value!r}")
    return value


def feed_from_config(
    config: Mapping[str, object], *, base_dir: str | os.PathLike[str] | None = None
) -> ReferenceFeed:
    """Build a feed from a config mapping.

    Accepted shapes:

    - `{"kind": "static", "price": "6.2590"}`
    - `{"kind": "random_walk", "price": "6.2590", "seed": 7, "volatility_bps": 5,
      "step_ms": 1000, "start_ts_ms": ...}` (all but `kind` and `price` optional; seed 0,
      1 s steps, 1 bp, start at the first query by default)
    - `{"kind": "replay", "path": "fixtures/feeds/sample.csv"}`

    Args:
        config: The mapping; unknown keys are an error.
        base_dir: Directory that a relative replay `path` is resolved against (default: the
            working directory).

    Raises:
        ValueError: The config is malformed; the message says which key and why.
        OSError: A replay file cannot be read.

    >>> feed_from_config({"kind": "static", "price": "6.2590"}).price_at(0)
    (62590, 0)
    """
    if not isinstance(config, Mapping):
        raise ValueError(f"feed config must be a mapping, was {type(config).__name__}")
    kind = config.get("kind")
    if not isinstance(kind, str) or kind not in _CONFIG_KEYS:
        raise ValueError(
            f"feed 'kind' must be one of {', '.join(sorted(_CONFIG_KEYS))}; was {kind!r}"
        )
    required, optional = _CONFIG_KEYS[kind]
    keys = {str(key) for key in config}
    missing = sorted(required - keys)
    if missing:
        raise ValueError(f"{kind} feed config is missing {', '.join(missing)}")
    unknown = sorted(keys - required - optional)
    if unknown:
        raise ValueError(f"{kind} feed config has unknown keys: {', '.join(unknown)}")
    if kind == "static":
        return StaticFeed(_config_price(config))
    if kind == "random_walk":
        return RandomWalkFeed(
            _config_price(config),
            _config_int(config, "seed", 0),
            _config_int(config, "step_ms", 1_000),
            _config_int(config, "volatility_bps", 1),
            start_ts_ms=_config_optional_int(config, "start_ts_ms"),
        )
    path = config["path"]
    if not isinstance(path, str) or not path:
        raise ValueError(f"replay feed 'path' must be a non-empty string, was {path!r}")
    replay_path = Path(path)
    if base_dir is not None and not replay_path.is_absolute():
        replay_path = Path(base_dir) / replay_path
    return load_replay_file(replay_path)
