"""The running simulator: one exchange built from a scenario, and how to rebuild it.

Transports hold a `Runtime` and always reach the exchange through `runtime.exchange`, because
`reset` (and a state import) replace it. `generation` counts replacements so transports can drop
anything they cached about the old exchange (subscriptions). What the exchange derives from its
own records (order and fill indexes, loaded public keys) belongs to it and is replaced with it.

Events: the runtime owns the event bus (`runtime.bus`, `simulator.core.bus`). Every exchange it
installs publishes to it, so subscribers stay subscribed across `reset` and state import; each
replacement is announced to them with a `Reset` notice.

Clocks: a manual runtime gives its exchange a `ManualClock`; wall and accelerated runtimes wrap
their clock in a `HeldClock`, which holds still while a command runs so that the command log
replays exactly (`simulator.core.command_log`).

Advances (`simulator.server.advancer`): `runtime.advancer` runs `POST /sim/v1/clock/advance` in
slices on the event loop and is the gate state-changing requests wait at while one runs; `reset`
and `import_state` refuse to run during one (`AdvanceInProgressError`).

Durability (DESIGN.md 6): with a `state_dir`, every recorded command is appended to
`<state_dir>/journal.jsonl` before it returns (`simulator.server.journal`), and with `fsync`
durability transports await `durable()` before they acknowledge. A runtime
started on a directory that holds a journal replays it instead of building fresh: the journal's
scenario and seed win over the ones passed in. `reset` and `replace` (a state import) rewrite
the journal from the new exchange.

Snapshots (`snapshot_every`, `--snapshot-every`): once the exchange's command log holds that
many commands, the command boundary calls the runtime's compactor between two commands (on the
event loop, the one writer): it snapshots the exchange (`simulator.server.snapshots.take`),
writes it to the state directory if there is one (`JournalFile.snapshot`: a snapshot file and
a new journal segment) and rebases the log on it, dropping the commands it includes. With or
without a state directory, memory then holds one snapshot and at most `snapshot_every`
commands. A snapshot that fails (a full disk) is logged and retried `snapshot_every` commands
later; the log and the journal stay whole meanwhile. Under a running event loop the state is
pickled in a forked child (`snapshot_mode="fork"`, `simulator.server.snapshot_fork`) while the
server goes on; the log then drops only the commands recorded before the fork, and the journal
carries the lines written since into the new segment.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from simulator.core import errors
from simulator.core.bus import EventBus, Reset
from simulator.core.clock import AcceleratedClock, Clock, ManualClock, WallClock, wall_seconds
from simulator.core.command_log import HeldClock
from simulator.core.money import MONEY_SCALE
from simulator.exchange import Exchange
from simulator.model.ledger import User
from simulator.server import fault_pauses, journal, malloc_trim, snapshot_fork, snapshots
from simulator.server.advancer import Advancer
from simulator.server.faults import Fault, Faults, FaultSpec
from simulator.server.rate_limits import TIERS, RateLimiter
from simulator.server.scenarios import Scenario
from simulator.server.state_hash import state_hash
from simulator.server.ws_settings import WsSettings

__all__ = ["SNAPSHOT_EVERY", "AuthMode", "ClockMode", "Runtime", "ServerSettings"]

SNAPSHOT_EVERY = 10_000
"""Commands between two snapshots by default (`--snapshot-every`; 0 turns snapshots off)."""

_LOG = logging.getLogger("perps_sim")

AuthMode = Literal["verify", "open"]
ClockMode = Literal["wall", "manual", "accelerated"]
SnapshotMode = Literal["fork", "inline"]
OPEN_PREFIX = "open-"
"""The user id of an `open`-auth account is this prefix and its key id."""


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Transport-facing settings of a running simulator.

    Attributes:
        auth: `verify` checks RSA-PSS signatures against registered keys; `open` accepts any
            well-formed key id and gives it a funded account of its own.
        auth_window_ms: how far a request's `KALSHI-ACCESS-TIMESTAMP` may be from the wall
            clock, either way. Assumption: Kalshi's tolerance is undocumented; 30 s is a common
            exchange default.
        open_balance: opening balance (micro-dollars) of an account made by `open` auth.
        rate_limits: enforce the documented token buckets for every user (each user can also
            be switched on or off through the control plane).
        max_body_bytes: request bodies above this size get 400 without being parsed.
        max_head_bytes: an HTTP request head (request line and headers) above this size gets
            431 and the connection is closed (`api.http_limits`).
        head_timeout_s: a connection whose request head is not complete this long after it
            opened, or after the request's first byte, is closed.
        ws: the WebSocket API's switches and limits (`simulator.server.ws_settings`).
        open_max_accounts: how many accounts `open` auth creates at most; a new key id beyond
            that is refused (REST 401, FIX Logout), so invented key ids cannot grow memory
            without bound.
        control_token: when set, every `/sim/v1` request but `GET /sim/v1/health` needs
            `Authorization: Bearer <token>` (`api.control_guard`).
        allowed_hosts: `Host` names the control plane answers besides loopback names
            (`*`: any).
    """

    auth: AuthMode = "verify"
    auth_window_ms: int = 30_000
    open_balance: int = 10_000 * MONEY_SCALE
    rate_limits: bool = False
    max_body_bytes: int = 1 << 20
    max_head_bytes: int = 64 * 1024
    head_timeout_s: float = 10.0
    ws: WsSettings = field(default_factory=WsSettings)
    open_max_accounts: int = 1_000
    control_token: str | None = None
    allowed_hosts: tuple[str, ...] = ()


