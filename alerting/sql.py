"""Small SQL helpers that differ by database dialect."""
from __future__ import annotations

import hashlib
import json
from typing import Any, Sequence

from sqlalchemy import ARRAY, BigInteger, ColumnElement, String, Table, any_, bindparam, func, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_ignoring_duplicates(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING, so re-running a step (after a crash) never doubles a row.

    Executed on the session's connection (Core), not through the ORM's execute path: this writes
    every message of an alert, and the ORM layer added a tenth to the dispatch's time per person."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    session.connection().execute(module.insert(table).on_conflict_do_nothing(), rows)


def serialize(session: Session, name: str) -> None:
    """Hold the lock called `name` until the transaction ends, so a check-then-write runs one at a time.

    PostgreSQL takes a transaction-level advisory lock. SQLite needs none: each of its transactions
    starts with BEGIN IMMEDIATE (ops/database.py), which already admits one writer at a time.
    """
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)
        session.execute(select(func.pg_advisory_xact_lock(key)))


def lock_rows(session: Session, column: Any, ids: Sequence[int]) -> None:
    """Lock these rows, in id order, until the transaction ends.

    On PostgreSQL two transactions updating overlapping rows in different orders (a worker recording
    a batch's receipts, the console applying a batch of status callbacks) would deadlock; taking the
    locks in one order first makes the later one wait instead. One statement, whatever the count.
    SQLite needs nothing: it admits one writer at a time.
    """
    if ids and session.get_bind().dialect.name == "postgresql":
        session.execute(select(column).where(id_in(session, column, ids)).order_by(column).with_for_update())


def id_in(session: Session, column: Any, ids: Sequence[int]) -> ColumnElement[bool]:
    """`column IN (ids)` for any number of ids, sent as ONE parameter.

    An expanding IN list costs a bound parameter per id and a statement compilation per size;
    for the thousands of ids a target or a chunk holds, SQLite reads them from a JSON array
    (json_each) and PostgreSQL from an array (= ANY), with one parameter and one cached statement.
    """
    values = [int(i) for i in ids]
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        return column.in_(select(literal_column("value")).select_from(
            func.json_each(bindparam("id_list", json.dumps(values), type_=String))))
    if dialect == "postgresql":
        return column == any_(bindparam("id_list", values, type_=ARRAY(BigInteger)))
    return column.in_(values)
