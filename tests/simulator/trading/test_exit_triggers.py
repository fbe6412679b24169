"""Tests of `simulator.trading.exit_triggers`: commands, validation, firing and lifecycle."""

from __future__ import annotations

import itertools
from dataclasses import fields
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.core.errors import (
    AnchorOrderUnavailableError,
    ExitTriggerNotFoundError,
    IdempotencyKeyUsedError,
    InvalidOrderError,
    InvalidParametersError,
    LimitExceededError,
    RejectError,
    StopLossPastLiquidationError,
)
from simulator.trading.exit_triggers import (
    ExitTriggers,
    ExitTriggerView,
    Firing,
    Leg,
    Side,
    TriggerTerms,
)

KEY = ("alice", 0, "BTC")
OTHER_KEY = ("alice", 0, "ETH")
LONG = 500  # 5 contracts
SHORT = -500


_TERMS = {f.name for f in fields(TriggerTerms)}


def _split(kw: dict[str, Any]) -> tuple[TriggerTerms, dict[str, Any]]:
    terms = TriggerTerms(**{k: v for k, v in kw.items() if k in _TERMS})
    return terms, {k: v for k, v in kw.items() if k not in _TERMS}


def set_cross(triggers: ExitTriggers, key: Any, **kw: Any) -> list[ExitTriggerView]:
    terms, rest = _split(kw)
    return triggers.set_cross(key, terms, **rest)


def set_isolated(triggers: ExitTriggers, key: Any, **kw: Any) -> list[ExitTriggerView]:
    terms, rest = _split(kw)
    return triggers.set_isolated(key, terms, **rest)


def update(triggers: ExitTriggers, key: Any, trigger_id: str, **kw: Any) -> ExitTriggerView:
    terms, rest = _split(kw)
    return triggers.update(key, trigger_id, terms, **rest)


def make(position: int = 0, key: tuple[str, int, str] = KEY) -> ExitTriggers:
    counter = itertools.count(1)
    triggers = ExitTriggers(lambda: f"trig-{next(counter)}")
    if position:
        triggers.on_position(key, position, 0)
    return triggers


def bracket(
    triggers: ExitTriggers, position: int = LONG, *, key: tuple[str, int, str] = KEY, **kw: Any
) -> ExitTriggerView:
    return set_cross(triggers, key, position=position, now_ms=1, **kw)[-1]


def snapshot(triggers: ExitTriggers) -> list[list[ExitTriggerView]]:
    return [
        triggers.list(k, include_terminal=True, isolated=iso)
        for k in (KEY, OTHER_KEY)
        for iso in (False, True)
    ]


# Validation of set_cross


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({}, InvalidParametersError),
        ({"kind": "limit", "stop_loss_price": 9_000}, InvalidParametersError),
        ({"stop_loss_price": 9_000, "trail_amount": 100}, InvalidParametersError),
        ({"take_profit_price": 11_000, "trail_bps": 50}, InvalidParametersError),
        (
            {"kind": "trailing", "stop_loss_price": 9_000, "trail_amount": 100},
            InvalidParametersError,
        ),
        ({"kind": "trailing", "take_profit_price": 11_000, "trail_bps": 5}, InvalidParametersError),
        ({"kind": "trailing"}, InvalidParametersError),
        ({"kind": "trailing", "trail_amount": 100, "trail_bps": 5}, InvalidParametersError),
        ({"kind": "trailing", "trail_bps": 0}, InvalidParametersError),
        ({"kind": "trailing", "trail_bps": 10_000}, InvalidParametersError),
        ({"kind": "trailing", "trail_amount": 0}, InvalidParametersError),
        ({"stop_loss_price": 0}, InvalidParametersError),
        ({"take_profit_price": -1}, InvalidParametersError),
        ({"stop_loss_price": 9_000, "count": 100, "anchor_order_id": "o1"}, InvalidParametersError),
        ({"stop_loss_price": 9_000, "count": 100}, InvalidParametersError),
        ({"stop_loss_price": 9_000, "anchor_order_id": "o1"}, InvalidParametersError),
        ({"stop_loss_price": 9_000, "client_trigger_id": "c1"}, InvalidParametersError),
        ({"stop_loss_price": 9_000, "count": 100, "client_trigger_id": ""}, InvalidParametersError),
        (
            {"stop_loss_price": 9_000, "count": 100, "client_trigger_id": "c" * 65},
            InvalidParametersError,
        ),
        (
            {
                "kind": "trailing",
                "trail_amount": 5,
                "anchor_order_id": "o1",
                "client_trigger_id": "c",
            },
            InvalidParametersError,
        ),
        ({"stop_loss_price": 9_000, "count": 150, "client_trigger_id": "c1"}, InvalidOrderError),
        ({"stop_loss_price": 9_000, "count": 0, "client_trigger_id": "c1"}, InvalidOrderError),
        ({"stop_loss_price": 9_000, "count": 600, "client_trigger_id": "c1"}, InvalidOrderError),
        (
            {"stop_loss_price": 9_000, "anchor_order_id": "o1", "client_trigger_id": "c1"},
            AnchorOrderUnavailableError,
        ),
        ({"stop_loss_price": 8_000, "liquidation_price": 8_000}, StopLossPastLiquidationError),
        ({"stop_loss_price": 7_999, "liquidation_price": 8_000}, StopLossPastLiquidationError),
    ],
)
def test_set_cross_invalid_request_rejected_and_changes_nothing(
    kwargs: dict[str, Any], error: type[RejectError]
) -> None:
    triggers = make(LONG)
    bracket(triggers, stop_loss_price=9_500)
    before = snapshot(triggers)

    with pytest.raises(error):
        set_cross(triggers, KEY, position=LONG, now_ms=5, **kwargs)

    assert snapshot(triggers) == before


