"""Proving an address on the sign-up page: single-use codes by SMS, signed links by email.

A request (a `subscription_requests` row) is made for one number or address, holds a hash of its
6-digit code (links are signed by the caller with the request id), expires, and is used once. At most
`per_hour` are made per address and kind, whoever asks, and a code dies after MAX_CODE_ATTEMPTS
wrong tries. The pages that send and redeem them: console/public_signup.py and
console/public_signup_manage.py.
"""
from __future__ import annotations

import hmac
import secrets
from datetime import timedelta, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerting import consent
from alerting.errors import ValidationError
from alerting.models import SubscriptionRequest, utcnow
from alerting.statuses import Channel


PHONE_CODE = "phone_code"
EMAIL_LINK = "email_link"
MANAGE_LINK = "manage_link"
#: Wrong codes allowed per request before it is dead.
MAX_CODE_ATTEMPTS = 5


class VerificationRefused(ValidationError):
    """Too many codes or links asked for this address; the message says when to try again."""


def code_hash(key: str, request_id: int, code: str) -> str:
    return consent.contact_hash(key, f"code:{request_id}", code)


def start_verification(session: Session, key: str, kind: str, channel: str, address: str, payload: dict[str, Any],
                       *, ttl: timedelta, per_hour: int, field_name: str) -> tuple[SubscriptionRequest, str]:
    """A new single-use request for `address` and its secret (a 6-digit code; for links, the caller
    signs the request id). At most `per_hour` per address and kind, whoever asks."""
    digest = consent.contact_hash(key, channel, address)
    now = utcnow()
    recent = session.scalar(select(func.count()).select_from(SubscriptionRequest).where(
        SubscriptionRequest.kind == kind, SubscriptionRequest.address_hash == digest,
        SubscriptionRequest.created_at > now - timedelta(hours=1))) or 0
    if recent >= per_hour:
        raise VerificationRefused(f"too many requests for this {'number' if channel == Channel.SMS else 'address'}; "
                                  f"try again in an hour", field=field_name)
    code = f"{secrets.randbelow(10 ** 6):06d}"
    request = SubscriptionRequest(kind=kind, address=address, address_hash=digest, payload=payload, attempts=0,
                                  created_at=now, expires_at=now + ttl)
    session.add(request)
    session.flush()
    request.code_hash = code_hash(key, request.id, code)
    return request, code


def redeem(session: Session, key: str, request_id: int, kind: str, code: str | None = None) -> SubscriptionRequest:
    """Use a request once: unexpired, unused, and (with `code`) the right code within MAX_CODE_ATTEMPTS."""
    request = session.get(SubscriptionRequest, request_id, with_for_update=True)
    if request is None or request.kind != kind or request.used_at is not None:
        raise ValidationError("this code or link has already been used; start again", field="code")
    if request.expires_at.replace(tzinfo=request.expires_at.tzinfo or timezone.utc) <= utcnow():
        raise ValidationError("this code or link has expired; start again", field="code")
    if code is not None:
        if request.attempts >= MAX_CODE_ATTEMPTS:
            raise ValidationError("too many wrong codes; start again", field="code")
        if not hmac.compare_digest(request.code_hash or "", code_hash(key, request.id, code.strip())):
            request.attempts += 1
            raise ValidationError("that is not the code we sent", field="code")
    request.used_at = utcnow()
    return request

