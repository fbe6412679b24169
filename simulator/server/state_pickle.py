"""The exchange's state as bytes: pickled, and loaded back only through a restricted unpickler.

A snapshot (`simulator.server.snapshots`, `simulator.server.journal`) is the whole exchange
pickled: books, accounts, timers, bots, noise takers, pricing, retention and the seeded random
generators. What is not exchange state stays out (each class says so in `__getstate__`): the
event bus and its subscribers, the command log's entries, sink and compactor, the clock (a
restored exchange runs on a `ManualClock` at the snapshot's instant until the restorer swaps
it) and caches that rebuild themselves (parsed public keys).

Loading (`loads`) never trusts the bytes: the unpickler resolves only

- classes and functions of this project's packages (`simulator`, `matching`), except the
  modules that reach files, sockets or processes (`_REFUSED_MODULES`);
- an explicit allowlist of standard containers and value types (`ALLOWED`): `functools.partial`,
  `collections.deque`/`OrderedDict`/`defaultdict`, `datetime` values, `decimal.Decimal`,
  `fractions.Fraction`, `random.Random` and the `sortedcontainers` containers.

Anything else (`os.system`, `builtins.eval`, `builtins.getattr`, any other class) is refused
with `RefusedClassError` naming it, before it is called. Bound methods (timer callbacks) are
pickled as `(bound_method, (instance, name))` instead of the standard `getattr` call, and
`bound_method` only binds a plain function that a project class defines under a non-dunder
name.

The event journal packs its retained events into one compressed msgpack blob
(`simulator.core.events.Journal.__getstate__`; inflated to at most 1 GiB on load): they are
most of a snapshot's objects, and pickling each took most of its time and memory.

Limits: at most `MAX_BYTES` bytes are read. Nesting: the unpickler builds nested objects
without recursion; a structure nested deeper than the interpreter's recursion limit fails the
state-hash check that every load is followed by, and that failure is reported as too deep.
"""

from __future__ import annotations

import copyreg
import io
import pickle
import types
from typing import Any

__all__ = [
    "ALLOWED",
    "MAX_BYTES",
    "PROJECT_PACKAGES",
    "RefusedClassError",
    "bound_method",
    "dumps",
    "loads",
]

MAX_BYTES = 512 * 1024 * 1024
"""The largest snapshot read (512 MiB); a longer one is refused unread."""

PROTOCOL = 5

PROJECT_PACKAGES = ("simulator", "matching")

# project modules a snapshot never references and that reach the outside world
_REFUSED_MODULES = frozenset(
    {
        "simulator.server.cli",
        "simulator.server.clock_driver",
        "simulator.server.journal",
        "simulator.server.listeners",
        "simulator.server.pytest_plugin",
        "simulator.server.runtime",
        "simulator.server.serve",
        "simulator.__main__",
    }
)

ALLOWED: frozenset[tuple[str, str]] = frozenset(
    {
        ("builtins", "bytearray"),
        ("builtins", "complex"),
        ("builtins", "frozenset"),
        ("builtins", "set"),
        ("builtins", "slice"),
        ("collections", "OrderedDict"),
        ("collections", "defaultdict"),
        ("collections", "deque"),
        ("datetime", "date"),
        ("datetime", "datetime"),
        ("datetime", "time"),
        ("datetime", "timedelta"),
        ("datetime", "timezone"),
        ("decimal", "Decimal"),
        ("fractions", "Fraction"),
        ("functools", "partial"),
        ("random", "Random"),
        ("sortedcontainers.sorteddict", "SortedDict"),
        ("sortedcontainers.sortedlist", "SortedKeyList"),
        ("sortedcontainers.sortedlist", "SortedList"),
        ("sortedcontainers.sortedset", "SortedSet"),
    }
)
"""(module, name) pairs outside the project that a snapshot may reference."""


class RefusedClassError(pickle.UnpicklingError):
    """A snapshot referenced a class or function outside the allowlist (nothing was called)."""


def _ours(module: str) -> bool:
    root = module.partition(".")[0]
    return root in PROJECT_PACKAGES and module not in _REFUSED_MODULES


def bound_method(instance: object, name: str) -> types.MethodType:
    """`instance.name` for a plain function a project class defines (a pickled timer callback).

    Raises:
        RefusedClassError: The instance is not of a project class, the name is a dunder, or
            what the class defines under it is not a project function.
    """
    cls = type(instance)
    if not _ours(cls.__module__) or name.startswith("__"):
        raise RefusedClassError(f"refused to bind {cls.__module__}.{cls.__qualname__}.{name}")
    for klass in cls.__mro__:
        if name in vars(klass):
            function = vars(klass)[name]
            break
    else:
        function = None
    if not isinstance(function, types.FunctionType) or not _ours(function.__module__):
        raise RefusedClassError(f"refused to bind {cls.__module__}.{cls.__qualname__}.{name}")
    return types.MethodType(function, instance)


def _reduce_method(method: types.MethodType) -> tuple[Any, tuple[object, str]]:
    return bound_method, (method.__self__, method.__func__.__name__)


_DISPATCH = types.MappingProxyType({**copyreg.dispatch_table, types.MethodType: _reduce_method})


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED or (_ours(module) and "." not in name):
            return super().find_class(module, name)
        raise RefusedClassError(
            f"the snapshot references {module}.{name}, which is not allowed in a snapshot"
        )


def dumps(exchange: object) -> bytes:
    """The pickled state of an exchange (see the module docstring for what is left out)."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=PROTOCOL)
    pickler.dispatch_table = _DISPATCH
    pickler.dump(exchange)
    return buffer.getvalue()


def loads(data: bytes) -> Any:
    """Unpickle a snapshot through the restricted unpickler.

    Raises:
        RefusedClassError: It references something outside the allowlist.
        pickle.UnpicklingError: It is longer than `MAX_BYTES` or not a valid pickle.
    """
    if len(data) > MAX_BYTES:
        raise pickle.UnpicklingError(f"the snapshot is longer than {MAX_BYTES} bytes")
    try:
        return _Unpickler(io.BytesIO(data)).load()
    except RefusedClassError:
        raise
    except RecursionError:
        raise pickle.UnpicklingError("the snapshot nests too deep") from None
    except Exception as exc:  # crafted bytes can make any constructor or __setstate__ fail
        raise pickle.UnpicklingError(f"not a valid snapshot: {type(exc).__name__}: {exc}") from None
