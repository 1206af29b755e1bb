"""Redis loss: Redis is killed mid-send and comes back empty on the same port.

Every job it carried is gone. The database is the source of truth: the reconciler (run by a worker
starting again, and by the web process's safety net) re-enqueues what is still pending; what was
sent is not sent again (a send job claims its rows first).
"""
from __future__ import annotations

import time

from ops.chaos.harness import Result, Stack

CHANNELS = ("sms", "email")


def run(stack: Stack, people: int) -> list[Result]:
    stack.people(people, push_share=0)
    started = time.monotonic()
    alert_id, marker = stack.send(CHANNELS, title="Redis loss")
    # Mid-send: some messages out, most still to go.
    stack_wait = time.monotonic()
    while stack.count(("sms",), marker)[1] < people // 5 and time.monotonic() - stack_wait < 120:
        time.sleep(0.2)
    before = stack.count(CHANNELS, marker)[1]
    stack.wipe_redis(down_s=2.0)
    stack.wait_done(alert_id, 600)
    stack.wait_arrivals(CHANNELS, marker, 120)
    seconds = time.monotonic() - started
    expected, delivered, missing, duplicated = stack.count(CHANNELS, marker)
    return [Result("redis loss: sms+email", expected, delivered, missing, duplicated, seconds,
                   f"Redis wiped after {before} of {expected} messages; {stack.states(alert_id)}")]
