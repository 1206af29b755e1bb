"""Where SQLite and PostgreSQL differ: concurrent writers, migrations, the private test cluster.

`make test` runs the suite once on each database; the tests about the cluster itself run in the
PostgreSQL pass only."""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from alerting import directory, dispatch, sending
from alerting.alerts import create_alert
from alerting.models import Alert
from alerting.recipient_input import RecipientInput
from channels.base import Outbound, Outcome, Receipt
from ops import database
from ops.local_postgres import LocalPostgres
from ops.runtime import Runtime


def test_alerts_sent_at_the_same_moment_each_get_their_own_reply_code(database_url: str) -> None:
    engine = database.make_engine(database_url)
    sessions = database.make_sessions(engine)
    with sessions.begin() as session:
        directory.upsert_recipients(session, [RecipientInput("P1", phone="+12025550001", groups=["Everyone"],
                                                             given={"phone", "groups"})],
                                    actor="test", create_groups=True)
        alert_ids = [create_alert(session, {"title": f"Alert {n}", "message": "Shelter in place.", "channels": ["sms"],
                                            "target": {"groups": ["Everyone"]}, "policy": None},
                                  actor="test", available_channels=["sms"]).id for n in range(8)]
    start = threading.Barrier(len(alert_ids))

    def send(alert_id: int) -> str | None:
        start.wait()
        with sessions.begin() as session:
            alert, started = dispatch.request_send(session, alert_id, actor="test")
            assert started
            return alert.reply_code

    with ThreadPoolExecutor(len(alert_ids)) as pool:
        codes = list(pool.map(send, alert_ids))
    engine.dispose()
    assert sorted(codes) == list("ABCDEFGH"), codes


def test_migrating_again_changes_nothing(database_url: str) -> None:
    database.upgrade(database_url)
    engine = create_engine(database_url)
    with engine.connect() as connection:
        version = connection.scalar(text("SELECT version_num FROM alembic_version"))
    engine.dispose()
    assert version == ScriptDirectory.from_config(database.alembic_config(database_url)).get_current_head()


def test_a_local_postgres_keeps_its_data_across_a_restart(request: pytest.FixtureRequest) -> None:
    if request.config.getoption("--database") != "postgresql":
        pytest.skip("the PostgreSQL pass covers the private cluster")
    directory_ = Path(tempfile.mkdtemp(prefix="tocsin-test-pg-restart-"))
    request.addfinalizer(lambda: shutil.rmtree(directory_, ignore_errors=True))
    with LocalPostgres(directory_) as server:
        engine = create_engine(server.url())
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE kept (n integer)"))
            connection.execute(text("INSERT INTO kept VALUES (42)"))
        pid = server.pid
        server.restart()
        assert server.pid not in (None, pid)
        engine.dispose()  # the pooled connections died with the old server
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT n FROM kept")) == 42
        engine.dispose()
    assert server.pid is None


def test_processes_starting_together_migrate_a_new_database_once(request: pytest.FixtureRequest) -> None:
    if request.config.getoption("--database") != "postgresql":
        pytest.skip("SQLite serialises migrations by its own lock; PostgreSQL needs the advisory lock")
    server: LocalPostgres = request.getfixturevalue("postgres_server")
    engine = create_engine(server.url(), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("DROP DATABASE IF EXISTS fleet_start WITH (FORCE)"))
        connection.execute(text("CREATE DATABASE fleet_start"))
    url = server.url("fleet_start")
    # A fleet's web and worker processes each run the migrations when they start.
    starts = [subprocess.Popen([sys.executable, "-c", f"from ops import database; database.upgrade({url!r})"],
                               stderr=subprocess.PIPE, text=True) for _ in range(3)]
    errors = [p.communicate(timeout=120)[1] for p in starts]
    assert [p.returncode for p in starts] == [0, 0, 0], errors
    with engine.connect() as connection:
        connection.execute(text("DROP DATABASE fleet_start WITH (FORCE)"))
    engine.dispose()


class _Batches:
    """An enqueuer that keeps the batches: the test plays the workers."""

    def __init__(self) -> None:
        self.sends: list[list[int]] = []

    def enqueue_dispatch(self, alert_id: int, *, urgent: bool) -> None:
        pass

    def enqueue_sends(self, alert_id: int, channel: str, batches: Sequence[Sequence[int]], *, urgent: bool) -> None:
        self.sends.extend(list(b) for b in batches)


class _Accepts:
    def send(self, channel: str, messages: list[Outbound]) -> list[Receipt]:
        return [Receipt(m.key, Outcome.ACCEPTED, "stub", f"SM{m.key}") for m in messages]


def test_the_last_two_batches_recorded_at_once_leave_the_alert_sent(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    sessions = runtime.sessions
    with sessions.begin() as session:
        directory.upsert_recipients(session, [RecipientInput(f"P{n}", phone=f"+1202555000{n}", groups=["Everyone"],
                                                             given={"phone", "groups"}) for n in (1, 2)],
                                    actor="test", create_groups=True)
        alert_id = create_alert(session, {"title": "Flood", "message": "Move to higher ground.", "channels": ["sms"],
                                          "target": {"groups": ["Everyone"]}, "policy": None},
                                actor="test", available_channels=["sms"]).id
        dispatch.request_send(session, alert_id, actor="test")
    batches = _Batches()
    dispatch.dispatch_alert(sessions, batches, alert_id, chunk_size=10, batch_size=1)
    assert len(batches.sends) == 2
    # Each batch, having recorded its receipts, waits for the other before asking whether anything
    # still waits: unserialised, each would see the other's row still in flight.
    meet, asks = threading.Barrier(2), sending.anything_waits

    def anything_waits(session, alert_id):  # type: ignore[no-untyped-def]
        try:
            meet.wait(timeout=2)
        except threading.BrokenBarrierError:
            pass  # the other batch waits for this one's commit: as it should
        return asks(session, alert_id)

    monkeypatch.setattr(sending, "anything_waits", anything_waits)
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda ids: sending.send_batch(sessions, _Accepts(), runtime.send_options, alert_id, "sms", ids),
                      batches.sends))
    with sessions() as session:
        assert session.get(Alert, alert_id).status == "sent"
