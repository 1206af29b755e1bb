"""Inbound SMS: what a person's reply means, and recording it against the alert it answers.

Keywords are matched on the whole reply, case- and accent-insensitively, ignoring punctuation, in
English, Spanish and French. Carrier rules (CTIA) come first: STOP-words opt the number out of SMS
and START-words back in, whatever alert is open; HELP is both "I need help" and a request for the
organisation's contact, so it is always answered.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from alerting import audit, consent, sms_keywords, subscriptions
from alerting.models import Alert, AlertRecipient, AutoReply, Delivery, Response, utcnow
from alerting.statuses import OPEN_ALERT_STATUSES, RESPONSE_RANK, AlertStatus, Channel, ResponseKind


class Intent(StrEnum):
    SAFE = "safe"
    NEED_HELP = "need_help"
    OTHER = "acknowledged"
    STOP = "stop"
    START = "start"
    SUBSCRIBE = "subscribe"     # a subscription keyword (JOIN, a zone's keyword, YES): alerting/subscriptions.py


KEYWORDS: dict[str, Intent] = {}
for _intent, _words in {
    Intent.SAFE: ["SAFE", "OK", "OKAY", "1", "IM SAFE", "I AM SAFE", "YES SAFE", "ALL GOOD",
                  "SEGURO", "SEGURA", "ESTOY BIEN", "BIEN", "A SALVO", "ESTOY A SALVO",
                  "EN SECURITE", "JE SUIS EN SECURITE", "SAUF", "SAIN ET SAUF", "CA VA"],
    Intent.NEED_HELP: ["HELP", "2", "NEED HELP", "I NEED HELP", "SOS", "AYUDA", "NECESITO AYUDA",
                       "SOCORRO", "AIDE", "AU SECOURS", "JAI BESOIN DAIDE", "BESOIN DAIDE"],
    Intent.STOP: ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "ARRET",
                  "ARRETER", "PARAR", "ALTO"],
    Intent.START: ["START", "UNSTOP", "SUBSCRIBE", "RESUME", "OPTIN"],
}.items():
    for _word in _words:
        KEYWORDS[_word] = _intent


def normalize_reply(text: str) -> str:
    """'  I'm   safé! ' -> 'IM SAFE': strip accents and punctuation, fold case and spaces."""
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(c for c in folded if not unicodedata.combining(c)).upper()
    folded = re.sub(r"['’`]", "", folded)
    return " ".join(re.sub(r"[^A-Z0-9 ]+", " ", folded).split())


def classify(text: str) -> Intent:
    return KEYWORDS.get(normalize_reply(text), Intent.OTHER)


@dataclass(frozen=True)
class InboundResult:
    intent: Intent
    alert_id: int | None        # the alert the reply was recorded against, if any
    reply: str | None           # text to answer the sender with, if any
    duplicate: bool = False     # the provider delivered this same message before


#: "A1", "b 2": an answer to the alert with that reply code (1 safe, 2 need help).
_CODED = re.compile(r"^([A-Z]{1,2}) ?([12])$")
#: Automatic answers (clarifications, HELP's contact) per number and window: two automated systems
#: texting each other must not loop for ever. STOP and START confirmations are always sent.
AUTO_REPLY_LIMIT = 3
AUTO_REPLY_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class OpenAlert:
    alert_id: int
    recipient_id: int
    reply_code: str | None
    title: str
    incident_id: int


def open_alerts_for(session: Session, phone: str) -> list[OpenAlert]:
    """Per open incident, its newest open alert whose SMS went to this number; newest first.

    Updates within one incident (the warning, then an update) ask the same question, so an answer
    goes to the newest and carries over (alerting/incidents.py); only different incidents need codes.
    """
    rows = session.execute(
        select(Delivery.alert_id, Delivery.recipient_id, Alert.reply_code, Alert.title, Alert.incident_id)
        .join(Alert, Alert.id == Delivery.alert_id)
        .where(Delivery.channel == Channel.SMS, Delivery.address == phone, Alert.status.in_(OPEN_ALERT_STATUSES))
        .order_by(Delivery.alert_id.desc()))
    seen: dict[int, OpenAlert] = {}
    for alert_id, recipient_id, code, title, incident_id in rows:
        seen.setdefault(incident_id, OpenAlert(alert_id, recipient_id, code, title, incident_id))
    return list(seen.values())


