"""The test system with the observability routes (/metrics, /readyz) whether or not
console/routes.py lists them yet, and helpers to read a scrape."""
from __future__ import annotations

from typing import Any, AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from console import health, metrics_routes
from console.app import create_app
from ops.runtime import Runtime
from ops.sandbox import create_sandbox_app
from tests.conftest import System, make_token


def add_observability(app: web.Application) -> None:
    paths = {resource.canonical for resource in app.router.resources()}
    if "/metrics" not in paths:
        metrics_routes.setup(app)
    if "/readyz" not in paths:
        app.router.add_get("/readyz", health.readyz)


@pytest.fixture
async def observed(runtime: Runtime, aiohttp_server: Any) -> AsyncIterator[System]:
    """Like conftest's `system`, with /metrics and /readyz."""
    app = create_app(runtime)
    add_observability(app)
    sandbox_app = create_sandbox_app(inbound_sms_url=f"{runtime.settings.effective_public_url}/hooks/twilio/sms",
                                     smtp_port=int(runtime.settings.smtp_url.rsplit(":", 1)[1]))
    app.add_subapp("/sandbox/", sandbox_app)
    await aiohttp_server(app, port=runtime.settings.port)
    token = make_token(runtime, "admin")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as api:
        yield System(runtime, runtime.settings.effective_public_url, api, sandbox_app, token)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """A scrape as {(sample name, sorted labels): value}."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(scrape: dict, name: str, **labels: str) -> float:
    return scrape.get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(system: System) -> tuple[str, dict]:
    async with system.api.get(f"{system.base_url}/metrics") as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        text = await response.text()
    return text, samples(text)
