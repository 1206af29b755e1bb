"""/healthz says the process answers; /readyz says it can work: database, schema, Redis, workers."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from console import health
from ops.embedded_redis import free_port
from tests.conftest import System
from tests.observability_support import observed  # noqa: F401  (a fixture)


async def test_liveness_and_readiness_when_all_is_well(observed: System) -> None:
    assert await observed.call("GET", "/healthz", expect=200) == {"status": "ok"}
    ready = await observed.call("GET", "/readyz", expect=200)
    assert ready == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


async def test_redis_gone_is_not_ready_but_still_alive(observed: System) -> None:
    observed.runtime.redis.connection_pool.connection_kwargs["port"] = free_port()  # nothing listens there
    observed.runtime.redis.connection_pool.disconnect()
    assert await observed.call("GET", "/healthz", expect=200) == {"status": "ok"}
    ready = await observed.call("GET", "/readyz", expect=503)
    assert ready["status"] == "unavailable" and ready["checks"] == {"database": "ok"}
    assert "ConnectionError" in ready["problems"]["redis"]


async def test_a_schema_behind_the_code_is_not_ready(observed: System) -> None:
    with observed.runtime.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'an-old-revision'"))
    ready = await observed.call("GET", "/readyz", expect=503)
    assert "tocsin db upgrade" in ready["problems"]["database"]
    assert "an-old-revision" in ready["problems"]["database"]


@pytest.mark.parametrize("running, ready_status", [(2, 200), (1, 200), (0, 503)])
async def test_serve_is_ready_while_a_worker_runs(runtime, aiohttp_client, running: int, ready_status: int) -> None:  # type: ignore[no-untyped-def]
    from console.app import create_app

    app = create_app(runtime)
    app[health.WORKER_PROCESSES] = lambda: (running, 2)  # what `tocsin serve` sets from its pool
    client = await aiohttp_client(app)
    response = await client.get("/readyz")
    body = await response.json()
    assert response.status == ready_status
    assert body["checks"]["workers"] == f"{running} of 2 running"
    assert ("workers" in body.get("problems", {})) == (running == 0)
