"""Recipients and groups in the database: creating, updating in bulk, looking up.

Imports are set-based: existing people are looked up in chunks, new ones inserted with one
executemany, so a nightly sync of 100,000 rows is a handful of statements, not 100,000 round trips.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from alerting import audit
from alerting import consent
from alerting.errors import Conflict, NotFound, ValidationError
from alerting.models import (Alert, AlertRecipient, Group, PushSubscription, Recipient, RecipientGroup,
                             RecipientLocation, Response, utcnow)
from alerting.timefmt import iso
from alerting.recipient_input import RecipientInput, RowError, RowRejected, parse_locations

CHUNK = 500
MAX_GROUP_NAME = 200


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    rejected: int = 0
    errors: list[RowError] = field(default_factory=list)
    created_groups: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "updated": self.updated, "rejected": self.rejected,
                "errors": [e.as_dict() for e in self.errors], "created_groups": self.created_groups}


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def create_group(session: Session, name: str, description: str = "", *, actor: str) -> Group:
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name:
        raise ValidationError("name is required", field="name")
    if len(name) > MAX_GROUP_NAME:
        raise ValidationError(f"name is longer than {MAX_GROUP_NAME} characters", field="name")
    if session.scalar(select(Group.id).where(Group.name == name)) is not None:
        raise Conflict(f"a group named {name!r} already exists")
    group = Group(name=name, description=description or "")
    session.add(group)
    session.flush()
    audit.record(session, actor, "group.create", "group", group.id, name=name)
    return group


def list_groups(session: Session) -> list[dict[str, Any]]:
    counts = dict(session.execute(select(RecipientGroup.group_id, func.count()).group_by(RecipientGroup.group_id)).all())
    return [{"id": g.id, "name": g.name, "description": g.description, "members": counts.get(g.id, 0)}
            for g in session.scalars(select(Group).order_by(Group.name))]


def group_ids_by_name(session: Session, names: Iterable[str]) -> dict[str, int]:
    names = list(set(names))
    found: dict[str, int] = {}
    for part in _chunks(names):
        found.update(session.execute(select(Group.name, Group.id).where(Group.name.in_(part))).all())
    return found


def get_recipient(session: Session, external_id: str) -> Recipient:
    person = session.scalar(select(Recipient).where(Recipient.external_id == external_id))
    if person is None:
        raise NotFound(f"no recipient with external_id {external_id!r}")
    return person


def upsert_recipients(session: Session, rows: list[RecipientInput], *, actor: str,
                      create_groups: bool = False, errors: list[RowError] | None = None) -> ImportResult:
    """Create or update recipients by external_id; a bad row is rejected alone, with its reason."""
    result = ImportResult(errors=list(errors or []))
    rows = _drop_duplicates(rows, result.errors)
    group_ids, unknown_group_rows = _resolve_groups(session, rows, create_groups, result, actor)
    rows = [r for r in rows if id(r) not in unknown_group_rows]
    existing = _existing_ids(session, [r.external_id for r in rows])
    now = utcnow()
    new_rows = [r for r in rows if r.external_id not in existing]
    known_rows = [r for r in rows if r.external_id in existing]
    if new_rows:
        session.execute(insert(Recipient), [
            {"external_id": r.external_id, "name": r.name or "", "phone": r.phone, "email": r.email,
             "locale": r.locale or "en", "attributes": r.attributes or {}, "created_at": now, "updated_at": now}
            for r in new_rows])
        existing.update(_existing_ids(session, [r.external_id for r in new_rows]))
    _update_existing(session, known_rows, existing, now)
    _replace_memberships(session, [r for r in rows if r.groups is not None], existing, group_ids)
    _store_locations(session, [r for r in rows if r.locations is not None], existing, now)
    result.created, result.updated = len(new_rows), len(rows) - len(new_rows)
    result.rejected = len(result.errors)
    result.errors.sort(key=lambda e: (e.line or 0, e.index or 0))
    audit.record(session, actor, "recipients.upsert", "recipients", "", created=result.created,
                 updated=result.updated, rejected=result.rejected)
    # People the organisation adds are messaged under its authority (employees, students): on record.
    consent.record_import(session, actor, created=result.created, updated=result.updated)
    return result


def _drop_duplicates(rows: list[RecipientInput], errors: list[RowError]) -> list[RecipientInput]:
    first_seen: dict[str, RecipientInput] = {}
    kept = []
    for row in rows:
        earlier = first_seen.get(row.external_id)
        if earlier is not None:
            where = f"on line {earlier.line}" if earlier.line else f"at index {earlier.index}"
            errors.append(RowError(f"external_id {row.external_id!r} already appears {where}",
                                   field="external_id", value=row.external_id, line=row.line,
                                   index=row.index, external_id=row.external_id))
            continue
        first_seen[row.external_id] = row
        kept.append(row)
    return kept


def _resolve_groups(session: Session, rows: list[RecipientInput], create: bool, result: ImportResult,
                    actor: str) -> tuple[dict[str, int], set[int]]:
    """Map group names to ids (creating them if asked); report rows naming unknown groups."""
    wanted = {name for r in rows for name in (r.groups or [])}
    known = group_ids_by_name(session, wanted)
    missing = sorted(wanted - known.keys())
    too_long = {n for n in missing if len(n) > MAX_GROUP_NAME}
    if create and missing:
        for name in missing:
            if name in too_long:
                continue
            group = Group(name=name, description="")
            session.add(group)
            session.flush()
            known[name] = group.id
            result.created_groups.append(name)
            audit.record(session, actor, "group.create", "group", group.id, name=name, via="import")
    rejected: set[int] = set()
    for row in rows:
        unknown = [n for n in (row.groups or []) if n not in known]
        if unknown:
            hint = "" if create else " (create it with POST /api/v1/groups, or import with ?create_groups=true)"
            result.errors.append(RowError(f"unknown group {unknown[0]!r}{hint}", field="groups",
                                          value=unknown[0], line=row.line, index=row.index,
                                          external_id=row.external_id))
            rejected.add(id(row))
    return known, rejected


def _existing_ids(session: Session, external_ids: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for part in _chunks(external_ids):
        found.update(session.execute(
            select(Recipient.external_id, Recipient.id).where(Recipient.external_id.in_(part))).all())
    return found


_UPDATABLE = ("name", "phone", "email", "locale", "attributes")  # locations: _store_locations


def _update_existing(session: Session, rows: list[RecipientInput], ids: dict[str, int], now: Any) -> None:
    """Update only the fields each row gave; rows giving the same fields share one executemany."""
    by_fields: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        fields = tuple(f for f in _UPDATABLE if f in row.given)
        params = {"rid": ids[row.external_id], "updated_at": now}
        for f in fields:
            value = getattr(row, f)
            params[f] = ({} if value is None else value) if f == "attributes" else (
                (value or "en") if f == "locale" else ("" if value is None and f == "name" else value))
        by_fields.setdefault(fields, []).append(params)
    for fields, params in by_fields.items():
        statement = (update(Recipient).where(Recipient.id == bindparam("rid"))
                     .values(updated_at=bindparam("updated_at"), **{f: bindparam(f) for f in fields}))
        session.connection().execute(statement, params)


def _replace_memberships(session: Session, rows: list[RecipientInput], ids: dict[str, int],
                         group_ids: dict[str, int]) -> None:
    recipient_ids = [ids[r.external_id] for r in rows]
    for part in _chunks(recipient_ids):
        session.execute(delete(RecipientGroup).where(RecipientGroup.recipient_id.in_(part)))
    links = [{"recipient_id": ids[r.external_id], "group_id": group_ids[name]} for r in rows for name in r.groups or []]
    if links:
        session.execute(insert(RecipientGroup), links)


def _store_locations(session: Session, rows: list[RecipientInput], ids: dict[str, int], now: Any) -> None:
    """JSON rows replace a person's locations; CSV rows replace only the location with their label."""
    everything = [ids[r.external_id] for r in rows if r.replace_locations]
    for part in _chunks(everything):
        session.execute(delete(RecipientLocation).where(RecipientLocation.recipient_id.in_(part)))
    by_label = [{"rid": ids[r.external_id], "label": loc["label"]} for r in rows if not r.replace_locations
                for loc in r.locations or []]
    if by_label:
        session.connection().execute(delete(RecipientLocation).where(
            RecipientLocation.recipient_id == bindparam("rid"), RecipientLocation.label == bindparam("label")),
            by_label)
    new = [{"recipient_id": ids[r.external_id], "recorded_at": now, **loc} for r in rows for loc in r.locations or []]
    if new:
        session.execute(insert(RecipientLocation), new)


