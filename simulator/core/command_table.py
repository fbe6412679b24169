"""Every command's name, and where on the exchange facade it is called: part of the journal format.

A journal or snapshot names each command it holds (`simulator.core.command_log`). These names are a
file format, so they never change with the code: `NAMES` maps each one to the attribute path
of the method on the `Exchange` facade that runs it today, and `ALIASES` maps names that
earlier versions wrote to the current ones. Moving a method means editing its path here, never
its name. `tests/simulator/test_command_table.py` checks that the table and the `@command`
methods agree.

Must not import the exchange (it resolves paths on the object it is given).
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from simulator.core.commands import CommandInfo, command_info

__all__ = ["ALIASES", "NAMES", "canonical", "decode_args", "resolve"]

NAMES: Mapping[str, str] = {
    # time
    "advance": "advance",
    "run_due": "run_due",
    # accounts
    "create_user": "create_user",
    "deposit": "deposit",
    "create_subaccount": "create_subaccount",
    "transfer": "transfer",
    "instance_transfer": "instance_transfer",
    "deposit_event_contract": "deposit_event_contract",
    # orders
    "place_order": "place_order",
    "amend_order": "amend_order",
    "decrease_order": "decrease_order",
    "cancel_order": "cancel_order",
    "cancel_all": "cancel_all",
    # order groups
    "groups.create": "groups.create",
    "groups.trigger": "groups.trigger",
    "groups.reset": "groups.reset",
    "groups.update_limit": "groups.update_limit",
    "groups.delete": "groups.delete",
    # exit triggers
    "exit_triggers.set_cross": "exit_triggers.set_cross",
    "exit_triggers.set_isolated": "exit_triggers.set_isolated",
    "exit_triggers.update": "exit_triggers.update",
    "exit_triggers.delete": "exit_triggers.delete",
    "exit_triggers.delete_all": "exit_triggers.delete_all",
    # FCM desk
    "fcm.create_subtrader": "fcm.create_subtrader",
    "fcm.set_im_cap": "fcm.set_im_cap",
    "fcm.delete_im_cap": "fcm.delete_im_cap",
    "fcm.set_admin_notional_limit": "fcm.set_admin_notional_limit",
    "fcm.set_member_notional_limit": "fcm.set_member_notional_limit",
    "fcm.clear_member_notional_limit": "fcm.clear_member_notional_limit",
    # corporate actions
    "corporate_actions.schedule": "corporate_actions.schedule",
    "corporate_actions.cancel": "corporate_actions.cancel",
    # control plane
    "set_reference_price": "set_reference_price",
    "set_market_status": "set_market_status",
    "set_trading_active": "set_trading_active",
    "set_exchange_active": "set_exchange_active",
    "rename_market": "rename_market",
}
"""Command name -> attribute path of its method on the exchange facade."""

ALIASES: Mapping[str, str] = {}
"""Names written by earlier versions -> the current name (none renamed since 0.1)."""


def canonical(name: str) -> str:
    """The current name of a command named `name` in a journal or snapshot.

    Raises:
        ValueError: No command has that name.
    """
    found = ALIASES.get(name, name)
    if found not in NAMES:
        raise ValueError(f"unknown command {name!r}")
    return found


def resolve(exchange: object, name: str) -> Callable[..., Any]:
    """The bound method of `exchange` that runs command `name` (or one of its aliases).

    Raises:
        ValueError: No command has that name.
    """
    current = canonical(name)
    target: Any = exchange
    for attribute in NAMES[current].split("."):
        target = getattr(target, attribute)
    info = command_info(target)
    if info is None or info.name != current:
        raise ValueError(f"{NAMES[current]} is not the {current!r} command")
    method: Callable[..., Any] = target
    return method


def decode_args(method: Callable[..., Any], args: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for a command `method` decoded from builtins to their annotated types.

    Parameters left out take their defaults.

    Raises:
        ValueError: Unknown parameter or a value of the wrong type.
    """
    info = command_info(method)
    if info is None:
        raise ValueError(f"{method!r} is not a command")
    hints = _hints(info)
    decoded = {}
    for key, value in args.items():
        if key not in hints:
            raise ValueError(f"command {info.name!r} has no parameter {key!r}")
        try:
            decoded[key] = msgspec.convert(value, hints[key])
        except msgspec.ValidationError as exc:
            raise ValueError(f"command {info.name!r}, parameter {key!r}: {exc}") from None
    return decoded


@functools.cache
def _function_hints(fn: Callable[..., Any], params: tuple[str, ...]) -> dict[str, Any]:
    # resolve only the parameters' annotations (return types may name TYPE_CHECKING imports)
    stub = types.FunctionType((lambda: None).__code__, fn.__globals__)
    stub.__annotations__ = {key: fn.__annotations__[key] for key in params}
    return typing.get_type_hints(stub)


def _hints(info: CommandInfo) -> dict[str, Any]:
    return _function_hints(info.function, info.params)
