"""Counters and timings the core reports, as Prometheus metrics (exposed by ops/metrics.py).

Plain functions, so the core calls one line and knows nothing of exposition or processes. Labels
name channels, providers, statuses and hooks, all from small fixed sets: never a phone number, an
address, a message or an id (each distinct label value is a time series kept for ever).

The metric objects are made on first use, not at import: in a process of `tocsin serve`,
prometheus-client must see PROMETHEUS_MULTIPROC_DIR (set by ops/metrics.py) before it makes any,
or that process's counts would stay in its own memory where no scrape can read them.
"""
from __future__ import annotations

import threading
from collections import Counter as Tally
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:  # imported where the metrics are made (see above)
    from prometheus_client import Counter, Histogram

#: Seconds a provider takes to accept a message: ~100 ms is typical, seconds means trouble.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class _Metrics:
    messages: Counter
    status_changes: Counter
    latency: Histogram
    escalation_steps: Counter
    escalation_people: Counter
    webhooks: Counter


#: Two threads (a worker's, the web process's database pool) may count first at the same moment.
_making = threading.Lock()


def _metrics() -> _Metrics:
    with _making:
        return _made()


@cache
def _made() -> _Metrics:
    from prometheus_client import Counter, Histogram

    return _Metrics(
        messages=Counter("tocsin_messages", "Messages handed to providers, by the provider's answer "
                         "(accepted, retry, failed, bounced)", ["channel", "provider", "status"]),
        status_changes=Counter("tocsin_delivery_status_changes", "Deliveries moved forward by provider "
                               "status callbacks, by their new status", ["status"]),
        latency=Histogram("tocsin_send_seconds", "Time for a provider to answer one send (failover "
                          "included), by the provider that answered", ["channel", "provider"],
                          buckets=LATENCY_BUCKETS),
        escalation_steps=Counter("tocsin_escalation_steps", "Escalation runs done, by kind (resend to the "
                                 "silent, or the final notice to supervisors)", ["kind"]),
        escalation_people=Counter("tocsin_escalation_people", "People still silent when an escalation run "
                                  "reached them"),
        webhooks=Counter("tocsin_webhooks", "Provider webhook calls, by hook and whether their signature "
                         "held", ["hook", "outcome"]),
    )


def messages_recorded(channel: str, outcomes: Iterable[tuple[str, str]]) -> None:
    """Count a batch's receipts: (provider, status) pairs, one per message."""
    counter = _metrics().messages
    for (provider, status), n in Tally(outcomes).items():
        counter.labels(channel, provider, status).inc(n)


@cache
def _latency_child(channel: str, provider: str):  # type: ignore[no-untyped-def]
    return _metrics().latency.labels(channel, provider)  # a child per pair: no lookup per message


def send_latency(channel: str, provider: str, seconds: float) -> None:
    _latency_child(channel, provider).observe(seconds)


def statuses_moved(status: str, count: int) -> None:
    """Deliveries a batch of status callbacks moved to `status`."""
    if count:
        _metrics().status_changes.labels(status).inc(count)


def escalation_step(kind: str, people: int) -> None:
    """One escalation run: `kind` is "resend" or "final"; `people` were still silent."""
    m = _metrics()
    m.escalation_steps.labels(kind).inc()
    m.escalation_people.inc(people)


def webhook(hook: str, outcome: str) -> None:
    """A provider webhook call on route `hook` (a fixed path, never a query string)."""
    _metrics().webhooks.labels(hook, outcome).inc()
