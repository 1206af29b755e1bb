"""People imports in the background (alerting/imports.py, ops.jobs.import_people): progress by chunk,
the per-row report at the end, and a worker dying mid-file costing neither people nor duplicates."""
from __future__ import annotations

from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, func, select

from alerting import directory, imports
from alerting.models import AuditEntry, Base, PeopleImport, Recipient, utcnow
from alerting.recipient_input import iter_csv
from ops import jobs
from ops.queues import BULK, queue
from ops.runtime import Runtime
from tests.conftest import System, make_token, run_worker_burst

BAD_LINES = {7: "phone", 15: "external_id", 26: "lat"}


def people_csv(count: int) -> bytes:
    """`count` records, three of them bad (a phone, a repeated id, a latitude), one unreadable line."""
    lines = ["external_id,name,phone,groups,lat,lon"]
    for n in range(1, count + 1):
        line = n + 1  # the header is line 1
        phone = "not a phone" if line == 7 else f"+1202555{n:04d}"
        external_id = "P-0003" if line == 15 else f"P-{n:04d}"
        lat = "95" if line == 26 else "38.9"
        lines.append(f"{external_id},Person {n},{phone},Staff,{lat},-77.0")
    return ("\n".join(lines) + "\n").encode()


def _stored(runtime: Runtime, body: bytes, *, create_groups: bool = True) -> int:
    with runtime.sessions.begin() as session:
        return imports.create(session, body, filename="staff.csv", create_groups=create_groups, actor="user:op").id


def _people(runtime: Runtime) -> int:
    with runtime.sessions.begin() as session:
        return session.scalar(select(func.count()).select_from(Recipient)) or 0


