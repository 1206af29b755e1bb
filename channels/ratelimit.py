"""An adapter that waits for permission before each provider call (a rate limit shared by all workers)."""
from __future__ import annotations

from typing import Awaitable, Callable, ClassVar

from channels.base import ChannelAdapter, Outbound, Receipt

#: Waits until the caller may make one more call (the limiter itself lives in ops/ratelimit.py).
Acquire = Callable[[str], Awaitable[None]]


class RateLimited:
    """Wraps an adapter: every send first acquires a slot for the provider account and, when the
    adapter spreads messages over a pool of senders, for the sender that will carry it."""

    channel: ClassVar[str]

    def __init__(self, adapter: ChannelAdapter, acquire: Acquire, *, account_key: str,
                 sender_key: Callable[[Outbound], str | None] | None = None):
        self._adapter = adapter
        self._acquire = acquire
        self._account_key = account_key
        self._sender_key = sender_key
        self.channel = adapter.channel  # type: ignore[misc]
        self.provider = adapter.provider

    async def send(self, message: Outbound) -> Receipt:
        if self._sender_key is not None:
            key = self._sender_key(message)
            if key:
                await self._acquire(key)
        await self._acquire(self._account_key)
        return await self._adapter.send(message)

    async def aclose(self) -> None:
        await self._adapter.aclose()
