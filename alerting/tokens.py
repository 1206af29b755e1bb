"""API bearer tokens: random, shown once, stored only as a SHA-256 digest."""
from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from alerting import audit
from alerting.errors import NotFound, ValidationError
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


def list_tokens(session: Session) -> list[ApiToken]:
    """Every token, live ones first, newest first (never the secret: only its digest is stored)."""
    return list(session.scalars(select(ApiToken).order_by(ApiToken.revoked_at.is_not(None), ApiToken.id.desc())))


def revoke_token(session: Session, token_id: int, *, actor: str) -> None:
    """Stop a token working at once; revoking a revoked token changes nothing."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"no API token with id {token_id}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record(session, actor, "token.revoke", "token", token.id, role=token.role, label=token.label)
