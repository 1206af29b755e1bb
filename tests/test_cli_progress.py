"""Long CLI work: `tocsin recipients import` and `tocsin alert send --wait`, with progress bars only
at a terminal."""
from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from alerting.models import Recipient
from ops import database, progress
from tests.conftest import System
from tests.helpers import people_csv, phone
from tests.test_cli import tocsin


def _csv_with_mistakes(tmp_path: Path, count: int) -> Path:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["external_id", "name", "phone", "email", "groups"])
    for n in range(count):
        writer.writerow([f"P{n:05d}", f"Person {n}", phone(n), f"p{n}@example.org", "Everyone"])
    writer.writerow(["BAD1", "Wrong number", "12", "", "Everyone"])   # line count + 2
    writer.writerow(["P00001", "Again", phone(1), "", "Everyone"])    # a repeated external_id, beyond a chunk
    writer.writerow(["SHORT", "too few fields"])
    path = tmp_path / "people.csv"
    path.write_text(out.getvalue())
    return path


def _people(data_dir: Path) -> int:
    sessions = database.make_sessions(database.make_engine(f"sqlite:///{data_dir / 'tocsin.db'}"))
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Recipient)) or 0


def test_recipients_import_reports_each_refused_row_and_draws_no_bar_in_a_log(tmp_path: Path) -> None:
    path = _csv_with_mistakes(tmp_path, 2500)
    result = tocsin("recipients", "import", str(path), "--create-groups", "--data-dir", str(tmp_path))
    assert result.returncode == 1, result.stderr
    report = result.stdout.splitlines()
    assert len(report) == 3
    assert report[0].startswith("line 2502: phone:")
    assert report[1].startswith("line 2503: external_id:") and "already appears on line 3" in report[1]
    assert report[2] == "line 2504: has 2 fields; the header has 5"
    assert "2500 created, 0 updated, 3 rejected; new groups: Everyone" in result.stderr
    assert "importing" not in result.stderr and "\r" not in result.stderr  # not a terminal: no bar
    assert _people(tmp_path) == 2500
    again = tocsin("recipients", "import", str(path), "--data-dir", str(tmp_path))
    assert "0 created, 2500 updated, 3 rejected" in again.stderr
    unreadable = tocsin("recipients", "import", str(tmp_path / "missing.csv"), "--data-dir", str(tmp_path))
    assert unreadable.returncode == 2 and "missing.csv" in unreadable.stderr


def test_the_import_bar_counts_rows_in_chunks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'tocsin.db'}"
    database.upgrade(url)
    path = tmp_path / "people.csv"
    path.write_bytes(people_csv(450))
    sessions = database.make_sessions(database.make_engine(url))
    totals = progress.import_csv(sessions, path, create_groups=True, show=True, chunk=100)
    assert (totals.created, totals.updated, totals.errors) == (450, 0, [])
    drawn = capsys.readouterr().err
    assert "importing" in drawn and "450/450" in drawn


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bars_only_at_a_terminal_and_never_when_refused() -> None:
    assert progress.bars_wanted(False, _Tty())
    assert not progress.bars_wanted(True, _Tty())
    assert not progress.bars_wanted(False, io.StringIO())


def _summary(status: str, **by_status: int) -> dict:
    return {"status": status, "deliveries": {"sms": by_status}}


def test_following_a_send_stops_once_handed_over_and_reports_stop() -> None:
    now = [0.0]
    reads = iter([_summary("sending", pending=10), _summary("sending", pending=4, queued=6),
                  _summary("sent", queued=10), _summary("sent", sent=4, delivered=6)])
    last = _summary("sent", sent=4, delivered=6)

    def read() -> dict:
        return next(reads, last)

    def sleep(seconds: float) -> None:
        now[0] += seconds

    summary = progress.follow_send(read, show=False, settle_s=3, poll_s=1, clock=lambda: now[0], sleep=sleep)
    assert progress.counts(summary) == (10, 10, 6, 6)
    assert now[0] == 6  # three reads after the last change, one second apart
    every_one_final = iter([_summary("sending", pending=2), _summary("sent", delivered=1, failed=1)])
    assert progress.follow_send(lambda: next(every_one_final), show=False, sleep=sleep)["status"] == "sent"
    cancelled = progress.follow_send(lambda: _summary("cancelled", cancelled=3), show=False, sleep=sleep)
    assert cancelled["status"] == "cancelled"


async def _cli(*args: str, token: str) -> tuple[int, str, str]:
    """`tocsin ...` without blocking this event loop, which serves the API the command calls."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ops.cli", *args, env={**os.environ, "TOCSIN_API_TOKEN": token},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_alert_send_wait_follows_the_send_to_the_end(system: System) -> None:
    await system.call("POST", "/api/v1/groups", json={"name": "Everyone"}, expect=201)
    await system.call("POST", "/api/v1/recipients/import", data=people_csv(25), expect=200)
    alert = await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": "Water main break", "message": "Boil water until further notice.", "channels": ["sms"],
        "target": {"groups": ["Everyone"]}})
    path = f"/api/v1/alerts/{alert['id']}"
    send = asyncio.ensure_future(_cli("alert", "send", str(alert["id"]), "--wait", "--url", system.base_url,
                                      token=system.token))
    while (await system.call("GET", path, expect=200))["status"] == "draft":
        await asyncio.sleep(0.1)
    await system.drain()  # the workers, in this process
    code, stdout, stderr = await send
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result["status"] == "sent" and result["deliveries"]["sms"]["delivered"] == 25
    assert f"alert {alert['id']} sent: 25 messages, 25 handed over, 25 delivered, 0 failed" in stderr
    assert "handed over:" not in stderr  # no bars: standard error is a pipe here

    code, _, stderr = await _cli("alert", "send", str(alert["id"]), "--url", system.base_url, token=system.token)
    assert code == 0 and "already; nothing changed" in stderr
    code, _, stderr = await _cli("alert", "send", str(alert["id"]), "--url", system.base_url, token="")
    assert code == 2 and "TOCSIN_API_TOKEN" in stderr
    code, _, stderr = await _cli("alert", "send", "999999", "--url", system.base_url, token=system.token)
    assert code == 2 and "404" in stderr
