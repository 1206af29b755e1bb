"""Fixtures and helpers for the sandbox's voice tests: the sandbox and a TwiML app on real ports."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from channels.twilio_http import RebasedAsyncTwilioHttpClient
from ops.sandbox import SANDBOX_STATE, SandboxState, create_standalone_app
from ops.sandbox.voice_call import VoiceCall

SID = "AC" + "1" * 32
TOKEN = "voice-token-one"
OTHER_SID = "AC" + "2" * 32
OTHER_TOKEN = "voice-token-two"
APP_NUMBER = "+15550001111"
PHONE = "+15551230001"

ALERT = ('<?xml version="1.0" encoding="UTF-8"?><Response>'
         '<Say language="en-US" loop="2">Emergency alert.</Say><Pause length="1"/>'
         '<Play>https://cdn.example.org/siren.mp3</Play>'
         '<Say language="es-MX">Alerta de emergencia.</Say></Response>')
GATHER = ('<Response><Gather numDigits="1" action="/voice/ack" timeout="7">'
          "<Say>Press 1 if you are safe. Press 9 to repeat.</Say></Gather>"
          "<Say>We did not get your answer.</Say><Hangup/><Say>never heard</Say></Response>")
SAFE = "<Response><Say>Thank you, you are marked safe.</Say><Hangup/></Response>"


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
class Hit:
    method: str
    url: str
    params: dict[str, str]
    signature: str | None


@dataclass
class TwimlApp:
    """Stands in for Tocsin: serves TwiML per path and records every signed request."""

    documents: dict[str, str | Callable[[dict[str, str]], str]] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    server: TestServer | None = None

    def url(self, path: str) -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    def on(self, path: str) -> list[Hit]:
        return [hit for hit in self.hits if hit.url.split("?")[0] == self.url(path)]

    async def handle(self, request: web.Request) -> web.Response:
        params = {k: str(v) for k, v in (await request.post()).items()} if request.method == "POST" else {}
        self.hits.append(Hit(request.method, str(request.url), params, request.headers.get("X-Twilio-Signature")))
        document = self.documents.get(request.path, "")
        text = document(params) if callable(document) else document
        return web.Response(text=text, content_type="text/xml", status=self.statuses.get(request.path, 200))


def signed_by(hit: Hit, token: str) -> bool:
    return RequestValidator(token).validate(hit.url, hit.params, hit.signature)


@pytest.fixture
async def sandbox(aiohttp_server) -> Sandbox:
    app = create_standalone_app()
    return Sandbox(await aiohttp_server(app), app[SANDBOX_STATE])


@pytest.fixture
async def tocsin(aiohttp_server) -> TwimlApp:
    fake = TwimlApp()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    fake.server = await aiohttp_server(app)
    return fake


@pytest.fixture
async def twilio(sandbox: Sandbox) -> AsyncIterator[Callable[..., Client]]:
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


async def eventually(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def post_json(http: aiohttp.ClientSession, url: str, payload: dict, expect: int = 200) -> dict:
    async with http.post(url, json=payload) as response:
        body = await response.json()
        assert response.status == expect, body
        return body


async def inbox(http: aiohttp.ClientSession, sandbox: Sandbox, to: str = PHONE) -> list[dict]:
    async with http.get(sandbox.url("messages"), params={"to": to}) as response:
        assert response.status == 200
        return await response.json()


def the_call(sandbox: Sandbox, sid: str) -> VoiceCall:
    call = sandbox.state.find(sid)
    assert isinstance(call, VoiceCall)
    return call


async def finished(sandbox: Sandbox, sid: str) -> VoiceCall:
    await eventually(lambda: the_call(sandbox, sid).finished)
    return the_call(sandbox, sid)


# -- TwiML reading ------------------------------------------------------------------------
