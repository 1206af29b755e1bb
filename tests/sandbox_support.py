"""Fixtures and helpers for the Twilio SMS sandbox tests: the sandbox and a receiver on real ports."""
from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from twilio.rest import Client

from channels.twilio_http import RebasedAsyncTwilioHttpClient
from ops.sandbox import SANDBOX_STATE, SandboxState, create_standalone_app

SID = "AC" + "1" * 32
TOKEN = "token-one"
OTHER_SID = "AC" + "2" * 32
OTHER_TOKEN = "token-two"
APP_NUMBER = "+15550001111"
PHONE = "+15551230001"


# -- fixtures -----------------------------------------------------------------------------


@dataclass
class Sandbox:
    server: TestServer
    state: SandboxState

    @property
    def twilio_base(self) -> str:
        return str(self.server.make_url("/sandbox/twilio"))

    def url(self, path: str) -> str:
        return str(self.server.make_url(f"/sandbox/{path}"))


@dataclass
class Received:
    url: str
    params: dict[str, str]
    signature: str | None
    at: float


@dataclass
class Receiver:
    """Stands in for Tocsin's webhook endpoints: records every POST, answers `answer`."""

    answer: str = ""
    calls: list[Received] = field(default_factory=list)
    server: TestServer | None = None

    def url(self, path: str) -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    async def handle(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.calls.append(
            Received(str(request.url), {k: str(v) for k, v in form.items()},
                     request.headers.get("X-Twilio-Signature"), time.monotonic())
        )
        return web.Response(text=self.answer, content_type="text/xml")


@pytest.fixture
async def sandbox(aiohttp_server) -> Sandbox:
    app = create_standalone_app()
    server = await aiohttp_server(app)
    return Sandbox(server, app[SANDBOX_STATE])


@pytest.fixture
async def receiver(aiohttp_server) -> Receiver:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", receiver.handle)
    receiver.server = await aiohttp_server(app)
    return receiver


@pytest.fixture
async def twilio(sandbox: Sandbox) -> AsyncIterator[Callable[..., Client]]:
    """Factory of official Twilio clients pointed at the sandbox; closes their sessions."""
    http_clients: list[RebasedAsyncTwilioHttpClient] = []

    def make(sid: str = SID, token: str = TOKEN) -> Client:
        http = RebasedAsyncTwilioHttpClient(sandbox.twilio_base)
        http_clients.append(http)
        return Client(sid, token, http_client=http)

    yield make
    for http in http_clients:
        await http.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def configure(http: aiohttp.ClientSession, sandbox: Sandbox, patch: dict) -> dict:
    async with http.post(sandbox.url("config"), json=patch) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def get_json(http: aiohttp.ClientSession, url: str) -> object:
    async with http.get(url) as response:
        assert response.status == 200
        return await response.json()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/status"
