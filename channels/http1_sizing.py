"""How many connections a pool is worth holding to one provider: a bandwidth-delay product, as in BBR.

Why: a pool that opens a connection whenever a request waits for one ends up with as many
connections as requests in flight. That is right against a provider answering in ~100 ms (each
connection carries ~10 requests a second, so 3,500 a second need ~350 of them) and wrong against
one answering at once: there requests wait because the provider (or our own event loop) is busy,
and each extra connection only adds work for both ends. Measured at 0 ms latency with `make bench`
(100,000 SMS, three workers and the sandbox on 2 cores): growing on waiting alone, the workers held
~1,000 connections and the sandbox spent 175 µs per request, 4,700-4,850 msg/s; held to 4-24
connections per worker, 126-129 µs and 5,540-5,650 msg/s. Telling the two cases apart by how
much round trips grew as the pool grew failed: on a shared machine they swing 2-50 ms whatever
the pool's size.

What it does (TCP BBR's model of a path, Cardwell et al., 2016): the provider's own delay is the
fastest round trip seen lately; its throughput is the most answers per second seen lately; their
product is how many requests are in flight because of the delay alone, and a connection beyond
that only waits in a line. The pool may hold `GAIN` times that (at least `floor`), so against a
slow provider it doubles per round trip while that raises the answer rate, as TCP's slow start
does, and against a fast one it stays at its floor.
"""
from __future__ import annotations

import math

#: Fastest round trip and highest answer rate are each the best of the current and the previous
#: window of this many seconds: a provider that became slower for good is judged by its new pace
#: within two windows.
WINDOW_S = 10.0
#: Answers are counted over periods of at least this long to measure a rate.
RATE_PERIOD_S = 0.1
#: The pool may hold this many times the bandwidth-delay product (BBR's congestion window gain).
GAIN = 2.0


class PoolSizer:
    """Fed every answer's round trip; says how many connections are worth having now."""

    __slots__ = ("floor", "_fastest", "_earlier_fastest", "_fastest_until", "_rate", "_earlier_rate",
                 "_rate_until", "_count", "_period_start", "worth")

    def __init__(self, floor: int) -> None:
        self.floor = floor
        self._fastest = self._earlier_fastest = math.inf
        self._fastest_until = 0.0
        self._rate = self._earlier_rate = 0.0
        self._rate_until = 0.0
        self._count = 0
        self._period_start: float | None = None
        #: Connections worth having: GAIN x answers per second x fastest round trip, at least `floor`.
        self.worth = floor

    def answered(self, round_trip: float, now: float) -> None:
        """One answer came, `round_trip` seconds after its request was written (`now`: perf_counter)."""
        if now >= self._fastest_until:
            self._earlier_fastest, self._fastest = self._fastest, math.inf
            self._fastest_until = now + WINDOW_S
        if round_trip < self._fastest:
            self._fastest = round_trip
        if self._period_start is None:
            self._period_start = now - round_trip  # the first answer's period began with its request
        self._count += 1
        elapsed = now - self._period_start
        if elapsed < RATE_PERIOD_S:
            return
        rate = self._count / elapsed
        self._count, self._period_start = 0, now
        if now >= self._rate_until:
            self._earlier_rate, self._rate = self._rate, 0.0
            self._rate_until = now + WINDOW_S
        if rate > self._rate:
            self._rate = rate
        self._resize()

    @property
    def fastest_round_trip(self) -> float | None:
        fastest = min(self._fastest, self._earlier_fastest)
        return None if fastest == math.inf else fastest

    @property
    def answers_per_s(self) -> float:
        return max(self._rate, self._earlier_rate)

    def _resize(self) -> None:
        fastest = self.fastest_round_trip
        if fastest is None:
            return
        self.worth = max(self.floor, math.ceil(GAIN * self.answers_per_s * fastest))
