"""People imports that run in the background: the console stores a CSV in `imports`, a worker
imports it chunk by chunk, and the row keeps the progress and the per-row report the console shows.

A chunk's people and the import's progress commit in one transaction, so `done` never counts people
who were not saved nor misses people who were. A worker dying mid-file leaves the import resumable:
running it again (ops/recovery.py hands the job back; the console offers a button) continues after
the last committed chunk. Even a chunk imported twice would double no one: people are matched on
external_id. Two runs of one import at once cannot both take a chunk: each chunk starts by moving
`done` on from the value it read, which only one of them can do.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from itertools import islice
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from alerting import audit, directory
from alerting.directory import ImportResult
from alerting.errors import NotFound, ValidationError
from alerting.models import PeopleImport, utcnow
from alerting.recipient_input import (
    RecipientInput,
    RowError,
    RowRejected,
    iter_csv,
    parse_csv,
)

#: Rows per chunk: each chunk is one transaction and one step of the progress bar.
CHUNK_ROWS = 1000
#: Per-row errors kept on the import (the page shows the first thousand); `rejected` counts them all.
MAX_KEPT_ERRORS = 5000
#: Largest file stored for an import: about 100,000 people with a few columns each.
MAX_IMPORT_BYTES = 10 * 1024 * 1024
#: Days an ended import's report is kept (its rejected rows name people); older ones go when a new
#: import is made.
KEEP_REPORTS_DAYS = 30
#: Imports the upload page lists, newest first.
RECENT = 10


class ImportStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


ENDED = (ImportStatus.DONE, ImportStatus.FAILED)


def check_file(body: bytes) -> None:
    """Refuse at once, before anything is stored, a file that cannot be imported at all: too big,
    empty, not UTF-8, or a header without external_id. Rows are checked later, by the worker."""
    if len(body) > MAX_IMPORT_BYTES:
        raise ValidationError(f"the file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB", field="file")
    if not body.strip():
        raise ValidationError("the file is empty", field="file")
    try:
        body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RowRejected(RowError(f"the file is not UTF-8 text (byte {exc.start})")) from None
    parse_csv(body.split(b"\n", 1)[0])  # the header alone: raises RowRejected naming what is wrong


def create(session: Session, body: bytes, *, filename: str, create_groups: bool, actor: str) -> PeopleImport:
    """Store a checked file as a queued import; the caller enqueues its job after the commit."""
    check_file(body)
    _forget_old(session)
    found = PeopleImport(status=ImportStatus.QUEUED, filename=filename[:300], body=body,
                         create_groups=create_groups, created_by=actor, errors=[], created_groups=[])
    session.add(found)
    session.flush()
    audit.record(session, actor, "import.create", "import", found.id, bytes=len(body), create_groups=create_groups)
    return found


def _forget_old(session: Session) -> None:
    cutoff = utcnow() - timedelta(days=KEEP_REPORTS_DAYS)
    session.execute(delete(PeopleImport).where(PeopleImport.status.in_(list(ENDED)),
                                               PeopleImport.finished_at < cutoff))


def recent(session: Session, limit: int = RECENT) -> list[dict[str, Any]]:
    """The latest imports, for the upload page: so one left running can be found again."""
    found = session.scalars(select(PeopleImport).order_by(PeopleImport.id.desc()).limit(limit))
    return [{**progress(i), "filename": i.filename, "created_by": i.created_by, "created_at": i.created_at}
            for i in found]


def get(session: Session, import_id: int) -> PeopleImport:
    found = session.get(PeopleImport, import_id)
    if found is None:
        raise NotFound(f"no import with id {import_id}")
    return found


def progress(found: PeopleImport) -> dict[str, Any]:
    """What the status page polls: small, whatever the number of bad rows."""
    percent = 100 if found.status == ImportStatus.DONE else (found.done * 100 // found.total if found.total else 0)
    return {"id": found.id, "status": found.status, "total": found.total, "done": found.done, "percent": percent,
            "created": found.created, "updated": found.updated, "rejected": found.rejected,
            "message": found.message, "ended": found.status in ENDED}


@dataclass
class Report:
    """The finished (or partial) import as the synchronous import reported it: counts and bad rows."""
    created: int
    updated: int
    rejected: int
    errors: list[dict[str, Any]]
    created_groups: list[str]


def report(found: PeopleImport) -> Report:
    return Report(found.created, found.updated, found.rejected, list(found.errors or []),
                  list(found.created_groups or []))


def count_records(body: bytes) -> int:
    """How many records the file holds, for the progress bar: a quick pass of the CSV reader alone
    (checking rows is the slow part), counting what `iter_csv` yields: rows not blank, and rows
    broken beyond reading. The header is not a record."""
    reader = csv.reader(io.StringIO(body.decode("utf-8-sig"), newline=""))
    next(reader, None)
    count = 0
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return count
        except csv.Error:
            count += 1
            continue
        count += any(v.strip() for v in values)


def without_repeats(items: Iterable[RecipientInput | RowError]) -> Iterator[RecipientInput | RowError]:
    """The file's records with a repeated external_id rejected, across the whole file (as in a
    one-shot import, with its message), not only within a chunk."""
    first_seen: dict[str, int | None] = {}
    for item in items:
        if isinstance(item, RecipientInput):
            if item.external_id in first_seen:
                item = RowError(f"external_id {item.external_id!r} already appears on line {first_seen[item.external_id]}",
                                field="external_id", value=item.external_id, line=item.line,
                                external_id=item.external_id)
            else:
                first_seen[item.external_id] = item.line
        yield item


def run(sessions: sessionmaker[Session], import_id: int, *, chunk_rows: int = CHUNK_ROWS) -> dict[str, Any]:
    """Import (or go on importing) a stored file; returns its progress. An ended import is left alone.

    Rows are read and checked chunk by chunk, so the progress moves from the first second. Reading
    is deterministic: a resumed run reads (and checks, which takes a while) the records already
    done again, without importing them, to find where to go on and to know the ids they used.
    """
    with sessions.begin() as session:
        found = get(session, import_id)
        if found.status in ENDED:
            return progress(found)
        body, start, actor, create_groups = found.body or b"", found.done, found.created_by, found.create_groups
        found.status = ImportStatus.RUNNING
        found.started_at = found.started_at or utcnow()
    try:
        records = without_repeats(iter_csv(body))
    except RowRejected as exc:
        where = f"Line {exc.error.line}: " if exc.error.line else ""
        return _end(sessions, import_id, ImportStatus.FAILED, f"{where}{exc.error.message}. Nothing was imported.")
    with sessions.begin() as session:
        get(session, import_id).total = max(count_records(body), start)
    for _ in islice(records, start):
        pass  # done before this run
    offset = start
    while part := list(islice(records, chunk_rows)):
        with sessions.begin() as session:
            if not _take(session, import_id, offset, len(part)):
                return _progress(sessions, import_id)  # another run took this chunk and goes on
            result = _import_chunk(session, part, actor=actor, create_groups=create_groups)
            _add(get(session, import_id), result)
        offset += len(part)
    return _end(sessions, import_id, ImportStatus.DONE)


def _take(session: Session, import_id: int, offset: int, count: int) -> bool:
    """Move `done` past this chunk if it still stands at its start (a row lock until commit)."""
    taken = session.execute(update(PeopleImport).where(PeopleImport.id == import_id, PeopleImport.done == offset)
                            .values(done=offset + count).execution_options(synchronize_session=False))
    return taken.rowcount == 1


def _import_chunk(session: Session, part: Sequence[RecipientInput | RowError], *, actor: str,
                  create_groups: bool) -> ImportResult:
    rows = [item for item in part if isinstance(item, RecipientInput)]
    errors = [item for item in part if isinstance(item, RowError)]
    if not rows:
        return ImportResult(rejected=len(errors), errors=errors)
    return directory.upsert_recipients(session, rows, actor=actor, create_groups=create_groups, errors=errors)


def _add(found: PeopleImport, result: ImportResult) -> None:
    found.created += result.created
    found.updated += result.updated
    found.rejected += result.rejected
    room = MAX_KEPT_ERRORS - len(found.errors or [])
    if room > 0 and result.errors:
        # Without the refused value itself (the message quotes what the report needs): less personal data kept.
        found.errors = [*(found.errors or []),
                        *({k: v for k, v in e.as_dict().items() if k != "value"} for e in result.errors[:room])]
    if result.created_groups:
        found.created_groups = [*(found.created_groups or []), *result.created_groups]


def _end(sessions: sessionmaker[Session], import_id: int, status: ImportStatus, message: str = "") -> dict[str, Any]:
    """Mark the import ended and drop the file: it holds personal data and is no longer needed."""
    with sessions.begin() as session:
        found = get(session, import_id)
        found.status, found.message, found.finished_at, found.body = status, message, utcnow(), None
        if status == ImportStatus.DONE:
            found.total = found.done  # the quick count and the reading agree; if not, the reading wins
        audit.record(session, found.created_by, f"import.{status}", "import", import_id, created=found.created,
                     updated=found.updated, rejected=found.rejected)
        return progress(found)


def _progress(sessions: sessionmaker[Session], import_id: int) -> dict[str, Any]:
    with sessions.begin() as session:
        return progress(get(session, import_id))