def test_the_job_imports_in_chunks_and_reports_each_bad_row(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    import_id = _stored(runtime, people_csv(40))
    seen: list[tuple[int, int]] = []
    take = imports._take

    def watched(session, *args):  # type: ignore[no-untyped-def]
        with runtime.sessions.begin() as other:  # what the status page reads as a chunk starts
            found = imports.get(other, import_id)
            seen.append((found.done, found.rejected))
        return take(session, *args)

    monkeypatch.setattr(imports, "_take", watched)
    progress = imports.run(runtime.sessions, import_id, chunk_rows=10)

    assert [done for done, _ in seen] == [0, 10, 20, 30]  # committed chunk by chunk
    assert [rejected for _, rejected in seen] == [0, 1, 2, 3]  # errors so far, as they come
    assert progress == {"id": import_id, "status": "done", "total": 40, "done": 40, "percent": 100, "created": 37,
                        "updated": 0, "rejected": 3, "message": "", "ended": True}
    with runtime.sessions.begin() as session:
        found = imports.get(session, import_id)
        report = imports.report(found)
        assert found.body is None and found.finished_at is not None  # the file's personal data goes
    assert [(e["line"], e["field"]) for e in report.errors] == sorted(BAD_LINES.items())
    assert "already appears on line 4" in report.errors[1]["message"]  # a repeat across chunks is caught
    assert report.created_groups == ["Staff"]
    assert all("value" not in e for e in report.errors)  # the message says enough; the value is not kept
    assert _people(runtime) == 37


def test_a_worker_dying_mid_import_loses_and_doubles_no_one(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    import_id = _stored(runtime, people_csv(40))
    upsert, calls = directory.upsert_recipients, []

    def dies_on_the_third_chunk(session, rows, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(len(rows))
        result = upsert(session, rows, **kwargs)
        if len(calls) == 3:
            raise SystemExit("worker killed")  # after writing: the chunk's transaction rolls back
        return result

    monkeypatch.setattr(directory, "upsert_recipients", dies_on_the_third_chunk)
    with pytest.raises(SystemExit):
        imports.run(runtime.sessions, import_id, chunk_rows=10)
    with runtime.sessions.begin() as session:
        found = imports.get(session, import_id)
        assert (found.status, found.done, found.created, found.rejected) == ("running", 20, 18, 2)
    assert _people(runtime) == 18

    monkeypatch.setattr(directory, "upsert_recipients", upsert)
    progress = imports.run(runtime.sessions, import_id, chunk_rows=10)  # the job handed back, run again
    assert (progress["status"], progress["done"], progress["created"], progress["rejected"]) == ("done", 40, 37, 3)
    assert _people(runtime) == 37
    assert imports.run(runtime.sessions, import_id)["created"] == 37  # an ended import is left alone


def test_a_file_that_cannot_be_read_fails_whole_with_its_reason(runtime: Runtime) -> None:
    import_id = _stored(runtime, b"external_id,name\nA-1,Ann\n")
    with runtime.sessions.begin() as session:  # damaged after the upload's check: the worker says why
        imports.get(session, import_id).body = b"external_id,name,name\nA-1,Ann,Ann\n"
    progress = imports.run(runtime.sessions, import_id)
    assert progress["status"] == "failed" and progress["ended"]
    assert progress["message"] == "Line 1: the header repeats column(s) name. Nothing was imported."
    assert _people(runtime) == 0


def test_the_upload_is_checked_before_it_is_stored(runtime: Runtime) -> None:
    for body, reason in ((b"name,phone\nAna,+12025550100\n", "no external_id column"), (b"  \n", "empty"),
                         (b"\xff\xfeexternal_id", "not UTF-8"),
                         (b"external_id\n" + b"x" * imports.MAX_IMPORT_BYTES, "larger than 10 MB")):
        with pytest.raises(Exception, match=reason), runtime.sessions.begin() as session:
            imports.create(session, body, filename="x.csv", create_groups=False, actor="user:op")
    with runtime.sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(PeopleImport)) == 0


def test_the_job_runs_on_the_bulk_queue_once_per_import(runtime: Runtime) -> None:
    import_id = _stored(runtime, people_csv(12))
    assert jobs.enqueue_import(runtime.redis, import_id)
    assert not jobs.enqueue_import(runtime.redis, import_id)  # queued already: not twice
    assert queue(runtime.redis, BULK).count == 1
    run_worker_burst(runtime)
    with runtime.sessions.begin() as session:
        assert imports.progress(imports.get(session, import_id))["status"] == "done"
        assert session.scalar(select(AuditEntry.details).where(AuditEntry.action == "import.done")) == {
            "created": 11, "updated": 0, "rejected": 1}
    assert jobs.enqueue_import(runtime.redis, import_id)  # a finished job is replaced; the run changes nothing
    run_worker_burst(runtime)
    assert _people(runtime) == 11


def test_the_imports_table_matches_its_model(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert [d for d in differences if "imports" in repr(d)] == []


def test_the_quick_count_agrees_with_the_rows_read() -> None:
    body = people_csv(30).replace(b"\nP-0010,", b"\n\n  ,  \nP-0010,") + b'P-0031,"unclosed\n\nP-0032,x,y\n'
    assert imports.count_records(body) == len(list(imports.without_repeats(iter_csv(body)))) == 31


def test_reports_are_kept_for_a_while_then_go(runtime: Runtime) -> None:
    old, fresh = _stored(runtime, people_csv(3)), _stored(runtime, people_csv(3))
    for import_id in (old, fresh):
        imports.run(runtime.sessions, import_id)
    with runtime.sessions.begin() as session:
        imports.get(session, old).finished_at = utcnow() - timedelta(days=imports.KEEP_REPORTS_DAYS + 1)
    running = _stored(runtime, people_csv(3))  # a new import clears reports past their time
    with runtime.sessions.begin() as session:
        assert [i["id"] for i in imports.recent(session)] == [running, fresh]


async def test_the_api_imports_in_the_background_when_asked(system: System) -> None:
    started = await system.call("POST", "/api/v1/recipients/import?async=1&create_groups=true&filename=staff.csv",
                                data=people_csv(30), expect=202)
    assert started == {"id": started["id"], "status": "queued", "queued": True, "url": f"/api/v1/imports/{started['id']}"}
    waiting = await system.call("GET", started["url"], expect=200)
    assert (waiting["status"], waiting["done"], waiting["ended"]) == ("queued", 0, False) and "errors" not in waiting
    await system.drain()
    ended = await system.call("GET", started["url"], expect=200)
    assert (ended["status"], ended["percent"], ended["created"], ended["rejected"]) == ("done", 100, 27, 3)
    assert [(e["line"], e["field"]) for e in ended["errors"]] == sorted(BAD_LINES.items())
    assert ended["created_groups"] == ["Staff"]
    refused = await system.call("POST", "/api/v1/recipients/import?async=1", data=b"name\nAnn\n", expect=422)
    assert "external_id" in refused["error"]["message"]
    viewer = make_token(system.runtime, "viewer")
    async with system.api.get(f"{system.base_url}{started['url']}", headers={"Authorization": f"Bearer {viewer}"}) as response:
        assert response.status == 403
    await system.call("GET", "/api/v1/imports/999999", expect=404)
