"""Waiting for something to be true, for the scripts that start Tocsin's processes (benchmarks,
chaos scenarios, the fleet test) and their tests: one loop instead of one per script."""
from __future__ import annotations

import time
from typing import Any, Callable


def poll(predicate: Callable[[], Any], *, timeout: float, interval: float = 0.2,
         tolerate: tuple[type[BaseException], ...] = (OSError,), alive: Callable[[], None] | None = None,
         what: str = "a condition") -> Any:
    """Call `predicate` every `interval` seconds until it returns something true, and return that.

    An error in `tolerate` counts as "not yet" (a server still starting refuses connections) and is
    named if time runs out; `alive()` is called first each round and raises if what we wait on died."""
    deadline, last_error = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        if alive is not None:
            alive()
        try:
            value = predicate()
            if value:
                return value
            last_error = None
        except tolerate as exc:
            last_error = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}"
                       + (f" (last error: {last_error!r})" if last_error is not None else ""))
