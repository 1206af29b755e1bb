"""Consent records: who agreed to be messaged on which channel, when, how, under which words.

    consent_texts     the exact consent wording, versioned (append-only: a change is a new version)
    consent_contacts  one row per channel + address: its consent now (granted / withdrawn), and
                      under whose authority (the person's, or the organisation's for the people it
                      imports: employees, students)
    consent_log       every opt-in, opt-out and request, append-only (triggers, migration 0010)

The log never holds an address: it names the contact by `address_hash`, a keyed HMAC (the
installation's secret key), so the proof of consent survives a person's erasure (which blanks the
contact's address) and can still be checked against a number someone presents.

Policy at send time (`unconsented`, called by dispatch.write_pending): people who subscribed
themselves (a `subscribers` row) are messaged on SMS, voice and email only where that contact's
consent is granted; web push needs no row here, because the browser's own permission prompt is the
person's consent. People the organisation imported are messaged under its authority, recorded
once per import (`record_import`). Opt-outs (STOP, an unsubscribe) also write the `opt_outs` row
that suppresses the address for every alert and provider, whoever imported it.
"""
from __future__ import annotations

import hashlib
import hmac
from enum import StrEnum
from typing import Any, Iterable, Sequence

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from alerting.models import ConsentContact, ConsentEvent, ConsentText, OptOut, Subscriber, utcnow
from alerting.sql import id_in, insert_ignoring_duplicates
from alerting.statuses import Channel


class Method(StrEnum):
    KEYWORD = "keyword"
    WEB = "web"
    IMPORT = "import"
    API = "api"


class Authority(StrEnum):
    PERSON = "person"
    ORGANISATION = "organisation"


class Action(StrEnum):
    REQUESTED = "requested"   # asked to subscribe, not yet confirmed (double opt-in pending)
    OPT_IN = "opt_in"
    OPT_OUT = "opt_out"
    ERASED = "erased"         # the person was erased: the contact's address is gone, its hash and log stay


GRANTED = "granted"
WITHDRAWN = "withdrawn"

#: Channels on which a self-subscribed person is messaged only with a granted consent row.
CONSENTED_CHANNELS = frozenset({Channel.SMS, Channel.VOICE, Channel.EMAIL})

#: The current version of each consent text, and its words per language. A changed wording gets a
#: new version here; the old one stays in `consent_texts` with the people who agreed to it.
SMS_KEYWORD_VERSION = "sms-keyword-1"
WEB_VERSION = "web-1"
DEFAULT_TEXTS: dict[str, dict[str, str]] = {
    SMS_KEYWORD_VERSION: {
        "en": "By replying YES you agree to receive emergency alerts from {org} by text message at this "
              "number. Message frequency varies with emergencies. Msg & data rates may apply. "
              "Reply STOP to end, HELP for help.",
        "es": "Al responder SI acepta recibir alertas de emergencia de {org} por mensaje de texto en este "
              "número. La frecuencia varía según las emergencias. Pueden aplicarse tarifas de mensajes y "
              "datos. Responda STOP para terminar, AYUDA para ayuda.",
        "fr": "En répondant OUI vous acceptez de recevoir les alertes d'urgence de {org} par SMS à ce "
              "numéro. La fréquence dépend des urgences. Des frais de messagerie peuvent s'appliquer. "
              "Répondez STOP pour arrêter, AIDE pour de l'aide.",
    },
    WEB_VERSION: {
        "en": "I agree to receive emergency alerts from {org} at the phone number (text messages) and/or "
              "email address I give here, for the areas I choose. Messages are sent when there is an "
              "emergency or a test. I can stop at any time: reply STOP to a text, or change or delete my "
              "subscription on the sign-up page, which sends me a link to do so.",
        "es": "Acepto recibir alertas de emergencia de {org} en el número de teléfono (mensajes de texto) "
              "y/o el correo electrónico que indico aquí, para las zonas que elijo. Los mensajes se envían "
              "en caso de emergencia o prueba. Puedo darme de baja en cualquier momento: respondiendo STOP "
              "a un mensaje, o cambiando o eliminando mi suscripción en la página de suscripción, que me "
              "envía un enlace para ello.",
        "fr": "J'accepte de recevoir les alertes d'urgence de {org} au numéro de téléphone (SMS) et/ou à "
              "l'adresse e-mail que j'indique ici, pour les zones que je choisis. Les messages sont envoyés "
              "en cas d'urgence ou d'exercice. Je peux arrêter à tout moment : en répondant STOP à un SMS, "
              "ou en modifiant ou supprimant mon inscription sur la page d'inscription, qui m'envoie un "
              "lien pour cela.",
    },
}