def test_set_cross_flat_position_without_anchor_rejected() -> None:
    triggers = make()

    with pytest.raises(InvalidOrderError, match="no open position"):
        set_cross(triggers, KEY, stop_loss_price=9_000, position=0, now_ms=1)

    assert triggers.list(KEY) == []


@pytest.mark.parametrize("stop", [12_000, 12_001])
def test_set_cross_short_stop_at_or_above_liquidation_rejected(stop: int) -> None:
    triggers = make(SHORT)

    with pytest.raises(StopLossPastLiquidationError):
        bracket(triggers, SHORT, stop_loss_price=stop, liquidation_price=12_000)


def test_set_cross_stop_inside_liquidation_or_without_liquidation_price_accepted() -> None:
    triggers = make(LONG)

    bracket(triggers, stop_loss_price=8_001, liquidation_price=8_000)
    bracket(triggers, kind="trailing", trail_amount=10)
    view = bracket(triggers, stop_loss_price=1)

    assert view.stop_loss_price == 1
    assert [v.kind for v in triggers.list(KEY)] == ["trailing", "bracket"]


def test_set_cross_reused_client_trigger_id_rejected_per_owner() -> None:
    triggers = make(LONG)
    triggers.on_position(OTHER_KEY, LONG, 0)
    triggers.on_position(("bob", 0, "BTC"), LONG, 0)
    bracket(triggers, stop_loss_price=9_000, count=100, client_trigger_id="c1")

    with pytest.raises(IdempotencyKeyUsedError):
        bracket(triggers, key=OTHER_KEY, stop_loss_price=9_000, count=100, client_trigger_id="c1")
    view = bracket(
        triggers, key=("bob", 0, "BTC"), stop_loss_price=9_000, count=100, client_trigger_id="c1"
    )

    assert view.client_trigger_id == "c1"
    assert triggers.list(OTHER_KEY) == []


def test_set_cross_client_trigger_id_of_rejected_request_stays_usable() -> None:
    triggers = make(LONG)

    with pytest.raises(StopLossPastLiquidationError):
        bracket(triggers, stop_loss_price=9_000, count=100, client_trigger_id="c1",
                liquidation_price=9_500)  # fmt: skip
    view = bracket(triggers, stop_loss_price=9_000, count=100, client_trigger_id="c1")

    assert view.id == "trig-1"


def test_set_cross_counts_fit_position_sum_checked() -> None:
    triggers = make(LONG)
    bracket(triggers, stop_loss_price=9_000, count=300, client_trigger_id="a")

    with pytest.raises(InvalidOrderError, match="fit"):
        bracket(triggers, take_profit_price=11_000, count=300, client_trigger_id="b")
    view = bracket(triggers, take_profit_price=11_000, count=200, client_trigger_id="c")

    assert view.count == 200


def test_set_cross_twenty_first_bracket_rejected() -> None:
    triggers = make(2_000)
    bracket(triggers, 2_000, stop_loss_price=9_000)
    for n in range(19):
        bracket(triggers, 2_000, stop_loss_price=9_000, count=100, client_trigger_id=f"c{n}")
    before = snapshot(triggers)

    with pytest.raises(LimitExceededError):
        bracket(triggers, 2_000, stop_loss_price=9_000, count=100, client_trigger_id="c-last")

    assert len(triggers.list(KEY, kind="bracket")) == 20
    assert snapshot(triggers) == before
    bracket(triggers, 2_000, stop_loss_price=8_000)  # replacing the whole-position one still works
    bracket(triggers, 2_000, kind="trailing", trail_bps=100)


def test_set_cross_second_trailing_rejected() -> None:
    triggers = make(LONG)
    bracket(triggers, kind="trailing", trail_amount=100, count=100, client_trigger_id="t1")

    with pytest.raises(LimitExceededError):
        bracket(triggers, kind="trailing", trail_amount=50)
    with pytest.raises(LimitExceededError):
        bracket(triggers, kind="trailing", trail_amount=50, count=100, client_trigger_id="t2")

    assert len(triggers.list(KEY, kind="trailing")) == 1


# Replace vs append


