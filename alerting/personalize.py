"""Each person's own words in an alert: `{first_name}`, `{name}` and `{zone}`, filled at send time.

Values are looked up for a whole batch at once (one query for names and languages, one for
locations when the alert says `{zone}`), never per recipient. A value is inserted as text in one
pass and never read again as a template: a person named "{zone}" is greeted as "{zone}".

`{zone}` is the name of a named zone of the alert's target holding one of the person's locations
(the first such zone in the target's order); someone reached another way (a group, a drawn area)
gets a neutral "your area" in their language. An empty name drops the placeholder together with
the comma that went with it ("{first_name}, evacuate" becomes "Evacuate"), so nobody reads ", evacuate".
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerting.models import Alert, Recipient, RecipientLocation, Zone
from alerting.targeting import parse_area

#: The placeholders filled per person (alerting/templates.py asks the operator for every other one).
PERSONAL = ("first_name", "name", "zone")
PERSONAL_PLACEHOLDER = re.compile(r"\{(first_name|name|zone)\}")
#: What `{zone}` says for someone in none of the target's named zones.
ZONE_FALLBACK = {"en": "your area", "es": "su zona", "fr": "votre secteur", "de": "Ihr Gebiet",
                 "pt": "sua área", "it": "la sua zona"}


@dataclass(frozen=True)
class Person:
    """What one recipient's messages need: their language and their placeholder values."""
    id: int
    locale: str
    name: str = ""
    values: dict[str, str] = field(default_factory=dict)


def uses_personal(*texts: str | None) -> set[str]:
    """Which personal placeholders these texts use."""
    return {m.group(1) for text in texts for m in PERSONAL_PLACEHOLDER.finditer(text or "")}


def alert_texts(alert: Alert) -> list[str]:
    """Every text an alert may send, in any language and on any channel."""
    texts = [alert.title, alert.message, *(alert.variants or {}).values()]
    for entry in (alert.translations or {}).values():
        texts.extend([entry.get("title") or "", entry.get("message") or "", *(entry.get("variants") or {}).values()])
    return texts


def first_name(name: str | None) -> str:
    parts = (name or "").split()
    return parts[0] if parts else ""


def zone_fallback(locale: str | None) -> str:
    return ZONE_FALLBACK.get((locale or "en")[:2].lower(), ZONE_FALLBACK["en"])


def fill(text: str, values: dict[str, str]) -> str:
    """Replace the personal placeholders in one pass; an empty value takes its comma with it."""
    if "{" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        return values.get(match.group(1), "")

    # An empty value: "{x}, evacuate" (or "{x}: evacuate") -> "Evacuate"; "Go, {x}." -> "Go.";
    # "Hello {x}, go" -> "Hello, go".
    for name in PERSONAL:
        if not values.get(name) and f"{{{name}}}" in text:
            text = re.sub(rf"(^|[.!?:]\s+)\{{{name}\}}\s*[,:]\s*(\w)", lambda m: m.group(1) + m.group(2).upper(), text)
            text = re.sub(rf"\s*,\s*\{{{name}\}}", "", text)
            text = re.sub(rf"\s+\{{{name}\}}", "", text)
    return PERSONAL_PLACEHOLDER.sub(replace, text)


def people(session: Session, alert: Alert, recipient_ids: Sequence[int]) -> dict[int, Person]:
    """Language and placeholder values of a batch of recipients: one query for names and languages,
    and for `{zone}` one for their locations and one for the target's zones; never one per person."""
    used = uses_personal(*alert_texts(alert))
    rows = session.execute(select(Recipient.id, Recipient.name, Recipient.locale)
                           .where(Recipient.id.in_(list(recipient_ids)))).all()
    zones = zones_of(session, alert, [r.id for r in rows]) if "zone" in used else {}
    result = {}
    for rid, name, locale in rows:
        values = {}
        if used:
            # The fallback speaks the language the person's text is in: theirs if the alert has it.
            language = locale if (locale or "")[:2].lower() in (alert.translations or {}) else None
            values = {"first_name": first_name(name), "name": (name or "").strip(),
                      "zone": zones.get(rid) or zone_fallback(language)}
        result[rid] = Person(rid, locale or "en", (name or "").strip(), values)
    return result


def zones_of(session: Session, alert: Alert, recipient_ids: Iterable[int]) -> dict[int, str]:
    """For each person with a location in one of the target's named zones, that zone's name."""
    names = list((alert.target or {}).get("zones") or [])
    ids = list(recipient_ids)
    if not names or not ids:
        return {}
    rows = [tuple(r) for r in session.execute(select(RecipientLocation.recipient_id, RecipientLocation.lat,
                                                     RecipientLocation.lon)
                                              .where(RecipientLocation.recipient_id.in_(ids)))]
    if not rows:
        return {}
    data = np.array(rows, dtype=np.float64)
    found: dict[int, str] = {}
    stored = {z.name: z for z in session.scalars(select(Zone).where(Zone.name.in_(names)))}
    for zone_name in names:  # the target's order: the first zone that holds the person names it
        zone = stored.get(zone_name)
        if zone is None:
            continue
        (key, value), = zone.area.items()
        inside = parse_area(key, value, f"zones.{zone_name}").contains(data[:, 1], data[:, 2])
        for rid in data[inside, 0].astype(np.int64).tolist():
            found.setdefault(int(rid), zone_name)
    return found
