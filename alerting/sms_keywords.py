"""The SMS keywords a resident can text, and what each one means.

Keywords: built-in ones (below: English, Spanish, French) work on a fresh install; an organisation's
`sms_keywords` rows add to them or replace them (`PUT /api/v1/keywords`), with their own reply text,
language and zones. Every zone's name, folded like a reply ("North Side" -> "NORTH SIDE"), is also
a join keyword for that zone unless a row says otherwise.

What a keyword does once matched (JOIN waits for YES, a new person is created) is
alerting/subscriptions.py; HELP, STOP and START are answered by alerting/replies.py.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from alerting import audit
from alerting.contacts import ContactError, normalize_locale
from alerting.errors import ValidationError
from alerting.models import SmsKeyword, Zone, utcnow


class Action(StrEnum):
    JOIN = "join"
    CONFIRM = "confirm"
    HELP = "help"
    STOP = "stop"
    START = "start"


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
