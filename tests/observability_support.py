"""The observability tests' system, and helpers to read a scrape."""
from __future__ import annotations

from typing import Any, AsyncIterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ops.runtime import Runtime
from tests.conftest import System, running_system


@pytest.fixture
async def observed(runtime: Runtime, aiohttp_server: Any) -> AsyncIterator[System]:
    """conftest's `system` (/metrics and /readyz are the app's own)."""
    async with running_system(runtime, aiohttp_server) as running:
        yield running


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
