"""Voice calls through the official Twilio client, against Twilio or any Twilio-compatible API.

Placing a call only hands Twilio two URLs: where to fetch what to say once someone (or something)
answers, and where to report how the call ended. What is said is decided at that moment by the
console (console/hooks_voice.py), so this adapter never sees the message. Machine detection waits
for the end of a voicemail greeting, so a message left on a machine starts after the beep.
"""
from __future__ import annotations

import asyncio
import zlib
from typing import ClassVar, Sequence

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from channels.base import Outbound, Outcome, Receipt

#: Twilio error codes after which calling again (or from another account) cannot succeed.
#: 21211 invalid 'To'; 21214 'To' cannot be reached; 21215 no geo permission for that country;
#: 21216 number on Twilio's block list; 21217 'To' does not look like a phone number.
PERMANENT_ERROR_CODES = frozenset({21211, 21214, 21215, 21216, 21217})
#: "DetectMessageEnd": Twilio fetches the TwiML after a voicemail greeting's beep, not during it.
MACHINE_DETECTION = "DetectMessageEnd"


class TwilioVoice:
    """One Twilio account as a voice provider."""

    channel: ClassVar[str] = "voice"

    def __init__(self, client: Client, sender: str | Sequence[str], *, provider: str = "twilio") -> None:
        """`sender` is the number (E.164) calls come from, or a pool of numbers.

        Messaging service SIDs ("MG...") in a pool shared with SMS are skipped: they cannot place calls.
        """
        senders = [sender] if isinstance(sender, str) else list(sender)
        self._senders = [s for s in senders if s and not s.startswith("MG")]
        if not self._senders:
            raise ValueError(f"a voice call needs a phone number to call from (a messaging service cannot "
                             f"place calls), got {sender!r}")
        self._client = client
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
            kwargs.update(status_callback=message.status_callback, status_callback_method="POST")
        try:
            created = await self._client.calls.create_async(**kwargs)
        except TwilioRestException as exc:
            return self._failure(message.key, exc)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            return Receipt(message.key, Outcome.TRANSIENT, self.provider, error_code="network",
                           error_message=type(exc).__name__)
        except (TwilioException, ValueError, KeyError, TypeError) as exc:
            # An answer the client could not read is the provider misbehaving: never count it as placed.
            return Receipt(message.key, Outcome.TRANSIENT, self.provider, error_code="bad-response",
                           error_message=f"{type(exc).__name__}: {exc}"[:300])
        sid = getattr(created, "sid", None)
        if not isinstance(sid, str) or not sid:
            return Receipt(message.key, Outcome.TRANSIENT, self.provider, error_code="bad-response",
                           error_message="the provider's answer carried no call sid")
        return Receipt(message.key, Outcome.ACCEPTED, self.provider, provider_message_id=sid,
                       status=str(created.status or "queued"))

    def _failure(self, key: int, exc: TwilioRestException) -> Receipt:
        """The same rule as SMS (channels/twilio_sms.py), with the call API's own permanent codes."""
        code = exc.code if isinstance(exc.code, int) else None
        status = exc.status or 0
        # 400/404 mean Twilio rejected this very request: another try, or another account, fails alike.
        # 401/403 (credentials), 429 (throttled) and 5xx are the provider's trouble, not the call's.
        permanent = code in PERMANENT_ERROR_CODES or status in (400, 404)
        return Receipt(key, Outcome.PERMANENT if permanent else Outcome.TRANSIENT, self.provider,
                       error_code=str(code or status), error_message=(exc.msg or "")[:300])

    async def aclose(self) -> None:
        close = getattr(self._client.http_client, "close", None)
        if close is not None:
            await close()
