"""Email end to end: Tocsin's SMTP adapter (aiosmtplib) to the sandbox's SMTP server over a real
socket, the answer links in each email, and what temporary and permanent refusals do."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from email import message_from_bytes, policy

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from rq.serializers import JSONSerializer
from sqlalchemy import select

from alerting.models import Delivery, Response
from channels.base import Outbound, Outcome
from channels.smtp_email import SmtpEmail, parse_smtp_url
from ops.embedded_redis import free_port
from ops.queues import QUEUE_NAMES, queue
from ops.sandbox import SANDBOX_STATE, create_standalone_app
from tests.conftest import System, ThreadWorker
from tests.helpers import people_csv

SENDER = "Test University Alerts <alerts@campus.example.edu>"


async def setup_people(system: System, count: int) -> None:
    await system.call("POST", "/api/v1/groups", json={"name": "Everyone"}, expect=201)
    result = await system.call("POST", "/api/v1/recipients/import", data=people_csv(count), expect=200)
    assert result["created"] == count


async def create_and_send(system: System, *, title: str = "Gas leak in Hall B", drill: bool = False) -> int:
    alert = await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": title, "message": "Leave Hall B now & stay away.", "channels": ["email"],
        "target": {"groups": ["Everyone"]}, "drill": drill})
    await system.call("POST", f"/api/v1/alerts/{alert['id']}/send", expect=202)
    return alert["id"]


async def inbox(system: System, address: str) -> list[dict]:
    return await system.call("GET", "/sandbox/messages", params={"to": address}, expect=200)


def deliveries(system: System, alert_id: int) -> dict[str, Delivery]:
    with system.runtime.sessions() as session:  # closing keeps the loaded attributes readable
        return {d.address: d for d in session.scalars(select(Delivery).where(Delivery.alert_id == alert_id))}


async def test_each_person_gets_one_email_whose_links_answer_for_them(system: System) -> None:
    count = 30
    await setup_people(system, count)
    alert_id = await create_and_send(system)
    await system.drain()

    for n in range(count):
        [mail] = await inbox(system, f"p{n}@example.org")
        assert mail["channel"] == "email" and mail["from"] == "alerts@campus.example.edu"
        assert mail["subject"] == "Gas leak in Hall B - Test University"
        assert "Leave Hall B now & stay away." in mail["body"] and "TEST" not in mail["body"]
        assert "Leave Hall B now &amp; stay away." in mail["html"]
        safe, help_ = mail["links"]
        assert safe.startswith(f"{system.base_url}/r/") and safe.endswith("?answer=safe")
        assert help_ == safe.replace("?answer=safe", "?answer=need_help")
        assert safe in mail["body"] and help_ in mail["body"]
    summary = await system.call("GET", f"/api/v1/alerts/{alert_id}", expect=200)
    assert summary["status"] == "sent" and summary["deliveries"]["email"]["queued"] == count
    assert sum(summary["deliveries"]["email"].values()) == count
    assert all(d.provider == "smtp" and d.provider_message_id.endswith("@campus.example.edu>")
               for d in deliveries(system, alert_id).values())

    # Opening the links (as mail scanners do) only shows pages; only a page's button records.
    mails = [(await inbox(system, f"p{n}@example.org"))[0] for n in (0, 1)]
    async with aiohttp.ClientSession() as browser:
        for url in mails[0]["links"] + mails[1]["links"]:
            async with browser.get(url) as page:
                text = await page.text()
                assert page.status == 200 and '<form method="post"' in text and "Gas leak in Hall B" in text
        assert (await system.call("GET", f"/api/v1/alerts/{alert_id}"))["responses"] == summary["responses"]
        for mail, answer, thanks in ((mails[0], "safe", "recorded that you are safe"),
                                     (mails[1], "need_help", "campus police 555-0100")):
            async with browser.post(mail["links"][0].split("?")[0], data={"answer": answer}) as page:
                assert page.status == 200 and thanks in await page.text()

    summary = await system.call("GET", f"/api/v1/alerts/{alert_id}")
    assert summary["responses"] == {"safe": 1, "need_help": 1, "acknowledged": 0, "no_response": count - 2}
    helped = await system.call("GET", f"/api/v1/alerts/{alert_id}/recipients", params={"response": "need_help"})
    assert [p["external_id"] for p in helped["recipients"]] == ["P00001"]  # the answer is bound to its person
    with system.runtime.sessions() as session:
        assert {(r.kind, r.channel, r.raw_text) for r in session.scalars(select(Response))} == {
            ("safe", "email", "link"), ("need_help", "email", "link")}


async def test_a_drill_email_says_test(system: System) -> None:
    await setup_people(system, 2)
    await create_and_send(system, title="Evacuation exercise", drill=True)
    await system.drain()
    [mail] = await inbox(system, "p1@example.org")
    assert mail["subject"] == "[TEST] Evacuation exercise - Test University"
    assert mail["body"].startswith("Person 1,\n\nTEST - EXERCISE ONLY.") and "TEST - EXERCISE ONLY." in mail["html"]


def run_jobs(system: System, count: int) -> None:
    """Run exactly `count` jobs, to look between a job's tries (`System.drain` runs them all)."""
    worker = ThreadWorker([queue(system.runtime.redis, n) for n in QUEUE_NAMES], connection=system.runtime.redis,
                          serializer=JSONSerializer)
    worker.work(burst=True, max_jobs=count, logging_level="CRITICAL")


