"""Shared by the CAP tests: the system with the CAP routes, the documents, the schema check."""
from __future__ import annotations

from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import pytest

from console import api_cap
from console.app import create_app
from ops.runtime import Runtime
from ops.sandbox import create_sandbox_app
from tests.conftest import System, make_token

DOCS = Path(__file__).parent / "cap_documents"
SHARED = Path(__file__).parents[2] / "shared" / "standards"
if not SHARED.is_dir():
    SHARED = Path("/work/shared/standards")
EXAMPLES = SHARED / "examples"


def doc(name: str) -> bytes:
    return (DOCS / name).read_bytes()


def has_cap_routes(app: Any) -> bool:
    return any(getattr(r, "canonical", "") == "/cap/feed.atom" for r in app.router.resources())


@pytest.fixture
async def cap_system(runtime: Runtime, aiohttp_server: Any) -> AsyncIterator[System]:
    """conftest's `system`, with console/api_cap.py's routes (until console/routes.py lists them)."""
    app = create_app(runtime)
    if not has_cap_routes(app):
        api_cap.setup(app)
    sandbox_app = create_sandbox_app(inbound_sms_url=f"{runtime.settings.effective_public_url}/hooks/twilio/sms",
                                     smtp_port=int(runtime.settings.smtp_url.rsplit(":", 1)[1]))
    app.add_subapp("/sandbox/", sandbox_app)
    await aiohttp_server(app, port=runtime.settings.port)
    token = make_token(runtime, "admin")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as api:
        yield System(runtime, runtime.settings.effective_public_url, api, sandbox_app, token)


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
