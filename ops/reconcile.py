"""Start-up reconciliation: the database says what was still to do; Redis is told again.

The same `ensure_scheduled_jobs` also runs every SAFETY_NET_S in the web process (console/pages_schedule.py),
so a scheduled alert whose job a Redis restart lost still goes out, at most that late.

Safe to run any number of times: dispatch is idempotent and a send job only sends rows it claims.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from alerting import dispatch, sending
from alerting.models import Alert, utcnow
from alerting.statuses import AlertStatus
from escalation import engine as escalation
from ops.jobs import RQStepScheduler, ensure_scheduled_jobs
from ops.runtime import Runtime

log = logging.getLogger(__name__)

#: A claimed message older than this had its worker die mid-send (a batch takes seconds).
STALE_CLAIM = timedelta(minutes=10)


#: Set in Redis by every reconcile. A Redis without it is new or lost its data (restarted empty):
#: then whatever work it carried is gone, and the database says what it was.
RECONCILED_KEY = "tocsin:reconciled"


def reconcile_if_redis_lost(runtime: Runtime) -> bool:
    """Reconcile if Redis lost its data since the last reconcile (the web process's safety net and
    every starting worker ask); True if it did. Cheap: one Redis command otherwise."""
    if not runtime.redis.set(RECONCILED_KEY, utcnow().isoformat(), nx=True):
        return False
    log.warning("Redis has lost its data (or is new): reconciling its work from the database")
    reconcile(runtime)
    return True


def reconcile(runtime: Runtime) -> int:
    """Re-enqueue the dispatch of every alert still sending; returns how many."""
    runtime.redis.set(RECONCILED_KEY, utcnow().isoformat())
    with runtime.sessions.begin() as session:
        stale_alerts = sending.requeue_stale(session, STALE_CLAIM)
        alerts = list(session.scalars(select(Alert).where(Alert.status == AlertStatus.SENDING)))
    for alert in alerts:
        runtime.enqueuer.enqueue_dispatch(alert.id, urgent=dispatch.is_urgent(alert))
    if alerts or stale_alerts:
        log.info("reconciled %d sending alert(s); %d had stale claims", len(alerts), len(stale_alerts))
    # Escalation: schedule again every policy run of an open alert not yet recorded as run.
    escalation.reconcile(runtime.sessions, RQStepScheduler(runtime.redis))
    # Scheduled sends: every scheduled alert gets its job again (one past its time is sent at once).
    ensure_scheduled_jobs(runtime)
    return len(alerts)
