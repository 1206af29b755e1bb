"""Voice calls through the official Twilio client, against Twilio or any Twilio-compatible API.

Placing a call only hands Twilio two URLs: where to fetch what to say once someone (or something)
answers, and where to report how the call ended. What is said is decided at that moment by the
console (console/hooks_voice.py), so this adapter never sees the message. Machine detection waits
for the end of a voicemail greeting, so a message left on a machine starts after the beep.

Calls go out through `LeanCalls` (channels/twilio_lean_calls.py: the official client's bytes, ~80%
less of a worker's CPU per call) whenever the client allows it, else through
`client.calls.create_async`; `lean=False` forces the official path.
"""
from __future__ import annotations

import zlib
from typing import ClassVar, Sequence

from twilio.rest import Client

from channels.base import Outbound, Outcome, Receipt
from channels.twilio_calls import close_client, create_and_receipt
from channels.twilio_lean_calls import LeanCalls

#: Twilio error codes after which calling again (or from another account) cannot succeed.
#: 21211 invalid 'To'; 21214 'To' cannot be reached; 21215 no geo permission for that country;
#: 21216 number on Twilio's block list; 21217 'To' does not look like a phone number.
PERMANENT_ERROR_CODES = frozenset({21211, 21214, 21215, 21216, 21217})
#: "DetectMessageEnd": Twilio fetches the TwiML after a voicemail greeting's beep, not during it.
MACHINE_DETECTION = "DetectMessageEnd"


#: The call progress events Twilio reports to the status callback. Not `initiated`: it says what the
#: API's answer already said (the call is queued) and cost a webhook per call for nothing.
CALL_EVENTS = ["ringing", "answered", "completed"]


class TwilioVoice:
    """One Twilio account as a voice provider."""

    channel: ClassVar[str] = "voice"

    def __init__(self, client: Client, sender: str | Sequence[str], *, provider: str = "twilio",
                 lean: bool = True) -> None:
        """`sender` is the number (E.164) calls come from, or a pool of numbers.

        Messaging service SIDs ("MG...") in a pool shared with SMS are skipped: they cannot place calls.
        """
        senders = [sender] if isinstance(sender, str) else list(sender)
        self._senders = [s for s in senders if s and not s.startswith("MG")]
        if not self._senders:
            raise ValueError(f"a voice call needs a phone number to call from (a messaging service cannot "
                             f"place calls), got {sender!r}")
        self._client = client
        self._lean = LeanCalls.for_client(client) if lean else None
        self.provider = provider

    def sender_for(self, to: str) -> str:
        """A stable choice per person, so they always see the same caller ID (and can call it back)."""
        return self._senders[zlib.crc32(to.encode()) % len(self._senders)]

    async def send(self, message: Outbound) -> Receipt:
        if not message.twiml_url:
            return Receipt(message.key, Outcome.PERMANENT, self.provider, error_code="no-twiml-url",
                           error_message="a call needs the URL of what to say")
        kwargs = {"to": message.to, "from_": self.sender_for(message.to), "url": message.twiml_url,
                  "method": "POST", "machine_detection": MACHINE_DETECTION}
        if message.status_callback:
            # Ringing and answered too, not only the end: the console shows a call as sent (ringing)
            # and delivered (answered) while it is still going on.
            kwargs.update(status_callback=message.status_callback, status_callback_method="POST",
                          status_callback_event=CALL_EVENTS)
        create = self._lean.create if self._lean is not None else self._client.calls.create_async
        return await create_and_receipt(create(**kwargs), message.key, self.provider, PERMANENT_ERROR_CODES, "call")

    async def aclose(self) -> None:
        await close_client(self._client)
