"""The words each channel carries for an alert."""
from __future__ import annotations

from alerting.models import Alert

#: NFPA 72 and common practice: a test message says so, first, on every channel.
DRILL_PREFIX = "TEST - EXERCISE ONLY. "


def sms_text(alert: Alert, org_name: str, *, with_code: bool = False) -> str:
    """Who it is from (carriers require it), the message, and how to answer. A person with other
    open alerts is asked to answer with this alert's code, so no answer has to be guessed."""
    drill = DRILL_PREFIX if alert.drill else ""
    if with_code and alert.reply_code:
        how = f"Reply {alert.reply_code}1 if you are safe, {alert.reply_code}2 if you need help."
    else:
        how = "Reply SAFE if you are safe, HELP if you need help."
    return f"{drill}{org_name}: {alert.text_for('sms')}\n{how}"
