"""Residents subscribe themselves: SMS keywords (double opt-in), and the people they become.

    JOIN [area]   -> "reply YES to confirm" (the consent text), a pending request for 24 hours
    NORTHSIDE     -> the same, for that zone (a zone's name, or a keyword or ZIP code mapped to zones)
    YES           -> consent recorded, the person created (or found: never a twin), a welcome text
    HELP / STOP / START, and everything else: alerting/replies.py

Keywords: built-in ones (below: English, Spanish, French) work on a fresh install; an organisation's
`sms_keywords` rows add to them or replace them (`PUT /api/v1/keywords`), with their own reply text,
language and zones. Every zone's name, folded like a reply ("North Side" -> "NORTH SIDE"), is also
a join keyword for that zone unless a row says otherwise.

How a subscriber is reached: a zone they choose becomes a location labelled `zone-<id>` at the
zone's representative point (a point surely inside it), so alerts to the zone, and geofences
covering that point, reach them; a pin they place on the sign-up map is their `home` location. All
subscribers are in the group "Subscribers", for alerts to everyone who signed up. A person already
in the directory (same number or email) is reused, never doubled; only people created here get a
`subscribers` row, which makes their SMS, voice and email depend on their consent
(alerting/consent.py) instead of the organisation's authority.
"""
from __future__ import annotations

import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import timedelta, timezone
from enum import StrEnum
from typing import Any, Iterable

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from alerting import audit, consent, targeting
from alerting.contacts import ContactError, normalize_locale
from alerting.errors import ValidationError
from alerting.models import (ConsentContact, Group, Recipient, RecipientGroup, RecipientLocation, SmsKeyword, Subscriber,
                             SubscriptionRequest, Zone, utcnow)
from alerting.statuses import Channel


class Action(StrEnum):
    JOIN = "join"
    CONFIRM = "confirm"
    HELP = "help"
    STOP = "stop"
    START = "start"


SUBSCRIBERS_GROUP = "Subscribers"
#: How long a JOIN waits for its YES.
JOIN_EXPIRES = timedelta(hours=24)
SMS_JOIN = "sms_join"
_KEYWORD = re.compile(r"^[A-Z0-9]{1,40}$")


@dataclass(frozen=True)
class Keyword:
    keyword: str
    action: Action
    locale: str = "en"
    zones: tuple[str, ...] = ()
    reply: str | None = None
    builtin: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"keyword": self.keyword, "action": str(self.action), "locale": self.locale,
                "zones": list(self.zones), "reply": self.reply, "builtin": self.builtin}


BUILTIN: tuple[Keyword, ...] = tuple(
    Keyword(word, action, locale, builtin=True) for action, locale, words in (
        (Action.JOIN, "en", ["JOIN"]),
        (Action.JOIN, "es", ["UNIRSE", "ALTA"]),
        (Action.JOIN, "fr", ["INSCRIRE", "INSCRIPTION"]),
        (Action.CONFIRM, "en", ["YES", "Y"]),
        (Action.CONFIRM, "es", ["SI"]),
        (Action.CONFIRM, "fr", ["OUI"]),
        (Action.HELP, "en", ["HELP", "INFO"]),
        (Action.HELP, "es", ["AYUDA"]),
        (Action.HELP, "fr", ["AIDE"]),
        (Action.STOP, "en", ["STOP"]),
        (Action.START, "en", ["START"]),
    ) for word in words)

