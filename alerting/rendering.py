"""The words each channel carries for an alert."""
from __future__ import annotations

from alerting.models import Alert
from alerting.personalize import fill

#: NFPA 72 and common practice: a test message says so, first, on every channel.
DRILL_PREFIX = "TEST - EXERCISE ONLY. "

#: Follow-ups that ask nothing of anyone: the danger was never real, or it is over.
NO_ANSWER_KINDS = ("false_alarm", "all_clear")

#: How to answer by SMS, in the languages replies are understood in (alerting/replies.py):
#: (plain, with a reply code, no answer needed). GSM-7 characters only, so they cost no extra segments.
SMS_HOW = {
    "en": ("Reply SAFE if you are safe, HELP if you need help.",
           "Reply {code}1 if you are safe, {code}2 if you need help.", "No reply needed."),
    "es": ("Responda SEGURO si esta a salvo, AYUDA si necesita ayuda.",
           "Responda {code}1 si esta a salvo, {code}2 si necesita ayuda.", "No hace falta responder."),
    "fr": ("Repondez SAUF si vous etes en securite, AIDE si vous avez besoin d'aide.",
           "Repondez {code}1 si vous etes en securite, {code}2 si vous avez besoin d'aide.",
           "Pas besoin de repondre."),
}


def asks_for_answer(alert: Alert) -> bool:
    """False for a false alarm or an all clear: nobody is asked to say they are safe."""
    return alert.follow_kind not in NO_ANSWER_KINDS


def sms_how(alert: Alert, locale: str | None, *, with_code: bool) -> str:
    plain, coded, nothing = SMS_HOW.get((locale or "en")[:2].lower(), SMS_HOW["en"])
    if not asks_for_answer(alert):
        return nothing
    if with_code and alert.reply_code:
        return coded.format(code=alert.reply_code)
    return plain


def sms_text(alert: Alert, org_name: str, *, with_code: bool = False, locale: str | None = None,
             values: dict[str, str] | None = None) -> str:
    """Who it is from (carriers require it), the message, and how to answer. A person with other
    open alerts is asked to answer with this alert's code, so no answer has to be guessed.

    `locale` picks the alert's translation for the person; `values` fills their placeholders
    (alerting/personalize.py). Without `values`, placeholders show as written (previews)."""
    drill = DRILL_PREFIX if alert.drill else ""
    how = sms_how(alert, locale, with_code=with_code)
    text = alert.text_for("sms", locale)
    if values is not None:
        text = fill(text, values)
    return f"{drill}{org_name}: {text}\n{how}"
