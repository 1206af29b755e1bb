"""Timestamps in API answers: ISO 8601 in UTC. SQLite hands back naive datetimes; they are UTC."""
from __future__ import annotations

from datetime import datetime, timezone


def as_utc(value: datetime) -> datetime:
    """Aware, in UTC: a naive value (SQLite's) is UTC already; an aware one is converted."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return as_utc(value).isoformat().replace("+00:00", "Z")
