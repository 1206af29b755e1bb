"""Where SQLite and PostgreSQL differ: concurrent writers, migrations, the private test cluster.

Every test here runs on both databases (`make test` runs the suite once on each)."""
from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from alerting import directory, dispatch
from alerting.alerts import create_alert
from alerting.recipient_input import RecipientInput
from ops import database
from ops.local_postgres import LocalPostgres


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
