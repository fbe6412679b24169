"""The event bus: each command's events, delivered after the command, to every subscriber.

One bus belongs to the runtime and outlives the exchanges it replaces (`reset`, state import):
a subscriber stays subscribed and is told of each replacement by a `Reset` notice, after which
the new exchange's events follow (their journal seq starts again from the notice's `last_seq`).

Delivery (DESIGN.md, Events and subscribers):

- after the command completes (timers fired, follow-ups run, command journaled), so a
  subscriber never sees half-applied state;
- in journal order, as one batch of `(seq, event)` per command;
- each subscriber isolated: one that raises is logged and detached, and the command and the
  other subscribers carry on;
- delivery only enqueues. `Inbox` is the subscriber transports use: the bus appends to it, and
  the transport drains it on its own task (`await inbox.wait()`, then `inbox.drain()`), so a
  slow consumer never holds up the exchange.

Must not import the exchange or any transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import Literal, Protocol

import msgspec

from simulator.core.events import Event

__all__ = ["Batch", "EventBus", "Feed", "Inbox", "Item", "Reset", "Subscriber"]

_LOG = logging.getLogger("perps_sim.bus")

Batch = Sequence[tuple[int, Event]]
"""The events of one command, `(journal seq, event)`, oldest first."""


class Reset(msgspec.Struct, frozen=True):
    """The exchange was replaced: forget what you know of it and start over.

    Attributes:
        reason: `reset` (back to the scenario's initial state) or `import` (a state import or
            a journal recovery).
        generation: The runtime's generation after the replacement.
        last_seq: The new exchange's last journal seq; its next event is numbered after it.
    """

    reason: Literal["reset", "import"]
    generation: int
    last_seq: int


Item = tuple[int, Event] | Reset
"""What an `Inbox` holds: an event with its seq, or a reset notice."""


class Subscriber(Protocol):
    """What the bus delivers to. Both calls must only enqueue (or be equally cheap)."""

    def deliver(self, batch: Batch, /) -> None: ...

    def reset(self, notice: Reset, /) -> None: ...


class EventBus:
    """Subscribers of the runtime's events, and the delivery of each command's batch."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def __len__(self) -> int:
        return len(self._subscribers)

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Deliver every later batch and reset notice to `subscriber`; returns an unsubscribe.

        The unsubscribe may be called more than once.
        """
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            self.unsubscribe(subscriber)

        return unsubscribe

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """Stop delivering to `subscriber` (nothing happens if it is not subscribed)."""
        with contextlib.suppress(ValueError):
            self._subscribers.remove(subscriber)

    def publish(self, batch: Batch) -> None:
        """Deliver one command's events to every subscriber, in subscription order."""
        if not batch:
            return
        for subscriber in tuple(self._subscribers):
            try:
                subscriber.deliver(batch)
            except Exception:
                self._detach(subscriber, "deliver")

    def announce(self, notice: Reset) -> None:
        """Tell every subscriber that the exchange was replaced."""
        for subscriber in tuple(self._subscribers):
            try:
                subscriber.reset(notice)
            except Exception:
                self._detach(subscriber, "reset")

    def _detach(self, subscriber: Subscriber, call: str) -> None:
        _LOG.exception("event subscriber %r raised in %s; detached", subscriber, call)
        self.unsubscribe(subscriber)


class Inbox:
    """A subscriber that only enqueues; its owner drains it on its own task.

    Args:
        accept: Keep only the events for which it returns true (None keeps all). It runs at
            delivery, so it must be cheap and must not raise.
        limit: Most items held; past it the inbox overflows: it drops what it holds, keeps
            only a flag (`overflowed`) and accepts nothing more, so a consumer that stopped
            draining cannot grow memory without bound. None holds everything.

    Attributes:
        overflowed: Set once the inbox dropped items (the consumer should resynchronise).
    """

    def __init__(
        self,
        accept: Callable[[Event], bool] | None = None,
        *,
        limit: int | None = None,
    ) -> None:
        self._accept = accept
        self._limit = limit
        self._items: deque[Item] = deque()
        self._ready: asyncio.Event | None = None
        self.overflowed = False

    def __len__(self) -> int:
        return len(self._items)

    def deliver(self, batch: Batch, /) -> None:
        if self.overflowed:
            return
        accept = self._accept
        if accept is None:
            self._items.extend(batch)
        else:
            self._items.extend(item for item in batch if accept(item[1]))
        self._check_limit()
        self._wake()

    def reset(self, notice: Reset, /) -> None:
        if self.overflowed:
            return
        self._items.append(notice)
        self._check_limit()
        self._wake()

    def drain(self) -> list[Item]:
        """Everything delivered since the last drain, oldest first."""
        items = list(self._items)
        self._items.clear()
        if self._ready is not None:
            self._ready.clear()
        return items

    async def wait(self) -> None:
        """Return once the inbox holds something (or has overflowed)."""
        if self._items or self.overflowed:
            return
        if self._ready is None:
            self._ready = asyncio.Event()
        await self._ready.wait()

    def _check_limit(self) -> None:
        if self._limit is not None and len(self._items) > self._limit:
            self._items.clear()
            self.overflowed = True

    def _wake(self) -> None:
        if self._ready is not None and (self._items or self.overflowed):
            self._ready.set()


class Feed:
    """An `Inbox` on a bus while a transport has listeners, drained on a task into `deliver`.

    `start` subscribes a fresh inbox and starts the task on the running loop (a no-op while
    started); `stop` unsubscribes and cancels it, so a transport with no listener costs the
    exchange nothing. `pump` delivers what is waiting at once, without waiting for the task's
    turn. An exception from `deliver` is logged and the feed carries on.

    Args:
        bus: Where the events come from.
        deliver: Called with each drained list of items, in order.
        accept: The inbox's filter (None keeps every event).
        name: What the log calls the feed.
    """

    def __init__(
        self,
        bus: EventBus,
        deliver: Callable[[list[Item]], None],
        accept: Callable[[Event], bool] | None = None,
        name: str = "feed",
    ) -> None:
        self._bus = bus
        self._deliver = deliver
        self._accept = accept
        self._name = name
        self._inbox: Inbox | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def active(self) -> bool:
        return self._inbox is not None

    def start(self) -> None:
        if self._inbox is not None:
            return
        inbox = Inbox(self._accept)
        self._inbox = inbox
        self._unsubscribe = self._bus.subscribe(inbox)
        self._task = asyncio.get_running_loop().create_task(self._run(inbox))

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._unsubscribe = None
        self._inbox = None
        if self._task is not None:
            self._task.cancel()
        self._task = None

    async def aclose(self) -> None:
        """Stop, and wait for the task to end."""
        task = self._task
        self.stop()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def pump(self) -> None:
        if self._inbox is not None:
            self._drain(self._inbox)

    async def _run(self, inbox: Inbox) -> None:
        while True:
            await inbox.wait()
            self._drain(inbox)

    def _drain(self, inbox: Inbox) -> None:
        try:
            self._deliver(inbox.drain())
        except Exception:  # a rendering bug must not stop every listener
            _LOG.exception("%s delivery failed", self._name)
