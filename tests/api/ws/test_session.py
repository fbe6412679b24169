"""`api.ws.session.Session` without a socket: the §14 switches and the send-queue bound."""

from __future__ import annotations

import json
from typing import Any

import pytest

from api.ws.session import Session, Subscription
from simulator.server.runtime import Runtime, ServerSettings
from simulator.server.scenarios import load_scenario
from simulator.server.ws_settings import WsSettings, parse_ws_settings
from tests.api.ws.frames import check

BTC = "KXBTCPERP"
ETH = "KXETHPERP"


class Index:
    """Records what the session indexes."""

    def __init__(self) -> None:
        self.dropped = 0

    def index(self, sub: Subscription, markets: list[str] | None) -> None:
        pass

    def unindex(self, sub: Subscription, markets: list[str] | None = None) -> None:
        pass

    def drop_all(self, session: Session) -> None:
        self.dropped += 1
        session.subscriptions.clear()


def session(scenario: str = "default", **ws: Any) -> Session:
    runtime = Runtime(
        load_scenario(scenario),
        clock_mode="manual",
        settings=ServerSettings(ws=WsSettings(**ws)),
    )
    return Session(Index(), runtime, "alice", "key", runtime.generation)


def command(
    s: Session, cmd: str, params: dict[str, Any] | None = None, cid: int = 1
) -> list[dict[str, Any]]:
    frame: dict[str, Any] = {"id": cid, "cmd": cmd}
    if params is not None:
        frame["params"] = params
    s.receive_text(json.dumps(frame))
    frames = [json.loads(f) for f in s.outbox]
    s.outbox.clear()
    for f in frames:
        check(f)
    return frames


def kinds(frames: list[dict[str, Any]]) -> list[str]:
    return [f["type"] for f in frames]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("ok_then_snapshot", ["ok", "orderbook_snapshot"]),
        ("snapshot_then_ok", ["orderbook_snapshot", "ok"]),
        ("snapshot_only", ["orderbook_snapshot"]),
    ],
)
def test_get_snapshot_reply_order_is_a_setting(reply: str, expected: list[str]) -> None:
    s = session(get_snapshot_reply=reply)
    command(s, "subscribe", {"channels": ["orderbook_delta"], "market_ticker": BTC})

    frames = command(s, "update_subscription", {"action": "get_snapshot", "sid": 1}, cid=9)

    assert kinds(frames) == expected
    assert all(f["id"] == 9 for f in frames)


def test_control_frames_consume_seq_when_set() -> None:
    s = session(control_frames_consume_seq=True)
    command(s, "subscribe", {"channels": ["orderbook_delta"], "market_ticker": BTC})

    frames = command(s, "update_subscription", {"action": "get_snapshot", "sid": 1})
    gone = command(s, "unsubscribe", {"sids": [1]})

    assert [(f["type"], f["seq"]) for f in frames] == [("ok", 2), ("orderbook_snapshot", 3)]
    assert gone[0]["seq"] == 4


def test_control_frames_carry_the_latest_seq_by_default() -> None:
    s = session()
    command(s, "subscribe", {"channels": ["orderbook_delta"], "market_tickers": [BTC, ETH]})

    frames = command(
        s, "update_subscription", {"action": "delete_markets", "sid": 1, "market_ticker": ETH}
    )

    assert [(f["type"], f["seq"]) for f in frames] == [("ok", 2)]


def test_repeat_subscribe_gets_a_new_sid_by_default_or_an_ok_merge() -> None:
    fresh = session()
    command(fresh, "subscribe", {"channels": ["trade"], "market_ticker": BTC})
    again = command(fresh, "subscribe", {"channels": ["trade"], "market_ticker": ETH})
    assert (again[0]["type"], again[0]["msg"]["sid"]) == ("subscribed", 2)

    merging = session(repeat_subscribe="ok_merge")
    command(merging, "subscribe", {"channels": ["trade"], "market_ticker": BTC})
    merged = command(merging, "subscribe", {"channels": ["trade"], "market_ticker": ETH}, cid=3)
    now = merging.runtime.exchange.now()
    assert merged == [
        {
            "type": "ok",
            "id": 3,
            "sid": 1,
            "msg": {"market_tickers": [BTC, ETH]},
            "sending_ts_ms": now,
        }
    ]


