"""`perps-sim validate-scenario`: load a scenario file and build it once, or say what is wrong.

A scenario passes when it decodes strictly (`simulator.server.scenarios.Scenario`: unknown
fields, wrong types and malformed JSON are refused, with the file and the JSON path or line) and
an exchange can be built from it on a manual clock at its start time: its markets file, tickers,
settings, feeds, users and liquidity are all checked by the same code that starts a server.
Nothing is written and no port is opened.
"""

from __future__ import annotations

import msgspec

from simulator.core.clock import ManualClock
from simulator.core.errors import RejectError
from simulator.exchange import Exchange
from simulator.model.feeds import RandomWalkFeed, ReplayFeed, StaticFeed
from simulator.server.log_text import span
from simulator.server.replays import replay_progress
from simulator.server.scenarios import ScenarioError, build_exchange, load_scenario

__all__ = ["check_scenario"]


def check_scenario(name_or_path: str) -> str:
    """A one-line summary of a usable scenario.

    Raises:
        ScenarioError: The scenario cannot be used; the message says where and why.
    """
    scenario = load_scenario(name_or_path)
    try:
        exchange = build_exchange(scenario, ManualClock(scenario.start_ms))
    except (OSError, ValueError, msgspec.MsgspecError, RejectError) as exc:
        raise ScenarioError(f"{scenario.path}: {exc}") from None
    tickers = list(exchange.markets)
    feeds = sorted({_feed_kind(exchange, ticker) for ticker in tickers})
    liquidity = scenario.liquidity
    quoted = (
        "no house market maker"
        if liquidity is None
        else f"house market maker on {_count(liquidity.tickers, tickers)} market(s)"
    )
    takers = scenario.takers
    if takers is not None:
        quoted += f", noise takers on {_count(takers.tickers, tickers)} market(s)"
    return (
        f"scenario {scenario.name!r}: {len(tickers)} market(s) ({', '.join(tickers)}), "
        f"reference feeds {'/'.join(feeds)}{_replays(exchange)}, {len(scenario.users)} user(s), "
        f"{quoted}, start {scenario.start_time}, seed {scenario.seed}"
    )


def _count(named: list[str] | None, every: list[str]) -> int:
    # a bot's `tickers`: None is every market, an empty list none
    return len(every if named is None else named)


def _replays(exchange: Exchange) -> str:
    # each replay's points and span, and a replay that misses the start (a file of other dates)
    start = exchange.now()
    said = []
    for progress in replay_progress(exchange):
        first, last = progress.first_ts_ms, progress.last_ts_ms
        text = f"{progress.ticker} {progress.points_total:,} points over {span(last - first)}"
        if last < start:
            text += ", all before the start: its last price throughout"
        elif first > start:
            text += f", the first {span(first - start)} after the start: no reference until then"
        said.append(text)
    return f" (replay {'; '.join(said)})" if said else ""


_FEED_KINDS: dict[type, str] = {
    StaticFeed: "static",
    RandomWalkFeed: "random_walk",
    ReplayFeed: "replay",
}


def _feed_kind(exchange: Exchange, ticker: str) -> str:
    feed = exchange.state.markets[ticker].feed
    return _FEED_KINDS.get(type(feed), type(feed).__name__)
