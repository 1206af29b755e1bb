"""Database outage: the database is unavailable for a few seconds in the middle of a send.

On PostgreSQL the server is stopped (`immediate`: connections cut, as in a crash) and started again
after OUTAGE_S. On SQLite (no server to stop) another connection holds an exclusive lock for
OUTAGE_S, so every write waits and then fails with "database is locked". Either way workers must
retry, and no delivery row may be lost.
"""
from __future__ import annotations

import sqlite3
import time

from ops.chaos.harness import Result, Stack

CHANNELS = ("sms", "email")
OUTAGE_S = 5.0


def _outage(stack: Stack) -> str:
    if stack.postgres is not None:
        stack.postgres.stop("immediate")
        time.sleep(OUTAGE_S)
        stack.postgres.start()
        return f"PostgreSQL stopped (immediate) for {OUTAGE_S:.0f} s"
    lock = sqlite3.connect(stack.root / "var" / "tocsin.db", timeout=30)
    lock.execute("BEGIN EXCLUSIVE")
    time.sleep(OUTAGE_S)
    lock.rollback()
    lock.close()
    return f"SQLite locked exclusively for {OUTAGE_S:.0f} s"


def run(stack: Stack, people: int) -> list[Result]:
    stack.people(people, push_share=0)
    started = time.monotonic()
    alert_id, marker = stack.send(CHANNELS, title="Database outage")
    waited = time.monotonic()
    while stack.count(("sms",), marker)[1] < people // 5 and time.monotonic() - waited < 120:
        time.sleep(0.2)
    note = _outage(stack)
    stack.wait_done(alert_id, 600)
    stack.wait_arrivals(CHANNELS, marker, 120)
    seconds = time.monotonic() - started
    note += "; " + stack.states(alert_id)
    expected, delivered, missing, duplicated = stack.count(CHANNELS, marker)
    body = stack.alert(alert_id)
    rows = sum(sum(v for v in c.values()) for c in body["deliveries"].values())
    return [Result("db outage: sms+email", expected, delivered, missing, duplicated, seconds,
                   f"{note}; {rows} of {expected} delivery rows present")]