def latest_open_alert(session: Session, phone: str) -> tuple[int, int] | None:
    """(alert id, recipient id) of the newest open alert whose SMS went to this number."""
    found = open_alerts_for(session, phone)
    return (found[0].alert_id, found[0].recipient_id) if found else None


def _latest_closed_alert(session: Session, phone: str) -> tuple[int, int] | None:
    row = session.execute(
        select(Delivery.alert_id, Delivery.recipient_id).join(Alert, Alert.id == Delivery.alert_id)
        .where(Delivery.channel == Channel.SMS, Delivery.address == phone,
               Alert.status.in_((AlertStatus.CLOSED, AlertStatus.CANCELLED)))
        .order_by(Delivery.alert_id.desc()).limit(1)).first()
    return (row[0], row[1]) if row else None


def may_auto_reply(session: Session, phone: str) -> bool:
    """True (and counted) if this number may get another automatic answer now."""
    since = utcnow() - AUTO_REPLY_WINDOW
    sent = session.scalar(select(func.count()).select_from(AutoReply).where(
        AutoReply.address == phone, AutoReply.sent_at >= since)) or 0
    if sent >= AUTO_REPLY_LIMIT:
        return False
    session.add(AutoReply(address=phone))
    return True


def record_inbound_sms(session: Session, phone: str, body: str, message_id: str | None, *,
                       org_name: str, org_contact: str, consent_key: str = "") -> InboundResult:
    """Record a reply from `phone` (E.164) and say what to answer (None: stay silent).

    A person with open alerts of one incident answers its newest with SAFE/HELP/anything. With
    several incidents open, an answer is never guessed: a code ("B1") names the alert; a bare SAFE
    or other text gets one clarifying answer listing the codes; a bare HELP is recorded on every
    open incident (a need for help is never dropped). A reply after the alert closed is kept, but
    does not change its report.

    Subscription keywords (alerting/sms_keywords.py) come before answers: JOIN (or a zone's
    keyword) asks for a YES, and a YES with a JOIN pending subscribes. With no open alert, HELP
    answers who we are and how to reach us, and anything else a short help: never silence, and
    never more than AUTO_REPLY_LIMIT automatic answers per window, whatever they say. Every STOP
    and START is written to the consent log (`consent_key` keys its pseudonyms).
    """
    folded = normalize_reply(body)
    coded = _CODED.match(folded)
    intent = classify(body) if not coded else (Intent.SAFE if coded.group(2) == "1" else Intent.NEED_HELP)
    if message_id and session.scalar(select(Response.id).where(Response.provider_message_id == message_id)):
        return InboundResult(intent, None, None, duplicate=True)
    found = None if coded else sms_keywords.lookup(session, folded, whole_only=bool(open_alerts_for(session, phone)))
    action = found[0].action if found else None
    if intent == Intent.STOP or action == sms_keywords.Action.STOP:
        consent.opt_out(session, consent_key, Channel.SMS, phone, method=consent.Method.KEYWORD,
                        source="sms-keyword", actor="sms-keyword", keyword=folded[:40])
        subscriptions.cancel_pending(session, consent_key, phone)
        audit.record(session, "sms-keyword", "contact.opt_out", "channel", Channel.SMS)
        return InboundResult(Intent.STOP, None, subscriptions.stop_text(session, phone, folded, org_name=org_name,
                                                                        stopped=True))
    if intent == Intent.START or action == sms_keywords.Action.START:
        consent.opt_in(session, consent_key, Channel.SMS, phone, method=consent.Method.KEYWORD,
                       text_version=None, actor="sms-keyword", keyword=folded[:40])
        audit.record(session, "sms-keyword", "contact.opt_in", "channel", Channel.SMS)
        return InboundResult(Intent.START, None, subscriptions.stop_text(session, phone, folded, org_name=org_name,
                                                                         stopped=False))

    def answer(text: str | None) -> str | None:
        return text if text and may_auto_reply(session, phone) else None

    if found is not None and action in (sms_keywords.Action.JOIN, sms_keywords.Action.CONFIRM):
        handled = subscriptions.handle_keyword(session, consent_key, phone, found, org_name=org_name,
                                               org_contact=org_contact)
        if handled is not None:
            return InboundResult(Intent.SUBSCRIBE, None, answer(handled.text))
    if action == sms_keywords.Action.HELP and intent != Intent.NEED_HELP:  # "INFO": who we are, nothing recorded
        return InboundResult(intent, None, answer(subscriptions.help_text(
            session, phone, org_name=org_name, org_contact=org_contact, found=found)))

    help_reply = (f"{org_name}: we have recorded that you need help. Contact: {org_contact}. "
                  f"Reply STOP to opt out.")
    kind = ResponseKind(intent.value)
    opens = open_alerts_for(session, phone)
    if coded:
        opens = [o for o in opens if o.reply_code == coded.group(1)]
        if not opens:
            return InboundResult(intent, None, answer(_clarify(session, phone, org_name, unknown_code=True)))
    if not opens:
        closed = _latest_closed_alert(session, phone)
        if closed:  # kept for the record; the report of a closed alert is frozen
            session.add(Response(alert_id=closed[0], recipient_id=closed[1], kind=kind, channel=Channel.SMS,
                                 raw_text=body[:1600], provider_message_id=message_id, counted=False))
        if intent == Intent.NEED_HELP and closed:
            reply = help_reply
        elif intent == Intent.OTHER:
            reply = subscriptions.unknown_text(session, phone, org_name=org_name)
        else:
            reply = subscriptions.help_text(session, phone, org_name=org_name, org_contact=org_contact, found=found)
        return InboundResult(intent, None, answer(reply))
    if len(opens) > 1 and intent != Intent.NEED_HELP:
        return InboundResult(intent, None, answer(_clarify(session, phone, org_name)))
    for index, found in enumerate(opens):
        # One message id per response row: suffix the others (HELP recorded on several alerts).
        record_response(session, found.alert_id, found.recipient_id, kind, Channel.SMS, body,
                        message_id if index == 0 or not message_id else f"{message_id}:{index}")
    return InboundResult(intent, opens[0].alert_id, answer(help_reply) if intent == Intent.NEED_HELP else None)


