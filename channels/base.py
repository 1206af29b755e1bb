"""The contract every channel adapter keeps."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Protocol


@dataclass(frozen=True, slots=True)
class Outbound:
    """One message to hand to a provider. `key` is the caller's id for it (a delivery id).

    `to` is a phone number (SMS, voice), an email address, or a push endpoint URL. Channel-specific
    fields are None where they do not apply.
    """
    key: int
    to: str
    body: str
    status_callback: str | None = None
    subject: str | None = None                     # email
    html: str | None = None                        # email
    twiml_url: str | None = None                   # voice: where the provider fetches what to say
    push_keys: tuple[str, str] | None = None       # push: the subscription's (p256dh, auth)
    language: str | None = None                    # the recipient's locale


class Outcome(StrEnum):
    ACCEPTED = "accepted"    # the provider took it; status updates follow by callback
    TRANSIENT = "transient"  # timeout, 5xx, 429, garbage: retry later or fail over to another provider
    PERMANENT = "permanent"  # invalid number, unsubscribed: retrying cannot help; flag the contact


@dataclass(frozen=True, slots=True)
class Receipt:
    key: int
    outcome: Outcome
    provider: str
    provider_message_id: str | None = None
    status: str | None = None         # the provider's own status word ("queued", "accepted", ...)
    error_code: str | None = None
    error_message: str | None = None
    #: Why the message moved between providers, when it did ("twilio failed: 20500; ...").
    note: str | None = None


class ChannelAdapter(Protocol):
    """Sends messages on one channel through one provider account."""

    channel: ClassVar[str]
    #: A name for this provider account, recorded on every delivery it carries ("twilio", "twilio-b").
    provider: str

    async def send(self, message: Outbound) -> Receipt:
        """Hand one message to the provider. Never raises for provider trouble: it returns a receipt."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
