"""`NAME=VALUE` items applied to a frozen settings dataclass: what `--ws` and `--fix` take.

Each value is read as the kind of the field's current value: a bool (`true`/`false`, `1`/`0`,
`yes`/`no`, `on`/`off`), an int (at least the field's minimum, 1 unless given), a positive
float, or a string (one of the field's choices, when it has some). Names may use `-` for `_`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

__all__ = ["apply_items"]

T = TypeVar("T")


def apply_items(
    current: T,
    items: Iterable[str],
    *,
    choices: Mapping[str, tuple[str, ...]] | None = None,
    minimums: Mapping[str, int] | None = None,
) -> T:
    """`current` (a dataclass instance) with each `NAME=VALUE` of `items` applied.

    Raises:
        ValueError: An unknown name or a value of the wrong kind, naming the item.
    """
    names = [f.name for f in dataclasses.fields(current)]  # type: ignore[arg-type]
    changes: dict[str, object] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in names:
            raise ValueError(f"{item!r} is not NAME=VALUE with NAME one of {', '.join(names)}")
        changes[name] = _value(
            name,
            getattr(current, name),
            text.strip(),
            (choices or {}).get(name, ()),
            (minimums or {}).get(name, 1),
        )
    return dataclasses.replace(current, **changes)  # type: ignore[type-var]


def _value(name: str, current: Any, text: str, choices: tuple[str, ...], minimum: int) -> object:
    if isinstance(current, bool):
        if text.lower() in ("true", "1", "yes", "on"):
            return True
        if text.lower() in ("false", "0", "no", "off"):
            return False
        raise ValueError(f"{name} must be true or false, was {text!r}")
    if isinstance(current, int):
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{name} must be an integer, was {text!r}") from None
        if value < minimum:
            raise ValueError(f"{name} must be at least {minimum}, was {value}")
        return value
    if isinstance(current, float):
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{name} must be a number, was {text!r}") from None
        if not number > 0:
            raise ValueError(f"{name} must be positive, was {text!r}")
        return number
    if choices and text not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, was {text!r}")
    return text
