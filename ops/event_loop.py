"""The event loop Tocsin's own processes run on: uvloop where it is installed, else asyncio's.

Measured on the reference machine (2 cores), a worker sending SMS and the web process taking status
callbacks spend a sizeable share of their CPU in the event loop itself (selector, handles, transport
writes); uvloop (libuv, the loop uvicorn uses) does that part in C. Behaviour is the same: uvloop
implements asyncio's loop interface, and the test suite runs on asyncio's own loop.
`TOCSIN_EVENT_LOOP=asyncio` forces asyncio's loop (to rule uvloop out when chasing a problem).

The sandbox (`tocsin sandbox`) keeps asyncio's loop on purpose: it stands in for the provider, and
the benchmark's ceiling is measured against it as it is.
"""
from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """`uvloop.new_event_loop` unless uvloop is missing or TOCSIN_EVENT_LOOP=asyncio."""
    if os.environ.get("TOCSIN_EVENT_LOOP", "").strip().lower() != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop
    return asyncio.new_event_loop


def new_event_loop() -> asyncio.AbstractEventLoop:
    return loop_factory()()


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on the chosen loop."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