def recipient_as_dict(person: Recipient) -> dict[str, Any]:
    return {"id": person.id, "external_id": person.external_id, "name": person.name, "phone": person.phone,
            "email": person.email, "locale": person.locale, "groups": sorted(g.name for g in person.groups),
            "attributes": person.attributes,
            "locations": [{"label": loc.label, "lat": loc.lat, "lon": loc.lon, "recorded_at": iso(loc.recorded_at)}
                          for loc in person.locations]}


LAST_KNOWN = "last_known"


def record_last_known_location(session: Session, recipient_id: int, data: Any, *, actor: str) -> dict[str, Any]:
    """Store where a person's browser says they are now (shared with their consent on their page).

    It replaces their previous `last_known` location; targets choose whether it counts
    (`location_labels`). The audit log says that it happened, never where.
    """
    if not isinstance(data, dict):
        raise ValidationError('send {"lat": ..., "lon": ...}')
    try:
        (location,) = parse_locations([{"label": LAST_KNOWN, "lat": data.get("lat"), "lon": data.get("lon")}], "")
    except RowRejected as exc:
        raise ValidationError(exc.error.message, field=(exc.error.field or "").removeprefix("locations[0].")) from None
    session.execute(delete(RecipientLocation).where(RecipientLocation.recipient_id == recipient_id,
                                                    RecipientLocation.label == LAST_KNOWN))
    session.add(RecipientLocation(recipient_id=recipient_id, **location))
    audit.record(session, actor, "location.share", "recipient", recipient_id)
    return location


