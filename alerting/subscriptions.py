"""Residents subscribe themselves: the double opt-in by SMS keyword, and the people they become.

    JOIN [area]   -> "reply YES to confirm" (the consent text), a pending request for 24 hours
    NORTHSIDE     -> the same, for that zone (a zone's name, or a keyword or ZIP code mapped to zones)
    YES           -> consent recorded, the person created (or found: never a twin), a welcome text
    HELP / STOP / START, and everything else: alerting/replies.py

Which words are keywords: alerting/sms_keywords.py. The texts sent back: alerting/subscription_texts.py.
The sign-up page's codes and links: alerting/signup_codes.py.

How a subscriber is reached: a zone they choose becomes a location labelled `zone-<id>` at the
zone's representative point (a point surely inside it), so alerts to the zone, and geofences
covering that point, reach them; a pin they place on the sign-up map is their `home` location. All
subscribers are in the group "Subscribers", for alerts to everyone who signed up. A person already
in the directory (same number or email) is reused, never doubled; only people created here get a
`subscribers` row, which makes their SMS, voice and email depend on their consent
(alerting/consent.py) instead of the organisation's authority.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from alerting import audit, consent, targeting
from alerting.models import (ConsentContact, Group, Recipient, RecipientGroup, RecipientLocation, Subscriber,
                             SubscriptionRequest, Zone, utcnow)
from alerting.sms_keywords import Action, Keyword
from alerting.statuses import Channel
from alerting.subscription_texts import areas_phrase, fill, text


SUBSCRIBERS_GROUP = "Subscribers"
#: How long a JOIN waits for its YES.
JOIN_EXPIRES = timedelta(hours=24)
SMS_JOIN = "sms_join"


# ---- people -------------------------------------------------------------------------------------

def representative_point(zone: Zone) -> tuple[float, float]:
    """(lat, lon) of a point inside the zone."""
    (key, value), = zone.area.items()
    point = targeting.parse_area(key, value, f"zones.{zone.name}").display_geometry().representative_point()
    return point.y, point.x


def zone_label(zone: Zone) -> str:
    return f"zone-{zone.id}"


def find_person(session: Session, *, phone: str | None = None, email: str | None = None) -> Recipient | None:
    """The directory's person with this number (else this email): whoever subscribes again is found."""
    for column, value in ((Recipient.phone, phone), (Recipient.email, email)):
        if value:
            found = session.scalar(select(Recipient).where(column == value).order_by(Recipient.id).limit(1))
            if found is not None:
                return found
    return None


def subscribe(session: Session, *, source: str, locale: str, phone: str | None = None, email: str | None = None,
              zones: Iterable[str] = (), pin: tuple[float, float] | None = None,
              replace_places: bool = False) -> Recipient:
    """Find or create the person and give them their places; returns them. Consent is the caller's."""
    person = find_person(session, phone=phone, email=email)
    now = utcnow()
    created = person is None
    if person is None:
        person = Recipient(external_id=f"sub-{secrets.token_hex(8)}", name="", phone=phone, email=email,
                           locale=locale, attributes={}, created_at=now, updated_at=now)
        session.add(person)
        session.flush()
    else:
        person.phone = person.phone or phone
        person.email = person.email or email
    subscriber = session.get(Subscriber, person.id)
    if created or subscriber is not None:
        if subscriber is None:
            subscriber = Subscriber(recipient_id=person.id, source=source, zones=[], created_at=now, updated_at=now)
            session.add(subscriber)
        person.locale = locale
        subscriber.updated_at = now
    zones = list(zones)
    zone_rows = list(session.scalars(select(Zone).where(Zone.name.in_(zones)))) if zones else []
    # A subscriber's pin is their home; someone the organisation imported keeps the home it gave.
    pin_label = "home" if subscriber is not None else "signup-pin"
    if replace_places:
        session.execute(delete(RecipientLocation).where(
            RecipientLocation.recipient_id == person.id,
            (RecipientLocation.label.like("zone-%")) | (RecipientLocation.label == pin_label)))
    names = sorted({z.name for z in zone_rows} | (set() if replace_places or subscriber is None
                                                  else set(subscriber.zones or [])))
    if subscriber is not None:
        subscriber.zones = names
    places = {zone_label(z): representative_point(z) for z in zone_rows}
    if pin is not None:
        places[pin_label] = pin
    if places:
        session.execute(delete(RecipientLocation).where(RecipientLocation.recipient_id == person.id,
                                                        RecipientLocation.label.in_(list(places))))
        for label, (lat, lon) in places.items():
            session.add(RecipientLocation(recipient_id=person.id, label=label, lat=lat, lon=lon, recorded_at=now))
    group = session.scalar(select(Group).where(Group.name == SUBSCRIBERS_GROUP))
    if group is None:
        group = Group(name=SUBSCRIBERS_GROUP, description="People who subscribed themselves (SMS keyword or web)")
        session.add(group)
        session.flush()
    if session.get(RecipientGroup, (person.id, group.id)) is None:
        session.add(RecipientGroup(recipient_id=person.id, group_id=group.id))
    session.flush()
    audit.record(session, f"subscriber:{source}", "subscriber.create" if created else "subscriber.update",
                 "recipient", person.id, zones=len(zone_rows), pin=pin is not None)
    return person


# ---- the SMS conversation: JOIN, YES, and the answers to HELP, STOP, START ----------------------

@dataclass(frozen=True)
class KeywordReply:
    text: str
    action: Action
    details: dict[str, Any] = field(default_factory=dict)


def _pending_join(session: Session, key: str, phone: str) -> SubscriptionRequest | None:
    return session.scalar(select(SubscriptionRequest).where(
        SubscriptionRequest.kind == SMS_JOIN,
        SubscriptionRequest.address_hash == consent.contact_hash(key, Channel.SMS, phone),
        SubscriptionRequest.used_at.is_(None), SubscriptionRequest.expires_at > utcnow())
        .order_by(SubscriptionRequest.id.desc()).limit(1))