def contact_hash(key: str, channel: str, address: str) -> str:
    """The pseudonym of a contact in the consent log: HMAC-SHA256 under the installation's key."""
    return hmac.new(key.encode(), f"{channel}:{address}".encode(), hashlib.sha256).hexdigest()


def consent_text(session: Session, version: str, locale: str, *, org_name: str) -> ConsentText:
    """The stored wording of `version` in `locale` (else English), stored on first use."""
    language = (locale or "en")[:2].lower()
    texts = DEFAULT_TEXTS.get(version, {})
    if language not in texts:
        language = "en"
    found = session.scalar(select(ConsentText).where(ConsentText.version == version,
                                                     ConsentText.locale == language))
    if found is not None:
        return found
    if not texts:
        raise KeyError(f"no consent text version {version!r}")
    insert_ignoring_duplicates(session, ConsentText.__table__, [
        {"version": version, "locale": language, "text": texts[language].format(org=org_name),
         "created_at": utcnow()}])
    found = session.scalar(select(ConsentText).where(ConsentText.version == version, ConsentText.locale == language))
    assert found is not None
    return found


def _contact(session: Session, key: str, channel: str, address: str) -> ConsentContact | None:
    return session.scalar(select(ConsentContact).where(
        ConsentContact.channel == channel, ConsentContact.address_hash == contact_hash(key, channel, address)))


def _log(session: Session, contact: ConsentContact | None, channel: str, digest: str | None, action: Action,
         method: str, authority: str, text_version: str | None, locale: str, actor: str,
         details: dict[str, Any]) -> None:
    session.add(ConsentEvent(contact_id=contact.id if contact else None, channel=channel, address_hash=digest,
                             action=action, method=method, authority=authority, text_version=text_version,
                             locale=(locale or "en")[:20], actor=actor, details=details, at=utcnow()))


def opt_in(session: Session, key: str, channel: str, address: str, *, method: Method, text_version: str | None,
           locale: str = "en", recipient_id: int | None = None, authority: Authority = Authority.PERSON,
           actor: str = "", **details: Any) -> ConsentContact:
    """Record consent given on `channel` to `address`, and lift any opt-out of it."""
    digest = contact_hash(key, channel, address)
    contact = _contact(session, key, channel, address)
    now = utcnow()
    if contact is None:
        contact = ConsentContact(channel=channel, address=address, address_hash=digest, status=GRANTED,
                                 authority=authority, recipient_id=recipient_id, updated_at=now)
        session.add(contact)
        session.flush()
    else:
        contact.address, contact.status, contact.authority, contact.updated_at = address, GRANTED, authority, now
        if recipient_id is not None:
            contact.recipient_id = recipient_id
    session.execute(delete(OptOut).where(OptOut.channel == channel, OptOut.address == address))
    _log(session, contact, channel, digest, Action.OPT_IN, method, authority, text_version, locale, actor, details)
    return contact


