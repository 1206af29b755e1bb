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
from enum import StrEnum

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from alerting import audit
from alerting.models import Alert, AlertRecipient, Delivery, OptOut, Response, utcnow
from alerting.sql import insert_ignoring_duplicates
from alerting.statuses import OPEN_ALERT_STATUSES, RESPONSE_RANK, Channel, ResponseKind


class Intent(StrEnum):
    SAFE = "safe"
    NEED_HELP = "need_help"
    OTHER = "acknowledged"
    STOP = "stop"
    START = "start"


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


def latest_open_alert(session: Session, phone: str) -> tuple[int, int] | None:
    """(alert id, recipient id) of the newest open alert whose SMS went to this number."""
    row = session.execute(
        select(Delivery.alert_id, Delivery.recipient_id).join(Alert, Alert.id == Delivery.alert_id)
        .where(Delivery.channel == Channel.SMS, Delivery.address == phone, Alert.status.in_(OPEN_ALERT_STATUSES))
        .order_by(Delivery.id.desc()).limit(1)).first()
    return (row[0], row[1]) if row else None


def record_inbound_sms(session: Session, phone: str, body: str, message_id: str | None, *,
                       org_name: str, org_contact: str) -> InboundResult:
    """Record a reply from `phone` (E.164). Unknown numbers change nothing but are still answered."""
    intent = classify(body)
    if message_id and session.scalar(select(Response.id).where(Response.provider_message_id == message_id)):
        return InboundResult(intent, None, None, duplicate=True)
    if intent == Intent.STOP:
        insert_ignoring_duplicates(session, OptOut.__table__, [
            {"channel": Channel.SMS, "address": phone, "source": "sms-keyword", "created_at": utcnow()}])
        audit.record(session, "sms-keyword", "contact.opt_out", "channel", Channel.SMS)
        return InboundResult(intent, None, f"{org_name}: you are unsubscribed from alerts by text and will "
                                           f"receive no more messages. Reply START to resubscribe.")
    if intent == Intent.START:
        session.execute(delete(OptOut).where(OptOut.channel == Channel.SMS, OptOut.address == phone))
        audit.record(session, "sms-keyword", "contact.opt_in", "channel", Channel.SMS)
        return InboundResult(intent, None, f"{org_name}: you are subscribed to alerts by text again. "
                                           f"Reply STOP to unsubscribe, HELP for help.")
    match = latest_open_alert(session, phone)
    help_reply = (f"{org_name}: we have recorded that you need help. Contact: {org_contact}. "
                  f"Reply STOP to opt out.")
    if match is None:
        # A reply with no open alert to answer: nothing to record, but HELP is always answered.
        return InboundResult(intent, None, help_reply if intent == Intent.NEED_HELP else None)
    alert_id, recipient_id = match
    kind = ResponseKind(intent.value)
    record_response(session, alert_id, recipient_id, kind, Channel.SMS, body, message_id)
    return InboundResult(intent, alert_id, help_reply if intent == Intent.NEED_HELP else None)


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
