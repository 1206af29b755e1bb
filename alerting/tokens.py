"""API bearer tokens: random, shown once, stored only as a SHA-256 digest."""
from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from alerting import audit
from alerting.errors import ValidationError
from alerting.models import ApiToken, utcnow
from alerting.statuses import Role

PREFIX = "tsn_"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, role: str, *, label: str = "", actor: str) -> str:
    if role not in set(Role):
        raise ValidationError(f"role must be one of {', '.join(Role)}, got {role!r}", field="role")
    token = PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(token_hash=_digest(token), role=role, label=label))
    session.flush()
    audit.record(session, actor, "token.create", "token", "", role=role, label=label)
    return token


def role_for(session: Session, token: str) -> tuple[int, str] | None:
    """(token id, role) of a valid, unrevoked token; None otherwise."""
    row = session.execute(select(ApiToken.id, ApiToken.role)
                          .where(ApiToken.token_hash == _digest(token), ApiToken.revoked_at.is_(None))).first()
    if row is None:
        return None
    session.execute(update(ApiToken).where(ApiToken.id == row[0]).values(last_used_at=utcnow()))
    return row[0], row[1]
