"""Tests of order-group bookkeeping (simulator/trading/order_groups.py)."""

from __future__ import annotations

import pytest

from simulator.core.errors import (
    InvalidParametersError,
    LimitExceededError,
    OrderGroupNotFoundError,
    OrderGroupTriggeredError,
)
from simulator.trading.order_groups import OrderGroups, contracts_limit_from_wire

ALICE = "user-alice"
BOB = "user-bob"
T0 = 1_781_395_200_000


def _groups(limit: int = 1_000, **kwargs: int) -> OrderGroups:
    """One group `g1` of Alice's primary subaccount with `limit` (1/100 contract)."""
    groups = OrderGroups(**kwargs)
    groups.create(ALICE, 0, limit, 0, "g1")
    return groups


# ---------------------------------------------------------------- create, get, list


def test_order_groups_create_returns_active_empty_group():
    group = OrderGroups().create(ALICE, 2, 1_000, 0, "g1")

    assert (group.id, group.owner, group.subaccount, group.exchange_index) == ("g1", ALICE, 2, 0)
    assert group.contracts_limit == 1_000
    assert not group.triggered
    assert group.is_auto_cancel_enabled
    assert group.orders == ()


def test_order_groups_get_unknown_id_raises_not_found():
    with pytest.raises(OrderGroupNotFoundError):
        _groups().get(ALICE, "nope")


def test_order_groups_other_owner_sees_not_found_everywhere():
    groups = _groups()

    with pytest.raises(OrderGroupNotFoundError):
        groups.get(BOB, "g1")
    with pytest.raises(OrderGroupNotFoundError):
        groups.check_can_place(BOB, 0, "g1")
    with pytest.raises(OrderGroupNotFoundError):
        groups.trigger(BOB, "g1")
    with pytest.raises(OrderGroupNotFoundError):
        groups.reset(BOB, "g1")
    with pytest.raises(OrderGroupNotFoundError):
        groups.delete(BOB, "g1")
    with pytest.raises(OrderGroupNotFoundError):
        groups.update_limit(BOB, "g1", 100, T0)
    assert groups.list(BOB) == []
    assert not groups.get(ALICE, "g1").triggered


def test_order_groups_other_subaccount_sees_not_found():
    groups = _groups()

    with pytest.raises(OrderGroupNotFoundError):
        groups.get(ALICE, "g1", subaccount=1)
    with pytest.raises(OrderGroupNotFoundError):
        groups.check_can_place(ALICE, 1, "g1")
    with pytest.raises(OrderGroupNotFoundError):
        groups.delete(ALICE, "g1", subaccount=1)
    assert groups.get(ALICE, "g1", subaccount=0).id == "g1"


def test_order_groups_list_returns_creation_order_filtered_by_subaccount():
    groups = OrderGroups()
    groups.create(ALICE, 0, 100, 0, "z")
    groups.create(ALICE, 1, 100, 0, "a")
    groups.create(BOB, 0, 100, 0, "m")
    groups.create(ALICE, 0, 100, 0, "b")
    groups.delete(ALICE, "z")
    groups.create(ALICE, 0, 100, 0, "z2")

    assert [g.id for g in groups.list(ALICE)] == ["a", "b", "z2"]
    assert [g.id for g in groups.list(ALICE, subaccount=0)] == ["b", "z2"]


def test_order_groups_duplicate_id_raises():
    groups = _groups()

    with pytest.raises(ValueError, match="already in use"):
        groups.create(BOB, 0, 100, 0, "g1")


@pytest.mark.parametrize("limit", [0, 99, 100_000_001])
def test_order_groups_create_limit_out_of_range_raises(limit):
    with pytest.raises(InvalidParametersError):
        OrderGroups().create(ALICE, 0, limit, 0, "g1")


def test_order_groups_per_user_cap_raises_limit_exceeded():
    groups = OrderGroups(max_groups_per_user=3)
    for index in range(3):
        groups.create(ALICE, index % 2, 100, 0, f"g{index}")

    with pytest.raises(LimitExceededError):
        groups.create(ALICE, 5, 100, 0, "g3")
    groups.create(BOB, 0, 100, 0, "b0")  # other users are unaffected
    groups.delete(ALICE, "g0")
    groups.create(ALICE, 0, 100, 0, "g3")  # room again after a delete
    assert groups.count(ALICE) == 3


def test_order_groups_default_cap_is_25000():
    groups = OrderGroups()
    for index in range(25_000):
        groups.create(ALICE, 0, 100, 0, f"g{index}")

    with pytest.raises(LimitExceededError):
        groups.create(ALICE, 0, 100, 0, "one-too-many")


# ---------------------------------------------------------------- fills and triggering


def test_order_groups_fill_reaching_limit_does_not_trigger():
    groups = _groups(limit=1_000)

    assert groups.record_fill("g1", 600, T0) is False
    assert groups.record_fill("g1", 400, T0 + 1_000) is False
    assert groups.window_total("g1", T0 + 1_000) == 1_000
    assert not groups.get(ALICE, "g1").triggered


def test_order_groups_fill_exceeding_limit_within_window_triggers():
    groups = _groups(limit=1_000)
    groups.record_fill("g1", 600, T0)

    assert groups.record_fill("g1", 401, T0 + 14_999) is True
    group = groups.get(ALICE, "g1")
    assert group.triggered
    assert not group.is_auto_cancel_enabled


def test_order_groups_fill_older_than_window_drops_out():
    groups = _groups(limit=1_000)
    groups.record_fill("g1", 600, T0)

    assert groups.record_fill("g1", 401, T0 + 15_000) is False
    assert groups.window_total("g1", T0 + 15_000) == 401
    assert groups.window_total("g1", T0 + 30_000) == 0


