"""The words each channel carries for an alert."""
from __future__ import annotations

from alerting.models import Alert
from alerting.personalize import fill

#: NFPA 72 and common practice: a test message says so, first, on every channel.
DRILL_PREFIX = "TEST - EXERCISE ONLY. "


def sms_text(alert: Alert, org_name: str, *, with_code: bool = False, locale: str | None = None,
             values: dict[str, str] | None = None) -> str:
    """Who it is from (carriers require it), the message, and how to answer. A person with other
    open alerts is asked to answer with this alert's code, so no answer has to be guessed.

    `locale` picks the alert's translation for the person; `values` fills their placeholders
    (alerting/personalize.py). Without `values`, placeholders show as written (previews)."""
    drill = DRILL_PREFIX if alert.drill else ""
    if with_code and alert.reply_code:
        how = f"Reply {alert.reply_code}1 if you are safe, {alert.reply_code}2 if you need help."
    else:
        how = "Reply SAFE if you are safe, HELP if you need help."
    text = alert.text_for("sms", locale)
    if values is not None:
        text = fill(text, values)
    return f"{drill}{org_name}: {text}\n{how}"
