"""The words each channel carries for an alert."""
from __future__ import annotations

from alerting.models import Alert

#: NFPA 72 and common practice: a test message says so, first, on every channel.
DRILL_PREFIX = "TEST - EXERCISE ONLY. "


def sms_text(alert: Alert, org_name: str) -> str:
    """Who it is from (carriers require it), the message, and how to answer."""
    drill = DRILL_PREFIX if alert.drill else ""
    return f"{drill}{org_name}: {alert.text_for('sms')}\nReply SAFE if you are safe, HELP if you need help."
