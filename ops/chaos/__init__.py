"""Chaos scenarios: break Tocsin on purpose and count what the people got.

`python -m ops.chaos [scenario ...]` (or `make chaos`) runs each scenario against a real Redis, the
database (PostgreSQL when ops/local_postgres.py is there, else SQLite) and the provider sandbox,
each started fresh for the scenario (ops/chaos/harness.py), and prints one line per run: messages
expected, delivered (at least once), missing, duplicated (extra copies received), and time to finish.

    worker_death    kill -9 workers during a send on every channel; restarted workers finish it
    redis_loss      Redis restarted empty mid-send; the reconciler re-enqueues from the database
    db_outage       the database unavailable for a few seconds mid-send; workers retry
    provider        the primary provider failing (5xx), throttling (429), dropping connections, slow
    webhook_storm   status callbacks and replies at thousands per second, duplicated, out of order
"""
