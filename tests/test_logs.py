"""Logs: one JSON object per line with ids, and never a phone number, an address or a message."""
from __future__ import annotations

import json
import logging
import sys
from typing import Iterator

import pytest

from ops import logs
from ops.queues import URGENT, queue
from tests.conftest import System, run_worker_burst
from tests.helpers import people_csv, phone

TITLE = "Chlorine leak"
MESSAGE = "Close windows and stay inside Hall B."


def _record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    return logging.getLogger("tocsin.test").makeRecord("tocsin.test", logging.INFO, __file__, 1, msg, args,
                                                       None, extra=extra)


def test_a_json_line_has_time_level_logger_message_and_the_ids_given() -> None:
    line = logs.JsonFormatter().format(_record("alert %s: %d sent", 7, 12, alert_id=7, delivery_id=91))
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["level"] == "INFO" and parsed["logger"] == "tocsin.test"
    assert parsed["message"] == "alert 7: 12 sent"
    assert parsed["alert_id"] == 7 and parsed["delivery_id"] == 91
    assert parsed["time"].endswith("+00:00") and "T" in parsed["time"]
    assert "job_id" not in parsed  # only the ids there are


def test_an_exception_stays_on_its_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("t").makeRecord("t", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = logs.JsonFormatter().format(record)
    assert "\n" not in line and "ValueError: boom" in json.loads(line)["exception"]


def test_the_format_is_checked() -> None:
    with pytest.raises(ValueError, match="text, json"):
        logs.configure("INFO", "xml")


def log_in_a_job(alert_id: int) -> None:
    logging.getLogger("tocsin.test.job").info("working on it")


def test_lines_written_inside_a_job_carry_its_id_and_its_alert(runtime, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(logs, "ALERT_JOBS", logs.ALERT_JOBS | {f"{__name__}.log_in_a_job"})
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(logs.JsonFormatter().format(record))  # type: ignore[method-assign]
    handler.addFilter(logs.JobIds())
    logger = logging.getLogger("tocsin.test.job")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        job = queue(runtime.redis, URGENT).enqueue(f"{__name__}.log_in_a_job", 42)
        run_worker_burst(runtime)
    finally:
        logger.removeHandler(handler)
    assert next(json.loads(line) for line in lines if "working" in line) | {"time": None} == {
        "time": None, "level": "INFO", "logger": "tocsin.test.job", "message": "working on it",
        "alert_id": 42, "job_id": job.id}


@pytest.fixture
def quieted() -> Iterator[None]:
    """The library levels `tocsin` sets (ops/logs.py), put back afterwards."""
    before = {name: logging.getLogger(name).level for name in logs.QUIET_LIBRARIES}
    logs.quiet_libraries()
    yield
    for name, level in before.items():
        logging.getLogger(name).setLevel(level)


async def test_sending_an_alert_logs_no_personal_data(system: System, caplog: pytest.LogCaptureFixture,
                                                      quieted: None) -> None:
    """An alert to 30 people on SMS and email, and their replies, all at INFO: every record, as
    text and as JSON, is free of their numbers, addresses and the alert's words."""
    caplog.set_level(logging.INFO)
    await system.call("POST", "/api/v1/groups", json={"name": "Everyone"}, expect=201)
    await system.call("POST", "/api/v1/recipients/import", data=people_csv(30), expect=200)
    alert = await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": TITLE, "message": MESSAGE, "channels": ["sms", "email"], "target": {"groups": ["Everyone"]}})
    await system.call("POST", f"/api/v1/alerts/{alert['id']}/send", expect=202)
    await system.drain()
    for n, body in ((0, "SAFE"), (1, "HELP"), (2, "what is going on")):
        await system.call("POST", "/sandbox/sms/reply", json={"from": phone(n), "body": body}, expect=200)
    summary = await system.call("GET", f"/api/v1/alerts/{alert['id']}", expect=200)
    assert summary["deliveries"]["sms"]["delivered"] == 30 and summary["responses"]["safe"] == 1

    records = caplog.records
    assert records, "nothing was logged at INFO: the test would prove nothing"
    text = logging.Formatter(logs.TEXT_FORMAT)
    forbidden = [phone(n) for n in range(30)] + [phone(n)[2:] for n in range(30)] + \
        [f"p{n}@example.org" for n in range(30)] + [TITLE, MESSAGE, "what is going on"]
    for record in records:
        for rendered in (text.format(record), logs.JsonFormatter().format(record)):
            leaked = [word for word in forbidden if word in rendered]
            assert not leaked, f"{leaked} in a log line: {rendered}"
