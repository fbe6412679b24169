"""The command boundary: what every outermost command of the exchange does, in one place.

A method marked `@command("<name>")` is a command. Called from outside the exchange (a
transport, the control plane, a test, a replay), it is the unit of change, and the boundary
does, in order:

1. hold the clock still at the command's start instant (wall and accelerated clocks; see
   `simulator.core.command_log.HeldClock`);
2. fire the timers already due, each at its own instant, each followed by the exchange's
   follow-ups (`advance` and `run_due` are themselves time commands and skip this step);
3. run the command;
4. run the follow-ups until the exchange is quiet (book resampling, order-group cancels,
   margin checks, exit-trigger orders);
5. record it in the command log (`simulator.core.command_log`);
6. build its result, if the command declared a `finish` (a pure function of what the command
   returned and of the events it produced, so that every transport renders the same facts);
7. deliver the events it produced, in journal order, to the event bus (`simulator.core.bus`).

Called from inside another command (from follow-ups or a timer callback), a command is part of
the outer one: not recorded, its events delivered with the outer batch. It still ends with the
follow-ups it caused, and the order and account commands marked `fires_due_nested` first fire
the timers due at that instant, as they did in 0.1 (the house market maker re-quoting from a
timer fires the marks and tickers due at the same instant between its orders; journals and
recorded sessions depend on that order, `tests/simulator/server/test_journal_compat.py`).

A `RejectError` means the command changed nothing; the timers fired in step 2 did change
state, so they are recorded as a `run_due` and their events are delivered.

Names: a command's name is part of the journal format. The names, and what each is called on,
are listed once in `simulator.core.command_table`; the decorator only marks the method.

Must not import the exchange (the boundary reaches it through the `Host` protocol).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar, overload

from simulator.core.bus import EventBus
from simulator.core.clock import Clock
from simulator.core.command_log import CommandLog, HeldClock
from simulator.core.errors import RejectError
from simulator.core.events import Event, Journal

__all__ = ["CommandBoundary", "CommandInfo", "Finish", "Host", "command", "command_info"]

F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
S = TypeVar("S")
R = TypeVar("R")
T = TypeVar("T")

Finish = Callable[[Any, list[Event]], Any]
"""Builds a command's result from what it returned and the events it produced, in order."""

_TIME_COMMANDS = frozenset({"advance", "run_due"})


@dataclass(frozen=True, slots=True)
class CommandInfo:
    """What `@command` knows of a method.

    Attributes:
        name: The command's name in the log.
        params: Its parameter names after `self`, in signature order.
        required: How many of them come before `tail`.
        tail: The defaults of the parameters after those, which all have one.
        defaults: Default values of the parameters that have one.
        idle_ok: Recorded only if it fired a timer (`run_due`).
        fires_due: Fires due timers before it runs (every command but `advance` and `run_due`).
        fires_due_nested: Fires due timers before it runs even inside another command.
        finish: Builds the result from the command's return value and events, or None.
        function: The undecorated method.
    """

    name: str
    params: tuple[str, ...]
    required: int
    tail: tuple[Any, ...]
    defaults: dict[str, Any]
    idle_ok: bool
    fires_due: bool
    fires_due_nested: bool
    finish: Finish | None
    function: Callable[..., Any]


class Host(Protocol):
    """What the boundary needs of the exchange it guards."""

    bus: EventBus
    timers_fired: int

    @property
    def clock(self) -> Clock: ...

    @property
    def journal(self) -> Journal: ...

    def fire_due(self) -> None: ...

    def settle(self) -> None: ...


