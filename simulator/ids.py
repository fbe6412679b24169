"""Deterministic identifiers: UUID-shaped ids drawn from one seeded random source."""

from __future__ import annotations

import random
import uuid

__all__ = ["IdSource"]


class IdSource:
    """Seeded source of UUID-shaped ids and of every random choice the exchange makes.

    >>> IdSource(7).uuid() == IdSource(7).uuid()
    True
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.random = random.Random(seed)

    def uuid(self) -> str:
        """A version-4-shaped UUID string from the seeded stream."""
        return str(uuid.UUID(int=self.random.getrandbits(128), version=4))

    def state(self) -> object:
        """The generator state (for snapshots)."""
        return self.random.getstate()