def test_set_cross_without_count_replaces_whole_position_bracket() -> None:
    triggers = make(LONG)
    first = bracket(triggers, stop_loss_price=9_000, take_profit_price=11_000)

    views = set_cross(triggers, KEY, take_profit_price=12_000, position=LONG, now_ms=7)

    old, new = views
    assert (old.id, old.status, old.status_reason) == (first.id, "canceled", "user_canceled")
    assert (new.stop_loss_price, new.take_profit_price, new.status) == (None, 12_000, "active")
    assert triggers.list(KEY) == [new]
    assert triggers.list(KEY, include_terminal=True) == [old, new]


def test_set_cross_with_count_appends_bracket() -> None:
    triggers = make(LONG)
    whole = bracket(triggers, stop_loss_price=9_000)

    appended = bracket(triggers, stop_loss_price=9_500, count=100, client_trigger_id="c1")
    replaced = set_cross(triggers, KEY, stop_loss_price=8_500, position=LONG, now_ms=9)

    assert appended.count == 100
    assert replaced[0].id == whole.id
    assert [v.id for v in triggers.list(KEY)] == [appended.id, replaced[1].id]


def test_set_cross_replace_of_trailing_keeps_brackets() -> None:
    triggers = make(LONG)
    kept = bracket(triggers, stop_loss_price=9_000)
    bracket(triggers, kind="trailing", trail_amount=100)

    views = set_cross(triggers, KEY, kind="trailing", trail_bps=25, position=LONG, now_ms=2)

    assert [v.status for v in views] == ["canceled", "active"]
    assert triggers.list(KEY, kind="bracket") == [kept]
    assert triggers.list(KEY, kind="trailing") == [views[1]]


# Isolated


@pytest.mark.parametrize(
    "sizing", [{"count": 100}, {"anchor_order_id": "o-1"}, {"client_trigger_id": "c-1"}]
)
def test_isolated_set_and_update_refuse_sizing_and_change_nothing(sizing: dict[str, Any]) -> None:
    triggers = make(LONG)
    view = bracket(triggers, stop_loss_price=9_000)
    before = snapshot(triggers)

    with pytest.raises(InvalidParametersError, match=next(iter(sizing))):
        set_isolated(triggers, KEY, stop_loss_price=9_000, position=LONG, now_ms=2, **sizing)
    with pytest.raises(InvalidParametersError, match=next(iter(sizing))):
        update(triggers, KEY, view.id, stop_loss_price=9_100, now_ms=2, **sizing)

    assert snapshot(triggers) == before


def test_set_isolated_without_position_rejected() -> None:
    triggers = make(LONG)

    with pytest.raises(InvalidOrderError):
        set_isolated(triggers, KEY, stop_loss_price=9_000, position=0, now_ms=1)

    assert triggers.list(KEY, isolated=True) == []


def test_set_isolated_replaces_and_stays_apart_from_cross() -> None:
    triggers = make(LONG)
    triggers.on_position(KEY, SHORT, 0, isolated=True)
    cross = bracket(triggers, stop_loss_price=9_000)

    set_isolated(triggers, KEY, stop_loss_price=11_000, position=SHORT, now_ms=1)
    old, new = set_isolated(triggers, KEY, take_profit_price=9_000, position=SHORT, now_ms=2)

    assert old.status == "canceled"
    assert new.isolated and new.count == 0 and new.stop_loss_price is None
    assert triggers.list(KEY) == [cross]
    assert triggers.list(KEY, isolated=True) == [new]
    with pytest.raises(ExitTriggerNotFoundError):
        triggers.delete(KEY, new.id, now_ms=3)
    assert triggers.on_mark("BTC", 9_000, 4) == [
        Firing(cross.id, KEY, False, "stop_loss", "ask", 500),
        Firing(new.id, KEY, True, "take_profit", "bid", 500),
    ]


def test_set_isolated_stop_beyond_liquidation_rejected() -> None:
    triggers = make()

    with pytest.raises(StopLossPastLiquidationError):
        set_isolated(
            triggers, KEY, stop_loss_price=9_000, position=LONG, liquidation_price=9_000, now_ms=1
        )


# Update, delete, list


def test_update_omitted_leg_cleared() -> None:
    triggers = make(LONG)
    view = bracket(triggers, stop_loss_price=9_000, take_profit_price=11_000)

    updated = update(triggers, KEY, view.id, stop_loss_price=9_500, now_ms=5)

    assert (updated.id, updated.stop_loss_price, updated.take_profit_price) == (
        view.id,
        9_500,
        None,
    )
    assert updated.updated_time_ms == 5
    assert triggers.on_mark("BTC", 11_000, 6) == []
    assert [f.leg for f in triggers.on_mark("BTC", 9_500, 7)] == ["stop_loss"]


