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

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from alerting import audit, directory
from alerting.directory import ImportResult
from alerting.errors import NotFound, ValidationError
from alerting.models import PeopleImport, utcnow
from alerting.recipient_input import RecipientInput, RowError, RowRejected, parse_csv

#: Rows per chunk: each chunk is one transaction and one step of the progress bar.
CHUNK_ROWS = 1000
#: Per-row errors kept on the import (the page shows the first thousand); `rejected` counts them all.
MAX_KEPT_ERRORS = 5000
#: Largest file stored for an import: about 100,000 people with a few columns each.
MAX_IMPORT_BYTES = 10 * 1024 * 1024


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
    found = PeopleImport(status=ImportStatus.QUEUED, filename=filename[:300], body=body,
                         create_groups=create_groups, created_by=actor, errors=[], created_groups=[])
    session.add(found)
    session.flush()
    audit.record(session, actor, "import.create", "import", found.id, bytes=len(body), create_groups=create_groups)
    return found


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


def records(body: bytes) -> list[RecipientInput | RowError]:
    """The file's records in line order: a good row, or the error that rejects it.

    The whole file is read first so a repeated external_id is caught across chunks too (the second
    one is rejected, as in a one-shot import). Reading is deterministic, so a resumed run finds
    the same records at the same positions.
    """
    rows, errors = parse_csv(body)
    # The one-shot import's rule and message, applied to the whole file rather than per chunk.
    rows = directory._drop_duplicates(rows, errors)
    items: list[RecipientInput | RowError] = [*rows, *errors]
    items.sort(key=lambda item: item.line or 0)
    return items


def run(sessions: sessionmaker[Session], import_id: int, *, chunk_rows: int = CHUNK_ROWS) -> dict[str, Any]:
    """Import (or go on importing) a stored file; returns its progress. An ended import is left alone."""
    with sessions.begin() as session:
        found = get(session, import_id)
        if found.status in ENDED:
            return progress(found)
        body, start, actor, create_groups = found.body or b"", found.done, found.created_by, found.create_groups
        found.status = ImportStatus.RUNNING
        found.started_at = found.started_at or utcnow()
    try:
        items = records(body)
    except RowRejected as exc:
        where = f"Line {exc.error.line}: " if exc.error.line else ""
        return _end(sessions, import_id, ImportStatus.FAILED, f"{where}{exc.error.message}. Nothing was imported.")
    with sessions.begin() as session:
        get(session, import_id).total = len(items)
    for offset in range(start, len(items), chunk_rows):
        part = items[offset:offset + chunk_rows]
        with sessions.begin() as session:
            if not _take(session, import_id, offset, len(part)):
                return _progress(sessions, import_id)  # another run took this chunk and goes on
            result = _import_chunk(session, part, actor=actor, create_groups=create_groups)
            _add(get(session, import_id), result)
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
        found.errors = [*(found.errors or []), *(e.as_dict() for e in result.errors[:room])]
    if result.created_groups:
        found.created_groups = [*(found.created_groups or []), *result.created_groups]


def _end(sessions: sessionmaker[Session], import_id: int, status: ImportStatus, message: str = "") -> dict[str, Any]:
    """Mark the import ended and drop the file: it holds personal data and is no longer needed."""
    with sessions.begin() as session:
        found = get(session, import_id)
        found.status, found.message, found.finished_at, found.body = status, message, utcnow(), None
        audit.record(session, found.created_by, f"import.{status}", "import", import_id, created=found.created,
                     updated=found.updated, rejected=found.rejected)
        return progress(found)


def _progress(sessions: sessionmaker[Session], import_id: int) -> dict[str, Any]:
    with sessions.begin() as session:
        return progress(get(session, import_id))
