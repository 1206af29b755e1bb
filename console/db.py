"""Running the core's (synchronous) database functions without blocking the event loop."""
from __future__ import annotations

import asyncio
from typing import Any, Callable, TypeVar

from aiohttp import web
from sqlalchemy.orm import Session

from console.keys import DB_EXECUTOR, RUNTIME

T = TypeVar("T")


async def in_transaction(request: web.Request, work: Callable[[Session], T]) -> T:
    """Run `work(session)` in one transaction on the database thread pool."""
    sessions = request.app[RUNTIME].sessions

    def run() -> T:
        with sessions.begin() as session:
            return work(session)

    return await asyncio.get_running_loop().run_in_executor(request.app[DB_EXECUTOR], run)


async def in_thread(request: web.Request, work: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(request.app[DB_EXECUTOR], work, *args)
