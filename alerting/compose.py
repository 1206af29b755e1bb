"""What each channel carries for each person: built at send time, per delivery.

Every channel says who it is from, says TEST first for a drill (before anything personal), is in
the person's language when the alert has a translation for it, and tells the person how to
answer: a reply (SMS), a key (voice), a button (push) or a link (email). Links are signed per
person and alert (alerting/links.py), so an answer is bound to the one who received it.
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerting import personalize
from alerting.links import LinkSigner
from alerting.models import Alert, Delivery, PushSubscription
from alerting.personalize import fill
from alerting.rendering import DRILL_PREFIX, asks_for_answer, sms_text
from alerting.statuses import OPEN_ALERT_STATUSES, Channel
from channels.base import Outbound


@dataclass(frozen=True)
class Claimed:
    """A delivery a send job now owns."""
    id: int
    address: str | None
    tries: int
    recipient_id: int


def response_url(public_url: str, signer: LinkSigner, alert_id: int, recipient_id: int) -> str:
    return f"{public_url}/r/{signer.respond_token(alert_id, recipient_id)}"


def email_content(alert: Alert, org_name: str, respond_url: str, name: str, *, locale: str | None = None,
                  values: dict[str, str] | None = None) -> tuple[str, str, str]:
    """(subject, text, html) of an alert email with its two answer links, in the person's language
    when the alert has it, with their placeholders filled from `values`."""
    drill = DRILL_PREFIX if alert.drill else ""
    title, message = alert.title_for(locale), alert.text_for("email", locale)
    if values is not None:
        title, message = fill(title, values), fill(message, values)
    subject = f"{'[TEST] ' if alert.drill else ''}{title} - {org_name}"
    greeting = f"{name},\n\n" if name else ""
    safe, help_ = f"{respond_url}?answer=safe", f"{respond_url}?answer=need_help"
    e = html.escape
    if asks_for_answer(alert):
        text = (f"{greeting}{drill}{message}\n\nTell us you are safe: {safe}\n"
                f"Tell us you need help: {help_}\n\n{org_name}")
        links = f'<p><a href="{e(safe)}">I am safe</a> &nbsp; <a href="{e(help_)}">I need help</a></p>'
    else:  # a false alarm or an all clear asks nothing; a person in trouble can still use the link
        text = f"{greeting}{drill}{message}\n\nNo reply needed. Still need help? {help_}\n\n{org_name}"
        links = f'<p>No reply needed. <a href="{e(help_)}">I still need help</a></p>'
    body = (f"<p>{e(greeting.strip(', ').strip())}</p>" if name else "") + (
        f"<p>{e(drill)}{e(message)}</p>{links}<p>{e(org_name)}</p>")
    return subject, text, f"<!doctype html><html><body>{body}</body></html>"


#: Push services accept at most 4,096 bytes of encrypted payload; the notification shows far less.
#: A longer message is cut here, and the answer page behind `respond_url` shows it whole.
PUSH_BODY_MAX_BYTES = 2500


def _cut(text: str, max_bytes: int) -> str:
    if len(text.encode()) <= max_bytes:
        return text
    return text.encode()[:max_bytes - 3].decode(errors="ignore").rstrip() + "…"


def push_payload(alert: Alert, org_name: str, respond_url: str, *, locale: str | None = None,
                 values: dict[str, str] | None = None) -> str:
    """The JSON the service worker shows as a notification with two actions."""
    title, body = alert.title_for(locale), alert.text_for("push", locale)
    if values is not None:
        title, body = fill(title, values), fill(body, values)
    return json.dumps({
        "title": _cut(f"{'TEST: ' if alert.drill else ''}{title}", 300),
        "body": _cut(body, PUSH_BODY_MAX_BYTES), "org": org_name,
        "alert_id": alert.id, "drill": alert.drill, "respond_url": respond_url,
        "actions": [{"action": "safe", "title": "I'm safe"}, {"action": "need_help", "title": "I need help"}]
        if asks_for_answer(alert) else [],
    }, separators=(",", ":"))


def numbers_with_other_open_alerts(session: Session, alert: Alert, numbers: Sequence[str]) -> set[str]:
    """Which of these numbers were texted by an open alert of another incident (updates of the same
    incident ask the same question and need no code)."""
    if not numbers:
        return set()
    return set(session.scalars(select(Delivery.address).join(Alert, Alert.id == Delivery.alert_id).where(
        Delivery.channel == Channel.SMS, Alert.incident_id != alert.incident_id, Delivery.address.in_(list(numbers)),
        Alert.status.in_(OPEN_ALERT_STATUSES)).distinct()))


def compose(session: Session, channel: str, alert: Alert, claimed: Sequence[Claimed], *, public_url: str,
            org_name: str, signer: LinkSigner) -> list[Outbound]:
    """The messages for a batch of claimed deliveries on one channel, each in its person's language
    and with their own placeholders (alerting/personalize.py: values fetched once per batch)."""
    people = personalize.people(session, alert, [c.recipient_id for c in claimed])
    unknown = personalize.Person(0, "en")  # a person deleted since the delivery was written

    def person(c: Claimed) -> personalize.Person:
        return people.get(c.recipient_id, unknown)

    if channel == Channel.SMS:
        others = numbers_with_other_open_alerts(session, alert, [c.address for c in claimed if c.address])
        texts: dict[tuple[str, bool], str] = {}  # the unpersonalized text per language, built once
        messages = []
        for c in claimed:
            p, coded = person(c), c.address in others
            key = (p.locale[:2].lower(), coded)
            if key not in texts:
                texts[key] = sms_text(alert, org_name, with_code=coded, locale=p.locale)
            body = personalize.fill(texts[key], p.values) if p.values else texts[key]
            messages.append(Outbound(c.id, c.address or "", body,
                                     status_callback=f"{public_url}/hooks/twilio/status?d={c.id}"))
        return messages
    if channel == Channel.VOICE:
        # What is said is served at call time by /hooks/twilio/voice, in the person's language.
        return [Outbound(c.id, c.address or "", "", twiml_url=f"{public_url}/hooks/twilio/voice?d={c.id}",
                         status_callback=f"{public_url}/hooks/twilio/call-status?d={c.id}",
                         language=person(c).locale) for c in claimed]
    if channel == Channel.EMAIL:
        messages = []
        for c in claimed:
            p = person(c)
            subject, text, page = email_content(alert, org_name, response_url(public_url, signer, alert.id, c.recipient_id),
                                                p.name, locale=p.locale, values=p.values)
            messages.append(Outbound(c.id, c.address or "", text, subject=subject, html=page, language=p.locale))
        return messages
    if channel == Channel.PUSH:
        subscriptions = {str(s.id): s for s in session.scalars(select(PushSubscription).where(
            PushSubscription.id.in_([int(c.address) for c in claimed if c.address and c.address.isdigit()])))}
        messages = []
        for c in claimed:
            sub = subscriptions.get(c.address or "")
            if sub is not None and (sub.recipient_id != c.recipient_id or sub.gone_at is not None):
                sub = None  # re-bound to another person, or gone, since the delivery was written
            p = person(c)
            payload = push_payload(alert, org_name, response_url(public_url, signer, alert.id, c.recipient_id),
                                   locale=p.locale, values=p.values)
            messages.append(Outbound(c.id, sub.endpoint if sub else "", payload,
                                     push_keys=(sub.p256dh, sub.auth) if sub else None))
        return messages
    raise ValueError(f"no composer for channel {channel!r}")