async def test_a_temporary_refusal_is_retried_and_then_delivered(system: System) -> None:
    await setup_people(system, 3)
    await system.call("POST", "/sandbox/config", json={"smtp": {"fail": "451"}}, expect=200)
    alert_id = await create_and_send(system)
    await asyncio.to_thread(run_jobs, system, 2)  # the dispatch job, then the first try of the send job

    assert {(d.status, d.tries, d.error_code) for d in deliveries(system, alert_id).values()} == {("pending", 1, "451")}
    assert await inbox(system, "p0@example.org") == []

    await system.call("POST", "/sandbox/config", json={"smtp": {"fail": None}}, expect=200)
    await system.drain()  # the retry RQ queued (the fixture waits 0 s between tries)
    assert {(d.status, d.tries, d.error_code) for d in deliveries(system, alert_id).values()} == {("queued", 2, None)}
    assert [len(await inbox(system, f"p{n}@example.org")) for n in range(3)] == [1, 1, 1]
    assert (await system.call("GET", f"/api/v1/alerts/{alert_id}"))["status"] == "sent"


async def test_a_refusal_that_never_ends_fails_after_every_try(system: System) -> None:
    await setup_people(system, 2)
    await system.call("POST", "/sandbox/config", json={"smtp": {"fail": "421"}}, expect=200)
    alert_id = await create_and_send(system)
    await system.drain()
    rows = deliveries(system, alert_id)
    assert system.runtime.enqueuer.max_tries == 4  # the first try and the fixture's three retries
    assert {(d.status, d.tries, d.error_code) for d in rows.values()} == {("failed", 4, "421")}
    assert all(d.error_message.startswith("gave up after 4 tries") for d in rows.values())
    summary = await system.call("GET", f"/api/v1/alerts/{alert_id}")
    assert summary["deliveries"]["email"]["failed"] == 2 and summary["status"] == "sent"
    assert await inbox(system, "p0@example.org") == [] and await inbox(system, "p1@example.org") == []


async def test_a_permanently_refused_address_bounces_and_the_rest_arrive(system: System) -> None:
    await setup_people(system, 4)
    await system.call("POST", "/sandbox/config", json={"smtp": {"addresses": {"p1@example.org": "550"}}}, expect=200)
    alert_id = await create_and_send(system)
    await system.drain()
    assert {a: (d.status, d.error_code, d.tries) for a, d in deliveries(system, alert_id).items()} == {
        "p0@example.org": ("queued", None, 1), "p1@example.org": ("bounced", "550", 1),
        "p2@example.org": ("queued", None, 1), "p3@example.org": ("queued", None, 1)}
    assert [len(await inbox(system, f"p{n}@example.org")) for n in range(4)] == [1, 0, 1, 1]
    summary = await system.call("GET", f"/api/v1/alerts/{alert_id}")
    assert summary["deliveries"]["email"]["bounced"] == 1 and summary["deliveries"]["email"]["queued"] == 3