#: Built-in answers by language. Placeholders: {org}, {contact}, {areas} (" for Northside" or "").
TEXTS: dict[str, dict[str, str]] = {
    "confirm": {
        "en": "{org}: reply YES to get emergency alerts{areas}. {consent}",
        "es": "{org}: responda SI para recibir alertas de emergencia{areas}. {consent}",
        "fr": "{org} : répondez OUI pour recevoir les alertes d'urgence{areas}. {consent}",
    },
    "welcome": {
        "en": "{org}: you are subscribed to emergency alerts{areas}. Messages come only with emergencies "
              "and tests, a few a year. Msg & data rates may apply. Reply STOP to end, HELP for contact info.",
        "es": "{org}: está suscrito a las alertas de emergencia{areas}. Solo recibirá mensajes en emergencias "
              "y pruebas, pocos al año. Pueden aplicarse tarifas. Responda STOP para terminar, AYUDA para "
              "información.",
        "fr": "{org} : vous êtes inscrit aux alertes d'urgence{areas}. Messages seulement lors d'urgences et "
              "d'exercices, quelques-uns par an. Des frais peuvent s'appliquer. Répondez STOP pour arrêter, "
              "AIDE pour nous contacter.",
    },
    "added": {
        "en": "{org}: you will also get alerts{areas}. Reply STOP to end, HELP for help.",
        "es": "{org}: también recibirá alertas{areas}. Responda STOP para terminar, AYUDA para ayuda.",
        "fr": "{org} : vous recevrez aussi les alertes{areas}. Répondez STOP pour arrêter, AIDE pour de l'aide.",
    },
    "help": {
        "en": "{org} emergency alerts. Contact: {contact}. Text JOIN to subscribe, STOP to end. "
              "Msg & data rates may apply.",
        "es": "Alertas de emergencia de {org}. Contacto: {contact}. Envíe ALTA para suscribirse, STOP para "
              "terminar. Pueden aplicarse tarifas.",
        "fr": "Alertes d'urgence de {org}. Contact : {contact}. Envoyez INSCRIRE pour vous abonner, STOP pour "
              "arrêter. Des frais peuvent s'appliquer.",
    },
    "help_member": {
        "en": "{org} emergency alerts: you are subscribed. Contact: {contact}. Reply STOP to end. "
              "Msg & data rates may apply.",
        "es": "Alertas de emergencia de {org}: está suscrito. Contacto: {contact}. Responda STOP para terminar. "
              "Pueden aplicarse tarifas.",
        "fr": "Alertes d'urgence de {org} : vous êtes inscrit. Contact : {contact}. Répondez STOP pour arrêter. "
              "Des frais peuvent s'appliquer.",
    },
    "stopped": {
        "en": "{org}: you are unsubscribed from alerts by text and will receive no more messages. "
              "Reply START to resubscribe.",
        "es": "{org}: ya no recibirá alertas por mensaje de texto. Responda START para volver a suscribirse.",
        "fr": "{org} : vous êtes désinscrit des alertes par SMS et ne recevrez plus de messages. "
              "Répondez START pour vous réinscrire.",
    },
    "started": {
        "en": "{org}: you are subscribed to alerts by text again. Reply STOP to unsubscribe, HELP for help.",
        "es": "{org}: vuelve a recibir alertas por mensaje de texto. Responda STOP para darse de baja, "
              "AYUDA para ayuda.",
        "fr": "{org} : vous recevez de nouveau les alertes par SMS. Répondez STOP pour vous désinscrire, "
              "AIDE pour de l'aide.",
    },
    "unknown": {
        "en": "{org}: we did not understand that. Text JOIN for emergency alerts, HELP for help, STOP to end.",
        "es": "{org}: no entendimos su mensaje. Envíe ALTA para alertas, AYUDA para ayuda, STOP para terminar.",
        "fr": "{org} : message non compris. Envoyez INSCRIRE pour les alertes, AIDE pour de l'aide, STOP pour "
              "arrêter.",
    },
    "areas": {"en": " for {names}", "es": " para {names}", "fr": " pour {names}"},
}


def text(name: str, locale: str, **values: str) -> str:
    by_language = TEXTS[name]
    return by_language.get((locale or "en")[:2].lower(), by_language["en"]).format(**values)


def fill(template: str, **values: str) -> str:
    """An organisation's reply with {org}, {contact} and {areas} filled; other braces left as written."""
    return re.sub(r"\{(org|contact|areas)\}", lambda m: values.get(m.group(1), ""), template)


def _areas(zones: Iterable[str], locale: str) -> str:
    names = sorted(set(zones))
    return text("areas", locale, names=", ".join(names)) if names else ""


# ---- keywords -----------------------------------------------------------------------------------

def _zone_keywords(session: Session, taken: set[str]) -> dict[str, Keyword]:
    """A join keyword per zone name, unless the word is taken (a built-in, or an answer such as OK)."""
    from alerting.replies import KEYWORDS  # replies imports this module
    found = {}
    for name in session.scalars(select(Zone.name)):
        word = fold(name).replace(" ", "")
        if _KEYWORD.match(word) and word not in taken and word not in KEYWORDS:
            found[word] = Keyword(word, Action.JOIN, "en", (name,), builtin=True)
    return found


