"""The append-only audit log: every change an operator or an outside system makes is written here."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from alerting.models import AuditEntry


def record(session: Session, actor: str, action: str, subject_type: str = "", subject_id: object = "",
           **details: Any) -> None:
    """Add an entry in the caller's transaction, so the change and its record commit together.

    `details` must not hold personal data (phone numbers, addresses, message text): ids and counts.
    """
    session.add(AuditEntry(actor=actor, action=action, subject_type=subject_type,
                           subject_id=str(subject_id), details=details))
