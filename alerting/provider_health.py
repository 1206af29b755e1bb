"""How each provider is doing: errors, and above all how long its messages take to arrive.

Errors are not enough: campuses have seen one carrier's route deliver alerts ten minutes late, and a
vendor silently drop most messages, while every API call succeeded. So for each provider we measure
the time from hand-off (the provider accepted it) to "delivered", and count messages still not
delivered after the threshold. A provider is *lagging* when more than `LAG_SHARE` of its recent
messages took longer than `LAG_THRESHOLD` (GOV.UK Notify's rule: 15% over 5 minutes); the workers
then send through the other providers first (channels/failover.py).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerting.models import Delivery, utcnow
from alerting.statuses import DeliveryStatus

LAG_THRESHOLD = timedelta(minutes=5)
LAG_SHARE = 0.15
#: Fewer recent messages than this say nothing reliable about a provider.
MIN_SAMPLE = 20
WINDOW = timedelta(hours=1)
FAILED = {DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED, DeliveryStatus.BOUNCED}


def _seconds(later: datetime, earlier: datetime) -> float:
    """SQLite hands back naive datetimes; every timestamp we store is UTC."""
    later, earlier = (t if t.tzinfo else t.replace(tzinfo=timezone.utc) for t in (later, earlier))
    return (later - earlier).total_seconds()


def provider_health(session: Session, *, window: timedelta = WINDOW, channel: str | None = None) -> list[dict[str, Any]]:
    """Per channel and provider, over the window: messages, failures, delivery latency, lagging."""
    now = utcnow()
    since = now - window
    query = select(Delivery.channel, Delivery.provider, Delivery.status, Delivery.queued_at, Delivery.delivered_at).where(
        Delivery.provider.is_not(None), Delivery.queued_at.is_not(None), Delivery.queued_at >= since)
    if channel:
        query = query.where(Delivery.channel == channel)
    stats: dict[tuple[str, str], dict[str, Any]] = {}
    for chan, provider, status, queued_at, delivered_at in session.execute(query):
        entry = stats.setdefault((chan, provider), {"latencies": [], "failed": 0, "late": 0, "messages": 0})
        entry["messages"] += 1
        if status in FAILED:
            entry["failed"] += 1
        if delivered_at is not None:
            seconds = _seconds(delivered_at, queued_at)
            entry["latencies"].append(seconds)
            if seconds > LAG_THRESHOLD.total_seconds():
                entry["late"] += 1
        elif status not in FAILED and _seconds(now, queued_at) > LAG_THRESHOLD.total_seconds():
            entry["late"] += 1  # still not delivered after the threshold: as late as it gets
    report = []
    for (chan, provider), entry in sorted(stats.items()):
        latencies = sorted(entry["latencies"])
        judged = entry["messages"] - entry["failed"]
        late_share = entry["late"] / judged if judged else 0.0
        report.append({
            "channel": chan, "provider": provider, "messages": entry["messages"], "failed": entry["failed"],
            "delivered": len(latencies),
            "delivery_seconds_p50": round(latencies[len(latencies) // 2], 1) if latencies else None,
            "delivery_seconds_p95": round(latencies[int(len(latencies) * 0.95)], 1) if latencies else None,
            "late_share": round(late_share, 3),
            "lagging": judged >= MIN_SAMPLE and late_share > LAG_SHARE,
        })
    return report


def lagging_providers(session: Session, channel: str) -> set[str]:
    return {row["provider"] for row in provider_health(session, channel=channel) if row["lagging"]}