def opt_out(session: Session, key: str, channel: str, address: str, *, method: Method, source: str,
            actor: str = "", **details: Any) -> None:
    """Record consent withdrawn on `channel` for `address`; suppressed for every alert from now on."""
    digest = contact_hash(key, channel, address)
    contact = _contact(session, key, channel, address)
    if contact is not None:
        contact.status, contact.updated_at = WITHDRAWN, utcnow()
    insert_ignoring_duplicates(session, OptOut.__table__, [
        {"channel": channel, "address": address, "source": source, "created_at": utcnow()}])
    _log(session, contact, channel, digest, Action.OPT_OUT, method,
         contact.authority if contact else Authority.PERSON, None, "en", actor, details)


def requested(session: Session, key: str, channel: str, address: str, *, method: Method, text_version: str | None,
              locale: str, actor: str = "", **details: Any) -> None:
    """Record a request to subscribe that still awaits its confirmation (YES, a code, a link)."""
    digest = contact_hash(key, channel, address)
    _log(session, _contact(session, key, channel, address), channel, digest, Action.REQUESTED, method,
         Authority.PERSON, text_version, locale, actor, details)


def is_granted(session: Session, key: str, channel: str, address: str) -> bool:
    contact = _contact(session, key, channel, address)
    return contact is not None and contact.status == GRANTED


def record_import(session: Session, actor: str, *, created: int, updated: int) -> None:
    """People imported by the organisation are messaged under its authority: one log entry per import."""
    if created or updated:
        _log(session, None, "all", None, Action.OPT_IN, Method.IMPORT, Authority.ORGANISATION, None, "en", actor,
             {"created": created, "updated": updated})


def unconsented(session: Session, channel: str, addressed: Sequence[tuple[int, str]]) -> set[str]:
    """Of (recipient id, address) pairs about to be messaged on `channel`, the addresses that must
    not be: self-subscribed people whose consent on this channel is not granted."""
    if channel not in CONSENTED_CHANNELS or not addressed:
        return set()
    ids = sorted({rid for rid, _ in addressed})
    subscribers = set(session.scalars(select(Subscriber.recipient_id).where(
        id_in(session, Subscriber.recipient_id, ids))))
    if not subscribers:  # the usual case (an organisation's own people): one indexed query
        return set()
    theirs = sorted({a for rid, a in addressed if rid in subscribers})
    granted: set[str] = set()
    for start in range(0, len(theirs), 5000):
        granted.update(session.scalars(select(ConsentContact.address).where(
            ConsentContact.channel == channel, ConsentContact.status == GRANTED,
            ConsentContact.address.in_(theirs[start:start + 5000]))))
    return set(theirs) - granted


def contacts_of(session: Session, recipient_id: int) -> list[ConsentContact]:
    return list(session.scalars(select(ConsentContact).where(ConsentContact.recipient_id == recipient_id)
                                .order_by(ConsentContact.id)))


def history(session: Session, contacts: Iterable[ConsentContact]) -> list[dict[str, Any]]:
    """The consent log of these contacts, oldest first, as plain values (for an export). Entries
    from before a contact existed (a request awaiting YES) are found by its hash."""
    contacts = list(contacts)
    if not contacts:
        return []
    match = or_(ConsentEvent.contact_id.in_([c.id for c in contacts]),
                *[(ConsentEvent.channel == c.channel) & (ConsentEvent.address_hash == c.address_hash) for c in contacts])
    return [{"at": e.at.isoformat(), "channel": e.channel, "action": e.action, "method": e.method,
             "authority": e.authority, "text_version": e.text_version, "locale": e.locale, "details": e.details}
            for e in session.scalars(select(ConsentEvent).where(match).order_by(ConsentEvent.id))]


def record_erased(session: Session, contact: ConsentContact, *, actor: str) -> None:
    _log(session, contact, contact.channel, contact.address_hash, Action.ERASED, Method.API, contact.authority,
         None, "en", actor, {})


def forget_addresses(session: Session, recipient_id: int) -> int:
    """Erasure: blank the addresses of a person's contacts, keeping their hashes and the log."""
    return session.execute(update(ConsentContact).where(ConsentContact.recipient_id == recipient_id)
                           .values(address=None, recipient_id=None, updated_at=utcnow())).rowcount
