"""The fake push service's memory: simulated browser subscriptions, and the pushes they got.

A subscription is what a browser's `PushManager.subscribe()` would make: the
sandbox plays the browser too, so it generates the P-256 key pair and the
16-byte auth secret (RFC 8291), keeps the private half, and can decrypt what
an application server sends. Pushes land in the inbox of `push:<id>`.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import http_ece
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .state import RecordedMessage
from .vapid import VerifiedTokens, b64url_encode

AUTH_SECRET_BYTES = 16


def address_for(sub_id: str) -> str:
    """The inbox address of a subscription's pushes."""
    return f"push:{sub_id}"


class DecryptError(ValueError):
    """A push body that is not aes128gcm for this subscription's keys."""


@dataclass(eq=False)
class PushSubscription:
    """One simulated browser subscription; `expired` ones answer 410 Gone."""

    id: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    auth_secret: bytes = field(repr=False)
    created_at: float
    label: str | None = None
    application_server_key: bytes | None = None  # restricts pushes to this VAPID key
    expired: bool = False

    @property
    def address(self) -> str:
        return address_for(self.id)

    @property
    def p256dh(self) -> str:
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url_encode(point)

    def browser_json(self) -> dict[str, Any]:
        """`PushSubscription.toJSON()` as a browser gives it to the page."""
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": self.p256dh, "auth": b64url_encode(self.auth_secret)},
        }

    def to_json(self) -> dict[str, Any]:
        """The sandbox's view: the browser JSON plus id, address, label and state."""
        return {
            "id": self.id,
            "address": self.address,
            "label": self.label,
            "expired": self.expired,
            "created_at": self.created_at,
            "restricted": self.application_server_key is not None,
            "subscription": self.browser_json(),
        }

    def decrypt(self, body: bytes) -> bytes:
        """The plaintext of an RFC 8291 aes128gcm push body; DecryptError if it is not one."""
        try:
            return http_ece.decrypt(
                body, private_key=self.private_key, auth_secret=self.auth_secret, version="aes128gcm"
            )
        except Exception as exc:  # http_ece raises ECEException, cryptography InvalidTag, struct errors...
            raise DecryptError(f"body does not decrypt as aes128gcm for this subscription: {exc!r}") from None


class PushService:
    """Every subscription the sandbox made, by id; kept across `POST /sandbox/reset` unless asked."""

    def __init__(self) -> None:
        self._subscriptions: dict[str, PushSubscription] = {}
        # VAPID tokens whose ES256 signature checked out: a sender reuses one for many pushes.
        self.verified_tokens: VerifiedTokens = {}

    def subscribe(
        self, endpoint_for: Callable[[str], str], *, label: str | None = None, application_server_key: bytes | None = None
    ) -> PushSubscription:
        """Make a browser-side subscription; `endpoint_for(id)` builds its absolute endpoint URL."""
        sub_id = secrets.token_urlsafe(16)
        subscription = PushSubscription(
            id=sub_id,
            endpoint=endpoint_for(sub_id),
            private_key=ec.generate_private_key(ec.SECP256R1()),
            auth_secret=os.urandom(AUTH_SECRET_BYTES),
            created_at=time.time(),
            label=label,
            application_server_key=application_server_key,
        )
        self._subscriptions[sub_id] = subscription
        return subscription

    def get(self, sub_id: str) -> PushSubscription | None:
        return self._subscriptions.get(sub_id)

    def all(self) -> list[PushSubscription]:
        return list(self._subscriptions.values())

    def clear(self) -> None:
        self._subscriptions.clear()


@dataclass(slots=True, eq=False, kw_only=True)
class PushMessage(RecordedMessage):
    """A push the service accepted and decrypted; `sender` is the VAPID `sub` claim."""

    channel: str = "push"
    subscription_id: str = ""
    label: str | None = None
    ttl: int = 0
    urgency: str = "normal"
    topic: str | None = None
    vapid_key: str = ""  # the application server's public key (k=), base64url
    payload: Any = None  # the body parsed as JSON, when it is a JSON object

    @staticmethod
    def parse_payload(text: str) -> Any:
        """The decrypted text as a JSON object (a notification's title/body...), else None."""
        try:
            value = json.loads(text)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def to_json(self) -> dict[str, Any]:
        data = RecordedMessage.to_json(self)
        data.update(
            subscription=self.subscription_id,
            label=self.label,
            payload=self.payload,
            ttl=self.ttl,
            urgency=self.urgency,
            topic=self.topic,
            vapid_key=self.vapid_key,
        )
        return data
