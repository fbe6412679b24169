"""The command table: journal names are a file format, listed once and resolved on the facade."""

from __future__ import annotations

import inspect

import pytest

from simulator.core import command_table
from simulator.core.command_table import ALIASES, NAMES, canonical, decode_args, resolve
from simulator.core.commands import command_info
from simulator.exchange import Exchange
from tests.simulator.factories import make_exchange


def _command_methods(exchange: Exchange) -> dict[str, str]:
    # every @command method reachable from the facade: name -> attribute path
    found: dict[str, str] = {}
    targets: list[tuple[str, object]] = [("", exchange)]
    targets += [(f"{name}.", value) for name, value in vars(exchange).items()]
    for prefix, target in targets:
        for attribute, member in inspect.getmembers(type(target)):
            info = command_info(member)
            if info is not None:
                found[info.name] = prefix + attribute
    return found


def test_the_table_lists_exactly_the_command_methods_of_the_facade():
    exchange = make_exchange()
    assert _command_methods(exchange) == dict(NAMES)


def test_every_name_resolves_to_its_command_with_decodable_parameter_types():
    exchange = make_exchange()
    for name in NAMES:
        method = resolve(exchange, name)
        info = command_info(method)
        assert info is not None and info.name == name
        assert decode_args(method, {}) == {}
        hints = command_table._hints(info)
        assert set(hints) == set(info.params)


def test_aliases_point_at_current_names_and_unknown_names_are_refused():
    for old, new in ALIASES.items():
        assert old not in NAMES and new in NAMES
    with pytest.raises(ValueError, match="unknown command"):
        canonical("no_such_command")


def test_an_alias_resolves_to_the_current_command(monkeypatch):
    monkeypatch.setattr(command_table, "ALIASES", {"old.place": "place_order"})
    exchange = make_exchange()
    assert canonical("old.place") == "place_order"
    assert command_info(resolve(exchange, "old.place")).name == "place_order"  # type: ignore[union-attr]