class CommandBoundary:
    """The per-exchange state of the boundary: the log and whether a command is running.

    Attributes:
        host: The exchange.
        log: Its command log.
        depth: Nonzero while a command runs (nested commands are part of it).
    """

    __slots__ = ("depth", "host", "log")

    def __init__(self, host: Host, log: CommandLog) -> None:
        self.host = host
        self.log = log
        self.depth = 0

    def run(
        self,
        info: CommandInfo,
        target: object,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """Run one outermost command (see the module docstring for the steps)."""
        host = self.host
        log = self.log
        journal = host.journal
        # the log's values; given positionally, the arguments and the defaults that follow
        given = len(args)
        if not kwargs and info.required <= given <= info.required + len(info.tail):
            values = args + info.tail[given - info.required :]
        else:
            values = _values(info, args, kwargs)
        self.depth = 1
        clock = host.clock
        held = clock if type(clock) is HeldClock and clock.held is None else None
        if held is not None:
            ts = held.held = held.source.now_ms()
        else:
            ts = clock.now_ms()
        fired = host.timers_fired
        journal.start_batch(len(host.bus) > 0)
        try:
            if info.fires_due:
                host.fire_due()
            mark = journal.last_seq  # what the command itself produced comes after
            result = info.function(target, *args, **kwargs)
            host.settle()
        except RejectError:
            if host.timers_fired != fired:
                log.record(ts, "run_due", (), (), False)
            self._deliver(journal.end_batch())
            raise
        except Exception:
            log.record(ts, info.name, info.params, values, True)
            self._deliver(journal.end_batch())
            raise
        finally:
            self.depth = 0
            if held is not None:
                held.held = None
        if not info.idle_ok or host.timers_fired != fired:
            log.record(ts, info.name, info.params, values, False)
        batch = journal.end_batch()
        if info.finish is not None:
            result = info.finish(result, journal.events_after(mark))
        if batch:
            host.bus.publish(batch)
        if len(log.entries) >= log.compact_at:
            log.compact()  # between commands: this one has completed and delivered its events
        return result

    def nested(
        self,
        info: CommandInfo,
        target: object,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """Run a command called from inside another one (a bot in a timer, a follow-up).

        It is part of the outer command (not recorded, its events delivered with the outer
        batch), but it still ends with the follow-ups it caused, so that what it returns and
        what runs next see a quiet exchange (a no-op inside a running follow-up pass).
        """
        host = self.host
        if info.fires_due_nested:
            host.fire_due()
        if info.finish is None:
            result = info.function(target, *args, **kwargs)
            host.settle()
            return result
        mark = host.journal.last_seq
        result = info.function(target, *args, **kwargs)
        host.settle()
        return info.finish(result, host.journal.events_after(mark))

    def _deliver(self, batch: list[tuple[int, Event]]) -> None:
        if batch:
            self.host.bus.publish(batch)


def _values(info: CommandInfo, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    # the value of every parameter in signature order, defaults included (the log's format)
    params = info.params
    values = list(args)
    defaults = info.defaults
    used = 0
    for name in params[len(args) :]:
        if name in kwargs:
            values.append(kwargs[name])
            used += 1
        elif name in defaults:
            values.append(defaults[name])
        else:
            raise TypeError(f"command {info.name!r} is missing argument {name!r}")
    if used != len(kwargs):
        unknown = sorted(set(kwargs) - set(params[len(args) :]))
        raise TypeError(f"command {info.name!r} got unexpected arguments {unknown}")
    return tuple(values)


@overload
def command(
    name: str, *, idle_ok: bool = False, fires_due_nested: bool = False
) -> Callable[[F], F]: ...


@overload
def command(
    name: str,
    *,
    fires_due_nested: bool = False,
    finish: Callable[[R, list[Event]], T],
) -> Callable[[Callable[Concatenate[S, P], R]], Callable[Concatenate[S, P], T]]: ...


def command(
    name: str,
    *,
    idle_ok: bool = False,
    fires_due_nested: bool = False,
    finish: Finish | None = None,
) -> Any:
    """Mark a method as a command (see the module docstring).

    The object the method is called on must have a `_boundary` (`CommandBoundary`) attribute.
    Parameters must have annotations that `msgspec.convert` understands (builtins, enums,
    literals, dataclasses, optionals), because replay decodes the journal's JSON back into
    them. Read-only methods are never marked.

    Args:
        name: The command's name in the log, as listed in `simulator.core.command_table`.
        idle_ok: Record it only if it fired at least one timer (`run_due`).
        fires_due_nested: Fire the due timers first even when called inside another command
            (see the module docstring; the commands that did so in 0.1).
        finish: Build the command's result from its return value and its events.
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        params = list(inspect.signature(fn).parameters.values())[1:]
        for param in params:
            if param.name.startswith("_") or param.kind not in (
                param.POSITIONAL_OR_KEYWORD,
                param.KEYWORD_ONLY,
            ):
                raise TypeError(f"command {name!r}: unsupported parameter {param}")
        required = len(params)
        while required and params[required - 1].default is not params[required - 1].empty:
            required -= 1
        info = CommandInfo(
            name=name,
            params=tuple(param.name for param in params),
            required=required,
            tail=tuple(param.default for param in params[required:]),
            defaults={p.name: p.default for p in params if p.default is not p.empty},
            idle_ok=idle_ok,
            fires_due=name not in _TIME_COMMANDS,
            fires_due_nested=fires_due_nested,
            finish=finish,
            function=fn,
        )

        @functools.wraps(fn)
        def wrapper(target: Any, *args: Any, **kwargs: Any) -> Any:
            boundary: CommandBoundary = target._boundary
            if boundary.depth:
                return boundary.nested(info, target, args, kwargs)
            return boundary.run(info, target, args, kwargs)

        wrapper.__command__ = info  # type: ignore[attr-defined]
        return wrapper

    return decorate


def command_info(method: Callable[..., Any]) -> CommandInfo | None:
    """The `CommandInfo` of a command method (bound or not), or None for any other callable."""
    function = getattr(method, "__func__", method)
    found = getattr(function, "__command__", None)
    return found if isinstance(found, CommandInfo) else None
