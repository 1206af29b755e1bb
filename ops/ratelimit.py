"""Rate limits shared by every worker of a fleet, kept in Redis.

GCRA (the generic cell rate algorithm): each key holds a "theoretical arrival time"; a caller
reserves the next free slot, `1/rate` seconds after the previous one, and sleeps until it. Calls
are therefore spaced evenly, whichever worker makes them, so a provider allowing N per second never
sees a burst above it.

Slots are absolute times on Redis's clock (TIME, read inside the atomic script), and each process
sleeps until its slot converted to its own clock with a measured offset. A relative wait would not
do: a caller may wait for a pooled connection, or read the answer late on a busy event loop, and
every such delay would push its send later and bunch it with the next ones. Reservation is one
atomic Lua call; if Redis is unreachable the call raises and the message is retried like any
transient failure, never sent unthrottled.
"""
from __future__ import annotations

import asyncio
import time

from redis.asyncio import Redis

#: Reserve the next slot. KEYS[1] the limit's key; ARGV[1] the interval in microseconds.
#: Returns the slot, in microseconds on Redis's clock, as a string (Lua numbers lose digits).
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, tat)
local interval = tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%d', slot + interval), 'PX', math.floor((slot + interval - now) / 1000) + 1000)
return string.format('%d', slot)
"""
#: Reserve slots 10% slower than the limit, for the jitter between leaving here and arriving there.
SAFETY = 0.90
#: How often the offset between this host's clock and Redis's is measured again.
OFFSET_REFRESH_S = 60.0


def _interval(rate: float) -> int:
    return int(1_000_000 / (rate * SAFETY))


def limit_key(name: str) -> str:
    return f"tocsin:ratelimit:{name}"


class RedisRateLimiter:
    """`acquire(name)` waits for a slot under the limit configured for `name` (per second)."""

    def __init__(self, redis: Redis, rates: dict[str, float], *, default_prefix_rates: dict[str, float] | None = None):
        """`rates`: calls per second per name; `default_prefix_rates`: the rate of any other name
        starting with that prefix (e.g. every sender of a pool)."""
        self._redis = redis
        self._intervals_us = {name: _interval(rate) for name, rate in rates.items() if rate > 0}
        self._prefix_intervals = {p: _interval(r) for p, r in (default_prefix_rates or {}).items() if r > 0}
        self._script = redis.register_script(_RESERVE)
        self._offset_s: float | None = None  # Redis clock minus ours
        self._offset_at = 0.0
        self._offset_lock = asyncio.Lock()

    def _interval_for(self, name: str) -> int | None:
        if name in self._intervals_us:
            return self._intervals_us[name]
        return next((i for prefix, i in self._prefix_intervals.items() if name.startswith(prefix)), None)

    async def _offset(self) -> float:
        async with self._offset_lock:
            if self._offset_s is None or time.monotonic() - self._offset_at > OFFSET_REFRESH_S:
                best = None
                for _ in range(3):  # keep the measurement with the shortest round trip
                    before = time.time()
                    seconds, micros = await self._redis.time()
                    after = time.time()
                    if best is None or after - before < best[0]:
                        best = (after - before, seconds + micros / 1_000_000 - (before + after) / 2)
                self._offset_s, self._offset_at = best[1], time.monotonic()
            return self._offset_s

    async def acquire(self, name: str) -> None:
        interval = self._interval_for(name)
        if interval is None:
            return
        offset = await self._offset()
        slot_us = int(await self._script(keys=[limit_key(name)], args=[interval]))
        remaining = slot_us / 1_000_000 - offset - time.time()
        if remaining > 0:
            await asyncio.sleep(remaining)

    async def aclose(self) -> None:
        await self._redis.aclose()
