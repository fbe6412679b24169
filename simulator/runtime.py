"""The running simulator: one exchange built from a scenario, and how to rebuild it.

Transports hold a `Runtime` and always reach the exchange through `runtime.exchange`, because
`reset` (and a state import) replace it. `generation` counts replacements so transports can drop
anything they cached about the old exchange (loaded public keys, subscriptions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from simulator.clock import Clock, make_clock
from simulator.exchange import Exchange
from simulator.ledger import User
from simulator.money import MONEY_SCALE
from simulator.scenarios import Scenario, build_exchange

__all__ = ["AuthMode", "ClockMode", "Runtime", "ServerSettings"]

AuthMode = Literal["verify", "open"]
ClockMode = Literal["wall", "manual", "accelerated"]


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
    """

    auth: AuthMode = "verify"
    auth_window_ms: int = 30_000
    open_balance: int = 10_000 * MONEY_SCALE
    rate_limits: bool = False
    max_body_bytes: int = 1 << 20


class Runtime:
    """A scenario, its clock mode and seed, and the exchange currently built from them."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        clock_mode: ClockMode = "wall",
        speed: float = 1.0,
        seed: int | None = None,
        settings: ServerSettings | None = None,
    ) -> None:
        self.scenario = scenario
        self.clock_mode: ClockMode = clock_mode
        self.speed = speed
        self.seed = scenario.seed if seed is None else seed
        self.settings = settings or ServerSettings()
        self.generation = 0
        self.exchange = self._build()

    def _clock(self) -> Clock:
        return make_clock(self.clock_mode, self.scenario.start_ms, self.speed)

    def _build(self) -> Exchange:
        return build_exchange(self.scenario, self._clock(), self.seed)

    def reset(self) -> Exchange:
        """Replace the exchange with a fresh one in the scenario's initial state."""
        self.exchange = self._build()
        self.generation += 1
        return self.exchange

    def replace(self, exchange: Exchange) -> None:
        """Install an exchange built elsewhere (a state import)."""
        self.exchange = exchange
        self.generation += 1

    def open_user(self, api_key_id: str) -> User:
        """The account of an `open`-auth key id, created funded on first use."""
        exchange = self.exchange
        user = exchange.user_for_key(api_key_id)
        if user is None:
            user = exchange.create_user(
                user_id=f"open-{api_key_id}",
                api_key_id=api_key_id,
                balance=self.settings.open_balance,
            )
        return user
