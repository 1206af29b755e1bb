"""Signed per-person links: "I'm safe" / "I need help" in emails and push actions, and the page where
a person subscribes a browser. Each token is bound to one recipient (and one alert, for answers),
carries its purpose, and expires; it holds ids only, never contact details.
"""
from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from alerting.errors import PermissionDenied

RESPOND = "respond"
SUBSCRIBE = "subscribe"


@dataclass(frozen=True)
class LinkClaims:
    purpose: str
    recipient_id: int
    alert_id: int | None = None


class LinkSigner:
    def __init__(self, secret_key: str, *, max_age_s: int):
        self._serializer = URLSafeTimedSerializer(secret_key, salt="tocsin-links")
        self._max_age_s = max_age_s

    def respond_token(self, alert_id: int, recipient_id: int) -> str:
        return self._serializer.dumps([RESPOND, recipient_id, alert_id])

    def subscribe_token(self, recipient_id: int) -> str:
        return self._serializer.dumps([SUBSCRIBE, recipient_id])

    def verify(self, token: str, purpose: str) -> LinkClaims:
        """The claims of a valid, unexpired token for `purpose`; PermissionDenied otherwise."""
        try:
            data = self._serializer.loads(token, max_age=self._max_age_s)
        except SignatureExpired:
            raise PermissionDenied("this link has expired") from None
        except BadSignature:
            raise PermissionDenied("this link is not valid") from None
        if not isinstance(data, list) or not data or data[0] != purpose:
            raise PermissionDenied("this link is not valid here")
        if purpose == RESPOND and len(data) == 3:
            return LinkClaims(RESPOND, int(data[1]), int(data[2]))
        if purpose == SUBSCRIBE and len(data) == 2:
            return LinkClaims(SUBSCRIBE, int(data[1]))
        raise PermissionDenied("this link is not valid")
