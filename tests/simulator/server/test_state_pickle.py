"""The restricted unpickler: snapshots load only project classes and a small allowlist."""

from __future__ import annotations

import os
import pickle
import subprocess
import zlib

import pytest

from simulator.core import events
from simulator.core.clock import ManualClock, Timers
from simulator.core.events import ExchangeChanged, Journal
from simulator.server import state_pickle
from simulator.server.state_pickle import RefusedClassError


class _Calls:
    """Pickles as a call of `target(*args)` (how a crafted file runs code)."""

    def __init__(self, target: object, *args: object) -> None:
        self.target = target
        self.args = args

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return self.target, self.args


@pytest.mark.parametrize(
    ("target", "args", "named"),
    [
        (os.system, ("true",), "system"),
        (eval, ("1 + 1",), "builtins.eval"),
        (getattr, (ManualClock(0), "set"), "builtins.getattr"),
        (subprocess.Popen, (["true"],), "subprocess.Popen"),
    ],
)
def test_a_pickle_that_calls_outside_the_allowlist_is_refused_before_the_call(
    target: object, args: tuple[object, ...], named: str
) -> None:
    crafted = pickle.dumps(_Calls(target, *args), protocol=state_pickle.PROTOCOL)

    with pytest.raises(RefusedClassError, match=named):
        state_pickle.loads(crafted)


def test_a_class_of_the_test_suite_is_outside_the_allowlist() -> None:
    crafted = pickle.dumps(_Calls(ManualClock, 5), protocol=state_pickle.PROTOCOL)
    crafted_other = pickle.dumps(_Calls(_Calls, 1), protocol=state_pickle.PROTOCOL)

    assert state_pickle.loads(crafted).now_ms() == 5  # a project class is allowed
    with pytest.raises(RefusedClassError, match="_Calls"):
        state_pickle.loads(crafted_other)


def test_project_modules_that_reach_files_or_processes_are_refused() -> None:
    from simulator.server import journal

    crafted = pickle.dumps(_Calls(journal.JournalFile, "x"), protocol=state_pickle.PROTOCOL)

    with pytest.raises(RefusedClassError, match=r"simulator\.server\.journal\.JournalFile"):
        state_pickle.loads(crafted)


def test_bound_methods_round_trip_and_bind_only_project_functions() -> None:
    timers = Timers()
    clock = ManualClock(7)
    timers.arm("k", 10, clock.set)

    restored = state_pickle.loads(state_pickle.dumps(timers))
    _, callback = restored.pop_due(10)
    callback(10)

    assert callback.__self__.now_ms() == 10
    with pytest.raises(RefusedClassError):
        state_pickle.bound_method(clock, "__init__")
    with pytest.raises(RefusedClassError):
        state_pickle.bound_method(clock, "__class__")
    with pytest.raises(RefusedClassError):
        state_pickle.bound_method(object(), "__reduce__")


def test_a_crafted_bound_method_is_refused() -> None:
    crafted = pickle.dumps(
        _Calls(state_pickle.bound_method, ManualClock(1), "__setattr__"),
        protocol=state_pickle.PROTOCOL,
    )

    with pytest.raises(RefusedClassError, match="__setattr__"):
        state_pickle.loads(crafted)


def test_garbage_and_oversized_input_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(pickle.UnpicklingError, match="not a valid snapshot"):
        state_pickle.loads(b"\x80\x05garbage")
    with pytest.raises(pickle.UnpicklingError, match="not a valid snapshot"):
        state_pickle.loads(pickle.dumps([1, 2, 3])[:-3])
    monkeypatch.setattr(state_pickle, "MAX_BYTES", 10)
    with pytest.raises(pickle.UnpicklingError, match="longer than 10 bytes"):
        state_pickle.loads(pickle.dumps(list(range(100))))


class _JournalState:
    """Pickles as a `Journal` built from the given state (its `__setstate__` runs)."""

    def __init__(self, state: dict[str, object]) -> None:
        self.state = state

    def __reduce__(self) -> tuple[object, tuple[()], dict[str, object]]:
        return Journal, (), self.state


def test_the_event_journal_round_trips_and_refuses_a_damaged_or_oversized_blob(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    journal = Journal(retain=3)
    for n in range(5):
        journal.append(ExchangeChanged(n, True, True, "manual"))
    restored = state_pickle.loads(state_pickle.dumps(journal))
    state = {"first_seq": 1, "retain": 3}
    damaged = _JournalState({**state, "events": b"not zlib"})
    big = _JournalState({**state, "events": zlib.compress(b"\x90" + b"\0" * 5_000)})

    assert restored.since(0) == journal.since(0) and restored.last_seq == journal.last_seq
    with pytest.raises(pickle.UnpicklingError, match="not a valid snapshot"):
        state_pickle.loads(pickle.dumps(damaged, protocol=state_pickle.PROTOCOL))
    monkeypatch.setattr(events, "_MAX_PACKED_EVENTS", 1_000)
    with pytest.raises(pickle.UnpicklingError, match="too large"):
        state_pickle.loads(pickle.dumps(big, protocol=state_pickle.PROTOCOL))