class Runtime:
    """A scenario, its clock mode and seed, and the exchange currently built from them.

    Args:
        scenario: What `reset` goes back to (replaced by the journal's or a snapshot's).
        clock_mode: `manual`, `wall` or `accelerated`.
        speed: Simulated ms per real ms of the accelerated clock.
        seed: Overrides the scenario's seed.
        settings: Transport-facing settings.
        state_dir: Directory of the durable journal; None keeps state in memory only.
        durability: `flush` or `fsync` (`simulator.server.journal`).
        advancer: Runs advances in slices (tests pass one with a fake wall time).
        snapshot_every: Take a snapshot once the command log holds this many commands since
            the last one, and drop them from memory (and start a new journal segment); 0
            never does.
        snapshot_mode: `fork` pickles the state in a forked child while the event loop goes
            on (`simulator.server.snapshot_fork`; inline where there is no fork or no running
            loop); `inline` pickles it on the event loop.

    Raises:
        InvalidSnapshotError: The state directory holds a journal that does not replay.
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        clock_mode: ClockMode = "wall",
        speed: float = 1.0,
        seed: int | None = None,
        settings: ServerSettings | None = None,
        state_dir: Path | str | None = None,
        durability: journal.Durability = "flush",
        advancer: Advancer | None = None,
        snapshot_every: int = SNAPSHOT_EVERY,
        snapshot_mode: SnapshotMode = "fork",
    ) -> None:
        if clock_mode not in ("manual", "wall", "accelerated"):
            raise ValueError(f"clock mode must be manual, wall or accelerated, was {clock_mode!r}")
        if speed <= 0:
            raise ValueError(f"speed must be positive, was {speed}")
        if type(snapshot_every) is not int or snapshot_every < 0:
            raise ValueError(f"snapshot_every must be a whole number >= 0, was {snapshot_every!r}")
        if snapshot_mode not in ("fork", "inline"):
            raise ValueError(f"snapshot mode must be fork or inline, was {snapshot_mode!r}")
        self.snapshot_every = snapshot_every
        self.snapshot_mode: SnapshotMode = snapshot_mode
        self._forked: snapshot_fork.ForkedSnapshot | None = None
        self.snapshots_taken = 0
        self.last_snapshot: tuple[int, float] | None = None  # (bytes, seconds) of the last one
        self.scenario = scenario
        self.clock_mode: ClockMode = clock_mode
        self.speed = speed
        self.seed = scenario.seed if seed is None else seed
        self.settings = settings or ServerSettings()
        self.generation = 0
        self.bus = EventBus()
        self.advancer = advancer or Advancer()
        # one set of buckets for every transport (REST and FIX draw on the same ones)
        self.rate_limiter = RateLimiter(lambda: self.settings.rate_limits)
        # injected faults: runtime settings like the rate limits, cleared by reset
        self.faults = Faults(self.seed)
        self.state_dir = None if state_dir is None else Path(state_dir)
        self.durability: journal.Durability = durability
        self._journal: journal.JournalFile | None = None
        if self.state_dir is not None:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self._journal = journal.JournalFile(self.state_dir / journal.NAME, durability)
            recovered = self._journal.recover()
            if recovered is not None:
                self._adopt(recovered)
                self.exchange = recovered
                self._journal.attach(recovered, rewrite=False)
                self._compact_from(recovered)
                return
        self.exchange = self._build()
        if self._journal is not None:
            self._journal.attach(self.exchange, rewrite=True)
        self._compact_from(self.exchange)

    # -------------------------------------------------------------- snapshots

    def _compact_from(self, exchange: Exchange) -> None:
        # snapshot every `snapshot_every` commands from now on (the command boundary calls
        # the compactor between commands, `simulator.core.command_log`)
        if self.snapshot_every:
            log = exchange.command_log
            log.compact_at = self.snapshot_every
            log.compactor = partial(self._compact, exchange)

    def _compact(self, exchange: Exchange) -> None:
        log = exchange.command_log
        if self.snapshot_mode == "fork" and snapshot_fork.available():
            journal_file = self._journal
            mark = journal_file.mark() if journal_file is not None else None
            # the child writes the snapshot file too: its write and fsync stay off the loop
            write = None
            if journal_file is not None and mark is not None:
                write = partial(journal_file.write_snapshot, mark[0])
            try:
                self._forked = snapshot_fork.start(
                    exchange, partial(self._forked_done, mark, wall_seconds()), write
                )
            except OSError:
                _LOG.exception("forking for a snapshot failed; taking it on the event loop")
            else:
                log.compact_at = sys.maxsize  # one snapshot at a time
                return
        started = wall_seconds()
        try:
            base = snapshots.take(exchange)
            if self._journal is not None and exchange is self.exchange:
                self._journal.snapshot(base)
        except Exception:
            # the state and the log stay whole (the journal's current segment too); retry later
            _LOG.exception("taking a snapshot failed; the command log keeps its commands")
            log.compact_at = len(log.entries) + max(self.snapshot_every, 1)
            return
        log.rebase(base)
        malloc_trim.trim()  # the snapshot's transient memory back to the system
        log.compact_at = self.snapshot_every or log.compact_at
        self.snapshots_taken += 1
        self.last_snapshot = (len(base.snapshot), wall_seconds() - started)

    def _forked_done(
        self, mark: tuple[int, int] | None, started: float, pending: snapshot_fork.ForkedSnapshot
    ) -> None:
        # on the event loop, between commands: the child pickled the state as of the fork
        if self._forked is pending:
            self._forked = None
        exchange = pending.exchange
        log = exchange.command_log
        if exchange is not self.exchange:
            # a reset or an import replaced it (and rewrote the journal) meanwhile: whatever
            # the child did is moot, its failure too (read here, so that it is not reported)
            pending.done.exception()
            return
        try:
            base = pending.done.result()
            if self._journal is not None:
                self._journal.snapshot(base, mark, written=mark is not None)
        except Exception:
            _LOG.exception("taking a snapshot failed; the command log keeps its commands")
            log.sealed = 0
            log.compact_at = len(log.entries) + max(self.snapshot_every, 1)
            return
        log.rebase(base, pending.covered)
        log.compact_at = self.snapshot_every
        self.snapshots_taken += 1
        self.last_snapshot = (len(base.snapshot), wall_seconds() - started)
        if len(log.entries) >= log.compact_at:
            log.compact()

    def snapshot_in_progress(self) -> bool:
        """Whether a forked child is pickling a snapshot now."""
        return self._forked is not None

    async def snapshot_settled(self) -> None:
        """Return once no snapshot is being taken in a forked child (at once when none is)."""
        while self._forked is not None:
            await asyncio.shield(self._forked.done)
            await asyncio.sleep(0)  # let its completion callback run

    def _clock(self, start_ms: int) -> Clock:
        if self.clock_mode == "manual":
            return ManualClock(start_ms)
        if self.clock_mode == "wall":
            return HeldClock(WallClock())
        return HeldClock(AcceleratedClock(start_ms, self.speed))

    def _build(self) -> Exchange:
        exchange = snapshots.build(self.scenario, self._clock(self.scenario.start_ms), self.seed)
        exchange.bus = self.bus
        return exchange

    def _adopt(self, exchange: Exchange) -> None:
        # move an exchange built or replayed elsewhere onto this runtime's clock, continuing
        # at its current instant (wall: real time), and take over its scenario and seed
        exchange.clock = self._clock(exchange.now())
        exchange.bus = self.bus
        origin = snapshots.origin_of(exchange)
        if origin is not None:
            self.scenario = origin.scenario
            self.seed = origin.seed

    def reset(self) -> Exchange:
        """Replace the exchange with a fresh one in the scenario's initial state (and drop
        every injected fault).

        Raises:
            AdvanceInProgressError: An advance is running; nothing changed.
        """
        self.advancer.check_idle("a reset")
        exchange = self._build()
        self.faults = Faults(self.seed)
        if self._journal is not None:
            self._journal.attach(exchange, rewrite=True)
        self.exchange = exchange
        self._compact_from(exchange)
        self.generation += 1
        self._announce("reset")
        return exchange

    def replace(self, exchange: Exchange) -> None:
        """Install an exchange built elsewhere (a state import).

        Its clock is swapped for this runtime's mode at the same instant (manual: a manual
        clock at its now; accelerated: running from its now; wall: real time). The exchange
        reads only `exchange.clock`, and nothing runs while the swap happens (one event
        loop), so the swap is safe. The journal is rewritten first: if that fails, the
        running exchange stays.
        """
        if self._journal is not None:
            self._journal.attach(exchange, rewrite=True)
        self._adopt(exchange)
        self.exchange = exchange
        self._compact_from(exchange)
        self.generation += 1
        self._announce("import")

    def add_fault(self, spec: FaultSpec) -> Fault:
        """Hold a fault; a `pause` is applied to the exchange first.

        Raises:
            ValueError: The spec is inconsistent or too many faults are held.
            RejectError: The exchange refused the pause (an unknown market); nothing is held.
        """
        spec.check()
        if spec.kind == "pause":
            fault_pauses.apply(self.exchange, spec)
        return self.faults.add(spec)

    def remove_fault(self, fault_id: str) -> Fault | None:
        """Stop holding a fault (lifting a pause); the fault, or None if none has that id."""
        fault = self.faults.remove(fault_id)
        if fault is not None and fault.spec.kind == "pause":
            fault_pauses.lift(self.exchange, fault.spec)
        return fault

    def clear_faults(self) -> int:
        """Stop holding every fault (lifting pauses, newest first); how many there were."""
        held = self.faults.clear()
        for fault in reversed(held):
            if fault.spec.kind == "pause":
                fault_pauses.lift(self.exchange, fault.spec)
        return len(held)

    def _announce(self, reason: Literal["reset", "import"]) -> None:
        notice = Reset(reason, self.generation, self.exchange.journal.last_seq)
        self.bus.announce(notice)

    def export_state(self) -> dict[str, Any]:
        """The current exchange's snapshot (`simulator.server.snapshots.export_state`)."""
        return snapshots.export_state(self.exchange)

    def import_state(self, data: dict[str, Any] | bytes) -> Exchange:
        """Replay a snapshot and install it; on any error the running exchange stays.

        Raises:
            InvalidSnapshotError: The snapshot is malformed or does not replay to its hash.
            AdvanceInProgressError: An advance is running; nothing changed.
        """
        self.advancer.check_idle("a state import")
        exchange = snapshots.import_state(data)
        self.replace(exchange)
        return exchange

    def state_hash(self) -> str:
        """`simulator.server.state_hash.state_hash` of the current exchange."""
        return state_hash(self.exchange)

    @property
    def journal_pending(self) -> bool:
        """Whether an acknowledgement must await `durable()` first (`fsync` durability with a
        written line not yet fsynced)."""
        return self._journal is not None and self._journal.pending

    async def durable(self) -> None:
        """Return once every journaled command is as durable as the mode promises (at once
        without a state directory or with `flush` durability)."""
        if self._journal is not None:
            await self._journal.sync()

    def close(self) -> None:
        """Close the journal file (state stays on disk)."""
        if self._journal is not None:
            self._journal.close()

    def create_user(
        self,
        *,
        balance: int = 0,
        public_key_pem: str | None = None,
        user_id: str | None = None,
        api_key_id: str | None = None,
        notional_limit: int | None = None,
        usage_tier: str | None = None,
    ) -> tuple[User, str | None]:
        """Register a user (`POST /sim/v1/users`); returns it and the private key PEM that was
        generated for it (None when `public_key_pem` was given).

        Without `public_key_pem` a fresh 2048-bit RSA key pair is made. `usage_tier` sets the
        user's rate-limit tier (`simulator.server.rate_limits.TIERS`), a runtime setting like
        the rest of the rate limiter: not journaled, forgotten by `reset`.

        Raises:
            InvalidParametersError: A key that is not an RSA public key in PEM, an unknown
                tier, or what `Exchange.create_user` refuses; nothing changed.
        """
        if usage_tier is not None and usage_tier not in TIERS:
            raise errors.InvalidParametersError(
                f"unknown usage tier {usage_tier!r}; tiers: {sorted(TIERS)}"
            )
        private_pem: str | None = None
        if public_key_pem is None:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            private_pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode()
            public_key_pem = (
                key.public_key()
                .public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                .decode()
            )
        else:
            try:
                loaded = serialization.load_pem_public_key(public_key_pem.encode())
            except ValueError:
                raise errors.InvalidParametersError(
                    "public_key_pem is not a PEM public key"
                ) from None
            if not isinstance(loaded, RSAPublicKey):
                raise errors.InvalidParametersError("public_key_pem must be an RSA key")
        user = self.exchange.create_user(
            user_id=user_id,
            api_key_id=api_key_id,
            public_key_pem=public_key_pem,
            balance=balance,
            notional_limit=notional_limit,
        )
        if usage_tier is not None:
            self.rate_limiter.configure(user.user_id, enabled=None, tier=usage_tier)
        return user, private_pem

    def open_user(self, api_key_id: str) -> User:
        """The account of an `open`-auth key id, created funded on first use.

        Raises:
            LimitExceededError: The key id is new and `open` auth already created
                `ServerSettings.open_max_accounts` accounts.
        """
        exchange = self.exchange
        user = exchange.user_for_key(api_key_id)
        if user is None:
            cap = self.settings.open_max_accounts
            if sum(1 for user_id in exchange.users if user_id.startswith(OPEN_PREFIX)) >= cap:
                raise errors.LimitExceededError(
                    f"open auth has created its {cap} accounts (--open-max-accounts)"
                )
            user = exchange.create_user(
                user_id=f"{OPEN_PREFIX}{api_key_id}",
                api_key_id=api_key_id,
                balance=self.settings.open_balance,
            )
        return user
