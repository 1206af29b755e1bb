"""Escalation benchmark: one step over N recipients of whom half have answered (the issue's figure:
100,000). Measures the step itself (find the silent, write their new attempts, enqueue the sends)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

from sqlalchemy import insert, update

from alerting import directory
from alerting.models import Alert, AlertRecipient, EscalationPolicy, Incident, utcnow
from alerting.recipient_input import RecipientInput
from escalation import engine
from ops import database


class CountingEnqueuer:
    """Counts what a step hands to the queues (the benchmark measures the step, not the sending)."""

    def __init__(self) -> None:
        self.messages = 0

    def enqueue_dispatch(self, alert_id: int, *, urgent: bool) -> None:
        pass

    def enqueue_sends(self, alert_id: int, channel: str, batches: Sequence[Sequence[int]], *, urgent: bool) -> None:
        self.messages += sum(len(b) for b in batches)


def escalation_step(n: int, root: Path) -> dict[str, Any]:
    path = root / f"escalation-{n}.db"
    path.unlink(missing_ok=True)
    url = f"sqlite:///{path.resolve()}"
    database.upgrade(url)
    sessions = database.make_sessions(database.make_engine(url))
    with sessions.begin() as session:
        directory.upsert_recipients(session, [RecipientInput(f"E{i:07d}", phone=f"+1202555{i % 10_000:04d}",
                                                             given={"phone"}) for i in range(n)], actor="bench")
        session.add(EscalationPolicy(name="bench", steps=[{"after_s": 0, "channels": ["voice", "sms"]}], final=None))
        incident = Incident(name="bench")
        session.add(incident)
        session.flush()
        alert = Alert(incident_id=incident.id, title="Bench", message="Bench", channels=["sms"], target={},
                      status="sent", policy="bench", send_requested_at=utcnow(), resolved_at=utcnow())
        session.add(alert)
        session.flush()
        alert_id = alert.id
        session.execute(insert(AlertRecipient), [{"alert_id": alert_id, "recipient_id": i + 1, "response_rank": 0}
                                                 for i in range(n)])
        session.execute(update(AlertRecipient).where(AlertRecipient.recipient_id % 2 == 0)
                        .values(response="safe", response_rank=2))
    enqueuer = CountingEnqueuer()
    started = time.perf_counter()
    result = engine.run_step(sessions, enqueuer, alert_id, 0, 0, batch_size=250, public_url="http://bench")
    seconds = time.perf_counter() - started
    return {"benchmark": "escalation_step", "recipients": n, "silent": n - n // 2, "ran": result.ran,
            "messages_enqueued": enqueuer.messages, "seconds": round(seconds, 2)}