def test_update_moves_threshold_in_index() -> None:
    triggers = make(LONG)
    view = bracket(triggers, stop_loss_price=9_000)

    update(triggers, KEY, view.id, stop_loss_price=8_000, now_ms=2)

    assert triggers.on_mark("BTC", 8_500, 3) == []
    assert len(triggers.on_mark("BTC", 8_000, 4)) == 1


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({}, InvalidParametersError),
        ({"stop_loss_price": 0}, InvalidParametersError),
        ({"stop_loss_price": 8_000, "liquidation_price": 8_000}, StopLossPastLiquidationError),
    ],
)
def test_update_invalid_request_rejected_and_changes_nothing(
    kwargs: dict[str, Any], error: type[RejectError]
) -> None:
    triggers = make(LONG)
    view = bracket(triggers, stop_loss_price=9_000, take_profit_price=11_000)
    before = snapshot(triggers)

    with pytest.raises(error):
        update(triggers, KEY, view.id, now_ms=5, **kwargs)

    assert snapshot(triggers) == before


def test_update_trailing_rejected() -> None:
    triggers = make(LONG)
    view = bracket(triggers, kind="trailing", trail_amount=100)

    with pytest.raises(InvalidParametersError):
        update(triggers, KEY, view.id, stop_loss_price=9_000, now_ms=2)


def test_update_unknown_foreign_or_terminal_trigger_not_found() -> None:
    triggers = make(LONG)
    triggers.on_position(OTHER_KEY, LONG, 0)
    view = bracket(triggers, stop_loss_price=9_000)
    triggers.delete(KEY, view.id, now_ms=2)
    other = bracket(triggers, key=OTHER_KEY, stop_loss_price=9_000)

    for trigger_id, key in [("nope", KEY), (view.id, KEY), (other.id, KEY)]:
        with pytest.raises(ExitTriggerNotFoundError):
            update(triggers, key, trigger_id, stop_loss_price=9_100, now_ms=3)
        with pytest.raises(ExitTriggerNotFoundError):
            triggers.delete(key, trigger_id, now_ms=3)


def test_delete_marks_user_canceled() -> None:
    triggers = make(LONG)
    view = bracket(triggers, stop_loss_price=9_000)

    deleted = triggers.delete(KEY, view.id, now_ms=4)

    assert (deleted.status, deleted.status_reason, deleted.updated_time_ms) == (
        "canceled",
        "user_canceled",
        4,
    )
    assert triggers.list(KEY) == []
    assert triggers.on_mark("BTC", 1, 5) == []


def test_delete_all_kind_filter_and_idempotent() -> None:
    triggers = make(LONG)
    kept = bracket(triggers, stop_loss_price=9_000)
    bracket(triggers, kind="trailing", trail_amount=100)

    canceled = triggers.delete_all(KEY, kind="trailing", now_ms=3)

    assert [(v.kind, v.status_reason) for v in canceled] == [("trailing", "user_canceled")]
    assert triggers.list(KEY) == [kept]
    assert triggers.delete_all(KEY, isolated=True, now_ms=4) == []
    assert len(triggers.delete_all(KEY, now_ms=5)) == 1
    assert triggers.delete_all(KEY, now_ms=6) == []
    assert triggers.delete_all(("nobody", 0, "BTC"), now_ms=6) == []


def test_list_creation_order_and_kind_filter() -> None:
    triggers = make(LONG)
    a = bracket(triggers, stop_loss_price=9_000)
    b = bracket(triggers, kind="trailing", trail_amount=100)
    c = bracket(triggers, take_profit_price=12_000, count=100, client_trigger_id="c")

    assert triggers.list(KEY) == [a, b, c]
    assert triggers.list(KEY, kind="bracket") == [a, c]
    assert triggers.list(("bob", 0, "BTC")) == []
    assert triggers.get(b.id) == b
    assert triggers.get("nope") is None


def test_list_terminal_history_reset_when_position_reopens() -> None:
    triggers = make(LONG)
    view = bracket(triggers, stop_loss_price=9_000)
    triggers.on_position(KEY, 0, 2)

    closed = triggers.list(KEY, include_terminal=True)
    triggers.on_position(KEY, LONG, 3)

    assert [(v.id, v.status_reason) for v in closed] == [(view.id, "position_closed")]
    assert triggers.list(KEY, include_terminal=True) == []
    assert triggers.get(view.id) is None


def test_list_terminal_retention_drops_oldest() -> None:
    counter = itertools.count(1)
    triggers = ExitTriggers(lambda: f"t{next(counter)}", terminal_retention=2)
    triggers.on_position(KEY, LONG, 0)
    for price in (9_000, 9_100, 9_200, 9_300):
        set_cross(triggers, KEY, stop_loss_price=price, position=LONG, now_ms=1)

    assert [v.id for v in triggers.list(KEY, include_terminal=True)] == ["t2", "t3", "t4"]


# Firing of brackets


