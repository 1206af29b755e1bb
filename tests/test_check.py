"""`tocsin check`: each insecure setting is reported and makes the exit code 1; a sound one is quiet."""
from __future__ import annotations

import os
from pathlib import Path

from ops.check import INSECURE, check_data_dir, check_settings, run_check
from ops.cli import main
from ops.secrets import stored_secret
from ops.settings import Settings

GOOD_KEY = "k" * 48


def _sound(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"TOCSIN_DATA_DIR": str(tmp_path), "TOCSIN_SECRET_KEY": GOOD_KEY,
                              "TOCSIN_DATABASE_URL": "postgresql+psycopg://tocsin@db.internal/tocsin",
                              "TOCSIN_REDIS_URL": "redis://redis.internal:6379/0",
                              "TOCSIN_PUBLIC_URL": "https://alerts.example.org",
                              "TOCSIN_TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "TOCSIN_TWILIO_AUTH_TOKEN": "t" * 32,
                              **env})


def _insecure(settings: Settings) -> list[str]:
    return [f.what for f in check_settings(settings) if f.level == INSECURE]


def test_a_sound_deployment_has_no_insecure_finding(tmp_path: Path) -> None:
    assert _insecure(_sound(tmp_path)) == []


def test_the_embedded_default_on_loopback_is_not_insecure(tmp_path: Path) -> None:
    assert _insecure(Settings.from_env({"TOCSIN_DATA_DIR": str(tmp_path)})) == []


def test_each_insecure_setting_is_named(tmp_path: Path) -> None:
    cases = {
        "TOCSIN_SECRET_KEY": _sound(tmp_path, TOCSIN_SECRET_KEY="changeme"),
        "DEBUG": _sound(tmp_path, TOCSIN_LOG_LEVEL="debug"),
        "plain HTTP": _sound(tmp_path, TOCSIN_PUBLIC_URL="http://alerts.example.org"),
        "every interface": _sound(tmp_path, TOCSIN_HOST="0.0.0.0", TOCSIN_PUBLIC_URL="http://127.0.0.1:8080"),
        "TOCSIN_TWILIO_AUTH_TOKEN": _sound(tmp_path, TOCSIN_TWILIO_AUTH_TOKEN="secret"),
    }
    for words, settings in cases.items():
        found = _insecure(settings)
        assert len(found) >= 1 and any(words in f for f in found), (words, found)
    missing = Settings.from_env({"TOCSIN_DATA_DIR": str(tmp_path),
                                 "TOCSIN_DATABASE_URL": "postgresql+psycopg://tocsin@db.internal/tocsin"})
    assert any("TOCSIN_SECRET_KEY is not set" in f for f in _insecure(missing))


def test_open_secret_files_are_insecure(tmp_path: Path) -> None:
    stored_secret(tmp_path, "secret-key")
    assert check_data_dir(tmp_path) == []
    os.chmod(tmp_path / "secrets" / "secret-key", 0o644)
    assert [f.level for f in check_data_dir(tmp_path)] == [INSECURE]


def test_demo_users_and_real_people_on_the_sandbox_are_insecure(settings: Settings, runtime) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from alerting import directory
    from alerting.recipient_input import parse_recipient
    from ops.demo import ensure_demo_users

    on_sandbox = replace(settings, twilio_account_sid=None, secret_key=GOOD_KEY, public_url=None)
    findings, code = run_check(on_sandbox)
    assert code == 0, findings
    with runtime.sessions.begin() as session:
        ensure_demo_users(session, settings.data_dir)
        directory.upsert_recipients(session, [parse_recipient({"external_id": "R1", "email": "ana@university.edu"})],
                                    actor="test")
    findings, code = run_check(on_sandbox)
    assert code == 1
    text = "\n".join(str(f) for f in findings)
    assert "demo console users" in text and "real-looking" in text


def test_the_command_exits_non_zero_when_insecure(tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TOCSIN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TOCSIN_LOG_LEVEL", "DEBUG")
    assert main(["check", "--no-database"]) == 1
    assert "DEBUG" in capsys.readouterr().out
    monkeypatch.setenv("TOCSIN_LOG_LEVEL", "INFO")
    assert main(["check", "--no-database"]) == 0
