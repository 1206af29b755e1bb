"""SMS through the official Twilio client, against Twilio or any Twilio-compatible API."""
from __future__ import annotations

import asyncio
import zlib
from typing import ClassVar, Sequence

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from channels.base import Outbound, Outcome, Receipt

#: Twilio error codes after which trying again (or elsewhere) cannot succeed for this number.
#: 21211 invalid 'To'; 21214 not reachable; 21408 region not enabled; 21610 recipient sent STOP;
#: 21612 unreachable route; 21614 not a mobile number; 21617 body too long; 21602 empty body.
PERMANENT_ERROR_CODES = frozenset({21211, 21214, 21408, 21610, 21612, 21614, 21617, 21602})
#: The code Twilio uses when the recipient has opted out (the number must then be suppressed).
UNSUBSCRIBED_CODE = 21610


class TwilioSms:
    """One Twilio account (or messaging service) as an SMS provider."""

    channel: ClassVar[str] = "sms"

    def __init__(self, client: Client, sender: str | Sequence[str], *, provider: str = "twilio") -> None:
        """`sender` is a phone number (E.164), a messaging service SID ("MG..."), or a pool of them."""
        self._client = client
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
        try:
            created = await self._client.messages.create_async(**kwargs)
        except TwilioRestException as exc:
            return self._failure(message.key, exc)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            return Receipt(message.key, Outcome.TRANSIENT, self.provider, error_code="network",
                           error_message=type(exc).__name__)
        except (TwilioException, ValueError, KeyError, TypeError) as exc:
            # A body the client could not read is the provider misbehaving: never count it as sent.
            return Receipt(message.key, Outcome.TRANSIENT, self.provider, error_code="bad-response",
                           error_message=f"{type(exc).__name__}: {exc}"[:300])
        sid = getattr(created, "sid", None)
        if not isinstance(sid, str) or not sid:
            return Receipt(message.key, Outcome.TRANSIENT, self.provider, error_code="bad-response",
                           error_message="the provider's answer carried no message sid")
        return Receipt(message.key, Outcome.ACCEPTED, self.provider, provider_message_id=sid,
                       status=str(created.status or "queued"))

    def _failure(self, key: int, exc: TwilioRestException) -> Receipt:
        code = exc.code if isinstance(exc.code, int) else None
        status = exc.status or 0
        # 400/404 mean Twilio rejected this very request: another try, or another account, fails alike.
        # 401/403 (credentials), 429 (throttled) and 5xx are the provider's trouble, not the message's.
        permanent = code in PERMANENT_ERROR_CODES or status in (400, 404)
        return Receipt(key, Outcome.PERMANENT if permanent else Outcome.TRANSIENT, self.provider,
                       error_code=str(code or status), error_message=(exc.msg or "")[:300])

    async def aclose(self) -> None:
        http_client = self._client.http_client
        close = getattr(http_client, "close", None)
        if close is not None:
            await close()