@pytest.mark.parametrize(
    ("setting", "expected"),
    [("omit", {"market_ticker": BTC}), ("empty", {"market_ticker": BTC, "bid": [], "ask": []})],
)
def test_empty_book_sides_omitted_or_sent_empty(setting: str, expected: dict[str, Any]) -> None:
    s = session("bare", empty_book_sides=setting)
    assert s.runtime.exchange.markets[BTC].book.best_bid() is None

    frames = command(s, "subscribe", {"channels": ["orderbook_delta"], "market_ticker": BTC})

    assert frames[1]["msg"] == expected


def test_sending_ts_ms_is_simulated_time_and_can_be_left_out() -> None:
    on = session()
    (subscribed,) = command(on, "subscribe", {"channels": ["trade"]})
    assert subscribed["sending_ts_ms"] == on.runtime.exchange.now()

    off = session(sending_ts_ms=False)
    (subscribed,) = command(off, "subscribe", {"channels": ["trade"]})
    assert "sending_ts_ms" not in subscribed


@pytest.mark.parametrize("unsubscribed", [False, True])
def test_send_queue_overflow_ends_the_connection_with_error_25(unsubscribed: bool) -> None:
    s = session(send_queue_frames=3, unsubscribed_after_terminal_error=unsubscribed)
    command(s, "subscribe", {"channels": ["trade"]})
    sub = s.subscriptions[1]

    for n in range(4):
        s.data(sub, "trade", json.dumps({"n": n}), "}")

    frames = [json.loads(f) for f in s.outbox]
    assert frames[0]["type"] == "error" and frames[0]["msg"]["code"] == 25
    assert frames[0]["sid"] == 1
    assert kinds(frames[1:]) == (["unsubscribed"] if unsubscribed else [])
    assert s.close_code == (1013, "subscription buffer overflow")
    s.data(sub, "trade", "{}", "}")  # nothing more is queued once closing
    assert len(s.outbox) == len(frames)


def test_commands_past_the_rate_get_error_27_and_do_not_run() -> None:
    runtime = Runtime(
        load_scenario("default"),
        clock_mode="manual",
        settings=ServerSettings(ws=WsSettings(commands_per_second=3)),
    )
    wall = [1_000_000]
    s = Session(Index(), runtime, "alice", "key", runtime.generation, wall_ms=lambda: wall[0])
    for n in range(3):
        (reply,) = command(s, "subscribe", {"channels": ["trade"]}, cid=n)
        assert reply["type"] == "subscribed"

    (refused,) = command(s, "subscribe", {"channels": ["trade"]}, cid=7)
    assert (refused["type"], refused["id"], refused["msg"]["code"]) == ("error", 7, 27)
    assert refused["msg"]["msg"] == "Too many requests"
    assert list(s.subscriptions) == [1, 2, 3]
    wall[0] += 340  # one more token
    (reply,) = command(s, "subscribe", {"channels": ["trade"]}, cid=8)
    assert reply["type"] == "subscribed"
    (refused,) = command(s, "subscribe", {"channels": ["trade"]}, cid=9)
    assert refused["msg"]["code"] == 27


def test_too_many_subscriptions_get_error_11() -> None:
    s = session(max_subscriptions=2)
    command(s, "subscribe", {"channels": ["trade", "fill"]})

    (reply,) = command(s, "subscribe", {"channels": ["ticker"]})

    assert (reply["type"], reply["msg"]["code"]) == ("error", 11)
    assert list(s.subscriptions) == [1, 2]


def test_parse_ws_settings_reads_name_value_items_and_names_bad_ones() -> None:
    settings = parse_ws_settings(
        ["get_snapshot_reply=snapshot_only", "max-markets-per-subscription=50", "sending_ts_ms=off"]
    )
    assert settings.get_snapshot_reply == "snapshot_only"
    assert settings.max_markets_per_subscription == 50
    assert settings.sending_ts_ms is False
    for bad in ("nonsense=1", "get_snapshot_reply=sometimes", "ping_interval_s=-1", "x"):
        with pytest.raises(ValueError, match=bad.split("=")[0].replace("-", "_")[:5]):
            parse_ws_settings([bad])
