"""Provider outage and slowness: the primary Twilio account fails (5xx), throttles (429), drops
connections or answers after seconds; then every provider is down for a while and comes back.

Tocsin has a secondary account (the same sandbox, another account SID), so SMS fails over; when
both are down, and when the SMTP relay answers 451, messages go back to `pending` and RQ retries
them with back-off until the providers return. Each fault is one alert to everyone.
"""
from __future__ import annotations

import threading
import time
from typing import Any

from ops.chaos.harness import PRIMARY_SID, SECONDARY_SID, Result, Stack, http

#: (name, channels, sandbox config while the fault lasts, how long it lasts: None = the whole send)
FAULTS: list[tuple[str, tuple[str, ...], dict[str, Any], float | None]] = [
    # First, while every worker's circuit breakers are closed.
    ("primary slow (3 s/request)", ("sms",), {"accounts": {PRIMARY_SID: {"latency_ms": 3000}}}, None),
    ("primary 5xx", ("sms",), {"accounts": {PRIMARY_SID: {"fail_status": 503}}}, None),
    ("primary 429", ("sms",), {"accounts": {PRIMARY_SID: {"rate_limit_per_s": 50}}}, None),
    ("primary drops connections", ("sms",), {"accounts": {PRIMARY_SID: {"drop": True}}}, None),
    ("all down 15 s (5xx, SMTP 451)", ("sms", "email"),
     {"accounts": {PRIMARY_SID: {"fail_status": 500}, SECONDARY_SID: {"fail_status": 503}},
      "smtp": {"fail": "451"}}, 15.0),
]
CLEAR = {"accounts": {PRIMARY_SID: None, SECONDARY_SID: None}, "smtp": {"fail": None}}


def run(stack: Stack, people: int) -> list[Result]:
    stack.people(people, push_share=0)
    results = []
    for name, channels, fault, lasts in FAULTS:
        http(f"{stack.sbase}/sandbox/config", fault)
        started = time.monotonic()
        timer = threading.Timer(lasts, lambda: http(f"{stack.sbase}/sandbox/config", CLEAR)) if lasts else None
        if timer:
            timer.start()
        try:
            alert_id, marker = stack.send(channels, title=f"Provider {name}")
            stack.wait_done(alert_id, 600)
            stack.wait_arrivals(channels, marker, 120)
        finally:
            if timer:
                timer.join()
            http(f"{stack.sbase}/sandbox/config", CLEAR)
        seconds = time.monotonic() - started
        expected, delivered, missing, duplicated = stack.count(channels, marker)
        body = stack.alert(alert_id)
        failed = sum(c.get("failed", 0) for c in body["deliveries"].values())
        results.append(Result(f"provider: {name}", expected, delivered, missing, duplicated, seconds,
                              f"{failed} failed rows; {stack.providers(alert_id)}"))
    return results