@pytest.mark.parametrize(
    ("position", "legs", "quiet", "hit", "leg", "side"),
    [
        (LONG, {"stop_loss_price": 9_000}, 9_001, 9_000, "stop_loss", "ask"),
        (LONG, {"stop_loss_price": 9_000}, 9_001, 8_000, "stop_loss", "ask"),
        (LONG, {"take_profit_price": 11_000}, 10_999, 11_000, "take_profit", "ask"),
        (LONG, {"take_profit_price": 11_000}, 10_999, 13_000, "take_profit", "ask"),
        (SHORT, {"stop_loss_price": 11_000}, 10_999, 11_000, "stop_loss", "bid"),
        (SHORT, {"stop_loss_price": 11_000}, 10_999, 12_000, "stop_loss", "bid"),
        (SHORT, {"take_profit_price": 9_000}, 9_001, 9_000, "take_profit", "bid"),
        (SHORT, {"take_profit_price": 9_000}, 9_001, 1, "take_profit", "bid"),
    ],
)
def test_on_mark_threshold_crossed_fires_leg(
    position: int, legs: dict[str, Any], quiet: int, hit: int, leg: Leg, side: Side
) -> None:
    triggers = make(position)
    view = bracket(triggers, position, **legs)

    assert triggers.on_mark("BTC", quiet, 2) == []
    firings = triggers.on_mark("BTC", hit, 3)

    assert firings == [Firing(view.id, KEY, False, leg, side, 500)]
    fired = triggers.get(view.id)
    assert fired is not None
    assert (fired.status, fired.triggered_leg, fired.updated_time_ms) == ("active", leg, 3)


def test_on_mark_other_market_ignored() -> None:
    triggers = make(LONG)
    bracket(triggers, stop_loss_price=9_000)

    assert triggers.on_mark("ETH", 1, 2) == []


def test_on_mark_outstanding_order_fires_once() -> None:
    triggers = make(LONG)
    bracket(triggers, stop_loss_price=9_000, take_profit_price=11_000)

    first = triggers.on_mark("BTC", 8_900, 2)
    again = [triggers.on_mark("BTC", mark, 3) for mark in (8_800, 9_500, 12_000, 8_000)]

    assert len(first) == 1
    assert again == [[], [], [], []]


def test_on_mark_both_legs_crossed_stop_loss_wins() -> None:
    triggers = make(LONG)
    bracket(triggers, stop_loss_price=10_000, take_profit_price=9_000)

    (firing,) = triggers.on_mark("BTC", 9_500, 2)

    assert firing.leg == "stop_loss"


def test_on_mark_fixed_count_bracket_closes_its_count() -> None:
    triggers = make(LONG)
    view = bracket(triggers, stop_loss_price=9_000, count=200, client_trigger_id="c")

    (firing,) = triggers.on_mark("BTC", 9_000, 2)

    assert (firing.trigger_id, firing.count) == (view.id, 200)


def test_on_mark_simultaneous_firings_capped_at_position() -> None:
    triggers = make(LONG)
    part = bracket(triggers, stop_loss_price=9_000, count=300, client_trigger_id="c")
    whole = bracket(triggers, stop_loss_price=9_000)
    late = bracket(triggers, stop_loss_price=8_000, count=100, client_trigger_id="d")

    firings = triggers.on_mark("BTC", 8_000, 2)
    triggers.on_order_result(part.id, "o1", 300, 200, 3)
    triggers.on_order_result(whole.id, "o2", 200, 0, 3)

    assert [(f.trigger_id, f.count) for f in firings] == [(part.id, 300), (whole.id, 200)]
    late_view = triggers.get(late.id)
    assert late_view is not None
    assert (late_view.status, late_view.status_reason) == ("canceled", "position_closed")


# Order outcomes


def test_on_order_result_position_closed_marks_filled() -> None:
    triggers = make(LONG)
    view = bracket(triggers, stop_loss_price=9_000)
    trailing = bracket(triggers, kind="trailing", trail_amount=5_000)
    triggers.on_mark("BTC", 9_000, 2)

    views = triggers.on_order_result(view.id, "order-1", 500, 0, 3)

    done, other = views
    assert (done.status, done.triggered_order_id, done.filled_count) == ("filled", "order-1", 500)
    assert done.triggered_leg == "stop_loss"
    assert (other.id, other.status_reason) == (trailing.id, "position_closed")
    assert triggers.on_mark("BTC", 1, 4) == []


def test_on_order_result_count_filled_marks_filled_position_remaining() -> None:
    triggers = make(LONG)
    view = bracket(triggers, take_profit_price=11_000, count=200, client_trigger_id="c")
    triggers.on_mark("BTC", 11_000, 2)

    (done,) = triggers.on_order_result(view.id, "o1", 200, 300, 3)

    assert (done.status, done.filled_count) == ("filled", 200)
    assert triggers.on_mark("BTC", 11_500, 4) == []


def test_on_order_result_partial_fill_refires_next_mark_whatever_price() -> None:
    triggers = make(LONG)
    view = bracket(triggers, stop_loss_price=9_000, take_profit_price=11_000)
    triggers.on_mark("BTC", 9_000, 2)

    (partial,) = triggers.on_order_result(view.id, "o1", 200, 300, 3)
    retry = triggers.on_mark("BTC", 9_800, 4)
    outstanding = triggers.on_mark("BTC", 9_700, 5)
    (done,) = triggers.on_order_result(view.id, "o2", 300, 0, 6)

    assert (partial.status, partial.filled_count, partial.triggered_order_id) == (
        "active",
        200,
        "o1",
    )
    assert retry == [Firing(view.id, KEY, False, "stop_loss", "ask", 300)]
    assert outstanding == []
    assert (done.status, done.filled_count, done.triggered_order_id) == ("filled", 500, "o2")


