"""The `tocsin` command as a user runs it, including the embedded default end to end."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path


from ops.embedded_redis import free_port
from ops.polling import poll


def tocsin(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return subprocess.run([sys.executable, "-m", "ops.cli", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, **kwargs)


def test_token_create_prints_only_the_token(tmp_path: Path) -> None:
    result = tocsin("token", "create", "--role", "operator", "--data-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1 and result.stdout.startswith("tsn_")
    assert (tmp_path / "tocsin.db").exists()
    bad = tocsin("token", "create", "--role", "king", "--data-dir", str(tmp_path))
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_settings_come_from_the_environment_and_bad_ones_are_named(tmp_path: Path) -> None:
    result = tocsin("token", "create", "--role", "viewer", env={"TOCSIN_DATA_DIR": str(tmp_path / "d")})
    assert result.returncode == 0 and (tmp_path / "d" / "tocsin.db").exists()
    result = tocsin("db", "upgrade", env={"TOCSIN_DATA_DIR": str(tmp_path), "TOCSIN_BATCH_SIZE": "many"})
    assert result.returncode == 2 and "TOCSIN_BATCH_SIZE" in result.stderr
    result = tocsin("worker", "--burst", env={"TOCSIN_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2 and "TOCSIN_REDIS_URL" in result.stderr
    result = tocsin("worker", "--burst", env={"TOCSIN_DATA_DIR": str(tmp_path), "TOCSIN_REDIS_URL": "redis://127.0.0.1:1/0",
                                              "TOCSIN_SMTP_SECONDARY_URL": "ftp://relay"})
    assert result.returncode == 2 and "TOCSIN_SMTP_SECONDARY_URL" in result.stderr, result.stderr


def test_help_lists_every_command() -> None:
    result = tocsin("--help")
    for command in ("serve", "worker", "sandbox", "db upgrade", "token create"):
        assert command in result.stdout


def _get(url: str, token: str | None = None, data: dict | None = None) -> dict:
    request = urllib.request.Request(url, data=json.dumps(data).encode() if data is not None else None,
                                     headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _wait_for(predicate, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    return poll(predicate, timeout=timeout)


def test_serve_runs_the_embedded_default_end_to_end(tmp_path: Path) -> None:
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    server = subprocess.Popen([sys.executable, "-m", "ops.cli", "serve", "--demo", "--data-dir", str(tmp_path / "var"),
                               "--port", str(port), "--workers", "1"], stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        assert _wait_for(lambda: _get(f"{base}/healthz")["status"] == "ok")
        banner = (tmp_path / "serve.log").read_text()
        token = next(line.split()[-1] for line in banner.splitlines() if "admin API token" in line)
        assert f"{base}/" in banner
        alert = _get(f"{base}/api/v1/alerts", token, {"title": "Gas leak", "message": "Leave the building.",
                                                      "channels": ["sms"], "target": {"groups": ["Chemistry Building"]}})
        _get(f"{base}/api/v1/alerts/{alert['id']}/send", token, {})
        summary = _wait_for(lambda: (s := _get(f"{base}/api/v1/alerts/{alert['id']}", token))["status"] == "sent"
                            and s["deliveries"]["sms"]["delivered"] == s["recipients"] and s)
        assert summary["recipients"] > 10
        first = _get(f"{base}/api/v1/alerts/{alert['id']}/recipients?limit=1", token)["recipients"][0]
        phone = _get(f"{base}/api/v1/recipients/{first['external_id']}", token)["phone"]
        _get(f"{base}/sandbox/sms/reply", data={"from": phone, "body": "SAFE"})
        assert _get(f"{base}/api/v1/alerts/{alert['id']}", token)["responses"]["safe"] == 1
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(30) == 0
        log.close()
    # Redis and the workers stopped with it: nothing is left listening or running.
    left = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout.split()
    assert left == [], f"processes left behind: {left}"
