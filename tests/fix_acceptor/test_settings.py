"""`parse_fix_settings`: the flat `NAME=VALUE` form of `perps-sim serve --fix`."""

from __future__ import annotations

import pytest

from fix_acceptor.session import SessionSettings
from fix_acceptor.settings import FixSettings, parse_fix_settings


def test_names_reach_the_acceptor_or_its_session_layer():
    settings = parse_fix_settings(
        [
            "max_md_symbols=20",
            "pace-bytes=0",
            "sending_time_tolerance_ms=120000",
            "heartbeat_grace=2.5",
            "rt_store_messages=0",
            "sender_comp_id=Kalshi",
        ]
    )
    assert settings == FixSettings(
        session=SessionSettings(
            sending_time_tolerance_ms=120_000,
            heartbeat_grace=2.5,
            rt_store_messages=0,
            sender_comp_id="Kalshi",
        ),
        max_md_symbols=20,
        pace_bytes=0,
    )
    assert parse_fix_settings([]) == FixSettings()
    base = FixSettings(max_sessions_per_key=3)
    assert parse_fix_settings(["max_md_symbols=1"], base).max_sessions_per_key == 3


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("session=x", "'session=x' is not NAME=VALUE with NAME one of max_sessions_per_key"),
        ("logon_timeout_ms", "is not NAME=VALUE"),
        ("max_sessions_per_key=0", "max_sessions_per_key must be at least 1, was 0"),
        ("pace_bytes=1k", "pace_bytes must be an integer, was '1k'"),
        ("heartbeat_grace=0", "heartbeat_grace must be positive"),
        ("heartbeat_grace=0.5", "need heartbeat_grace >= 1"),
        ("min_heartbeat_s=301", "need 1 <= min_heartbeat_s <= max_heartbeat_s"),
    ],
)
def test_bad_items_name_what_is_wrong(item: str, message: str):
    with pytest.raises(ValueError, match=message):
        parse_fix_settings([item])
    # the unknown-name message lists the session layer's names too
    with pytest.raises(ValueError, match="sending_time_tolerance_ms"):
        parse_fix_settings(["nope=1"])
