"""Group commit for webhook writes: many callbacks, one transaction, no callback answered unsaved.

Providers post a status callback per message per state (two per SMS from Twilio: sent, delivered):
at thousands per second a transaction each would spend the database on commits. Reports are
queued; one task writes whatever has accumulated in a single transaction while the next reports
gather, and each webhook's handler waits for the commit that contains its report before
answering. At low load a batch is one report and nothing waits longer than its own write; a
failed batch fails each of its callers, so the provider retries them.
"""
from __future__ import annotations

import asyncio
import time
from concurrent.futures import Executor
from typing import Any, Callable, Generic, TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")


def _unreachable(exc: DBAPIError) -> bool:
    """The database is down or restarting, or the connection broke: worth another try."""
    return exc.connection_invalidated or isinstance(exc, (OperationalError, InterfaceError))


class GroupCommitter(Generic[T]):
    #: Waits between tries while the database is unreachable: about 12 s in all, inside what a
    #: provider waits for an answer (Twilio: 15 s); one that gave up may not send the later statuses.
    RETRY_WAITS_S = (0.25, 0.5, 1, 2, 3, 3, 2)

    def __init__(self, sessions: sessionmaker[Session], executor: Executor,
                 write: Callable[[Session, list[T]], Any], *, max_batch: int = 2000):
        self._sessions = sessions
        self._executor = executor
        self._write = write
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[T, asyncio.Future[None]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="group-commit")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        while not self._queue.empty():  # never leave a caller waiting forever
            _, future = self._queue.get_nowait()
            if not future.done():
                future.set_exception(RuntimeError("shutting down"))

    async def submit(self, item: T) -> None:
        """Return once `item` is committed; raise if its batch could not be written."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put((item, future))
        await future

    def _commit(self, items: list[T]) -> None:
        # A database restarting for a few seconds must not lose callbacks: providers rarely retry
        # them. Retry for a while, then fail the batch.
        for wait in self.RETRY_WAITS_S:
            try:
                with self._sessions.begin() as session:
                    self._write(session, items)
                return
            except DBAPIError as exc:
                if not _unreachable(exc):
                    raise
                time.sleep(wait)
        with self._sessions.begin() as session:
            self._write(session, items)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < self._max_batch:
                batch.append(self._queue.get_nowait())
            try:
                await loop.run_in_executor(self._executor, self._commit, [item for item, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
