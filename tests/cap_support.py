"""Shared by the CAP tests: the system with the CAP routes, the documents, the schema check."""
from __future__ import annotations

from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from ops.runtime import Runtime
from tests.conftest import System, running_system

DOCS = Path(__file__).parent / "cap_documents"
SHARED = Path(__file__).parents[2] / "shared" / "standards"
if not SHARED.is_dir():
    SHARED = Path("/work/shared/standards")
EXAMPLES = SHARED / "examples"


def doc(name: str) -> bytes:
    return (DOCS / name).read_bytes()


@pytest.fixture
async def cap_system(runtime: Runtime, aiohttp_server: Any) -> AsyncIterator[System]:
    """conftest's `system` (the CAP routes are the app's own)."""
    async with running_system(runtime, aiohttp_server) as running:
        yield running


_schema = None


def assert_valid_cap(xml: bytes) -> None:
    """Valid against the OASIS CAP 1.2 schema in shared/standards (not the package's own copy)."""
    global _schema
    import xmlschema

    if _schema is None:
        _schema = xmlschema.XMLSchema(str(SHARED / "cap12.xsd"))
    errors = [f"{e.path}: {e.reason}" for e in _schema.iter_errors(xml.decode("utf-8"))]
    assert not errors, errors


async def import_cap(system: System, body: bytes, *, expect: int = 201, channels: str = "sms") -> Any:
    return await system.call("POST", f"/api/v1/cap?channels={channels}", data=body, expect=expect,
                             headers={"Content-Type": "application/cap+xml"})


async def export_cap(system: System, alert_id: int) -> bytes:
    async with system.api.get(f"{system.base_url}/api/v1/alerts/{alert_id}.cap") as response:
        assert response.status == 200, await response.text()
        assert response.content_type == "application/cap+xml"
        return await response.read()
