"""Logging for every `tocsin` process: text for people at a terminal, or one JSON object per line
for a log pipeline (TOCSIN_LOG_FORMAT=json).

A JSON line holds `time` (UTC, ISO 8601), `level`, `logger`, `message`, and the ids a call passed
with `extra=` (`alert_id`, `delivery_id`, ...). Inside an RQ job every line also carries the job's
id, and the alert's id when the job is about one alert, without the call site saying so.

What is logged is ids and counts, never a phone number, an address or a message's text: log
pipelines are copied, kept and searched far more widely than the database.
"""
from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FORMATS = ("text", "json")
#: Attributes a call may pass with `extra=` that a JSON line carries, in this order.
ID_FIELDS = ("alert_id", "delivery_id", "job_id", "recipient_id", "incident_id", "channel", "provider",
             "step", "round", "feed_id")
#: Libraries whose INFO lines say what Tocsin never logs: aiosmtpd (the sandbox's SMTP server,
#: in `serve`'s process) logs every recipient's address; alembic narrates each migration.
QUIET_LIBRARIES = {"mail.log": logging.WARNING, "alembic": logging.WARNING}
#: Jobs whose first argument is an alert id (ops/jobs.py).
ALERT_JOBS = frozenset({"ops.jobs.dispatch_alert", "ops.jobs.send_batch", "ops.jobs.escalate",
                        "ops.jobs.send_scheduled"})


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ID_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class JobIds(logging.Filter):
    """Adds the running RQ job's id (and its alert's) to each record made inside a job."""

    def filter(self, record: logging.LogRecord) -> bool:
        from rq import get_current_job

        if getattr(record, "job_id", None) is None:
            job = get_current_job()
            if job is not None:
                record.job_id = job.id
                if getattr(record, "alert_id", None) is None and job.func_name in ALERT_JOBS and job.args:
                    record.alert_id = job.args[0]
        return True


def configure(level: str, fmt: str = "text") -> None:
    """Send every logger's records to standard error in `fmt` ("text" or "json"), at `level`."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(JobIds())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    quiet_libraries()


def quiet_libraries() -> None:
    for name, level in QUIET_LIBRARIES.items():
        logging.getLogger(name).setLevel(level)
