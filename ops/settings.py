"""Tocsin's configuration: one frozen `Settings`, built once from the environment.

Only `ops/` reads the environment. Everything else receives the values it needs from here.
Every setting is `TOCSIN_<NAME>`; command-line flags override the environment.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

from ops import defaults


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


#: The sandbox's Twilio account. Any SID works against the sandbox; a fixed one keeps logs readable.
SANDBOX_ACCOUNT_SID = "AC" + "7" * 32
#: Twilio's documented magic "From" number for tests; the sandbox accepts any.
SANDBOX_FROM_NUMBER = "+15005550006"


SEVERITIES = ("extreme", "severe", "moderate", "minor")


def _severity(raw: str | None) -> str | None:
    if raw is None or raw.lower() in ("none", "off"):
        return None
    if raw.lower() not in SEVERITIES:
        raise SettingsError(f"TOCSIN_APPROVAL_SEVERITY must be one of {', '.join(SEVERITIES)} or none, got {raw!r}")
    return raw.lower()


def _log_format(raw: str | None) -> str:
    if raw is None:
        return defaults.LOG_FORMAT
    if raw.lower() not in ("text", "json"):
        raise SettingsError(f"TOCSIN_LOG_FORMAT must be text or json, got {raw!r}")
    return raw.lower()


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path(defaults.DATA_DIR)
    host: str = defaults.HOST
    port: int = defaults.PORT
    workers: int = defaults.WORKERS
    database_url: str | None = None
    redis_url: str | None = None
    public_url: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from: str | None = None
    twilio_api_base: str | None = None
    twilio_auth_token_previous: str | None = None
    twilio_secondary_account_sid: str | None = None
    twilio_secondary_auth_token: str | None = None
    twilio_secondary_from: str | None = None
    twilio_secondary_api_base: str | None = None
    twilio_rate_limit: float = 0.0
    twilio_secondary_rate_limit: float = 0.0
    twilio_sender_rate_limit: float = 0.0
    twilio_call_rate_limit: float = 0.0
    smtp_secondary_url: str | None = None
    smtp_rate_limit: float = 0.0
    smtp_url: str | None = None
    smtp_from: str | None = None
    vapid_private_key: str | None = None
    vapid_subject: str | None = None
    secret_key: str | None = None
    org_name: str = defaults.ORG_NAME
    org_contact: str = defaults.ORG_CONTACT
    batch_size: int = defaults.BATCH_SIZE
    send_concurrency: int = defaults.SEND_CONCURRENCY
    log_level: str = defaults.LOG_LEVEL
    #: "text" for people, "json" for log pipelines (ops/logs.py).
    log_format: str = defaults.LOG_FORMAT
    #: The API token `tocsin alert send` uses (a client's setting: never passed to workers).
    api_token: str | None = None
    #: The console: how long a sign-in lasts, on any browser and on a trusted console.
    session_hours: int = defaults.SESSION_HOURS
    trusted_session_days: int = defaults.TRUSTED_SESSION_DAYS
    #: Two-person rule: alerts at this severity or above need a second operator's approval
    #: (extreme, severe, moderate, minor); None: no approval needed.
    approval_severity: str | None = None
    #: A tile server for the console's map ({z}/{x}/{y} URL template) on networks that have one;
    #: without it the map shows zones, buildings and people's positions on a plain background.
    map_tile_url: str | None = None
    #: Privacy (alerting/privacy.py, a daily job): deliveries older than this many days are deleted,
    #: and the text of replies older than `retention_days_bodies` blanked. None: kept for ever.
    retention_days_deliveries: int | None = None
    retention_days_bodies: int | None = None
    #: The periodic sweep (ops/sweep.py): seconds between runs, and how long an SMS or call may stay
    #: queued/sent after its last news before the provider is asked for its status.
    sweep_interval_s: int = defaults.SWEEP_INTERVAL_S
    status_query_after_s: int = defaults.STATUS_QUERY_AFTER_S
    extra: Mapping[str, str] = field(default_factory=dict)

    # ---- derived values -------------------------------------------------------------------
    @property
    def embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None

    @property
    def uses_sandbox(self) -> bool:
        """No Twilio account configured: `serve` runs the sandbox and sends there."""
        return self.twilio_account_sid is None

    @property
    def twilio_senders(self) -> list[str]:
        """TOCSIN_TWILIO_FROM may list several numbers (a sender pool), separated by commas."""
        return [n.strip() for n in (self.twilio_from or SANDBOX_FROM_NUMBER).split(",") if n.strip()]

    @property
    def webhook_tokens(self) -> tuple[str, ...]:
        """Auth tokens a Twilio webhook may be signed with: each account's, and the previous one
        during a credential rotation."""
        return tuple(t for t in (self.twilio_auth_token, self.twilio_auth_token_previous,
                                 self.twilio_secondary_auth_token) if t)

    @property
    def effective_smtp_from(self) -> str:
        return self.smtp_from or f"alerts@{defaults.SANDBOX_MAIL_DOMAIN}"

    @property
    def effective_vapid_subject(self) -> str:
        """VAPID's `sub` claim: how a push service can reach the sender (mailto: or https:)."""
        return self.vapid_subject or f"mailto:{self.effective_smtp_from}"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'tocsin.db').resolve()}"

    @property
    def effective_public_url(self) -> str:
        """The URL providers use to reach us: webhook signatures are computed over it."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    def with_overrides(self, **changes: object) -> "Settings":
        """Apply command-line flags; `None` means "not given" and keeps the current value."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ

        def text(name: str) -> str | None:
            value = env.get(f"TOCSIN_{name}")
            return value.strip() if value and value.strip() else None

        def number(name: str, default: int, minimum: int = 0) -> int:
            raw = text(name)
            if raw is None:
                return default
            try:
                value = int(raw)
            except ValueError:
                raise SettingsError(f"TOCSIN_{name} must be a whole number, got {raw!r}") from None
            if value < minimum:
                raise SettingsError(f"TOCSIN_{name} must be at least {minimum}, got {value}")
            return value

        def rate(name: str) -> float:
            raw = text(name)
            if raw is None:
                return 0.0
            try:
                value = float(raw)
            except ValueError:
                raise SettingsError(f"TOCSIN_{name} must be a number (per second), got {raw!r}") from None
            if value < 0 or value != value:
                raise SettingsError(f"TOCSIN_{name} must not be negative, got {raw!r}")
            return value

        sid, token = text("TWILIO_ACCOUNT_SID"), text("TWILIO_AUTH_TOKEN")
        if text("TWILIO_SECONDARY_ACCOUNT_SID") and not text("TWILIO_SECONDARY_AUTH_TOKEN"):
            raise SettingsError("TOCSIN_TWILIO_SECONDARY_AUTH_TOKEN is required with TOCSIN_TWILIO_SECONDARY_ACCOUNT_SID")
        if sid and not token:
            raise SettingsError("TOCSIN_TWILIO_AUTH_TOKEN is required when TOCSIN_TWILIO_ACCOUNT_SID is set")
        return cls(
            data_dir=Path(text("DATA_DIR") or defaults.DATA_DIR),
            host=text("HOST") or defaults.HOST,
            port=number("PORT", defaults.PORT, 0),
            workers=number("WORKERS", defaults.WORKERS, 0),
            database_url=text("DATABASE_URL"),
            redis_url=text("REDIS_URL"),
            public_url=text("PUBLIC_URL"),
            twilio_account_sid=sid,
            twilio_auth_token=token,
            twilio_from=text("TWILIO_FROM"),
            twilio_api_base=text("TWILIO_API_BASE"),
            twilio_auth_token_previous=text("TWILIO_AUTH_TOKEN_PREVIOUS"),
            twilio_secondary_account_sid=text("TWILIO_SECONDARY_ACCOUNT_SID"),
            twilio_secondary_auth_token=text("TWILIO_SECONDARY_AUTH_TOKEN"),
            twilio_secondary_from=text("TWILIO_SECONDARY_FROM"),
            twilio_secondary_api_base=text("TWILIO_SECONDARY_API_BASE"),
            twilio_rate_limit=rate("TWILIO_RATE_LIMIT"),
            twilio_secondary_rate_limit=rate("TWILIO_SECONDARY_RATE_LIMIT"),
            twilio_sender_rate_limit=rate("TWILIO_SENDER_RATE_LIMIT"),
            twilio_call_rate_limit=rate("TWILIO_CALL_RATE_LIMIT"),
            smtp_secondary_url=text("SMTP_SECONDARY_URL"),
            smtp_rate_limit=rate("SMTP_RATE_LIMIT"),
            smtp_url=text("SMTP_URL"),
            smtp_from=text("SMTP_FROM"),
            vapid_private_key=text("VAPID_PRIVATE_KEY"),
            vapid_subject=text("VAPID_SUBJECT"),
            secret_key=text("SECRET_KEY"),
            org_name=text("ORG_NAME") or defaults.ORG_NAME,
            org_contact=text("ORG_CONTACT") or defaults.ORG_CONTACT,
            batch_size=number("BATCH_SIZE", defaults.BATCH_SIZE, 1),
            send_concurrency=number("SEND_CONCURRENCY", defaults.SEND_CONCURRENCY, 1),
            log_level=(text("LOG_LEVEL") or defaults.LOG_LEVEL).upper(),
            log_format=_log_format(text("LOG_FORMAT")),
            api_token=text("API_TOKEN"),
            session_hours=number("SESSION_HOURS", defaults.SESSION_HOURS, 1),
            trusted_session_days=number("TRUSTED_SESSION_DAYS", defaults.TRUSTED_SESSION_DAYS, 1),
            approval_severity=_severity(text("APPROVAL_SEVERITY")),
            map_tile_url=text("MAP_TILE_URL"),
            retention_days_deliveries=number("RETENTION_DAYS_DELIVERIES", 0, 1) or None,
            retention_days_bodies=number("RETENTION_DAYS_BODIES", 0, 1) or None,
            sweep_interval_s=number("SWEEP_INTERVAL_S", defaults.SWEEP_INTERVAL_S, 1),
            status_query_after_s=number("STATUS_QUERY_AFTER_S", defaults.STATUS_QUERY_AFTER_S, 1),
        )

    def to_env(self) -> dict[str, str]:
        """The environment a child process (a worker) needs to rebuild these exact settings."""
        pairs = {
            "DATA_DIR": str(self.data_dir),
            "HOST": self.host,
            "PORT": str(self.port),
            "WORKERS": str(self.workers),
            "DATABASE_URL": self.effective_database_url,
            "REDIS_URL": self.redis_url,
            "PUBLIC_URL": self.effective_public_url,
            "TWILIO_ACCOUNT_SID": self.twilio_account_sid,
            "TWILIO_AUTH_TOKEN": self.twilio_auth_token,
            "TWILIO_FROM": self.twilio_from,
            "TWILIO_API_BASE": self.twilio_api_base,
            "TWILIO_AUTH_TOKEN_PREVIOUS": self.twilio_auth_token_previous,
            "TWILIO_SECONDARY_ACCOUNT_SID": self.twilio_secondary_account_sid,
            "TWILIO_SECONDARY_AUTH_TOKEN": self.twilio_secondary_auth_token,
            "TWILIO_SECONDARY_FROM": self.twilio_secondary_from,
            "TWILIO_SECONDARY_API_BASE": self.twilio_secondary_api_base,
            "TWILIO_RATE_LIMIT": str(self.twilio_rate_limit) if self.twilio_rate_limit else None,
            "TWILIO_SECONDARY_RATE_LIMIT": str(self.twilio_secondary_rate_limit) if self.twilio_secondary_rate_limit else None,
            "TWILIO_SENDER_RATE_LIMIT": str(self.twilio_sender_rate_limit) if self.twilio_sender_rate_limit else None,
            "TWILIO_CALL_RATE_LIMIT": str(self.twilio_call_rate_limit) if self.twilio_call_rate_limit else None,
            "SMTP_SECONDARY_URL": self.smtp_secondary_url,
            "SMTP_RATE_LIMIT": str(self.smtp_rate_limit) if self.smtp_rate_limit else None,
            "SMTP_URL": self.smtp_url,
            "SMTP_FROM": self.smtp_from,
            "VAPID_PRIVATE_KEY": self.vapid_private_key,
            "VAPID_SUBJECT": self.vapid_subject,
            "SECRET_KEY": self.secret_key,
            "ORG_NAME": self.org_name,
            "ORG_CONTACT": self.org_contact,
            "BATCH_SIZE": str(self.batch_size),
            "SEND_CONCURRENCY": str(self.send_concurrency),
            "LOG_LEVEL": self.log_level,
            "LOG_FORMAT": self.log_format,
            "SESSION_HOURS": str(self.session_hours),
            "TRUSTED_SESSION_DAYS": str(self.trusted_session_days),
            "APPROVAL_SEVERITY": self.approval_severity,
            "MAP_TILE_URL": self.map_tile_url,
            "RETENTION_DAYS_DELIVERIES": str(self.retention_days_deliveries) if self.retention_days_deliveries else None,
            "RETENTION_DAYS_BODIES": str(self.retention_days_bodies) if self.retention_days_bodies else None,
            "SWEEP_INTERVAL_S": str(self.sweep_interval_s),
            "STATUS_QUERY_AFTER_S": str(self.status_query_after_s),
        }
        return {f"TOCSIN_{k}": v for k, v in pairs.items() if v is not None}
