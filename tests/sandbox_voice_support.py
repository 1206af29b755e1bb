"""Fixtures and helpers for the sandbox's voice tests: the sandbox and a TwiML app on real ports."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from twilio.request_validator import RequestValidator

from ops.sandbox.voice_call import VoiceCall

# The same accounts, sandbox and clients as the SMS sandbox tests.
from tests.sandbox_support import (  # noqa: F401 (fixtures are used by name)
    APP_NUMBER, OTHER_SID, OTHER_TOKEN, PHONE, SID, TOKEN, Sandbox, eventually, http, sandbox, twilio,
)

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
async def tocsin(aiohttp_server) -> TwimlApp:
    fake = TwimlApp()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    fake.server = await aiohttp_server(app)
    return fake


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
