"""`OrderRecord.snapshot()` carries every field of the record that a transport renders."""

from __future__ import annotations

import msgspec

from matching import Reason, SelfTradePrevention, Side, TimeInForce
from simulator.core.events import OrderSnapshot
from simulator.model.orders import OrderRecord

# snapshot field -> record attribute, where the names differ
RENAMED = {"remaining_count": "remaining", "self_trade_prevention_type": "self_trade_prevention"}
# record attributes the exchange keeps for itself
INTERNAL = {"trigger_id", "fresh"}


def _record() -> OrderRecord:
    # a distinct value in every field, so a field read from the wrong attribute shows
    return OrderRecord(
        order_id="o-1",
        user_id="u-1",
        subaccount=3,
        ticker="KXBTCPERP",
        client_order_id="c-1",
        side=Side.ASK,
        price=62_500,
        count=700,
        time_in_force=TimeInForce.IMMEDIATE_OR_CANCEL,
        post_only=True,
        reduce_only=True,
        self_trade_prevention=SelfTradePrevention.MAKER,
        expiration_ms=11,
        created_ms=12,
        cancel_order_on_pause=True,
        order_group_id="g-1",
        order_source="system",
        order_reason="liquidation",
        fill_count=200,
        remaining=500,
        last_update_ms=13,
        last_update_reason=Reason.DECREASE,
        fill_value=14,
        fees=15,
        trigger_id="t-1",
        fresh=False,
    )


def test_every_rendered_field_of_the_record_is_in_its_snapshot_and_nothing_else():
    record_fields = set(OrderRecord.__struct_fields__) - INTERNAL
    snapshot_fields = set(OrderSnapshot.__struct_fields__)
    assert {RENAMED.get(name, name) for name in snapshot_fields} == record_fields


def test_the_snapshot_reads_each_field_from_its_own_attribute():
    record = _record()
    snapshot = record.snapshot()
    for name in OrderSnapshot.__struct_fields__:
        assert getattr(snapshot, name) == getattr(record, RENAMED.get(name, name)), name
    assert msgspec.to_builtins(snapshot)["remaining_count"] == 500