def test_order_groups_only_the_crossing_fill_reports_trigger():
    groups = _groups(limit=100)

    results = [groups.record_fill("g1", 100, T0 + i) for i in range(4)]

    assert results == [False, True, False, False]
    assert groups.window_total("g1", T0 + 3) == 400


def test_order_groups_fill_for_deleted_group_is_ignored():
    groups = _groups()
    groups.delete(ALICE, "g1")

    assert groups.record_fill("g1", 5_000, T0) is False


def test_order_groups_fill_time_going_backwards_raises():
    groups = _groups()
    groups.record_fill("g1", 100, T0)

    with pytest.raises(ValueError, match="backwards"):
        groups.record_fill("g1", 100, T0 - 1)


def test_order_groups_triggered_group_refuses_orders():
    groups = _groups(limit=100)
    groups.check_can_place(ALICE, 0, "g1")
    groups.record_fill("g1", 101, T0)

    with pytest.raises(OrderGroupTriggeredError):
        groups.check_can_place(ALICE, 0, "g1")


def test_order_groups_reset_clears_trigger_and_counter():
    groups = _groups(limit=1_000)
    groups.record_fill("g1", 1_001, T0)

    groups.reset(ALICE, "g1")

    groups.check_can_place(ALICE, 0, "g1")
    assert groups.window_total("g1", T0 + 1) == 0
    assert groups.record_fill("g1", 1_000, T0 + 2) is False  # the old 1,001 no longer counts
    assert groups.record_fill("g1", 1, T0 + 3) is True


def test_order_groups_manual_trigger_returns_members_and_refuses_orders():
    groups = _groups()
    groups.add_order("g1", "o1")
    groups.add_order("g1", "o2")

    assert groups.trigger(ALICE, "g1") == ["o1", "o2"]
    assert groups.get(ALICE, "g1").triggered
    with pytest.raises(OrderGroupTriggeredError):
        groups.check_can_place(ALICE, 0, "g1")
    assert groups.trigger(ALICE, "g1") == ["o1", "o2"]  # idempotent


# ---------------------------------------------------------------- members, delete, update


def test_order_groups_members_keep_insertion_order_and_drop_terminal_orders():
    groups = _groups()
    for order_id in ("o3", "o1", "o2"):
        groups.add_order("g1", order_id)

    groups.remove_order("g1", "o1")
    groups.remove_order("g1", "o1")  # idempotent
    groups.remove_order("gone", "o2")  # unknown group ignored

    assert groups.member_orders("g1") == ["o3", "o2"]
    assert groups.get(ALICE, "g1").orders == ("o3", "o2")


def test_order_groups_add_order_unknown_group_raises_not_found():
    with pytest.raises(OrderGroupNotFoundError):
        OrderGroups().add_order("nope", "o1")


def test_order_groups_delete_returns_members_and_removes_group():
    groups = _groups()
    groups.add_order("g1", "o1")
    groups.add_order("g1", "o2")

    assert groups.delete(ALICE, "g1") == ["o1", "o2"]
    assert "g1" not in groups
    assert groups.count(ALICE) == 0
    with pytest.raises(OrderGroupNotFoundError):
        groups.get(ALICE, "g1")
    with pytest.raises(OrderGroupNotFoundError):
        groups.check_can_place(ALICE, 0, "g1")


def test_order_groups_update_limit_below_window_total_trips():
    groups = _groups(limit=1_000)
    groups.record_fill("g1", 500, T0)

    assert groups.update_limit(ALICE, "g1", 400, T0 + 1_000) is True
    group = groups.get(ALICE, "g1")
    assert group.triggered
    assert group.contracts_limit == 400


def test_order_groups_update_limit_equal_to_window_total_does_not_trip():
    groups = _groups(limit=1_000)
    groups.record_fill("g1", 500, T0)

    assert groups.update_limit(ALICE, "g1", 500, T0 + 1_000) is False
    assert groups.record_fill("g1", 1, T0 + 2_000) is True


def test_order_groups_update_limit_after_window_expiry_does_not_trip():
    groups = _groups(limit=1_000)
    groups.record_fill("g1", 500, T0)

    assert groups.update_limit(ALICE, "g1", 100, T0 + 15_000) is False
    assert not groups.get(ALICE, "g1").triggered


def test_order_groups_update_limit_on_triggered_group_stays_triggered():
    groups = _groups(limit=100)
    groups.record_fill("g1", 200, T0)

    assert groups.update_limit(ALICE, "g1", 100_000, T0 + 1) is False
    assert groups.get(ALICE, "g1").triggered


def test_order_groups_update_limit_out_of_range_raises():
    with pytest.raises(InvalidParametersError):
        _groups().update_limit(ALICE, "g1", 0, T0)


# ---------------------------------------------------------------- wire limit


@pytest.mark.parametrize(
    ("contracts_limit", "contracts_limit_fp", "expected"),
    [(10, None, 1_000), (None, "10", 1_000), (None, "10.00", 1_000), (7, "7.0", 700)],
)
def test_contracts_limit_from_wire_valid_returns_centi_contracts(
    contracts_limit, contracts_limit_fp, expected
):
    assert contracts_limit_from_wire(contracts_limit, contracts_limit_fp) == expected


@pytest.mark.parametrize(
    ("contracts_limit", "contracts_limit_fp"),
    [
        (None, None),
        (10, "11"),
        (None, "1.5"),
        (0, None),
        (1_000_001, None),
        (None, "abc"),
        (None, "1.001"),
    ],
)
def test_contracts_limit_from_wire_invalid_raises(contracts_limit, contracts_limit_fp):
    with pytest.raises(InvalidParametersError):
        contracts_limit_from_wire(contracts_limit, contracts_limit_fp)
