"""One Twilio API call turned into a receipt: the rule shared by Twilio SMS and voice."""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from channels.base import Outcome, Receipt


async def create_and_receipt(create: Awaitable[Any], key: int, provider: str, permanent_codes: frozenset[int],
                             what: str) -> Receipt:
    """Await a `create_async` call and say what happened; never raises for provider trouble.

    400/404 mean Twilio rejected this very request: another try, or another account, fails alike,
    so they are permanent (as are `permanent_codes`). 401/403 (credentials), 429 (throttled), 5xx,
    network errors and an answer the client cannot read are the provider's trouble: transient.
    A garbled answer is never counted as accepted.
    """
    try:
        created = await create
    except TwilioRestException as exc:
        code = exc.code if isinstance(exc.code, int) else None
        status = exc.status or 0
        permanent = code in permanent_codes or status in (400, 404)
        return Receipt(key, Outcome.PERMANENT if permanent else Outcome.TRANSIENT, provider,
                       error_code=str(code or status), error_message=(exc.msg or "")[:300])
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        return Receipt(key, Outcome.TRANSIENT, provider, error_code="network", error_message=type(exc).__name__)
    except (TwilioException, ValueError, KeyError, TypeError) as exc:
        return Receipt(key, Outcome.TRANSIENT, provider, error_code="bad-response",
                       error_message=f"{type(exc).__name__}: {exc}"[:300])
    sid = getattr(created, "sid", None)
    if not isinstance(sid, str) or not sid:
        return Receipt(key, Outcome.TRANSIENT, provider, error_code="bad-response",
                       error_message=f"the provider's answer carried no {what} sid")
    return Receipt(key, Outcome.ACCEPTED, provider, provider_message_id=sid, status=str(created.status or "queued"))


async def close_client(client: Client) -> None:
    close = getattr(client.http_client, "close", None)
    if close is not None:
        await close()
