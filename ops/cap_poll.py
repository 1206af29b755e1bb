"""Polling followed CAP feeds: one RQ job per feed that re-arms itself (`enqueue_in` its interval).

Polls run on the urgent queue: a followed feed (a weather service, say) may send a live alert, and
that must not wait behind a drill or a bulk run. A poll is one small HTTP fetch.

A chain of jobs per feed carries a token; the current token lives in Redis (`chain_key`). Starting
polling (at `tocsin serve`, or when a feed is registered) writes a new token and enqueues a job
now, so an older chain (a previous serve's, still scheduled in Redis) finds its token stale at its
next run and stops: one chain per feed however often the system restarts. A deleted feed's chain
stops the same way.
"""
from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from redis import Redis
from sqlalchemy import select

from alerting import dispatch
from alerting.cap import feeds
from alerting.cap.export import Origin
from alerting.cap.fetch import fetch
from alerting.models import CapFeed
from escalation import accountability, engine
from ops.jobs import RQStepScheduler
from ops.queues import URGENT, queue
from ops.runtime import Runtime

log = logging.getLogger(__name__)

#: Longest one poll may take: the feed and each new CAP document, 15 s timeout each.
POLL_JOB_TIMEOUT_S = 600


def chain_key(feed_id: int) -> str:
    return f"tocsin:cap:poll:{feed_id}"


def start(redis: Redis, feed_id: int) -> str:
    """Start (or restart) the feed's chain of polls with a fresh token; the first poll runs now."""
    token = uuid.uuid4().hex
    redis.set(chain_key(feed_id), token)
    queue(redis, URGENT).enqueue("ops.jobs.poll_cap_feed", feed_id, token, job_timeout=POLL_JOB_TIMEOUT_S,
                                 result_ttl=3600, failure_ttl=86400, description=f"poll CAP feed {feed_id}")
    return token


def start_all(rt: Runtime) -> int:
    with rt.sessions() as session:
        ids = list(session.scalars(select(CapFeed.id)))
    for feed_id in ids:
        start(rt.redis, feed_id)
    return len(ids)


def origin(rt: Runtime) -> Origin:
    s = rt.settings
    return Origin(org_name=s.org_name, public_url=s.effective_public_url, contact=s.org_contact)


def poll_once(rt: Runtime, feed_id: int) -> list[feeds.Outcome]:
    """One poll of one feed; alerts whose rule says send are sent (dispatch and escalation)."""
    actor = f"cap_feed:{feed_id}"
    channels = rt.available_channels

    def cancel(session, alert_id):  # type: ignore[no-untyped-def]
        return accountability.cancel(session, alert_id, None, actor=actor, available_channels=channels)

    outcomes = feeds.poll(rt.sessions, feed_id, fetch=fetch, available_channels=channels, cancel=cancel,
                          own_sender=origin(rt).sender)
    for outcome in outcomes:
        if outcome.send and outcome.alert_id is not None:
            with rt.sessions.begin() as session:
                alert, started = dispatch.request_send(session, outcome.alert_id, actor=actor)
                urgent = dispatch.is_urgent(alert)
            if started:
                rt.enqueuer.enqueue_dispatch(outcome.alert_id, urgent=urgent)
                engine.schedule_alert(rt.sessions, RQStepScheduler(rt.redis), outcome.alert_id)
                log.info("CAP feed %s: alert %s sent automatically", feed_id, outcome.alert_id)
    return outcomes


def poll_chain(rt: Runtime, feed_id: int, token: str) -> dict:
    """The job: poll if this chain is current, then schedule the next poll of the same chain."""
    current = rt.redis.get(chain_key(feed_id))
    if current is None or current.decode() != token:
        return {"stale": True}
    with rt.sessions() as session:
        feed = session.get(CapFeed, feed_id)
        interval = feed.interval_s if feed is not None else None
    if interval is None:
        rt.redis.delete(chain_key(feed_id))
        return {"deleted": True}
    try:
        outcomes = poll_once(rt, feed_id)
    finally:
        queue(rt.redis, URGENT).enqueue_in(timedelta(seconds=interval), "ops.jobs.poll_cap_feed", feed_id, token,
                                           job_timeout=POLL_JOB_TIMEOUT_S, result_ttl=3600, failure_ttl=86400,
                                           description=f"poll CAP feed {feed_id}")
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.outcome] = counts.get(outcome.outcome, 0) + 1
    return counts
