"""An SMS as the fake Twilio keeps it, plus the small rules Twilio applies to one.

Segment counting here is deliberately rough (it mirrors Twilio's visible
`num_segments`, not carrier encoding details); the sandbox only needs it to
return plausible resources.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field

from .state import RecordedMessage

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
API_VERSION = "2010-04-01"

# GSM 03.38 basic set (one septet each) and the extension table (escape + char: two).
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("^{}\\[~]|€\f")


def count_segments(body: str) -> int:
    """How many SMS parts `body` takes: 160/153 GSM-7 septets, else 70/67 UCS-2 units."""
    septets = 0
    for char in body:
        if char in _GSM_BASIC:
            septets += 1
        elif char in _GSM_EXTENDED:
            septets += 2
        else:
            units = len(body.encode("utf-16-le")) // 2
            return 1 if units <= 70 else -(-units // 67)
    return 1 if septets <= 160 else -(-septets // 153)


def new_sid(prefix: str = "SM") -> str:
    """A Twilio-shaped SID: two letters and 32 hex digits."""
    return prefix + secrets.token_hex(16)


def rfc2822(ts: float) -> str:
    """Twilio's date format, e.g. `Thu, 30 Jul 2015 20:12:31 +0000`."""
    second = int(ts)
    if _last_date[0] != second:  # a resource formats three dates, thousands a second share one
        _last_date[:] = [second, time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(second))]
    return _last_date[1]


_last_date: list = [None, ""]


@dataclass(slots=True, eq=False, kw_only=True)
class SmsMessage(RecordedMessage):
    """A message sent through the fake Twilio Messages API (or a TwiML reply).

    `sender` is the From number, or the messaging service SID when the caller
    gave only that: it is the address a phone's reply goes back to.
    """

    channel: str = "sms"
    from_number: str | None = None  # the `From` the caller gave, None with a messaging service
    messaging_service_sid: str | None = None
    status_callback: str | None = None
    auth_token: str = field(default="", repr=False)  # signs this message's callbacks
    num_segments: int = 1
    direction: str = "outbound-api"
    updated_at: float = 0.0
    sent_at: float | None = None

    def advance(self, status: str, at: float) -> None:
        """Move to the next delivery status."""
        self.status = status
        self.updated_at = at
        if status == "sent":
            self.sent_at = at

    def resource(self) -> dict[str, object]:
        """The Twilio Message resource JSON for this message."""
        path = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": rfc2822(self.at),
            "date_sent": None if self.sent_at is None else rfc2822(self.sent_at),
            "date_updated": rfc2822(self.updated_at or self.at),
            "direction": self.direction,
            "error_code": None,
            "error_message": None,
            "from": self.from_number,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": "0",
            "num_segments": str(self.num_segments),
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": f"{path}/Media.json", "feedback": f"{path}/Feedback.json"},
            "to": self.to,
            "uri": f"{path}.json",
        }

    def callback_params(self) -> dict[str, str]:
        """Form fields of a status callback for the current status, as Twilio sends them."""
        params = {
            "MessageSid": self.sid,
            "SmsSid": self.sid,
            "AccountSid": self.account_sid or "",
            "From": self.sender,
            "To": self.to,
            "MessageStatus": self.status,
            "SmsStatus": self.status,
            "ApiVersion": API_VERSION,
        }
        if self.messaging_service_sid:
            params["MessagingServiceSid"] = self.messaging_service_sid
        return params
