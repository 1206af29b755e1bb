"""SMS through the official Twilio client, against Twilio or any Twilio-compatible API."""
from __future__ import annotations

import zlib
from typing import ClassVar, Sequence

from twilio.rest import Client

from channels.base import Outbound, Receipt
from channels.twilio_calls import close_client, create_and_receipt
from channels.twilio_lean import LeanMessages

#: Twilio error codes after which trying again (or elsewhere) cannot succeed for this number.
#: 21211 invalid 'To'; 21214 not reachable; 21408 region not enabled; 21610 recipient sent STOP;
#: 21612 unreachable route; 21614 not a mobile number; 21617 body too long; 21602 empty body.
PERMANENT_ERROR_CODES = frozenset({21211, 21214, 21408, 21610, 21612, 21614, 21617, 21602})
#: The code Twilio uses when the recipient has opted out (the number must then be suppressed).
UNSUBSCRIBED_CODE = 21610


class TwilioSms:
    """One Twilio account (or messaging service) as an SMS provider.

    Messages go out through `LeanMessages` (the official client's wire format, a fraction of its CPU
    per message) whenever the client allows it, else through `client.messages.create_async`;
    `lean=False` forces the official path.
    """

    channel: ClassVar[str] = "sms"

    def __init__(self, client: Client, sender: str | Sequence[str], *, provider: str = "twilio",
                 lean: bool = True) -> None:
        """`sender` is a phone number (E.164), a messaging service SID ("MG..."), or a pool of them."""
        self._client = client
        self._lean = LeanMessages.for_client(client) if lean else None
        self.provider = provider
        self._senders = [sender] if isinstance(sender, str) else list(sender)
        if not self._senders:
            raise ValueError("at least one sender (number or messaging service) is required")

    def sender_for(self, to: str) -> str:
        """A pool spreads recipients over its senders by a stable hash of their number, so a person
        always hears from (and replies to) the same sender, and each sender stays within its limit."""
        return self._senders[zlib.crc32(to.encode()) % len(self._senders)]

    async def send(self, message: Outbound) -> Receipt:
        sender = self.sender_for(message.to)
        field = "messaging_service_sid" if sender.startswith("MG") else "from_"
        kwargs = {field: sender, "to": message.to, "body": message.body}
        if message.status_callback:
            kwargs["status_callback"] = message.status_callback
        create = self._lean.create if self._lean is not None else self._client.messages.create_async
        return await create_and_receipt(create(**kwargs), message.key, self.provider,
                                        PERMANENT_ERROR_CODES, "message")

    async def aclose(self) -> None:
        await close_client(self._client)
