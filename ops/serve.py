"""`tocsin serve`: the whole system in one command.

With no configuration it is the embedded default: SQLite and a private Redis under the data
directory, the provider sandbox mounted at /sandbox/, and a supervised pool of RQ workers. Each
external service configured (TOCSIN_DATABASE_URL, TOCSIN_REDIS_URL, Twilio credentials) replaces
its embedded stand-in, and nothing is started for it.
"""
from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import replace
from typing import Callable

from aiohttp import web

from console.app import create_app
from console.health import WORKER_PROCESSES
from alerting.templates import ensure_library
from escalation.policies import ensure_default_policy
from ops import cap_poll, database, event_loop, jobs, metrics
from ops.embedded_redis import EmbeddedRedis, free_port
from ops.reconcile import reconcile
from ops.runtime import Runtime
from ops.sandbox import create_sandbox_app
from ops.secrets import stored_secret
from ops.settings import SANDBOX_ACCOUNT_SID, SANDBOX_FROM_NUMBER, Settings
from ops.worker import WorkerPool

log = logging.getLogger(__name__)


def with_sandbox_provider(settings: Settings) -> Settings:
    """Point Twilio settings at this process's own sandbox (used when no account is configured)."""
    return replace(settings, twilio_account_sid=SANDBOX_ACCOUNT_SID,
                   twilio_auth_token=stored_secret(settings.data_dir, "sandbox-twilio-token", 16),
                   twilio_from=settings.twilio_from or SANDBOX_FROM_NUMBER,
                   twilio_api_base=f"{settings.effective_public_url}/sandbox/twilio")


def with_sandbox_smtp(settings: Settings) -> tuple[Settings, int]:
    """Use the sandbox's SMTP server (on a free loopback port) when no relay is configured."""
    port = free_port()
    return replace(settings, smtp_url=f"smtp://127.0.0.1:{port}"), port


def serve(settings: Settings, *, prepare: Callable[[Runtime], None] | None = None,
          on_ready: Callable[[Runtime], None] | None = None) -> None:
    """Run until SIGINT/SIGTERM. `prepare` runs once the database is ready, before any worker
    starts (demo data); `on_ready` once the site listens (the banner)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # Before anything is counted or any worker starts: every process counts into one directory.
    metrics.use_multiprocess_dir(settings.data_dir / "metrics")
    if settings.port == 0:
        settings = replace(settings, port=free_port(settings.host))
    redis_server = None
    if settings.embedded_redis:
        redis_server = EmbeddedRedis(settings.data_dir / "redis")
        settings = replace(settings, redis_url=redis_server.start())
    run_sandbox = settings.uses_sandbox
    if run_sandbox:
        settings = with_sandbox_provider(settings)
    smtp_port = None
    if run_sandbox and settings.smtp_url is None:
        # Only beside the sandbox's Twilio: a real deployment without SMTP simply has no email channel.
        settings, smtp_port = with_sandbox_smtp(settings)
    pool = None
    try:
        database.upgrade(settings.effective_database_url)
        runtime = Runtime.build(settings)
        with runtime.sessions.begin() as session:
            ensure_default_policy(session, runtime.available_channels)
            ensure_library(session, runtime.available_channels)
        if prepare:
            prepare(runtime)
        reconcile(runtime)
        cap_poll.start_all(runtime)  # followed CAP feeds: one chain of polls each (ops/cap_poll.py)
        jobs.schedule_retention(runtime.redis)  # the daily retention job (TOCSIN_RETENTION_DAYS_*)
        app = create_app(runtime)
        if run_sandbox:
            app.add_subapp("/sandbox/", create_sandbox_app(
                inbound_sms_url=f"{settings.effective_public_url}/hooks/twilio/sms", smtp_port=smtp_port))
        if settings.workers:
            pool = WorkerPool(settings, settings.workers)
            pool.start()
            app[WORKER_PROCESSES] = _counting(pool)
        event_loop.run(_run_site(app, settings, lambda: on_ready(runtime) if on_ready else None))
    finally:
        if pool:
            pool.stop()
        if redis_server:
            redis_server.stop()


def _counting(pool: WorkerPool) -> Callable[[], tuple[int, int]]:
    """For /readyz: how many of the pool's worker processes are running, of how many started."""
    return lambda: (sum(p.poll() is None for p in pool.processes), pool.count)


async def _run_site(app: web.Application, settings: Settings, on_ready: Callable[[], None]) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    on_ready()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