#: People per page in the console's lists.
PAGE_SIZE = 50
#: A search shorter than this matches too much to be useful as a substring; it still matches ids exactly.
MIN_SUBSTRING = 2
_PHONE_LIKE = re.compile(r"^[\d\s()+.\-]+$")


@dataclass
class Page:
    """One page of a longer list: `items`, and how many there are in all."""
    items: list[Any]
    total: int
    number: int
    size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def _page_number(page: int) -> int:
    return page if isinstance(page, int) and page >= 1 else 1


def _search_condition(query: str) -> Any:
    """Who a free-text search means: an external id (exact or prefix, on its unique index), a name
    containing every word, an email containing the text, or a phone containing its digits."""
    text = query.strip()
    matches = [Recipient.external_id == text]
    if len(text) >= MIN_SUBSTRING:
        matches.append(and_(Recipient.external_id > text, Recipient.external_id < text + "\uffff"))
        matches.append(and_(*[Recipient.name.icontains(word, autoescape=True) for word in text.split()]))
        matches.append(Recipient.email.icontains(text, autoescape=True))
        digits = re.sub(r"\D", "", text)
        if len(digits) >= 3 and _PHONE_LIKE.match(text):
            matches.append(Recipient.phone.contains(digits, autoescape=True))
    return or_(*matches)


def search_recipients(session: Session, query: str = "", *, group_id: int | None = None, page: int = 1,
                      size: int = PAGE_SIZE) -> Page:
    """People matching a search (name, external id, phone or email) and/or in a group, by name.

    Set-based: one count and one page query, whatever the directory's size; ids use their index,
    names, emails and phones a substring match (a scan SQLite does in milliseconds at 100,000 people).
    """
    number = _page_number(page)
    conditions = []
    if query and query.strip():
        conditions.append(_search_condition(query))
    if group_id is not None:
        conditions.append(Recipient.id.in_(select(RecipientGroup.recipient_id).where(RecipientGroup.group_id == group_id)))
    total = session.scalar(select(func.count()).select_from(Recipient).where(*conditions)) or 0
    people = list(session.scalars(select(Recipient).where(*conditions).order_by(Recipient.name, Recipient.external_id)
                                  .limit(size).offset((number - 1) * size)))
    return Page(people, total, number, size)


def get_group(session: Session, group_id: int) -> Group:
    group = session.get(Group, group_id)
    if group is None:
        raise NotFound(f"no group with id {group_id}")
    return group


def group_members(session: Session, group_id: int, *, page: int = 1, size: int = PAGE_SIZE) -> Page:
    """A group's members, by name, one page at a time."""
    get_group(session, group_id)
    return search_recipients(session, group_id=group_id, page=page, size=size)


def person_activity(session: Session, recipient_id: int, *, limit: int = 20) -> dict[str, Any]:
    """A person's recent alerts (with their answer), their recent responses and live push subscriptions."""
    alerts = session.execute(
        select(Alert.id, Alert.title, Alert.drill, Alert.status, Alert.created_at, Alert.send_requested_at,
               AlertRecipient.response, AlertRecipient.last_response_at)
        .join(AlertRecipient, AlertRecipient.alert_id == Alert.id)
        .where(AlertRecipient.recipient_id == recipient_id).order_by(Alert.id.desc()).limit(limit)).mappings().all()
    responses = session.execute(
        select(Response.alert_id, Response.kind, Response.channel, Response.received_at, Response.counted,
               Response.recorded_by)
        .where(Response.recipient_id == recipient_id).order_by(Response.id.desc()).limit(limit)).mappings().all()
    push = session.scalar(select(func.count()).select_from(PushSubscription).where(
        PushSubscription.recipient_id == recipient_id, PushSubscription.gone_at.is_(None))) or 0
    return {"alerts": [dict(a) for a in alerts], "responses": [dict(r) for r in responses],
            "push_subscriptions": push}


def location_sample(session: Session, *, limit: int = 2000) -> list[tuple[float, float]]:
    """Up to `limit` people's positions spread over the directory (every n-th stored location), so a
    map without tiles still shows where people are; nothing else about them."""
    total = session.scalar(select(func.count()).select_from(RecipientLocation)) or 0
    step = max(1, -(-total // limit))
    query = select(RecipientLocation.lat, RecipientLocation.lon)
    if step > 1:
        query = query.where(RecipientLocation.id % step == 0)
    return [(round(lat, 6), round(lon, 6)) for lat, lon in session.execute(query.limit(limit))]
