"""The browsers a person has subscribed to their alerts (Web Push subscriptions).

A subscription is what the browser's `PushSubscription.toJSON()` gives: an endpoint URL at its push
service and two keys. Everything is checked here, when the browser subscribes, because a bad
subscription found only at send time costs a failed delivery in the middle of an emergency.

A browser has one subscription per site, so an endpoint seen again is the same browser subscribing
again (new keys, perhaps another person on a shared computer): the row is re-bound to whoever
subscribed last, never duplicated. Endpoints identify a browser: never log them.
"""
from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alerting import audit
from alerting.errors import NotFound, ValidationError
from alerting.models import PushSubscription

MAX_ENDPOINT_CHARS = 2048  # the column's size; real endpoints are 100-500 characters
P256DH_BYTES = 65  # an uncompressed P-256 point: 0x04, x, y (RFC 8291 §3.1)
AUTH_BYTES = 16  # RFC 8291 §3.2
MAX_USER_AGENT_CHARS = 300
#: Plain-http endpoints are accepted on these hosts only, and only when the caller allows them
#: (a Tocsin served from loopback: development and the sandbox). Elsewhere http would expose the
#: push to anyone on the path and let a subscription point our workers at internal services.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")


@dataclass(frozen=True)
class SubscriptionInput:
    """A checked browser subscription."""
    endpoint: str
    p256dh: str
    auth: str


def _base64url(value: object, field: str, size: int) -> bytes:
    if not isinstance(value, str) or not _BASE64URL.fullmatch(value):
        raise ValidationError(f"{field} must be a base64url string", field=field)
    try:
        raw = base64.urlsafe_b64decode(value.rstrip("=") + "=" * (-len(value.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        raise ValidationError(f"{field} is not valid base64url", field=field) from None
    if len(raw) != size:
        raise ValidationError(f"{field} must encode {size} bytes, got {len(raw)}", field=field)
    return raw


def _endpoint(value: object, allow_loopback_http: bool) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError("endpoint must be the push service URL the browser gave", field="endpoint")
    if len(value) > MAX_ENDPOINT_CHARS:
        raise ValidationError(f"endpoint must be at most {MAX_ENDPOINT_CHARS} characters", field="endpoint")
    if any(c.isspace() or not c.isprintable() for c in value):
        raise ValidationError("endpoint must not contain spaces or control characters", field="endpoint")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise ValidationError("endpoint is not a valid URL", field="endpoint") from None
    host = (parts.hostname or "").lower()
    secure = parts.scheme == "https" or (parts.scheme == "http" and allow_loopback_http and host in LOOPBACK_HOSTS)
    if not secure:
        raise ValidationError(f"endpoint must be an https:// URL, got scheme {parts.scheme!r}"
                              + (" on a non-loopback host" if parts.scheme == "http" else ""), field="endpoint")
    if not host or parts.username is not None or parts.password is not None:
        raise ValidationError("endpoint must name a host and carry no credentials", field="endpoint")
    return value


def parse_subscription(data: Any, *, allow_loopback_http: bool = False) -> SubscriptionInput:
    """Check a browser's PushSubscription JSON; ValidationError names the field at fault."""
    if not isinstance(data, dict):
        raise ValidationError('a push subscription must be a JSON object: {"endpoint": ..., "keys": '
                              '{"p256dh": ..., "auth": ...}}')
    endpoint = _endpoint(data.get("endpoint"), allow_loopback_http)
    keys = data.get("keys")
    if not isinstance(keys, dict):
        raise ValidationError("keys must be an object with p256dh and auth", field="keys")
    point = _base64url(keys.get("p256dh"), "keys.p256dh", P256DH_BYTES)
    if point[0] != 0x04:
        raise ValidationError("keys.p256dh must be an uncompressed P-256 point (starting 0x04)", field="keys.p256dh")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise ValidationError("keys.p256dh is not a point on the P-256 curve", field="keys.p256dh") from None
    _base64url(keys.get("auth"), "keys.auth", AUTH_BYTES)
    # Stored without padding, as browsers write them.
    return SubscriptionInput(endpoint, keys["p256dh"].rstrip("="), keys["auth"].rstrip("="))


def add_subscription(session: Session, recipient_id: int, data: Any, *, user_agent: str = "", actor: str,
                     allow_loopback_http: bool = False) -> tuple[PushSubscription, bool]:
    """Store a browser's subscription for a person; returns (subscription, created).

    An endpoint already stored is re-bound to this person with the new keys, and made usable again
    if it had been marked gone (a browser that subscribes again is reachable again).
    """
    checked = parse_subscription(data, allow_loopback_http=allow_loopback_http)
    agent = (user_agent or "")[:MAX_USER_AGENT_CHARS]
    existing = _by_endpoint(session, checked.endpoint)
    if existing is None:
        subscription = PushSubscription(recipient_id=recipient_id, endpoint=checked.endpoint,
                                        p256dh=checked.p256dh, auth=checked.auth, user_agent=agent)
        try:
            with session.begin_nested():
                session.add(subscription)
        except IntegrityError:  # the same browser was stored a moment ago by a concurrent request
            existing = _by_endpoint(session, checked.endpoint)
            assert existing is not None
        else:
            audit.record(session, actor, "push.subscribe", "recipient", recipient_id, subscription_id=subscription.id)
            return subscription, True
    previous = existing.recipient_id
    existing.recipient_id, existing.p256dh, existing.auth = recipient_id, checked.p256dh, checked.auth
    existing.user_agent, existing.gone_at = agent, None
    session.flush()
    audit.record(session, actor, "push.resubscribe", "recipient", recipient_id, subscription_id=existing.id,
                 **({"from_recipient_id": previous} if previous != recipient_id else {}))
    return existing, False


def _by_endpoint(session: Session, endpoint: str) -> PushSubscription | None:
    return session.scalar(select(PushSubscription).where(PushSubscription.endpoint == endpoint))


def list_for(session: Session, recipient_id: int, *, include_gone: bool = False) -> list[PushSubscription]:
    """A person's subscriptions, oldest first; only the usable ones unless `include_gone`."""
    query = select(PushSubscription).where(PushSubscription.recipient_id == recipient_id)
    if not include_gone:
        query = query.where(PushSubscription.gone_at.is_(None))
    return list(session.scalars(query.order_by(PushSubscription.id)))


def remove(session: Session, recipient_id: int, subscription_id: int, *, actor: str) -> None:
    """Forget one of a person's browsers (they unsubscribed, or an operator removed it)."""
    deleted = session.execute(delete(PushSubscription).where(
        PushSubscription.id == subscription_id, PushSubscription.recipient_id == recipient_id)).rowcount
    if not deleted:
        raise NotFound(f"recipient has no push subscription {subscription_id}")
    audit.record(session, actor, "push.unsubscribe", "recipient", recipient_id, subscription_id=subscription_id)
