"""Small SQL helpers that differ by database dialect."""
from __future__ import annotations

import hashlib
import json
from typing import Any, Sequence

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    String,
    Table,
    any_,
    bindparam,
    cast,
    func,
    literal_column,
    select,
)
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


def insert_columns_ignoring_duplicates(session: Session, table: Table, same: dict[str, Any],
                                       columns: Sequence[str], values: Sequence[Sequence[Any]]) -> None:
    """Insert one row per item of `values` (a tuple of `columns`' values) plus the values in `same`,
    which every row shares, as ONE statement with one parameter per column: INSERT ... SELECT from
    a JSON array (SQLite, json_each) or from arrays (PostgreSQL, unnest), ON CONFLICT DO NOTHING.

    Why not `insert_ignoring_duplicates`: an executemany of dicts has SQLAlchemy build and
    type-process every row's parameters in Python, which was a fifth of a worker's CPU per SMS at
    0 ms latency (writing every message of an alert before sending it). Here Python only serializes
    plain values (ints, strings, None; datetimes only in `same`) and the database unpacks them.
    """
    if not values:
        return
    dialect = session.get_bind().dialect.name
    if dialect not in ("sqlite", "postgresql"):
        insert_ignoring_duplicates(session, table, [{**same, **dict(zip(columns, row))} for row in values])
        return
    shared = [bindparam(f"same_{name}", value, type_=table.c[name].type) for name, value in same.items()]
    rows = rows_parameter(session, {name: table.c[name].type for name in columns}, values)
    if dialect == "postgresql":
        # Typed casts: a parameter in a SELECT list has no type of its own.
        source = select(*(cast(p, p.type) for p in shared), *rows.c).select_from(rows)
        statement = postgresql.insert(table).from_select([*same, *columns], source).on_conflict_do_nothing()
    else:
        # SQLite needs a WHERE clause between INSERT ... SELECT and ON CONFLICT (or it parses ON as a join's).
        source = select(*shared, *rows.c).select_from(rows).where(literal_column("1") == 1)
        statement = sqlite.insert(table).from_select([*same, *columns], source).on_conflict_do_nothing()
    session.connection().execute(statement)


def rows_parameter(session: Session, columns: dict[str, Any], values: Sequence[Sequence[Any]]) -> Any:
    """Many rows as ONE parameter, to join in a statement like a table: a FROM-able whose columns are
    `columns` (name: SQL type), from a JSON array (SQLite, json_each) or from arrays (PostgreSQL,
    unnest). Values are plain: ints, strings, None. Used by UPDATE ... FROM for a batch's receipts
    and by `insert_columns_ignoring_duplicates`."""
    if session.get_bind().dialect.name == "postgresql":
        # Typed casts: an array of NULLs has no type of its own.
        arrays = [cast(bindparam(f"rows_{name}", list(column), type_=ARRAY(type_)), ARRAY(type_))
                  for (name, type_), column in zip(columns.items(), zip(*values))]
        return func.unnest(*arrays).table_valued(*columns).render_derived().alias("row_values")
    each = func.json_each(bindparam("rows", json.dumps(values), type_=String)).table_valued("value")
    return select(*(func.json_extract(each.c.value, f"$[{i}]").label(name) for i, name in enumerate(columns))) \
        .select_from(each).subquery("row_values")


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
