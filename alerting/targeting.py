"""Who an alert reaches: checking a target and resolving it to recipients, in id order, in chunks.

A target is `{"groups": [names], "recipients": [external ids], "exclude": <target>}`; the parts are
united, then `exclude` is removed. Resolving in id-ordered chunks lets the dispatcher start sending
the first chunk while later ones are still being read, and resume after a crash from any id.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, not_, or_, select
from sqlalchemy.orm import Session

from alerting.directory import group_ids_by_name
from alerting.errors import ValidationError
from alerting.models import Recipient, RecipientGroup

TARGET_KEYS = ("groups", "recipients", "exclude")


@dataclass(frozen=True, slots=True)
class TargetRow:
    id: int
    phone: str | None
    email: str | None


def normalize_target(session: Session, target: Any, *, path: str = "target") -> dict[str, Any]:
    """Check a target and return it in canonical form; raise ValidationError naming the bad part."""
    if not isinstance(target, dict):
        raise ValidationError(f"{path} must be an object such as {{\"groups\": [\"Staff\"]}}", field=path)
    unknown_keys = sorted(set(target) - set(TARGET_KEYS))
    if unknown_keys:
        raise ValidationError(f"{path} has unknown part(s) {', '.join(unknown_keys)}; "
                              f"known parts are {', '.join(TARGET_KEYS)}", field=f"{path}.{unknown_keys[0]}")
    result: dict[str, Any] = {}
    for key in ("groups", "recipients"):
        names = target.get(key, [])
        if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
            raise ValidationError(f"{path}.{key} must be a list of names", field=f"{path}.{key}")
        if names:
            result[key] = sorted({n.strip() for n in names})
    if "groups" in result:
        missing = sorted(set(result["groups"]) - group_ids_by_name(session, result["groups"]).keys())
        if missing:
            raise ValidationError(f"unknown group {missing[0]!r}", field=f"{path}.groups")
    if "recipients" in result:
        found = set(session.scalars(select(Recipient.external_id)
                                    .where(Recipient.external_id.in_(result["recipients"]))))
        missing = sorted(set(result["recipients"]) - found)
        if missing:
            raise ValidationError(f"unknown recipient {missing[0]!r}", field=f"{path}.recipients")
    if target.get("exclude"):
        result["exclude"] = normalize_target(session, target["exclude"], path=f"{path}.exclude")
    if not (result.get("groups") or result.get("recipients")):
        raise ValidationError(f"{path} names no one: give groups or recipients", field=path)
    return result


def _condition(session: Session, target: dict[str, Any]) -> ColumnElement[bool]:
    parts: list[ColumnElement[bool]] = []
    if target.get("groups"):
        ids = list(group_ids_by_name(session, target["groups"]).values())
        parts.append(Recipient.id.in_(select(RecipientGroup.recipient_id).where(RecipientGroup.group_id.in_(ids))))
    if target.get("recipients"):
        parts.append(Recipient.external_id.in_(target["recipients"]))
    condition = or_(*parts) if parts else false()
    if target.get("exclude"):
        condition = and_(condition, not_(_condition(session, target["exclude"])))
    return condition


def resolve_chunk(session: Session, target: dict[str, Any], after_id: int, limit: int) -> list[TargetRow]:
    """The next `limit` people of the target with an id above `after_id`, in id order."""
    rows = session.execute(
        select(Recipient.id, Recipient.phone, Recipient.email)
        .where(_condition(session, target), Recipient.id > after_id)
        .order_by(Recipient.id).limit(limit))
    return [TargetRow(*row) for row in rows]


def count(session: Session, target: dict[str, Any]) -> int:
    return session.scalar(select(func.count()).select_from(Recipient).where(_condition(session, target))) or 0
