"""Prometheus metrics: what an alert's send counts, across processes, and nothing about people."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import aiohttp
import pytest
from twilio.request_validator import RequestValidator

from ops import metrics
from tests.conftest import System
from tests.helpers import people_csv, phone
from tests.observability_support import observed, samples, scrape, value  # noqa: F401  (a fixture)

MESSAGE = "Shelter in the north stairwell now."


async def _send_sms_alert(system: System, people: int) -> int:
    await system.call("POST", "/api/v1/groups", json={"name": "Everyone"}, expect=201)
    await system.call("POST", "/api/v1/recipients/import", data=people_csv(people), expect=200)
    alert = await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": "Tornado warning", "message": MESSAGE, "channels": ["sms"], "target": {"groups": ["Everyone"]}})
    await system.call("POST", f"/api/v1/alerts/{alert['id']}/send", expect=202)
    await system.drain()
    return alert["id"]


async def test_a_send_is_counted_by_channel_provider_and_status_with_no_personal_data(observed: System) -> None:
    _, before = await scrape(observed)
    await _send_sms_alert(observed, 12)
    # A forged status callback: refused, and counted as such.
    url = f"{observed.base_url}/hooks/twilio/status?d=1"
    params = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.post(url, data=params, headers={
                "X-Twilio-Signature": RequestValidator("wrong").compute_signature(url, params)}) as response:
            assert response.status == 403
    text, after = await scrape(observed)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("tocsin_messages_total", channel="sms", provider="twilio", status="accepted") == 12
    assert grew("tocsin_send_seconds_count", channel="sms", provider="twilio") == 12
    assert grew("tocsin_send_seconds_bucket", channel="sms", provider="twilio", le="+Inf") == 12
    assert grew("tocsin_delivery_status_changes_total", status="delivered") == 12
    assert grew("tocsin_webhooks_total", hook="/hooks/twilio/status", outcome="accepted") >= 12
    assert grew("tocsin_webhooks_total", hook="/hooks/twilio/status", outcome="refused") == 1
    # Queue depths, read from Redis at the scrape: everything drained.
    assert value(after, "tocsin_redis_up") == 1
    for queue in ("tocsin-urgent", "tocsin-default", "tocsin-bulk"):
        assert (("tocsin_queue_jobs", (("queue", queue), ("state", "queued"))) in after)
        assert value(after, "tocsin_queue_jobs", queue=queue, state="queued") == 0
    # Labels are channels, providers, statuses and routes: no number, address or text.
    assert "+1202555" not in text and "example.org" not in text and MESSAGE not in text
    assert phone(0) not in text


async def test_queued_work_shows_at_the_scrape(observed: System) -> None:
    observed.runtime.enqueuer.enqueue_sends(999, "sms", [[1], [2], [3]], urgent=True)
    _, scraped = await scrape(observed)
    assert value(scraped, "tocsin_queue_jobs", queue="tocsin-urgent", state="queued") == 3
    assert value(scraped, "tocsin_queue_jobs", queue="tocsin-bulk", state="queued") == 0


def test_counts_made_in_other_processes_add_up_in_one_scrape(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two "workers" (separate processes) count into the directory; the web side's scrape adds them."""
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_1.db").write_bytes(b"left by an earlier run")
    count = ("from alerting import telemetry; "
             "telemetry.messages_recorded('email', [('smtp', 'accepted')] * 5); "
             "telemetry.send_latency('email', 'smtp', 0.12); telemetry.escalation_step('resend', 4)")
    # What `tocsin serve` does at start: empty the directory, then children inherit the variable.
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    env = {**os.environ, metrics.MULTIPROC_ENV: str(directory)}
    start = f"from pathlib import Path; from ops.metrics import use_multiprocess_dir; " \
            f"use_multiprocess_dir(Path({str(directory)!r}))"
    subprocess.run([sys.executable, "-c", start], env=env, check=True)
    assert not (directory / "counter_1.db").exists()
    for _ in range(2):
        subprocess.run([sys.executable, "-c", count], env=env, check=True)
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(directory))
    body, content_type = metrics.exposition(None)
    assert content_type.startswith("text/plain")
    scraped = samples(body.decode())
    assert value(scraped, "tocsin_messages_total", channel="email", provider="smtp", status="accepted") == 10
    assert value(scraped, "tocsin_send_seconds_count", channel="email", provider="smtp") == 2
    assert value(scraped, "tocsin_escalation_steps_total", kind="resend") == 2
    assert value(scraped, "tocsin_escalation_people_total") == 8


