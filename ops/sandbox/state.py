"""The sandbox's memory: what each address received, per-channel counts, config.

Channel-generic on purpose: SMS, voice calls, web pushes and emails are all
`RecordedMessage`s (or a subclass carrying the provider's
extra fields) in the same inboxes, so a test can ask "what did +15551230001
get, on any channel?". Everything lives in process memory and is lost on
restart; that is the point of a sandbox.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from .config import SandboxConfig

RECENT_LIMIT = 1000  # how many messages `GET /sandbox/messages` without `to` can show


@dataclass(slots=True, eq=False)
class RecordedMessage:
    """One message the sandbox delivered to an address, on any channel."""

    channel: str  # "sms", "voice", "push", "email"
    to: str
    sender: str  # phone number, messaging service SID, email address...
    body: str
    at: float  # Unix seconds when the sandbox accepted it
    sid: str
    account_sid: str | None = None
    status: str = "received"

    def to_json(self) -> dict[str, Any]:
        return {
            "to": self.to,
            "from": self.sender,
            "channel": self.channel,
            "body": self.body,
            "at": self.at,
            "sid": self.sid,
            "account_sid": self.account_sid,
            "status": self.status,
        }


@dataclass(slots=True)
class ChannelStats:
    """How many provider API calls a channel accepted, and when the first and last came."""

    count: int = 0
    first_at: float | None = None
    last_at: float | None = None

    def add(self, at: float) -> None:
        if self.first_at is None:
            self.first_at = at
        self.count += 1
        self.last_at = at

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "first_at": self.first_at, "last_at": self.last_at}


@dataclass(slots=True)
class CallbackStats:
    """Outcome of the webhooks the sandbox sent to the app under test."""

    sent: int = 0
    failed: int = 0  # refused, timed out, or answered with an HTTP error


class SandboxState:
    """In-memory store shared by every sandbox endpoint and the webhook sender.

    Not thread-safe: it is used from the event loop that serves the sandbox.
    `generation` changes on every `reset()` so that work queued before a reset
    (status callbacks) can recognise it is stale and drop itself.
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.base_config = config or SandboxConfig()  # what `reset(config=True)` returns to
        self.config = self.base_config
        self.generation = 0
        self._inboxes: dict[str, list[RecordedMessage]] = {}
        self._recent: deque[RecordedMessage] = deque(maxlen=RECENT_LIMIT)
        self._by_sid: dict[str, RecordedMessage] = {}
        self._stats: dict[str, ChannelStats] = {}
        self.callbacks = CallbackStats()
        # Seen in Basic auth: the token signs that account's webhooks.
        self.account_tokens: dict[str, str] = {}
        # Per-account fixed one-second windows: sid -> (second, calls so far).
        self.rate_windows: dict[str, tuple[int, int]] = {}
        # Where the fake SMTP server listens, once started (it survives resets).
        self.smtp_host: str | None = None
        self.smtp_port: int | None = None

    def configure(self, patch: Any) -> SandboxConfig:
        """Merge a JSON config patch; raises ConfigError and changes nothing if it is bad."""
        self.config = self.config.merged(patch)
        return self.config

    def record(self, message: RecordedMessage, *, count: bool = True) -> None:
        """Put a message in its recipient's inbox; `count` adds it to the channel's stats.

        Only provider API calls are counted, so benchmarks compare like with like;
        messages the sandbox makes up itself (TwiML replies) are recorded uncounted.
        """
        inbox = self._inboxes.get(message.to)
        if inbox is None:
            inbox = self._inboxes[message.to] = []
        inbox.append(message)
        self._recent.append(message)
        self._by_sid[message.sid] = message
        if count:
            stats = self._stats.get(message.channel)
            if stats is None:
                stats = self._stats[message.channel] = ChannelStats()
            stats.add(message.at)

    def inbox(self, address: str) -> list[RecordedMessage]:
        """Everything `address` received, oldest first."""
        return list(self._inboxes.get(address, ()))

    def recent(self) -> list[RecordedMessage]:
        """The last RECENT_LIMIT messages to anyone, oldest first."""
        return list(self._recent)

    def latest_to(self, address: str, channel: str) -> RecordedMessage | None:
        """The most recent message `address` received on `channel`."""
        for message in reversed(self._inboxes.get(address, ())):
            if message.channel == channel:
                return message
        return None

    def find(self, sid: str) -> RecordedMessage | None:
        return self._by_sid.get(sid)

    def stats(self) -> dict[str, ChannelStats]:
        return dict(self._stats)

    def tally(self, channel: str, contains: str = "") -> dict[str, int]:
        """How many messages on `channel` whose body holds `contains` each address received: the
        chaos scenarios count missing and duplicated messages with it (ops/chaos/)."""
        counts: dict[str, int] = {}
        for address, inbox in self._inboxes.items():
            n = sum(1 for m in inbox if m.channel == channel and contains in m.body)
            if n:
                counts[address] = n
        return counts

    def reset(self, *, config: bool = False) -> None:
        """Forget messages, stats and accounts; with `config`, also return to the starting config."""
        self.generation += 1
        self._inboxes.clear()
        self._recent.clear()
        self._by_sid.clear()
        self._stats.clear()
        self.callbacks = CallbackStats()
        self.account_tokens.clear()
        self.rate_windows.clear()
        if config:
            self.config = self.base_config
