"""Worker death: `kill -9` workers in the middle of a send on every channel.

`tocsin serve` restarts them; a job a dead worker held must not be lost in RQ's started registry,
and the messages it had claimed must be sent once the provider had its chance to report them.
"""
from __future__ import annotations

import os
import random
import signal
import time

from ops.chaos.harness import CHANNELS, Result, Stack

#: Workers killed, one every KILL_EVERY_S seconds once the first messages arrive.
KILLS = 4
KILL_EVERY_S = 2.0


def run(stack: Stack, people: int) -> list[Result]:
    stack.people(people)
    started = time.monotonic()
    alert_id, marker = stack.send(CHANNELS, title="Worker death")
    killed = 0
    time.sleep(1.0)  # the dispatch has written the first chunk and workers are sending
    while killed < KILLS and stack.in_flight(alert_id) > 0:
        pids = stack.worker_pids()
        if pids:
            os.kill(random.choice(pids), signal.SIGKILL)
            killed += 1
        time.sleep(KILL_EVERY_S)
    stack.wait_done(alert_id, 900)
    stack.wait_arrivals(CHANNELS, marker, 300)
    seconds = time.monotonic() - started
    results = []
    for channel in CHANNELS:
        expected, delivered, missing, duplicated = stack.count((channel,), marker)
        results.append(Result(f"worker death: {channel}", expected, delivered, missing, duplicated, seconds,
                              f"{killed} workers killed with SIGKILL" if channel == "sms" else ""))
    return results