def fold(value: str) -> str:
    """What a keyword is matched on: as alerting/replies.py folds a reply (no accents, upper case)."""
    folded = unicodedata.normalize("NFKD", value)
    folded = "".join(c for c in folded if not unicodedata.combining(c)).upper()
    folded = re.sub(r"['’`]", "", folded)
    return " ".join(re.sub(r"[^A-Z0-9 ]+", " ", folded).split())


def keywords(session: Session) -> dict[str, Keyword]:
    """Every keyword in force: built-ins, then zone names, then the organisation's own rows."""
    table = {k.keyword: k for k in BUILTIN}
    table.update(_zone_keywords(session, set(table)))
    for row in session.scalars(select(SmsKeyword)):
        table[row.keyword] = Keyword(row.keyword, Action(row.action), row.locale, tuple(row.zones or ()), row.reply)
    return table


def lookup(session: Session, folded: str, *, whole_only: bool = False) -> tuple[Keyword, tuple[str, ...]] | None:
    """The keyword of a folded message and the zones it names. A message is a keyword when it is one
    ("NORTHSIDE", "North Side", "YES"); a generic join may be followed by areas ("JOIN NORTHSIDE").
    `whole_only` (the sender has an open alert to answer): no following words, so an answer such as
    "library flooded" is never taken for the zone keyword LIBRARY."""
    words = folded.split()
    if not words:
        return None
    table = keywords(session)
    found = table.get(folded.replace(" ", ""))
    if found is None and not whole_only:
        first = table.get(words[0])
        if first is not None and first.action == Action.JOIN and not first.zones:
            found = first
    if found is None:
        return None
    zones = list(found.zones)
    if found.action == Action.JOIN and found.keyword == words[0]:
        for word in words[1:]:
            extra = table.get(word)
            if extra is not None and extra.action == Action.JOIN:
                zones.extend(extra.zones)
    return found, tuple(dict.fromkeys(zones))


def replace_keywords(session: Session, data: Any, *, actor: str) -> list[dict[str, Any]]:
    """The organisation's keywords become exactly `data` (a list); built-ins stay unless replaced."""
    from alerting.replies import KEYWORDS, Intent  # the carrier words
    items = data.get("keywords") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValidationError('send {"keywords": [{"keyword": "NORTHSIDE", "action": "join", "zones": [...]}]}',
                              field="keywords")
    rows, seen = [], set()
    zone_names = set(session.scalars(select(Zone.name)))
    for index, item in enumerate(items):
        where = f"keywords[{index}]"
        if not isinstance(item, dict):
            raise ValidationError(f"{where} must be an object", field=where)
        word = fold(str(item.get("keyword") or "")).replace(" ", "")
        if not _KEYWORD.match(word):
            raise ValidationError(f"{where}.keyword must be one word of letters or digits (at most 40), "
                                  f"got {item.get('keyword')!r}", field=f"{where}.keyword")
        if word in seen:
            raise ValidationError(f"{where}.keyword {word!r} appears twice", field=f"{where}.keyword")
        seen.add(word)
        try:
            action = Action(item.get("action") or "join")
        except ValueError:
            raise ValidationError(f"{where}.action must be one of {', '.join(a.value for a in Action)}, "
                                  f"got {item.get('action')!r}", field=f"{where}.action") from None
        # Carrier words keep their meaning (CTIA), and answers to alerts (SAFE, OK, HELP...) are not
        # taken over: a keyword is matched before a reply is read as an answer.
        meaning = KEYWORDS.get(word)
        kept = {Intent.STOP: Action.STOP, Intent.START: Action.START, Intent.NEED_HELP: Action.HELP}
        if meaning is not None and kept.get(meaning) != action:
            must = f"must stay a {kept[meaning].value} keyword" if meaning in kept else "cannot be a keyword"
            raise ValidationError(f"{where}: {word} is an answer to alerts ({meaning.value}) and {must}",
                                  field=f"{where}.action")
        try:
            locale = normalize_locale(str(item.get("locale") or "en"))
        except ContactError as exc:
            raise ValidationError(str(exc), field=f"{where}.locale") from None
        zones = item.get("zones") or []
        if not isinstance(zones, list) or not all(isinstance(z, str) for z in zones):
            raise ValidationError(f"{where}.zones must be a list of zone names", field=f"{where}.zones")
        unknown = sorted(set(zones) - zone_names)
        if unknown:
            raise ValidationError(f"{where}.zones: unknown zone {unknown[0]!r}", field=f"{where}.zones")
        if zones and action != Action.JOIN:
            raise ValidationError(f"{where}.zones only go with the join action", field=f"{where}.zones")
        reply = item.get("reply")
        if reply is not None and (not isinstance(reply, str) or len(reply) > 640):
            raise ValidationError(f"{where}.reply must be text of at most 640 characters", field=f"{where}.reply")
        rows.append({"keyword": word, "action": action.value, "locale": locale, "zones": zones,
                     "reply": reply or None, "updated_at": utcnow()})
    session.execute(delete(SmsKeyword))
    for row in rows:
        session.add(SmsKeyword(**row))
    session.flush()
    audit.record(session, actor, "keywords.replace", "sms_keywords", "", count=len(rows))
    return [k.as_dict() for k in sorted(keywords(session).values(), key=lambda k: (k.action, k.keyword))]


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


