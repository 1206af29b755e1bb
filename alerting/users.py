"""Console operators: accounts, passwords, lockout and sign-in sessions.

Passwords are argon2id hashes (argon2-cffi's defaults). After `LOGIN_FAILURES_BEFORE_LOCK` wrong
passwords an account locks for `LOGIN_LOCK_MINUTES`, whatever is tried meanwhile; the answer to a
failed sign-in never says whether the address exists. A session is a random token in a cookie; the
database keeps only its digest, its CSRF token and when it expires, so every web process behind a
proxy agrees on who is signed in, and signing out (or disabling a user) ends it everywhere at once.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from alerting import audit
from alerting.errors import Conflict, NotFound, ValidationError
from alerting.models import ConsoleSession, User, utcnow
from alerting.statuses import Role
from alerting.timefmt import as_utc

#: Failed sign-ins before an account locks, and for how long.
LOGIN_FAILURES_BEFORE_LOCK = 5
LOGIN_LOCK_MINUTES = 15
MIN_PASSWORD = 10
MAX_PASSWORD = 1000
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")

_hasher = PasswordHasher()
#: Verified against when the address is unknown, so a wrong address costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password anyone has")


@dataclass(frozen=True)
class Operator:
    """Who is signed in, as the console needs it on every request."""
    user_id: int
    email: str
    name: str
    role: str
    session_id: int
    csrf_token: str
    trusted: bool

    @property
    def actor(self) -> str:
        """Their name in the audit log."""
        return f"user:{self.email}"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalize_email(value: object) -> str:
    if not isinstance(value, str) or not EMAIL.match(value.strip()) or len(value.strip()) > 320:
        raise ValidationError("enter an email address such as name@example.org", field="email")
    return value.strip().lower()


def check_password(password: object) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise ValidationError(f"the password must be at least {MIN_PASSWORD} characters", field="password")
    if len(password) > MAX_PASSWORD:
        raise ValidationError(f"the password must be at most {MAX_PASSWORD} characters", field="password")
    return password


def check_role(role: object) -> str:
    if role not in set(Role):
        raise ValidationError(f"role must be one of {', '.join(Role)}", field="role")
    return str(role)


def create_user(session: Session, email: object, password: object, role: object, *, name: str = "",
                actor: str) -> User:
    address, secret, role_name = normalize_email(email), check_password(password), check_role(role)
    if session.scalar(select(User.id).where(User.email == address)) is not None:
        raise Conflict(f"a user {address} already exists")
    user = User(email=address, name=name.strip()[:200], password_hash=_hasher.hash(secret), role=role_name)
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.create", "user", user.id, role=role_name)
    return user


def set_password(session: Session, user_id: int, password: object, *, actor: str) -> None:
    user = _user(session, user_id)
    user.password_hash = _hasher.hash(check_password(password))
    user.failed_logins, user.locked_until = 0, None
    revoke_sessions(session, user.id)
    audit.record(session, actor, "user.password", "user", user.id)


def set_role(session: Session, user_id: int, role: object, *, actor: str) -> None:
    user = _user(session, user_id)
    user.role = check_role(role)
    audit.record(session, actor, "user.role", "user", user.id, role=user.role)


def set_disabled(session: Session, user_id: int, disabled: bool, *, actor: str) -> None:
    user = _user(session, user_id)
    user.disabled_at = utcnow() if disabled else None
    if disabled:
        revoke_sessions(session, user.id)
    audit.record(session, actor, "user.disable" if disabled else "user.enable", "user", user.id)


def unlock(session: Session, user_id: int, *, actor: str) -> None:
    user = _user(session, user_id)
    user.failed_logins, user.locked_until = 0, None
    audit.record(session, actor, "user.unlock", "user", user.id)


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id}")
    return user


class SignInRefused(Exception):
    """Why a sign-in failed, in words fit for the sign-in page (never which part was wrong)."""




def authenticate(session: Session, email: str, password: str, *, now: datetime | None = None) -> User:
    """The user these credentials belong to; raises SignInRefused, counting the failure."""
    now = now or utcnow()
    address = (email or "").strip().lower()
    user = session.scalar(select(User).where(User.email == address))
    if user is None:
        try:
            _hasher.verify(_DUMMY_HASH, password or "")
        except VerificationError:
            pass
        raise SignInRefused("the email address or the password is wrong")
    locked_until = as_utc(user.locked_until) if user.locked_until is not None else None
    if locked_until is not None and locked_until > now:
        minutes = max(1, round((locked_until - now).total_seconds() / 60))
        raise SignInRefused(f"this account is locked after repeated failed sign-ins; try again in {minutes} "
                            f"minute{'s' if minutes != 1 else ''} or ask an administrator to unlock it")
    try:
        _hasher.verify(user.password_hash, password or "")
    except (VerificationError, InvalidHashError):
        user.failed_logins += 1
        if user.failed_logins >= LOGIN_FAILURES_BEFORE_LOCK:
            user.locked_until = now + timedelta(minutes=LOGIN_LOCK_MINUTES)
            user.failed_logins = 0
            audit.record(session, "system", "user.locked", "user", user.id)
        raise SignInRefused("the email address or the password is wrong") from None
    if user.disabled_at is not None:
        raise SignInRefused("this account is disabled; ask an administrator")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    return user


def start_session(session: Session, user: User, *, trusted: bool, lifetime: timedelta) -> str:
    """Open a session for `user`; returns the cookie value (shown once, stored as a digest)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(ConsoleSession(token_hash=_digest(token), user_id=user.id, csrf_token=secrets.token_urlsafe(32),
                               trusted=trusted, created_at=now, last_seen_at=now, expires_at=now + lifetime))
    audit.record(session, f"user:{user.email}", "user.sign_in", "user", user.id, trusted=trusted)
    return token


#: A session's last-seen time is written at most this often (not on every request).
TOUCH_EVERY = timedelta(minutes=5)


def operator_for(session: Session, token: str | None, *, now: datetime | None = None) -> Operator | None:
    """Who holds this session cookie, if it is live and the account is enabled."""
    if not token:
        return None
    now = now or utcnow()
    row = session.execute(select(ConsoleSession, User).join(User, User.id == ConsoleSession.user_id)
                          .where(ConsoleSession.token_hash == _digest(token))).first()
    if row is None:
        return None
    console_session, user = row
    if console_session.revoked_at is not None or as_utc(console_session.expires_at) <= now or user.disabled_at:
        return None
    if now - as_utc(console_session.last_seen_at) > TOUCH_EVERY:
        console_session.last_seen_at = now
    return Operator(user.id, user.email, user.name, user.role, console_session.id, console_session.csrf_token,
                    console_session.trusted)


def end_session(session: Session, token: str | None) -> None:
    if token:
        session.execute(update(ConsoleSession).where(ConsoleSession.token_hash == _digest(token),
                                                     ConsoleSession.revoked_at.is_(None)).values(revoked_at=utcnow()))


def revoke_sessions(session: Session, user_id: int) -> None:
    session.execute(update(ConsoleSession).where(ConsoleSession.user_id == user_id,
                                                 ConsoleSession.revoked_at.is_(None)).values(revoked_at=utcnow()))


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.email)))
