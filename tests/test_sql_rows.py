"""Many rows as one parameter (alerting/sql.py): the set-based INSERT and UPDATE ... FROM of the send
path, on SQLite and PostgreSQL alike (`--database`)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, select, update

from alerting.models import OptOut
from alerting.sql import insert_columns_ignoring_duplicates, rows_parameter
from ops.runtime import Runtime

WHEN = datetime(2026, 12, 7, 1, 2, 3, 456789)


def test_rows_are_inserted_once_with_the_shared_values(runtime: Runtime) -> None:
    with runtime.sessions.begin() as session:
        session.add(OptOut(channel="sms", address="+12025550101", source="api", created_at=WHEN))
    with runtime.sessions.begin() as session:
        insert_columns_ignoring_duplicates(
            session, OptOut.__table__, {"channel": "sms", "created_at": WHEN}, ("address", "source"),
            [("+12025550100", "sms-keyword"), ("+12025550101", "not kept: a duplicate"),
             ("+12025550102", "it's \"quoted\", ünïcode"), ("+12025550100", "not kept either")])
        insert_columns_ignoring_duplicates(session, OptOut.__table__, {"channel": "sms"}, ("address",), [])
    with runtime.sessions() as session:
        rows = session.execute(select(OptOut.address, OptOut.channel, OptOut.source, OptOut.created_at)
                               .order_by(OptOut.address)).all()
    assert [(a, c, s, t.replace(tzinfo=None)) for a, c, s, t in rows] == [  # PostgreSQL's are aware (UTC)
        ("+12025550100", "sms", "sms-keyword", WHEN),
        ("+12025550101", "sms", "api", WHEN),
        ("+12025550102", "sms", "it's \"quoted\", ünïcode", WHEN)]


def test_an_update_joins_its_rows_as_one_parameter(runtime: Runtime) -> None:
    with runtime.sessions.begin() as session:
        insert_columns_ignoring_duplicates(session, OptOut.__table__, {"channel": "email", "created_at": WHEN},
                                           ("address", "source"), [(f"p{i}@example.org", "api") for i in range(3)])
    with runtime.sessions() as session:
        ids = session.scalars(select(OptOut.id).order_by(OptOut.id)).all()
    with runtime.sessions.begin() as session:
        changes = rows_parameter(session, {"oid": OptOut.id.type, "source": String()},
                                 [(ids[0], "bounced-550"), (ids[2], "it's ünïcode")])
        session.execute(update(OptOut).where(OptOut.id == changes.c.oid).values(source=changes.c.source))
    with runtime.sessions() as session:
        assert session.execute(select(OptOut.source).order_by(OptOut.id)).scalars().all() == \
            ["bounced-550", "api", "it's ünïcode"]