def _clarify(session: Session, phone: str, org_name: str, *, unknown_code: bool = False) -> str:
    choices = "; ".join(f"{o.reply_code}1 safe / {o.reply_code}2 help for \"{o.title[:40]}\""
                        for o in open_alerts_for(session, phone) if o.reply_code)
    if not choices:
        return f"{org_name}: you have no open alert to answer. Reply HELP if you need help."
    lead = "we did not recognise that code" if unknown_code else "you have several open alerts"
    return f"{org_name}: {lead}. Reply {choices}."


def record_response(session: Session, alert_id: int, recipient_id: int, kind: ResponseKind, channel: str,
                    raw_text: str, message_id: str | None) -> None:
    """Keep the response and raise the person's state if it ranks higher (help > safe > acknowledged)."""
    now = utcnow()
    rank = RESPONSE_RANK[kind]
    session.add(Response(alert_id=alert_id, recipient_id=recipient_id, kind=kind, channel=channel,
                         raw_text=raw_text[:1600], provider_message_id=message_id, received_at=now))
    state = (AlertRecipient.alert_id == alert_id, AlertRecipient.recipient_id == recipient_id)
    session.execute(update(AlertRecipient).where(*state, AlertRecipient.first_response_at.is_(None))
                    .values(first_response_at=now))
    session.execute(update(AlertRecipient).where(*state).values(last_response_at=now))
    session.execute(update(AlertRecipient).where(*state, AlertRecipient.response_rank < rank)
                    .values(response=kind, response_rank=rank))
