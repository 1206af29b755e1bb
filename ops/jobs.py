"""RQ job entry points. RQ calls them by import path with ids; they call the core with live objects.

A worker process builds its `Runtime` once, from the environment `tocsin serve` or the operator gave
it, on its first job (RQ offers no other hook to hand objects to module-level job functions).
"""
from __future__ import annotations

from alerting import dispatch, sending
from ops import defaults
from ops.runtime import Runtime
from ops.settings import Settings

_runtime: Runtime | None = None


def use_runtime(runtime: Runtime | None) -> None:
    """Set the runtime jobs in this process use (workers started in-process, tests)."""
    global _runtime
    _runtime = runtime


def runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        _runtime = Runtime.build(Settings.from_env())
    return _runtime


def dispatch_alert(alert_id: int) -> int:
    rt = runtime()
    return dispatch.dispatch_alert(rt.sessions, rt.enqueuer, alert_id, chunk_size=defaults.RESOLVE_CHUNK,
                                   batch_size=rt.settings.batch_size)


def send_batch(alert_id: int, channel: str, delivery_ids: list[int]) -> dict[str, int]:
    rt = runtime()
    return sending.send_batch(rt.sessions, rt.sender, rt.send_options, alert_id, channel, delivery_ids)
