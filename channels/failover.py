"""Redundant providers for one channel: fail over on transient errors, trip a circuit breaker on
repeated ones, and bring a recovered provider back gradually.

A transient failure (timeout, 5xx, 429, garbage) of one provider sends the same message through the
next one at once; a permanent failure (invalid number) is final everywhere and is returned as is.
Each provider has a breaker: after `threshold` transient failures in a row it opens for `cooldown_s`
and takes no traffic; then it is half-open and gets a growing share of messages (25%, 50%, 100% as
its probes succeed), so a flapping provider cannot take the whole stream back at once. A provider
reported slow (its messages take too long to be delivered, see ops/provider_health.py) is demoted
behind the healthy ones. Breakers are per worker process: each worker learns from its own traffic,
which needs no coordination and reacts within a handful of messages.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field, replace
from typing import Callable, ClassVar, Sequence

from channels.base import ChannelAdapter, Outbound, Outcome, Receipt

#: Shares of traffic a recovering provider gets, stepping up after each success.
RECOVERY_STEPS = (0.25, 0.5, 1.0)


@dataclass
class Breaker:
    threshold: int = 5
    cooldown_s: float = 30.0
    failures: int = 0
    opened_at: float | None = None
    recovery: int = len(RECOVERY_STEPS) - 1  # index into RECOVERY_STEPS; last = fully trusted
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed" if self.recovery == len(RECOVERY_STEPS) - 1 else "recovering"
        return "open" if self.clock() - self.opened_at < self.cooldown_s else "half-open"

    def share(self) -> float:
        """The fraction of messages this provider should take now."""
        state = self.state
        if state == "open":
            return 0.0
        if state == "half-open":
            return RECOVERY_STEPS[0]
        return RECOVERY_STEPS[self.recovery]

    def success(self) -> None:
        if self.opened_at is not None:
            self.opened_at, self.recovery = None, 0
        elif self.recovery < len(RECOVERY_STEPS) - 1:
            self.recovery += 1
        self.failures = 0

    def failure(self) -> None:
        self.failures += 1
        if self.state == "half-open" or self.failures >= self.threshold:
            self.opened_at, self.failures = self.clock(), 0


class Failover:
    """Several adapters of one channel behind the adapter interface."""

    channel: ClassVar[str]

    def __init__(self, adapters: Sequence[ChannelAdapter], *, threshold: int = 5, cooldown_s: float = 30.0,
                 rng: random.Random | None = None):
        if not adapters:
            raise ValueError("Failover needs at least one adapter")
        self.adapters = list(adapters)
        self.channel = adapters[0].channel  # type: ignore[misc]
        self.provider = "+".join(a.provider for a in self.adapters)
        self.breakers = {a.provider: Breaker(threshold, cooldown_s) for a in self.adapters}
        self.slow: set[str] = set()
        self._rng = rng or random.Random()

    def set_slow(self, providers: set[str]) -> None:
        """Providers whose deliveries lag: tried after the others (but still tried)."""
        self.slow = set(providers)

    def _order(self) -> list[ChannelAdapter]:
        """Healthy, fast providers first; a recovering one takes its share at random."""
        ranked = sorted(self.adapters, key=lambda a: (a.provider in self.slow, self.breakers[a.provider].share() == 0))
        first = ranked[0]
        share = self.breakers[first.provider].share()
        if 0 < share < 1 and len(ranked) > 1 and self._rng.random() >= share:
            ranked.append(ranked.pop(0))
        return ranked

    def _bypass_reason(self, provider: str) -> str:
        if self.breakers[provider].state == "open":
            return "circuit open"
        if provider in self.slow:
            return "deliveries lagging"
        return "recovering: taking part of the traffic"

    async def send(self, message: Outbound) -> Receipt:
        notes: list[str] = []
        tried: set[str] = set()
        last: Receipt | None = None
        for adapter in self._order():
            breaker = self.breakers[adapter.provider]
            if breaker.state == "open" and last is not None:
                continue
            tried.add(adapter.provider)
            receipt = await adapter.send(message)
            if receipt.outcome == Outcome.TRANSIENT:
                breaker.failure()
                notes.append(f"{adapter.provider} failed: {receipt.error_code} {receipt.error_message or ''}".strip())
                last = receipt
                continue
            breaker.success()
            # Say why a provider configured ahead of this one did not carry the message.
            for earlier in self.adapters[:self.adapters.index(adapter)]:
                if earlier.provider not in tried:
                    notes.append(f"{earlier.provider} skipped: {self._bypass_reason(earlier.provider)}")
            return replace(receipt, note="; ".join(notes)) if notes else receipt
        assert last is not None
        return replace(last, note="; ".join(notes))

    async def aclose(self) -> None:
        for adapter in self.adapters:
            await adapter.aclose()
