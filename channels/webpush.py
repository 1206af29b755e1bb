"""Web Push (RFC 8030) through pywebpush: aes128gcm-encrypted payloads (RFC 8291), signed with our
VAPID key (RFC 8292).

The VAPID key is parsed once into a `py_vapid.Vapid`. The signed VAPID header is made here, one per
push service (the token's `aud` is the endpoint's origin, as pywebpush computes it) and reused for
VAPID_REUSE_S: RFC 8292 lets one token serve many pushes until it expires, and signing (ES256) was
~15% of a worker's CPU per push. The claims are pywebpush's own (`sub`, `aud`, then `exp` 12 hours
ahead), so a reused token always has more than 11 hours left. One aiohttp session, made inside the
running loop on first use, carries every push, so connections to a push service are reused.

Failure policy, as for every adapter: nothing is raised. 404 and 410 mean the browser's subscription
no longer exists: PERMANENT with exactly "404"/"410" as `error_code`, which the core reads as "mark
the subscription gone, never use it again". 429, 5xx, timeouts and connection errors are TRANSIENT.
Any other 4xx (413 payload too large, 400 malformed, 401/403 VAPID refused) is PERMANENT with its
status: the same request cannot succeed later. Endpoints are not logged: they identify a browser.
"""
from __future__ import annotations

import asyncio
import base64
import re
import time
from collections.abc import Callable
from typing import ClassVar
from urllib.parse import urlsplit

import aiohttp
from http_ece import ECEException
from py_vapid import Vapid, VapidException
from pywebpush import WebPushException, webpush_async

from channels.base import Outbound, Outcome, Receipt

#: Statuses a push service answers when it took the message (RFC 8030 says 201; some say 200/202).
ACCEPTED_STATUSES = frozenset({200, 201, 202})
#: Longest provider message id kept (the deliveries column holds 100 characters).
MAX_MESSAGE_ID = 100
#: Push services answer in well under a second; a hung one must not hold a send job for long.
DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=15, connect=5)
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+=*")
#: How long one signed VAPID token is used for a push service before a fresh one is signed.
VAPID_REUSE_S = 600
#: The token's lifetime, as pywebpush sets it (RFC 8292 allows at most 24 hours).
VAPID_EXPIRY_S = 12 * 60 * 60


class WebPush:
    """Our VAPID identity as a push provider: any browser's push service is reachable with it."""

    channel: ClassVar[str] = "push"

    def __init__(self, vapid_private_key: str, subject: str, *, provider: str = "webpush", ttl: int = 3600,
                 timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT, max_connections: int = 250,
                 clock: Callable[[], float] = time.time) -> None:
        """`vapid_private_key` is base64url of the raw 32-byte scalar (ops/vapid_keys.py); `subject`
        is the `mailto:` or `https:` contact push services see. `ttl` is how long (seconds) a push
        service keeps an alert for a browser that is offline: an old alert is noise, not news."""
        key = vapid_private_key.strip()
        try:
            if not _BASE64URL.fullmatch(key) or len(base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))) != 32:
                raise ValueError("not 32 bytes of base64url")
            self._vapid = Vapid.from_raw(key.encode())
        except ValueError as exc:  # never the key itself in the message: it is a secret
            raise ValueError("the VAPID private key must be base64url of a raw 32-byte P-256 key") from exc
        try:
            # Signing once here makes a bad `sub` fail at start-up instead of on every push.
            self._vapid.sign({"sub": subject, "aud": "https://push.example"})
        except VapidException as exc:
            raise ValueError(f"the VAPID subject must be a mailto: or https: URL, got {subject!r}") from exc
        self._subject = subject
        self.provider = provider
        self._ttl = ttl
        self._timeout = timeout
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._clock = clock
        self._tokens: dict[str, tuple[float, dict[str, str]]] = {}  # origin -> (signed at, VAPID headers)

    def _vapid_headers(self, endpoint: str) -> dict[str, str]:
        """The VAPID Authorization header for `endpoint`'s push service, signed at most VAPID_REUSE_S ago."""
        parts = urlsplit(endpoint)
        audience = f"{parts.scheme}://{parts.netloc}"
        now = self._clock()
        cached = self._tokens.get(audience)
        if cached is None or not 0 <= now - cached[0] < VAPID_REUSE_S:
            if len(self._tokens) > 1000:  # endpoints of a thousand push services: start again
                self._tokens.clear()
            claims = {"sub": self._subject, "aud": audience, "exp": int(now) + VAPID_EXPIRY_S}
            cached = self._tokens[audience] = (now, self._vapid.sign(claims))
        return cached[1]

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, connector=aiohttp.TCPConnector(limit=self._max_connections))
        return self._session

    async def send(self, message: Outbound) -> Receipt:
        if not message.to or message.push_keys is None:
            return self._receipt(message, Outcome.PERMANENT, "no-subscription",
                                 "the person has no active push subscription")
        p256dh, auth = message.push_keys
        subscription = {"endpoint": message.to, "keys": {"p256dh": p256dh, "auth": auth}}
        try:
            headers = {"Urgency": "high", **self._vapid_headers(message.to)}
            response = await webpush_async(
                subscription, data=message.body, ttl=self._ttl, headers=headers,  # type: ignore[arg-type]
                content_encoding="aes128gcm", timeout=self._timeout,  # type: ignore[arg-type]
                aiohttp_session=self._http())
        except WebPushException as exc:
            status = exc.status_code
            if status is None:  # raised before any request: the stored keys are unusable
                return self._receipt(message, Outcome.PERMANENT, "bad-subscription", exc.message)
            return self._failure(message, status, exc.message)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            return self._receipt(message, Outcome.TRANSIENT, "network", type(exc).__name__)
        except (ECEException, ValueError) as exc:
            # Keys that do not decode or are not a curve point: no retry can encrypt to them.
            return self._receipt(message, Outcome.PERMANENT, "bad-subscription", f"{type(exc).__name__}: {exc}")
        if isinstance(response, str) or response.status not in ACCEPTED_STATUSES:
            status = getattr(response, "status", 0)
            return self._failure(message, status, f"unexpected answer {status}")
        return Receipt(message.key, Outcome.ACCEPTED, self.provider,
                       provider_message_id=_message_id(response.headers.get("Location")), status="sent")

    def _failure(self, message: Outbound, status: int, text: str) -> Receipt:
        transient = status == 429 or status >= 500 or status < 400
        return self._receipt(message, Outcome.TRANSIENT if transient else Outcome.PERMANENT, str(status), text)

    def _receipt(self, message: Outbound, outcome: Outcome, code: str, text: str) -> Receipt:
        return Receipt(message.key, outcome, self.provider, error_code=code, error_message=text[:300])

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _message_id(location: str | None) -> str | None:
    """The push message's id: the last segment of its `Location` (RFC 8030 §5), which is all that
    identifies it; whole URLs (Mozilla's run to 200+ characters) would not fit the column."""
    if not location:
        return None
    return location.rstrip("/").rsplit("/", 1)[-1][:MAX_MESSAGE_ID] or None
