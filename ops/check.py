"""`tocsin check`: report insecure settings before they matter.

Each finding is `insecure` (the exit code is then 1) or `warning`. What is checked:
- secrets: TOCSIN_SECRET_KEY (and Twilio tokens) missing, short or a known default where the
  deployment is not the embedded one (an external database or Redis: a fleet must share them);
- logging at DEBUG (libraries log request bodies: phone numbers and message text);
- a public URL on plain HTTP that is not loopback (no TLS, no proxy in front), and listening on
  every interface without TLS in front;
- the sandbox in use (no Twilio account) while the directory holds people who look real: their
  alerts would go nowhere;
- the demo console users present (their passwords were printed on a terminal);
- the data directory's secrets readable or writable by others.
Reading the database is skipped, with a warning, when it cannot be reached.
"""
from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ops.settings import Settings

INSECURE, WARNING = "insecure", "warning"
#: Values seen in examples and our own test harnesses: never a real secret.
KNOWN_DEFAULTS = {"", "secret", "changeme", "change-me", "password", "tocsin", "test", "dev", "development",
                  "chaos-secret-key-not-for-production", "bench-token"}
MIN_SECRET_LENGTH = 32
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
#: Domains reserved for examples and tests (RFC 2606, RFC 6761) and the demo campus's.
EXAMPLE_DOMAINS = ("example.com", "example.org", "example.net", "example.edu", ".test", ".invalid", ".example",
                   ".localhost")


@dataclass(frozen=True)
class Finding:
    level: str
    what: str

    def __str__(self) -> str:
        return f"{self.level}: {self.what}"


def check_settings(settings: Settings) -> list[Finding]:
    """Findings from the settings alone (no database, no network)."""
    found: list[Finding] = []
    embedded = settings.embedded_database and settings.embedded_redis
    key = settings.secret_key
    if key is None:
        if not embedded:
            found.append(Finding(INSECURE, "TOCSIN_SECRET_KEY is not set while the database or Redis is external: "
                                           "each process would sign links with its own generated key"))
    elif key.strip().lower() in KNOWN_DEFAULTS or len(key) < MIN_SECRET_LENGTH:
        found.append(Finding(INSECURE, f"TOCSIN_SECRET_KEY is a default or shorter than {MIN_SECRET_LENGTH} "
                                       "characters: anyone could forge answer links"))
    for name, token in (("TOCSIN_TWILIO_AUTH_TOKEN", settings.twilio_auth_token),
                        ("TOCSIN_TWILIO_SECONDARY_AUTH_TOKEN", settings.twilio_secondary_auth_token)):
        if token is not None and token.strip().lower() in KNOWN_DEFAULTS:
            found.append(Finding(INSECURE, f"{name} is a known default value: webhooks signed with it can be forged"))
    if settings.log_level == "DEBUG":
        found.append(Finding(INSECURE, "TOCSIN_LOG_LEVEL is DEBUG: libraries then log request bodies "
                                       "(phone numbers, addresses, message text)"))
    public = urlsplit(settings.effective_public_url)
    if public.scheme != "https" and (public.hostname or "") not in LOOPBACK:
        found.append(Finding(INSECURE, f"the public URL {settings.effective_public_url} is plain HTTP: sign-ins, "
                                       "tokens and webhooks cross the network unencrypted (put a TLS proxy in "
                                       "front and set TOCSIN_PUBLIC_URL to its https:// URL)"))
    if settings.host in ("0.0.0.0", "::", "") and public.scheme != "https":
        found.append(Finding(INSECURE, f"listening on every interface ({settings.host or '*'}) with no https:// "
                                       "public URL: nothing encrypts the traffic"))
    if settings.uses_sandbox and not embedded:
        found.append(Finding(WARNING, "no Twilio account is configured: SMS and voice go to the built-in sandbox, "
                                      "not to phones"))
    found.extend(check_data_dir(settings.data_dir))
    return found


def check_data_dir(data_dir: Path) -> list[Finding]:
    """Secrets kept in the data directory must be its owner's alone."""
    found = []
    folder = data_dir / "secrets"
    if not folder.is_dir():
        return found
    if folder.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        found.append(Finding(INSECURE, f"{folder} is open to other users (chmod 700 it)"))
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            found.append(Finding(INSECURE, f"{path} is readable or writable by other users (chmod 600 it)"))
    return found


def check_database(settings: Settings, sessions) -> list[Finding]:  # type: ignore[no-untyped-def]
    """Findings that need the database: demo users, real-looking people on the sandbox."""
    from sqlalchemy import select

    from alerting.models import Recipient, User
    from ops.demo import DEMO_USERS

    found = []
    with sessions() as session:
        demo = session.scalars(select(User.email).where(User.email.in_([e for e, _ in DEMO_USERS]),
                                                        User.disabled_at.is_(None))).all()
        if demo:
            found.append(Finding(INSECURE, f"demo console users exist ({', '.join(sorted(demo))}): their passwords "
                                           "were printed at start-up; disable them"))
        if settings.uses_sandbox:
            emails = session.scalars(select(Recipient.email).where(Recipient.email.is_not(None))).all()
            real = sum(1 for e in emails if not _example_address(e))
            if real:
                found.append(Finding(INSECURE, f"the sandbox is in use (no Twilio account) but {real} people have real-"
                                               "looking email addresses: their alerts would reach no one"))
    return found


def _example_address(email: str) -> bool:
    domain = email.rsplit("@", 1)[-1].lower()
    return any(domain == d or domain.endswith("." + d.lstrip(".")) or (d.startswith(".") and domain.endswith(d))
               for d in EXAMPLE_DOMAINS)


def run_check(settings: Settings, *, database: bool = True) -> tuple[list[Finding], int]:
    """All findings and the exit code: 1 if any is insecure, else 0."""
    found = check_settings(settings)
    if database:
        engine = None
        try:
            from ops import database as db
            engine = db.make_engine(settings.effective_database_url)
            found.extend(check_database(settings, db.make_sessions(engine)))
        except Exception as exc:  # an unreachable or unmigrated database: say so, check the rest
            found.append(Finding(WARNING, f"could not read the database ({type(exc).__name__}); "
                                          "demo users and recipients were not checked"))
        finally:
            if engine is not None:
                engine.dispose()  # a server's connections are closed, not left to the garbage collector
    return found, 1 if any(f.level == INSECURE for f in found) else 0