def test_on_order_result_nothing_filled_retries() -> None:
    triggers = make(SHORT)
    view = bracket(triggers, SHORT, stop_loss_price=11_000, count=200, client_trigger_id="c")
    triggers.on_mark("BTC", 11_000, 2)

    triggers.on_order_result(view.id, "o1", 0, SHORT, 3)

    assert triggers.on_mark("BTC", 10_000, 4) == [
        Firing(view.id, KEY, False, "stop_loss", "bid", 200)
    ]


def test_on_order_rejected_marks_failed() -> None:
    triggers = make(LONG)
    view = bracket(triggers, stop_loss_price=9_000)
    triggers.on_mark("BTC", 9_000, 2)

    (failed,) = triggers.on_order_rejected(view.id, 3, order_id="o1")

    assert (failed.status, failed.status_reason, failed.triggered_order_id) == (
        "failed",
        "order_rejected",
        "o1",
    )
    assert triggers.list(KEY) == []
    assert triggers.on_mark("BTC", 8_000, 4) == []


def test_on_order_result_unknown_trigger_not_found() -> None:
    with pytest.raises(ExitTriggerNotFoundError):
        make().on_order_result("nope", "o1", 0, 0, 1)


def test_on_order_result_after_user_cancel_records_fill_only() -> None:
    triggers = make(LONG)
    view = bracket(triggers, stop_loss_price=9_000)
    triggers.on_mark("BTC", 9_000, 2)
    triggers.delete(KEY, view.id, now_ms=3)

    (after,) = triggers.on_order_result(view.id, "o1", 100, 400, 4)

    assert (after.status, after.filled_count, after.triggered_order_id) == ("canceled", 100, "o1")
    assert triggers.on_mark("BTC", 8_000, 5) == []


# Trailing stops


@pytest.mark.parametrize(
    ("position", "legs", "marks", "watermarks", "stops", "fires_at"),
    [
        (
            LONG,
            {"trail_amount": 500},
            [10_000, 10_800, 10_400, 10_301, 10_300],
            [10_000, 10_800, 10_800, 10_800, 10_800],
            [9_500, 10_300, 10_300, 10_300, 10_300],
            4,
        ),
        (
            SHORT,
            {"trail_amount": 500},
            [10_000, 9_200, 9_600, 9_699, 9_700],
            [10_000, 9_200, 9_200, 9_200, 9_200],
            [10_500, 9_700, 9_700, 9_700, 9_700],
            4,
        ),
        (
            LONG,
            {"trail_bps": 150},  # 1.5%, floored to whole ticks
            [10_000, 10_333, 10_180, 10_179],
            [10_000, 10_333, 10_333, 10_333],
            [9_850, 10_179, 10_179, 10_179],
            3,
        ),
        (
            SHORT,
            {"trail_bps": 150},
            [10_000, 9_777, 9_923, 9_922],
            [10_000, 9_777, 9_777, 9_777],
            [10_150, 9_923, 9_923, 9_923],
            2,
        ),
    ],
)
def test_on_mark_trailing_watermark_ratchets_and_fires(
    position: int,
    legs: dict[str, Any],
    marks: list[int],
    watermarks: list[int],
    stops: list[int],
    fires_at: int,
) -> None:
    triggers = make(position)
    view = bracket(triggers, position, kind="trailing", **legs)

    fired_at = []
    seen = []
    for n, mark in enumerate(marks):
        if triggers.on_mark("BTC", mark, 10 + n):
            fired_at.append(n)
        now = triggers.get(view.id)
        assert now is not None
        seen.append((now.watermark_price, now.effective_stop_price))

    assert fired_at == [fires_at]
    assert seen == list(zip(watermarks, stops, strict=True))


def test_set_cross_trailing_starts_at_last_mark() -> None:
    triggers = make(LONG)
    triggers.on_mark("BTC", 10_000, 1)

    view = bracket(triggers, kind="trailing", trail_amount=300)

    assert (view.watermark_price, view.effective_stop_price) == (10_000, 9_700)
    assert triggers.on_mark("BTC", 9_701, 2) == []
    assert [f.leg for f in triggers.on_mark("BTC", 9_700, 3)] == ["stop_loss"]


# Position changes


def test_on_position_closed_cancels_live_triggers() -> None:
    triggers = make(LONG)
    a = bracket(triggers, stop_loss_price=9_000)
    b = bracket(triggers, kind="trailing", trail_amount=100)

    views = triggers.on_position(KEY, 0, 5)

    assert [(v.id, v.status, v.status_reason) for v in views] == [
        (a.id, "canceled", "position_closed"),
        (b.id, "canceled", "position_closed"),
    ]
    assert triggers.on_mark("BTC", 1, 6) == []


