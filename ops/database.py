"""Building the SQLAlchemy engine and running migrations.

SQLite (the embedded default) is shared by the web process and every worker process, so each
transaction starts with `BEGIN IMMEDIATE`: a writer waits for the lock (busy_timeout) instead of
failing halfway with "database is locked" when two processes upgrade read locks at once. WAL lets
readers proceed meanwhile.

PostgreSQL (production, `postgresql+psycopg://...`) runs at READ COMMITTED with sessions in UTC;
code that must serialise writers takes row locks or advisory locks itself.
"""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
#: How long a SQLite writer waits for another process's transaction before giving up.
SQLITE_BUSY_TIMEOUT_S = 60
#: How long one try for SQLite's writer lock waits (ms) before the next: see `begin_immediate`.
BEGIN_POLL_MS = 2
#: PostgreSQL advisory lock taken while migrating (any fixed number; "tocsin" in ASCII).
MIGRATION_LOCK_KEY = 0x746F6373696E


def make_engine(url: str, *, echo: bool = False) -> Engine:
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S,
                                                            "check_same_thread": False})
        _configure_sqlite(engine)
        return engine
    if url.startswith("postgresql"):
        # Sessions in UTC, so timestamps read back as UTC whatever the server's default zone.
        return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20,
                             connect_args={"options": "-c timezone=UTC"})
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):  # type: ignore[no-untyped-def]
        begin_immediate(connection.connection.dbapi_connection)


def begin_immediate(dbapi_connection: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE, waiting for the writer lock in steps of about a millisecond.

    SQLite's own busy handler sleeps longer and longer between tries (up to 100 ms each), so a
    process that commits and begins again at once (a dispatch writing 100,000 people chunk by
    chunk) kept the lock for seconds while the others slept through every gap: the first messages
    of a large alert waited behind the whole dispatch. Here the wait for the lock is a loop of
    short tries (busy_timeout of BEGIN_POLL_MS), which lands in the gaps between another writer's
    transactions; once in, the long busy_timeout applies again to everything else. The wait gives
    up after SQLITE_BUSY_TIMEOUT_S, as before, with SQLite's own "database is locked".
    """
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={BEGIN_POLL_MS}")
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
        while True:
            try:
                cursor.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
    finally:
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.close()


def make_sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema up to date; safe to run on every start, and by several processes in turn."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if not url.startswith("postgresql"):
        command.upgrade(alembic_config(url), revision)
        return
    # PostgreSQL: processes starting together (a fleet's web and workers) take turns, under an
    # advisory lock held on the connection the migrations run on.
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            connection.commit()
            try:
                config = alembic_config(url)
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
            finally:
                connection.rollback()
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                connection.commit()
    finally:
        engine.dispose()