# The adapter on its own, against the sandbox's SMTP server (behind a proxy that counts connections).

@pytest.fixture
async def smtp_server(aiohttp_server) -> TestServer:
    return await aiohttp_server(create_standalone_app(smtp_port=0))


class CountingProxy:
    """A TCP relay in front of the SMTP server that counts connections and can drop them all."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port, self.connections = upstream_port, 0
        self._writers: list[asyncio.StreamWriter] = []

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self._writers += [client_w, up_w]

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except OSError:
                pass
            finally:
                writer.close()

        await asyncio.gather(pipe(client_r, up_w), pipe(up_r, client_w))

    async def drop_all(self, *, settle: bool = True) -> None:
        writers, self._writers = self._writers, []
        for writer in writers:
            writer.close()
        if settle:
            await asyncio.sleep(0.05)  # let both ends see the connections close


@pytest.fixture
async def proxy(smtp_server: TestServer) -> AsyncIterator[CountingProxy]:
    relay = CountingProxy(smtp_server.app[SANDBOX_STATE].smtp_port)
    server = await asyncio.start_server(relay._relay, "127.0.0.1", 0)
    relay.port = server.sockets[0].getsockname()[1]
    yield relay
    await relay.drop_all()
    server.close()
    await server.wait_closed()


def outbound(n: int, to: str | None = None) -> Outbound:
    return Outbound(n, to or f"p{n}@example.org", f"Leave now.\nhttps://t.example/r/x{n}?answer=safe",
                    subject="Alert", html=f'<p><a href="https://t.example/r/x{n}?answer=safe">Safe</a></p>')


async def test_a_batch_shares_a_few_connections_and_reconnects_after_a_drop(smtp_server, proxy) -> None:
    adapter = SmtpEmail(f"smtp://127.0.0.1:{proxy.port}", SENDER, pool_size=3)
    try:
        receipts = await asyncio.gather(*(adapter.send(outbound(n)) for n in range(60)))
        assert {r.outcome for r in receipts} == {Outcome.ACCEPTED} and proxy.connections == 3
        await proxy.drop_all()  # the server ended the sessions while they sat idle
        later = await asyncio.gather(*(adapter.send(outbound(n)) for n in range(60, 70)))
        assert {r.outcome for r in later} == {Outcome.ACCEPTED} and proxy.connections == 6
        # Dropped so recently that the client still thinks it is connected: the send fails on the
        # dead session and is tried again on a new one.
        await proxy.drop_all(settle=False)
        assert (await adapter.send(outbound(70))).outcome == Outcome.ACCEPTED
        assert proxy.connections == 7
    finally:
        await adapter.aclose()
    state = smtp_server.app[SANDBOX_STATE]
    assert len(state.recent()) == 71 and len(state.inbox("p5@example.org")) == 1


async def test_the_message_itself(smtp_server) -> None:
    adapter = SmtpEmail(f"smtp://tocsin:p%40ss%3Aword@127.0.0.1:{smtp_server.app[SANDBOX_STATE].smtp_port}",
                        SENDER, provider="smtp-b")
    assert adapter.target.password == "p@ss:word" and "p@ss" not in repr(adapter.target)
    built = adapter.build(Outbound(7, "p7@example.org", "Text", subject="Über alert", html="<p>HTML</p>", language="fr"))
    parsed = message_from_bytes(built.as_bytes(), policy=policy.default)
    assert parsed["Auto-Submitted"] == "auto-generated" and parsed["Content-Language"] == "fr"
    assert parsed["Message-ID"].startswith("<7.") and parsed["Message-ID"].endswith("@campus.example.edu>")
    assert parsed["Date"] and parsed["Subject"] == "Über alert" and parsed["From"] == SENDER
    assert [parsed.get_body((t,)).get_content().strip() for t in ("plain", "html")] == ["Text", "<p>HTML</p>"]
    try:
        receipt = await adapter.send(outbound(7))  # logs in with the decoded credentials
    finally:
        await adapter.aclose()
    assert (receipt.outcome, receipt.provider, receipt.status) == (Outcome.ACCEPTED, "smtp-b", "accepted")
    [mail] = smtp_server.app[SANDBOX_STATE].inbox("p7@example.org")
    assert mail.message_id == receipt.provider_message_id


async def test_refusals_and_network_trouble_become_receipts(smtp_server) -> None:
    state = smtp_server.app[SANDBOX_STATE]
    adapter = SmtpEmail(f"smtp://127.0.0.1:{state.smtp_port}", SENDER)
    async with aiohttp.ClientSession() as http:
        async def configure(patch: dict) -> None:
            async with http.post(smtp_server.make_url("/sandbox/config"), json=patch) as response:
                assert response.status == 200

        try:
            await configure({"smtp": {"addresses": {"p1@example.org": "550", "p2@example.org": "452"}}})
            receipts = [await adapter.send(outbound(n)) for n in (1, 2, 3)]
            assert [(r.outcome, r.error_code) for r in receipts] == [
                (Outcome.PERMANENT, "550"), (Outcome.TRANSIENT, "452"), (Outcome.ACCEPTED, None)]
            for code, outcome in (("554", Outcome.PERMANENT), ("421", Outcome.TRANSIENT)):
                await configure({"smtp": {"fail": code}})
                assert ((r := await adapter.send(outbound(4))).outcome, r.error_code) == (outcome, code)
            injected = outbound(6, to="p6@example.org\r\nRCPT TO:<x@example.org>")
            assert (await adapter.send(injected)).outcome == Outcome.PERMANENT
        finally:
            await adapter.aclose()
    assert [m.to for m in state.recent()] == ["p3@example.org"]

    nobody = SmtpEmail(f"smtp://127.0.0.1:{free_port()}", SENDER, timeout_s=5)  # nothing listens there
    try:
        receipt = await nobody.send(outbound(8))
    finally:
        await nobody.aclose()
    assert (receipt.outcome, receipt.error_code) == (Outcome.TRANSIENT, "network")


@pytest.mark.parametrize("url, problem", [
    ("", "scheme"), ("http://mail.example.org", "scheme"), ("mail.example.org:25", "scheme"),
    ("smtp://", "host"), ("smtp://:25", "host"), ("smtp://mail.example.org:99999", "port"),
    ("smtp://mail.example.org:twenty", "port"), ("smtp://mail.example.org/inbox", "path"),
    ("smtp://mail.example.org?tls=1", "path"), ("smtp://:secret@mail.example.org", "password"),
])
def test_a_bad_smtp_url_is_refused_by_name(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match="TOCSIN_SMTP_URL") as caught:
        parse_smtp_url(url)
    assert problem in str(caught.value)


def test_smtp_urls() -> None:
    with pytest.raises(ValueError) as caught:
        parse_smtp_url("smtp://user:hunter2@mail.example.org:bad")
    assert "hunter2" not in str(caught.value) and "user:***@" in str(caught.value)
    plain = parse_smtp_url("smtp://mail.example.org")
    assert (plain.host, plain.port, plain.implicit_tls, plain.username, plain.password) == (
        "mail.example.org", 25, False, None, None)
    tls = parse_smtp_url("smtps://alerts%40example.org:a%2Fb%3Ac@smtp.example.org")
    assert (tls.port, tls.implicit_tls, tls.username, tls.password) == (465, True, "alerts@example.org", "a/b:c")
    assert parse_smtp_url("smtp://[::1]:2525/").host == "::1"
    with pytest.raises(ValueError, match="TOCSIN_SMTP_FROM"):
        SmtpEmail("smtp://mail.example.org", "nobody")
