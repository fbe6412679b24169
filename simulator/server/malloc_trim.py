"""Give the C allocator's free memory back to the system after a snapshot.

A snapshot (`simulator.server.state_pickle.dumps`) briefly needs memory in proportion to the
state: pickle's memo, the reduce tuples, the output buffer. glibc's allocator keeps what was
freed for reuse (and raises its mmap threshold after large frees), so RSS would ratchet up to
the highest such peak and stay there. `trim()` asks glibc to release free heap pages
(`malloc_trim(0)`); elsewhere (musl, macOS) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache

__all__ = ["trim"]


@cache
def _libc_trim() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        function = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    return function


def trim() -> bool:
    """Release the allocator's free memory to the system; whether anything was released."""
    function = _libc_trim()
    return bool(function(0)) if function is not None else False