def handle_keyword(session: Session, key: str, phone: str, found: tuple[Keyword, tuple[str, ...]], *,
                   org_name: str, org_contact: str) -> KeywordReply | None:
    """Answer a JOIN-like keyword or a YES; None when it is not ours to answer (a YES with nothing
    pending, HELP, STOP, START: alerting/replies.py handles those)."""
    keyword, zones = found
    values = {"org": org_name, "contact": org_contact}
    if keyword.action == Action.JOIN:
        known = find_person(session, phone=phone)
        if known is not None and session.get(Subscriber, known.id) is not None \
                and consent.is_granted(session, key, Channel.SMS, phone):
            # Already subscribed: a new area is added at once (their consent stands).
            person = subscribe(session, source="keyword", locale=known.locale, phone=phone, zones=zones)
            return KeywordReply(text("added", person.locale, areas=areas_phrase(zones, person.locale), **values),
                                Action.JOIN, {"zones": len(zones)})
        pending = _pending_join(session, key, phone)
        now = utcnow()
        if pending is None:  # a repeated JOIN refreshes the one pending request: never a second
            pending = SubscriptionRequest(kind=SMS_JOIN, address=phone,
                                          address_hash=consent.contact_hash(key, Channel.SMS, phone),
                                          payload={}, attempts=0, created_at=now)
            session.add(pending)
        pending.payload = {"keyword": keyword.keyword, "locale": keyword.locale,
                           "zones": sorted(set(pending.payload.get("zones", [])) | set(zones))}
        pending.expires_at = now + JOIN_EXPIRES
        pending.attempts = (pending.attempts or 0) + 1
        wording = consent.consent_text(session, consent.SMS_KEYWORD_VERSION, keyword.locale, org_name=org_name)
        consent.requested(session, key, Channel.SMS, phone, method=consent.Method.KEYWORD,
                          text_version=wording.version, locale=keyword.locale, actor="sms-keyword",
                          keyword=keyword.keyword)
        areas = areas_phrase(pending.payload["zones"], keyword.locale)
        if keyword.reply:  # the organisation's lead-in; the consent text always follows it
            return KeywordReply(f"{fill(keyword.reply, areas=areas, **values)} {wording.text}", Action.JOIN)
        return KeywordReply(text("confirm", keyword.locale, consent=wording.text, areas=areas, **values),
                            Action.JOIN)
    if keyword.action == Action.CONFIRM:
        pending = _pending_join(session, key, phone)
        if pending is None:
            return None
        locale, zones = pending.payload.get("locale", "en"), pending.payload.get("zones", [])
        person = subscribe(session, source="keyword", locale=locale, phone=phone, zones=zones)
        pending.used_at, pending.address = utcnow(), None
        consent.opt_in(session, key, Channel.SMS, phone, method=consent.Method.KEYWORD,
                       text_version=consent.SMS_KEYWORD_VERSION, locale=locale, recipient_id=person.id,
                       actor="sms-keyword", keyword=pending.payload.get("keyword"), confirmed_with=keyword.keyword)
        areas = areas_phrase(zones, locale)
        return KeywordReply(fill(keyword.reply, areas=areas, **values) if keyword.reply
                            else text("welcome", locale, areas=areas, **values), Action.CONFIRM)
    return None


def cancel_pending(session: Session, key: str, phone: str) -> None:
    """STOP also withdraws a JOIN still waiting for its YES."""
    pending = _pending_join(session, key, phone)
    if pending is not None:
        pending.used_at, pending.address = utcnow(), None


def help_text(session: Session, phone: str, *, org_name: str, org_contact: str,
              found: tuple[Keyword, tuple[str, ...]] | None = None) -> str:
    """HELP from someone with no open alert: who we are, how to reach us, how to join or stop; in
    the person's language, else the keyword's."""
    if found is not None and found[0].reply:
        return fill(found[0].reply, org=org_name, contact=org_contact, areas="")
    person = find_person(session, phone=phone)
    locale = person.locale if person is not None else (found[0].locale if found is not None else "en")
    subscribed = session.scalar(select(ConsentContact.id).where(
        ConsentContact.channel == Channel.SMS, ConsentContact.address == phone,
        ConsentContact.status == consent.GRANTED).limit(1)) is not None
    return text("help_member" if subscribed else "help", locale, org=org_name, contact=org_contact)


#: The language of a carrier word, for its confirmation (alerting/replies.py's STOP and START words).
CARRIER_WORD_LOCALE = {"PARAR": "es", "ALTO": "es", "ARRET": "fr", "ARRETER": "fr"}


def stop_text(session: Session, phone: str, word: str, *, org_name: str, stopped: bool) -> str:
    """The confirmation of STOP (or START), in the word's language, else the person's."""
    person = find_person(session, phone=phone)
    locale = CARRIER_WORD_LOCALE.get(word) or (person.locale if person is not None else "en")
    return text("stopped" if stopped else "started", locale, org=org_name)


def unknown_text(session: Session, phone: str, *, org_name: str) -> str:
    return text("unknown", _locale_of(session, phone), org=org_name)


def _locale_of(session: Session, phone: str) -> str:
    person = find_person(session, phone=phone)
    return person.locale if person is not None else "en"



def set_places(session: Session, person: Recipient, *, locale: str, zones: Iterable[str],
               pin: tuple[float, float] | None) -> None:
    """A subscriber's own choice replaces their language, zones and pin (the manage page)."""
    subscribe(session, source="web", locale=locale, phone=person.phone, email=person.email, zones=zones, pin=pin,
              replace_places=True)
