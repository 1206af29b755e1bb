"""The sandbox's SMTP server, fed by aiosmtplib over a real socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from email.message import EmailMessage

import aiohttp
import aiosmtplib
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiosmtpd.smtp import SMTP
from hypothesis import given, settings
from hypothesis import strategies as st

from ops.sandbox import SANDBOX_STATE, create_sandbox_app, create_standalone_app
from ops.sandbox.mail import find_urls, parse_email
from ops.sandbox.smtp import SandboxSMTP, SandboxSmtpHandler
from ops.sandbox.state import SandboxState

SENDER = "Tocsin Alerts <alerts@tocsin.example.org>"
ALICE, BOB = "alice@example.org", "bob@example.org"
ACK = "https://tocsin.example.org/ack/abc123?r=1"


@pytest.fixture
async def server(aiohttp_server) -> TestServer:
    return await aiohttp_server(create_standalone_app(smtp_port=0))


@pytest.fixture
def smtp_port(server: TestServer) -> int:
    port = server.app[SANDBOX_STATE].smtp_port
    assert isinstance(port, int) and port > 0
    return port


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def url(server: TestServer, path: str) -> str:
    return str(server.make_url(f"/sandbox/{path}"))


async def get_json(http: aiohttp.ClientSession, target: str, **params: str) -> object:
    async with http.get(target, params=params) as response:
        assert response.status == 200
        return await response.json()


async def configure(http: aiohttp.ClientSession, server: TestServer, patch: dict, expect: int = 200) -> dict:
    async with http.post(url(server, "config"), json=patch) as response:
        body = await response.json()
        assert response.status == expect, body
        return body


def alert_email(to: list[str], *, html: bool = True) -> EmailMessage:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = ", ".join(to)
    message["Subject"] = "Campus alert: shelter in place"
    message.set_content(f"Shelter in place now.\nConfirm you are safe: {ACK}.\n")
    if html:
        message.add_alternative(
            f'<p>Shelter in place now.</p><p><a href="{ACK}">I am safe</a> '
            '<a href="https://tocsin.example.org/help">Need help</a></p>', subtype="html")
    return message


async def send(port: int, message: EmailMessage, **kwargs: object) -> object:
    return await aiosmtplib.send(message, hostname="127.0.0.1", port=port, timeout=10, **kwargs)


async def test_each_recipient_gets_a_parsed_copy(server, smtp_port, http) -> None:
    await send(smtp_port, alert_email([ALICE, BOB]))
    for address in (ALICE, BOB):
        [item] = await get_json(http, url(server, "messages"), to=address)
        assert (item["channel"], item["to"], item["from"]) == ("email", address, SENDER)
        assert item["subject"] == "Campus alert: shelter in place"
        assert item["body"] == f"Shelter in place now.\nConfirm you are safe: {ACK}."
        assert '<a href="https://tocsin.example.org/ack/abc123?r=1">' in item["html"]
        assert item["links"] == [ACK, "https://tocsin.example.org/help"]
        assert item["envelope_from"] == "alerts@tocsin.example.org"
    stats = await get_json(http, url(server, "stats"))
    assert stats["email"]["count"] == 2
    assert (await get_json(http, url(server, "")))["smtp_port"] == smtp_port
    assert (await get_json(http, url(server, "config")))["smtp_port"] == smtp_port


async def test_links_can_be_clicked(server, smtp_port, http, aiohttp_server) -> None:
    clicked: list[str] = []

    async def ack(request: web.Request) -> web.Response:
        clicked.append(request.match_info["token"])
        return web.Response(text="thanks")

    app = web.Application()
    app.router.add_get("/ack/{token}", ack)
    tocsin = await aiohttp_server(app)
    message = alert_email([ALICE], html=False)
    message.set_content(f"Confirm: {tocsin.make_url('/ack/tok-1')}")
    await send(smtp_port, message)
    [item] = await get_json(http, url(server, "messages"), to=ALICE)
    async with http.get(item["links"][0]) as response:
        assert response.status == 200
    assert clicked == ["tok-1"] and item["html"] is None


async def test_login_with_any_credentials(server, smtp_port) -> None:
    await send(smtp_port, alert_email([ALICE]), username="tocsin", password="whatever", start_tls=False)
    assert [m.to for m in server.app[SANDBOX_STATE].inbox(ALICE)] == [ALICE]


async def test_configured_temporary_and_permanent_failures(server, smtp_port, http) -> None:
    await configure(http, server, {"smtp": {"fail": "451"}})
    with pytest.raises(aiosmtplib.SMTPResponseException) as caught:
        await send(smtp_port, alert_email([ALICE]))
    assert caught.value.code == 451
    await configure(http, server, {"smtp": {"fail": 554}})
    with pytest.raises(aiosmtplib.SMTPResponseException) as caught:
        await send(smtp_port, alert_email([ALICE]))
    assert caught.value.code == 554
    assert server.app[SANDBOX_STATE].recent() == []

    config = await configure(http, server, {"smtp": {"fail": None, "addresses": {"Bob@Example.org": "550"}}})
    assert config["smtp"] == {"fail": None, "addresses": {BOB: "550"}}
    errors, _ = await send(smtp_port, alert_email([ALICE, BOB]))
    assert errors[BOB][0] == 550
    assert [m.to for m in server.app[SANDBOX_STATE].recent()] == [ALICE]
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        await send(smtp_port, alert_email([BOB]))


@pytest.mark.parametrize("patch", [{"smtp": {"fail": "250"}}, {"smtp": {"fail": True}},
                                   {"smtp": {"addresses": {"nobody": "451"}}}, {"smtp": {"retry": 1}}])
async def test_bad_smtp_config_is_rejected(server, http, patch) -> None:
    body = await configure(http, server, patch, expect=400)
    assert body["field"].startswith("smtp")


async def test_messages_over_10_mb_are_refused(server, smtp_port) -> None:
    message = alert_email([ALICE], html=False)
    message.set_content("x" * (10 * 1024 * 1024 + 1))
    with pytest.raises(aiosmtplib.SMTPResponseException) as caught:
        await send(smtp_port, message)
    assert caught.value.code == 552
    assert server.app[SANDBOX_STATE].recent() == []


async def test_no_smtp_server_unless_asked(aiohttp_server, http) -> None:
    server = await aiohttp_server(create_standalone_app())
    assert server.app[SANDBOX_STATE].smtp_port is None
    assert (await get_json(http, url(server, "config")))["smtp_port"] is None


async def test_smtp_runs_inside_a_mounted_subapp(aiohttp_server) -> None:
    sandbox = create_sandbox_app(smtp_port=0)
    root = web.Application()
    root.add_subapp("/sandbox/", sandbox)
    await aiohttp_server(root)
    port = sandbox[SANDBOX_STATE].smtp_port
    assert port
    await send(port, alert_email([ALICE]))
    assert len(sandbox[SANDBOX_STATE].inbox(ALICE)) == 1


def test_parse_html_only_and_punctuation() -> None:
    raw = (b"From: a@example.org\r\nSubject: =?utf-8?q?Alerte_=C3=A9vacuation?=\r\n"
           b"Content-Type: text/html; charset=utf-8\r\n\r\n"
           b'<div>Leave now.</div><div><a href="https://t.example/ack/1">Safe</a></div>')
    parsed = parse_email(raw, "bounce@example.org")
    assert parsed.subject == "Alerte \u00e9vacuation" and parsed.sender == "a@example.org"
    assert parsed.text == "Leave now.\nSafe" and parsed.links == ["https://t.example/ack/1"]
    assert find_urls("see https://x.example/a?b=1, or (https://y.example/c).") == [
        "https://x.example/a?b=1", "https://y.example/c"]
    assert parse_email(b"Subject: none\r\n\r\nhi", "env@example.org").sender == "env@example.org"


async def test_shutdown_with_an_open_session(aiohttp_server) -> None:
    app = create_standalone_app(smtp_port=0)
    server = await aiohttp_server(app)
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=app[SANDBOX_STATE].smtp_port, timeout=5)
    await client.connect()
    await client.ehlo()
    await server.close()  # stops the SMTP server while the client is mid-session
    with pytest.raises(aiosmtplib.SMTPException):
        await client.mail("alerts@tocsin.example.org")
    client.close()
    assert app[SANDBOX_STATE].smtp_port is None


async def test_a_message_is_kept_as_it_arrived_and_read_when_asked(server, smtp_port) -> None:
    await send(smtp_port, alert_email([ALICE, BOB]))
    alice, bob = (server.app[SANDBOX_STATE].inbox(address)[0] for address in (ALICE, BOB))
    assert alice.message is bob.message and alice.message._parsed is None  # counted, not parsed yet
    assert alice.raw.startswith(b"From: ") and b"Subject: Campus alert: shelter in place" in alice.raw
    assert alice.subject == "Campus alert: shelter in place" and bob.message._parsed is not None  # read once


async def test_an_unreadable_message_is_accepted_and_shown_as_such(server, smtp_port, http) -> None:
    """A relay takes what it cannot decode (here an unknown charset); the inbox says so."""
    raw = (b"From: a@example.org\r\nSubject: odd\r\nContent-Type: text/plain; charset=\"x-nonesuch\"\r\n\r\n"
           b"hello\r\n")
    await aiosmtplib.send(raw, sender="a@example.org", recipients=[ALICE], hostname="127.0.0.1", port=smtp_port,
                          timeout=10)
    [item] = await get_json(http, url(server, "messages"), to=ALICE)
    assert item["body"].startswith("(unreadable message: LookupError(") and "hello" in item["body"]
    assert item["from"] == "a@example.org"


_ADDRESS_PIECES = ["<", ">", "a", "b.c", "@", "example.org", ".", " ", "\t", "(c)", '"q r"', "[1.2.3.4]", "SIZE=10",
                   "BODY=8BITMIME", "x" * 70, "é", "-", "+tag", ",", ":", "\\"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_ADDRESS_PIECES), max_size=10).map("".join)
       | st.builds(lambda local, domain, params: f"<{local}@{domain}>{params}",
                   st.from_regex(r"[a-z0-9+_-]{1,70}(\.[a-z0-9]{1,5}){0,2}", fullmatch=True),
                   st.from_regex(r"[a-z0-9-]{1,10}(\.[a-z0-9-]{1,10}){0,2}", fullmatch=True),
                   st.sampled_from(["", " SIZE=10", "\tBODY=8BITMIME", "  SIZE=1 (x)", "(c) SIZE=2"])))
def test_the_quick_address_reading_reads_as_aiosmtpd_does(arg: str) -> None:
    quick = SandboxSMTP(SandboxSmtpHandler(SandboxState()), loop=asyncio.new_event_loop())
    quick.loop.close()
    arg = arg.strip()

    def outcome(read):  # type: ignore[no-untyped-def]
        try:
            return read(arg)
        except Exception as exc:  # aiosmtpd itself fails on some (a lone "<"): the same way, then
            return type(exc)

    assert outcome(quick._getaddr) == outcome(lambda a: SMTP._getaddr(quick, a))