# ---- SMS keywords -------------------------------------------------------------------------------

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
            return KeywordReply(text("added", person.locale, areas=_areas(zones, person.locale), **values),
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
        areas = _areas(pending.payload["zones"], keyword.locale)
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
        areas = _areas(zones, locale)
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


# ---- verification (the sign-up page): codes by SMS, links by email ------------------------------

PHONE_CODE = "phone_code"
EMAIL_LINK = "email_link"
MANAGE_LINK = "manage_link"
#: Wrong codes allowed per request before it is dead.
MAX_CODE_ATTEMPTS = 5


class VerificationRefused(ValidationError):
    """Too many codes or links asked for this address; the message says when to try again."""


def code_hash(key: str, request_id: int, code: str) -> str:
    return consent.contact_hash(key, f"code:{request_id}", code)


def start_verification(session: Session, key: str, kind: str, channel: str, address: str, payload: dict[str, Any],
                       *, ttl: timedelta, per_hour: int, field_name: str) -> tuple[SubscriptionRequest, str]:
    """A new single-use request for `address` and its secret (a 6-digit code; for links, the caller
    signs the request id). At most `per_hour` per address and kind, whoever asks."""
    digest = consent.contact_hash(key, channel, address)
    now = utcnow()
    recent = session.scalar(select(func.count()).select_from(SubscriptionRequest).where(
        SubscriptionRequest.kind == kind, SubscriptionRequest.address_hash == digest,
        SubscriptionRequest.created_at > now - timedelta(hours=1))) or 0
    if recent >= per_hour:
        raise VerificationRefused(f"too many requests for this {'number' if channel == Channel.SMS else 'address'}; "
                                  f"try again in an hour", field=field_name)
    code = f"{secrets.randbelow(10 ** 6):06d}"
    request = SubscriptionRequest(kind=kind, address=address, address_hash=digest, payload=payload, attempts=0,
                                  created_at=now, expires_at=now + ttl)
    session.add(request)
    session.flush()
    request.code_hash = code_hash(key, request.id, code)
    return request, code


def redeem(session: Session, key: str, request_id: int, kind: str, code: str | None = None) -> SubscriptionRequest:
    """Use a request once: unexpired, unused, and (with `code`) the right code within MAX_CODE_ATTEMPTS."""
    request = session.get(SubscriptionRequest, request_id, with_for_update=True)
    if request is None or request.kind != kind or request.used_at is not None:
        raise ValidationError("this code or link has already been used; start again", field="code")
    if request.expires_at.replace(tzinfo=request.expires_at.tzinfo or timezone.utc) <= utcnow():
        raise ValidationError("this code or link has expired; start again", field="code")
    if code is not None:
        if request.attempts >= MAX_CODE_ATTEMPTS:
            raise ValidationError("too many wrong codes; start again", field="code")
        if not hmac.compare_digest(request.code_hash or "", code_hash(key, request.id, code.strip())):
            request.attempts += 1
            raise ValidationError("that is not the code we sent", field="code")
    request.used_at = utcnow()
    return request


def set_places(session: Session, person: Recipient, *, locale: str, zones: Iterable[str],
               pin: tuple[float, float] | None) -> None:
    """A subscriber's own choice replaces their language, zones and pin (the manage page)."""
    subscribe(session, source="web", locale=locale, phone=person.phone, email=person.email, zones=zones, pin=pin,
              replace_places=True)