def test_multiprocess_mode_chosen_too_late_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import prometheus_client  # noqa: F401  (already imported here, in single-process mode)

    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    with pytest.raises(RuntimeError, match="before the multiprocess directory"):
        metrics.use_multiprocess_dir(tmp_path / "metrics")
    assert metrics.MULTIPROC_ENV not in os.environ


def test_a_worker_alone_answers_scrapes_on_its_own_port(monkeypatch: pytest.MonkeyPatch) -> None:
    from alerting import telemetry
    from ops.embedded_redis import free_port

    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    telemetry.escalation_step("final", 3)
    port = free_port()
    server = metrics.serve_worker_metrics(port, "127.0.0.1")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            scraped = samples(response.read().decode())
    finally:
        server.shutdown()
        server.server_close()
    assert value(scraped, "tocsin_escalation_steps_total", kind="final") >= 1


def test_serve_counts_its_workers_sends_at_one_metrics_and_logs_json(tmp_path: Path) -> None:
    """`tocsin serve --workers 1`: the worker process's counts reach the web process's /metrics,
    /readyz sees the worker, and every log line of both processes is a JSON object with no number."""
    from ops.embedded_redis import free_port
    from tests.test_cli import _get, _wait_for

    port, data_dir = free_port(), tmp_path / "var"
    log_path = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOCSIN_", "PROMETHEUS_"))}
    with log_path.open("w") as log:
        server = subprocess.Popen([sys.executable, "-m", "ops.cli", "serve", "--demo", "--data-dir", str(data_dir),
                                   "--port", str(port), "--workers", "1"], stdout=log, stderr=subprocess.STDOUT,
                                  env={**env, "TOCSIN_LOG_FORMAT": "json"})
    base = f"http://127.0.0.1:{port}"
    try:
        ready = _wait_for(lambda: (r := _get(f"{base}/readyz"))["status"] == "ok" and r)
        assert ready["checks"] == {"database": "ok", "redis": "ok", "workers": "1 of 1 running"}
        token = next(line.split()[-1] for line in log_path.read_text().splitlines() if "admin API token" in line)
        alert = _get(f"{base}/api/v1/alerts", token, {"title": "Gas leak", "message": "Leave the building.",
                                                      "channels": ["sms"], "target": {"groups": ["Chemistry Building"]}})
        _get(f"{base}/api/v1/alerts/{alert['id']}/send", token, {})
        summary = _wait_for(lambda: (s := _get(f"{base}/api/v1/alerts/{alert['id']}", token))["status"] == "sent"
                            and s["deliveries"]["sms"]["delivered"] == s["recipients"] and s)
        with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
            text = response.read().decode()
        first = _get(f"{base}/api/v1/alerts/{alert['id']}/recipients?limit=1", token)["recipients"][0]
        number = _get(f"{base}/api/v1/recipients/{first['external_id']}", token)["phone"]
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(30) == 0
    scraped = samples(text)
    people = summary["recipients"]
    # Counted in the worker process, scraped from the web process.
    assert value(scraped, "tocsin_messages_total", channel="sms", provider="twilio", status="accepted") == people
    assert value(scraped, "tocsin_send_seconds_count", channel="sms", provider="twilio") == people
    # Counted in the web process (status callbacks and their webhooks).
    assert value(scraped, "tocsin_delivery_status_changes_total", status="delivered") == people
    assert value(scraped, "tocsin_webhooks_total", hook="/hooks/twilio/status", outcome="accepted") >= people
    assert value(scraped, "tocsin_workers") == 1 and value(scraped, "tocsin_redis_up") == 1
    assert list((data_dir / "metrics").glob("*.db"))
    lines = [line for line in log_path.read_text().splitlines() if line.startswith("{")]
    assert lines and all(json.loads(line)["level"] for line in lines)
    assert any(json.loads(line)["logger"].startswith("rq.") for line in lines)  # the worker's too
    assert not any(number in line or number[2:] in line for line in log_path.read_text().splitlines())
