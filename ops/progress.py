"""Long CLI work with progress bars: a CSV import in chunks, and an alert's send followed to the end.

Bars go to standard error and only when it is a terminal, so a script's or CI's log gets the
results and not hundreds of redrawn lines; `--no-progress` turns them off at a terminal too.
"""
from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TextIO

from sqlalchemy.orm import Session, sessionmaker
from tqdm import tqdm

#: Rows written per transaction: each chunk commits alone, so a long import never holds the
#: database's write lock for long while an alert is going out (SQLite has one writer at a time).
IMPORT_CHUNK = 1000
#: How often `alert send --wait` reads the alert's counts.
POLL_S = 0.5
#: After every message is handed over, keep waiting for delivery reports until none has arrived
#: for this long (email and push have no delivery reports: their messages stay "queued").
SETTLE_S = 10.0
#: Delivery states that are an answer from the provider or the carrier (rank 4).
FINAL_STATES = ("delivered", "undelivered", "failed", "busy", "no_answer", "bounced", "cancelled")
NOT_HANDED_OVER = ("pending", "sending")


def bars_wanted(no_progress: bool, stream: TextIO | None = None) -> bool:
    stream = stream or sys.stderr
    return not no_progress and bool(getattr(stream, "isatty", lambda: False)())


def _bar(show: bool, **kwargs: Any) -> tqdm:
    return tqdm(file=sys.stderr, disable=not show, dynamic_ncols=True, **kwargs)


# ---- tocsin recipients import FILE.csv ------------------------------------------------------------

@dataclass
class ImportTotals:
    created: int = 0
    updated: int = 0
    errors: list[Any] = field(default_factory=list)
    created_groups: list[str] = field(default_factory=list)


def import_csv(sessions: sessionmaker[Session], path: Path, *, create_groups: bool, show: bool,
               actor: str = "cli", chunk: int = IMPORT_CHUNK) -> ImportTotals:
    """Parse the whole file (errors by line), then create or update its people `chunk` rows per
    transaction. Interrupted, the chunks already written stay; running it again is harmless
    (rows are matched by external_id). Raises RowRejected for a file that cannot be read at all."""
    from alerting import directory
    from alerting.recipient_input import parse_csv

    rows, errors = parse_csv(path.read_bytes())
    # A repeated external_id is refused across the whole file, not only within one chunk.
    rows = directory._drop_duplicates(rows, errors)
    totals = ImportTotals(errors=list(errors))
    with _bar(show, total=len(rows), unit="row", desc="importing") as bar:
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            with sessions.begin() as session:
                result = directory.upsert_recipients(session, part, actor=actor, create_groups=create_groups)
            totals.created += result.created
            totals.updated += result.updated
            totals.errors.extend(result.errors)
            totals.created_groups.extend(result.created_groups)
            bar.update(len(part))
    totals.errors.sort(key=lambda e: e.line or 0)
    return totals


def describe_error(error: Any) -> str:
    """One line of the per-row report: where, which field, why."""
    where = f"line {error.line}" if error.line else "file"
    what = f" {error.field}:" if error.field else ""
    return f"{where}:{what} {error.message}"


# ---- tocsin alert send ID [--wait] ----------------------------------------------------------------

class ApiError(Exception):
    """The API refused the call; the message is its own."""


@dataclass
class Api:
    """The JSON API of a running Tocsin, as `curl` would call it, with a bearer token."""
    base_url: str
    token: str
    timeout: float = 30.0

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.base_url.rstrip('/')}{path}", data=data, method=method,
                                         headers={"Authorization": f"Bearer {self.token}",
                                                  "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("error", {})
                message = message.get("message", message) if isinstance(message, dict) else message
            except ValueError:
                message = exc.reason
            raise ApiError(f"{method} {path}: {exc.code} {message}") from None
        except urllib.error.URLError as exc:
            raise ApiError(f"cannot reach Tocsin at {self.base_url}: {exc.reason}") from None


def counts(summary: dict[str, Any]) -> tuple[int, int, int, int]:
    """(messages, handed over, with a final state, delivered) across the alert's channels."""
    total = handed = final = delivered = 0
    for by_status in summary.get("deliveries", {}).values():
        for status, n in by_status.items():
            total += n
            handed += 0 if status in NOT_HANDED_OVER else n
            final += n if status in FINAL_STATES else 0
            delivered += n if status == "delivered" else 0
    return total, handed, final, delivered


def follow_send(read: Callable[[], dict[str, Any]], *, show: bool, settle_s: float = SETTLE_S,
                poll_s: float = POLL_S, clock: Callable[[], float] = time.monotonic,
                sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Read the alert until every message is handed over and delivery reports have stopped coming
    (none for `settle_s`); two bars show it. Returns the last summary."""
    with _bar(show, total=0, unit="msg", desc="handed over", position=0) as handed_bar, \
            _bar(show, total=0, unit="msg", desc="final state", position=1) as final_bar:
        last_change, last = clock(), None
        while True:
            summary = read()
            total, handed, final, delivered = counts(summary)
            for bar, n in ((handed_bar, handed), (final_bar, final)):
                bar.total = total
                bar.n = n
                bar.refresh()
            final_bar.set_postfix(delivered=delivered, refresh=False)
            if (total, handed, final) != last:
                last, last_change = (total, handed, final), clock()
            status = summary.get("status")
            if status not in ("sending", "sent"):
                return summary  # cancelled, closed, or not sending at all (scheduled, awaiting approval)
            if status == "sent" and (final == total or clock() - last_change >= settle_s):
                return summary
            sleep(poll_s)