def test_on_position_flipped_cancels_old_side() -> None:
    triggers = make(LONG)
    view = bracket(triggers, stop_loss_price=9_000)

    reduced = triggers.on_position(KEY, 100, 2)
    (flipped,) = triggers.on_position(KEY, -100, 3)

    assert reduced == []
    assert (flipped.id, flipped.status_reason) == (view.id, "position_flipped")
    assert triggers.on_mark("BTC", 9_000, 4) == []


def test_on_position_outstanding_trigger_left_to_order_result() -> None:
    triggers = make(LONG)
    view = bracket(triggers, stop_loss_price=9_000)
    triggers.on_mark("BTC", 9_000, 2)

    untouched = triggers.on_position(KEY, 0, 3)
    (done,) = triggers.on_order_result(view.id, "o1", 500, 0, 4)

    assert untouched == []
    assert done.status == "filled"


def test_on_position_unknown_flat_position_ignored() -> None:
    triggers = make()

    assert triggers.on_position(KEY, 0, 1) == []
    assert triggers.list(KEY) == []


def test_set_cross_records_given_position() -> None:
    triggers = make()
    view = bracket(triggers, LONG, stop_loss_price=9_000)

    assert triggers.on_mark("BTC", 9_000, 2) == [
        Firing(view.id, KEY, False, "stop_loss", "ask", 500)
    ]


def test_cancel_for_liquidation_cancels_cross_scope_only() -> None:
    triggers = make(LONG)
    triggers.on_position(OTHER_KEY, SHORT, 0)
    triggers.on_position(KEY, LONG, 0, isolated=True)
    triggers.on_position(("alice", 1, "BTC"), LONG, 0)
    a = bracket(triggers, stop_loss_price=9_000)
    b = bracket(triggers, SHORT, key=OTHER_KEY, stop_loss_price=11_000)
    iso = set_isolated(triggers, KEY, stop_loss_price=9_000, position=LONG, now_ms=1)[-1]
    sub1 = bracket(triggers, key=("alice", 1, "BTC"), stop_loss_price=9_000)

    views = triggers.cancel_for_liquidation("alice", 0, now_ms=2)
    iso_views = triggers.cancel_for_liquidation("alice", 0, now_ms=3, isolated_ticker="BTC")

    assert [(v.id, v.status_reason) for v in views] == [
        (a.id, "position_closed"),
        (b.id, "position_closed"),
    ]
    assert [v.id for v in iso_views] == [iso.id]
    assert triggers.list(("alice", 1, "BTC")) == [sub1]
    assert triggers.cancel_for_liquidation("carol", 0, now_ms=4) == []


# Anchored triggers


def anchored(triggers: ExitTriggers, position: int = 0, **kw: Any) -> ExitTriggerView:
    kw.setdefault("stop_loss_price", 9_000)
    kw.setdefault("anchor_side", "bid")
    return set_cross(
        triggers,
        KEY,
        anchor_order_id="entry-1",
        client_trigger_id=kw.pop("client_trigger_id", "a1"),
        position=position,
        now_ms=1,
        **kw,
    )[-1]


def test_anchor_trigger_pending_until_anchor_fills() -> None:
    triggers = make()
    view = anchored(triggers, take_profit_price=11_000)

    pending_marks = triggers.on_mark("BTC", 8_000, 2)
    triggers.on_position(KEY, 200, 3)
    (active,) = triggers.on_anchor_fill("entry-1", 200, 3)
    (firing,) = triggers.on_mark("BTC", 8_500, 4)

    assert (view.status, view.count, view.anchor_order_id) == ("pending_on_entry", 0, "entry-1")
    assert pending_marks == []
    assert (active.status, active.count) == ("active", 200)
    assert (firing.trigger_id, firing.count, firing.side) == (view.id, 200, "ask")


def test_anchor_trigger_count_follows_cumulative_fill() -> None:
    triggers = make()
    view = anchored(triggers)
    triggers.on_anchor_fill("entry-1", 100, 2)
    triggers.on_position(KEY, 300, 3)

    (grown,) = triggers.on_anchor_fill("entry-1", 300, 3)
    stale = triggers.on_anchor_fill("entry-1", 300, 4)
    (firing,) = triggers.on_mark("BTC", 9_000, 5)

    assert (grown.id, grown.count, grown.status) == (view.id, 300, "active")
    assert stale == []
    assert firing.count == 300


def test_anchor_terminal_without_fill_cancels_entry_not_filled() -> None:
    triggers = make()
    view = anchored(triggers)

    (done,) = triggers.on_anchor_terminal("entry-1", 5)

    assert (done.id, done.status, done.status_reason) == (view.id, "canceled", "entry_not_filled")
    assert done.anchor_order_id is None
    assert triggers.on_anchor_fill("entry-1", 100, 6) == []


