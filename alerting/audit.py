"""The append-only audit log: every change an operator or an outside system makes is written here."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerting.models import AuditEntry


def record(session: Session, actor: str, action: str, subject_type: str = "", subject_id: object = "",
           **details: Any) -> None:
    """Add an entry in the caller's transaction, so the change and its record commit together.

    `details` must not hold personal data (phone numbers, addresses, message text): ids and counts.
    """
    session.add(AuditEntry(actor=actor, action=action, subject_type=subject_type,
                           subject_id=str(subject_id), details=details))


#: Entries per page when reading the log.
PAGE_SIZE = 50


def search(session: Session, *, actor: str = "", action: str = "", subject: str = "", before: int | None = None,
           limit: int = PAGE_SIZE) -> list[AuditEntry]:
    """Entries newest first, older than entry `before` (keyset paging: steady while entries arrive).

    `actor` matches part of the actor's name; `action` an action or its prefix ("user." for every
    user action); `subject` a subject type ("zone") or type and id ("zone:3").
    """
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    if actor.strip():
        query = query.where(AuditEntry.actor.icontains(actor.strip(), autoescape=True))
    if action.strip():
        wanted = action.strip()
        query = query.where(AuditEntry.action.startswith(wanted, autoescape=True) if wanted.endswith(".")
                            else AuditEntry.action == wanted)
    if subject.strip():
        kind, _, ident = subject.strip().partition(":")
        query = query.where(AuditEntry.subject_type == kind.strip())
        if ident.strip():
            query = query.where(AuditEntry.subject_id == ident.strip())
    return list(session.scalars(query))


def known_actions(session: Session) -> list[str]:
    """Every action name the log holds, for the filter's suggestions."""
    return sorted(session.scalars(select(AuditEntry.action).distinct()))