def test_anchor_terminal_after_fill_clears_anchor_stays_active() -> None:
    triggers = make()
    anchored(triggers)
    triggers.on_position(KEY, 100, 2)
    triggers.on_anchor_fill("entry-1", 100, 2)

    (view,) = triggers.on_anchor_terminal("entry-1", 3)

    assert (view.status, view.anchor_order_id, view.count) == ("active", None, 100)


def test_anchor_trigger_repends_after_closing_covered_part() -> None:
    triggers = make()
    view = anchored(triggers)
    triggers.on_position(KEY, 100, 2)
    triggers.on_anchor_fill("entry-1", 100, 2)
    triggers.on_mark("BTC", 9_000, 3)

    (pending,) = triggers.on_order_result(view.id, "o1", 100, 0, 4)
    triggers.on_position(KEY, 200, 5)
    (again,) = triggers.on_anchor_fill("entry-1", 300, 5)
    (firing,) = triggers.on_mark("BTC", 8_900, 6)
    triggers.on_order_result(view.id, "o2", 200, 0, 7)
    (done,) = triggers.on_anchor_terminal("entry-1", 8)

    assert (pending.status, pending.filled_count) == ("pending_on_entry", 100)
    assert (again.status, again.triggered_leg, again.count) == ("active", None, 300)
    assert firing.count == 200
    assert (done.status, done.filled_count, done.anchor_order_id) == ("filled", 300, None)


def test_anchor_trigger_short_side_and_available_anchor_fill() -> None:
    triggers = make(SHORT)
    view = anchored(triggers, SHORT, stop_loss_price=11_000, anchor_side="ask", anchor_filled=200)

    (firing,) = triggers.on_mark("BTC", 11_000, 2)

    assert (view.status, view.count) == ("active", 200)
    assert (firing.side, firing.count) == ("bid", 200)


def test_anchor_pending_trigger_survives_flat_position() -> None:
    triggers = make(LONG)
    view = anchored(triggers, LONG)

    closed = triggers.on_position(KEY, 0, 2)

    assert closed == []
    assert triggers.list(KEY) == [triggers.get(view.id)]


def test_anchor_pending_trigger_of_old_side_canceled_on_flip() -> None:
    triggers = make(SHORT)
    adds_to_short = anchored(triggers, SHORT, stop_loss_price=11_000, anchor_side="ask")
    opens_long = anchored(triggers, SHORT, anchor_side="bid", client_trigger_id="a2")

    (flipped,) = triggers.on_position(KEY, 300, 2)

    assert (flipped.id, flipped.status_reason) == (adds_to_short.id, "position_flipped")
    assert triggers.list(KEY) == [opens_long]


# Property: random mark paths against a naive checker


def _naive_first_fire(
    direction: int, kind: str, params: tuple[int, int | None], marks: list[int]
) -> tuple[int, str] | None:
    # Scaling by the direction turns a short into a long: a stop is hit when the scaled mark
    # is at or under the scaled stop, a take profit when it is at or over.
    first, second = params
    best: int | None = None
    for n, mark in enumerate(marks):
        if kind == "bracket":
            if direction * (mark - first) <= 0:
                return n, "stop_loss"
            if second is not None and direction * (mark - second) >= 0:
                return n, "take_profit"
        else:
            best = mark if best is None else direction * max(direction * best, direction * mark)
            if direction * (mark - (best - direction * first)) <= 0:
                return n, "stop_loss"
    return None


_trigger_specs = st.lists(
    st.tuples(
        st.sampled_from([1, -1]),
        st.sampled_from(["bracket", "trailing"]),
        st.integers(1, 60),
        st.one_of(st.none(), st.integers(1, 60)),
    ),
    min_size=1,
    max_size=12,
)


@given(specs=_trigger_specs, marks=st.lists(st.integers(1, 60), min_size=1, max_size=40))
def test_on_mark_random_paths_fire_at_first_crossing_once(
    specs: list[tuple[int, str, int, int | None]], marks: list[int]
) -> None:
    triggers = make()
    expected: dict[str, tuple[int, str]] = {}
    for n, (direction, kind, first, second) in enumerate(specs):
        key = (f"user-{n}", 0, "BTC")
        triggers.on_position(key, 100 * direction, 0)
        if kind == "bracket":
            view = set_cross(triggers,
                key, stop_loss_price=first, take_profit_price=second, position=100 * direction,
                now_ms=0,
            )[-1]  # fmt: skip
        else:
            view = set_cross(
                triggers,
                key,
                kind="trailing",
                trail_amount=first,
                position=100 * direction,
                now_ms=0,
            )[-1]
        hit = _naive_first_fire(direction, kind, (first, second), marks)
        if hit is not None:
            expected[view.id] = hit

    fired: dict[str, tuple[int, str]] = {}
    for n, mark in enumerate(marks):
        for firing in triggers.on_mark("BTC", mark, n):
            assert firing.trigger_id not in fired
            fired[firing.trigger_id] = (n, firing.leg)
            assert firing.count == 100

    assert fired == expected
