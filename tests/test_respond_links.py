"""The pages behind the answer links: which tokens they refuse, what they never record, and the
JSON the push service worker gets."""
from __future__ import annotations

import base64
import json
from html.parser import HTMLParser
from types import SimpleNamespace
from typing import Any, AsyncIterator
from urllib.parse import urljoin

import aiohttp
import itsdangerous.timed
import pytest
from sqlalchemy import select, update

from alerting.links import RESPOND
from alerting.models import Alert, Recipient, Response
from tests.conftest import System
from tests.helpers import people_csv

COUNT = 3


async def _alert(system: System) -> int:
    await system.call("POST", "/api/v1/groups", json={"name": "Everyone"}, expect=201)
    await system.call("POST", "/api/v1/recipients/import", data=people_csv(COUNT), expect=200)
    alert = await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": "Tornado <warning>", "message": "Go to the basement.", "channels": ["email"],
        "target": {"groups": ["Everyone"]}})
    await system.call("POST", f"/api/v1/alerts/{alert['id']}/send", expect=202)
    await system.drain()
    return alert["id"]


@pytest.fixture
async def alert_id(system: System) -> int:
    return await _alert(system)


@pytest.fixture
async def browser() -> AsyncIterator[aiohttp.ClientSession]:
    """Anyone holding the link: no API token."""
    async with aiohttp.ClientSession() as session:
        yield session


def recipient_id(system: System, n: int) -> int:
    with system.runtime.sessions() as session:
        return session.scalar(select(Recipient.id).where(Recipient.external_id == f"P{n:05d}"))


def link(system: System, alert_id: int, n: int = 0) -> str:
    return f"{system.base_url}/r/{system.runtime.signer.respond_token(alert_id, recipient_id(system, n))}"


async def responses(system: System, alert_id: int) -> dict[str, int]:
    return (await system.call("GET", f"/api/v1/alerts/{alert_id}", expect=200))["responses"]


async def fetch(browser: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> tuple[int, str, str]:
    async with browser.request(method, url, **kwargs) as response:
        return response.status, response.content_type, await response.text()


async def test_the_emailed_link_answers_for_its_recipient(system: System, alert_id: int) -> None:
    [mail] = await system.call("GET", "/sandbox/messages", params={"to": "p2@example.org"})
    token = mail["links"][0].removeprefix(f"{system.base_url}/r/").removesuffix("?answer=safe")
    claims = system.runtime.signer.verify(token, RESPOND)
    assert (claims.alert_id, claims.recipient_id) == (alert_id, recipient_id(system, 2))


async def test_the_confirmation_page(system: System, alert_id: int, browser) -> None:
    async with browser.get(f"{link(system, alert_id)}?answer=need_help") as page:
        text = await page.text()
        assert page.status == 200 and page.headers["Referrer-Policy"] == "no-referrer"
        assert "default-src 'none'" in page.headers["Content-Security-Policy"]
        assert page.headers["Cache-Control"] == "no-store"
    assert '<html lang="en">' in text and 'name="viewport"' in text
    assert "Tornado &lt;warning&gt;" in text and "<warning>" not in text
    assert "<script" not in text and "http" not in text.split("<body>")[1]  # no external assets
    # The chosen answer first, the other one second, each a POST with a hidden answer field.
    assert text.index("Confirm that you need help") < text.index("Confirm that you are safe")
    assert text.count('<form method="post"') == 2
    assert '<input type="hidden" name="answer" value="need_help">' in text
    # Without a (valid) answer in the link, both choices are offered.
    _, _, plain = await fetch(browser, "GET", f"{link(system, alert_id)}?answer=maybe")
    assert "Confirm that you are safe" in plain and "Confirm that you need help" in plain
    # Neither page, nor a HEAD, recorded anything.
    await fetch(browser, "HEAD", f"{link(system, alert_id)}?answer=safe")
    assert (await responses(system, alert_id))["no_response"] == COUNT

    # Pressing the first button, as a browser does: the form's (relative) action with its fields.
    forms = Forms()
    forms.feed(text)
    action, fields = forms.found[0]
    async with browser.post(urljoin(str(page.url), action), data=fields) as pressed:
        assert pressed.status == 200 and "recorded that you need help" in await pressed.text()
    assert (await responses(system, alert_id))["need_help"] == 1


class Forms(HTMLParser):
    """Each form's action and hidden fields."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.found.append((a["action"] or "", {}))
        elif tag == "input" and a.get("type") == "hidden":
            self.found[-1][1][a["name"] or ""] = a["value"] or ""


async def test_a_body_of_unknown_length_is_refused(system: System, alert_id: int, browser) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"answer=safe"

    code, _, _ = await fetch(browser, "POST", link(system, alert_id), data=chunks(),
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert code == 411
    assert (await responses(system, alert_id))["no_response"] == COUNT


async def test_pressing_the_button_records_and_twice_is_harmless(system: System, alert_id: int, browser) -> None:
    for _ in range(2):
        status, kind, text = await fetch(browser, "POST", link(system, alert_id), data={"answer": "safe"})
        assert (status, kind) == (200, "text/html") and "recorded that you are safe" in text
    assert (await responses(system, alert_id))["safe"] == 1
    # A later "need help" wins over the earlier "safe".
    await fetch(browser, "POST", link(system, alert_id), data={"answer": "need_help"})
    assert (await responses(system, alert_id))["need_help"] == 1
    assert (await responses(system, alert_id))["safe"] == 0


def tamper(url: str) -> str:
    """The same link with a character of its signature changed (not the last one: its low bits
    are base64 padding, so changing it may leave the signature as it was)."""
    i = len(url) - 5
    return url[:i] + ("A" if url[i] != "A" else "B") + url[i + 1:]


def forged(url: str, alert_id: int, other_recipient: int) -> str:
    """The link with its payload rewritten to answer for someone else, signature kept."""
    payload = base64.urlsafe_b64encode(json.dumps(["respond", other_recipient, alert_id]).encode()).rstrip(b"=")
    base, _, token = url.rpartition("/")
    return f"{base}/{payload.decode()}.{token.split('.', 1)[1]}"


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_bad_tokens_get_a_403_page(system: System, alert_id: int, browser, method: str) -> None:
    subscribe = f"{system.base_url}/r/{system.runtime.signer.subscribe_token(recipient_id(system, 0))}"
    with pytest.MonkeyPatch.context() as patch:  # signed in 2023: long past the 14-day limit
        patch.setattr(itsdangerous.timed, "time", SimpleNamespace(time=lambda: 1_700_000_000))
        expired = link(system, alert_id)
    for url, reason in ((tamper(link(system, alert_id)), "not valid"), (subscribe, "not valid here"),
                        (forged(link(system, alert_id), alert_id, recipient_id(system, 1)), "not valid"),
                        (expired, "expired"), (f"{system.base_url}/r/garbage", "not valid")):
        status, kind, text = await fetch(browser, method, url, data={"answer": "safe"})
        assert (status, kind) == (403, "text/html"), (url, text)
        assert reason in text and "Traceback" not in text
    assert (await responses(system, alert_id))["no_response"] == COUNT


async def test_unknown_alert_is_a_404_page(system: System, alert_id: int, browser) -> None:
    url = f"{system.base_url}/r/{system.runtime.signer.respond_token(alert_id + 100, recipient_id(system, 0))}"
    for method in ("GET", "POST"):
        status, kind, text = await fetch(browser, method, url, data={"answer": "safe"})
        assert (status, kind) == (404, "text/html") and "no longer exists" in text


@pytest.mark.parametrize("status", ["cancelled", "closed"])
async def test_answers_to_a_finished_alert_are_not_counted(system: System, alert_id: int, browser, status: str) -> None:
    with system.runtime.sessions.begin() as session:
        session.execute(update(Alert).where(Alert.id == alert_id).values(status=status))
    _, _, page = await fetch(browser, "GET", f"{link(system, alert_id)}?answer=safe")
    assert "This alert is closed" in page and "<form" not in page
    code, _, text = await fetch(browser, "POST", link(system, alert_id), data={"answer": "need_help"})
    assert code == 200 and "This alert is closed" in text
    async with browser.post(link(system, alert_id, 1), json={"answer": "safe"}) as response:
        assert response.status == 200
        assert (await response.json())["recorded"] is False
    assert (await responses(system, alert_id))["no_response"] == COUNT
    with system.runtime.sessions() as session:
        assert session.scalars(select(Response)).all() == []


async def test_the_push_service_worker_gets_json(system: System, alert_id: int, browser) -> None:
    async with browser.post(link(system, alert_id, 0), json={"answer": "need_help", "via": "push"},
                            headers={"Accept": "application/json"}) as response:
        assert response.status == 200
        body = await response.json()
        assert (body["recorded"], body["answer"]) == (True, "need_help")
    async with browser.post(link(system, alert_id, 1), data={"answer": "safe", "via": "push"},
                            headers={"Accept": "application/json"}) as response:
        assert (await response.json())["recorded"] is True
    async with browser.post(link(system, alert_id, 2), json={"answer": "fine"},
                            headers={"Accept": "application/json"}) as response:
        assert response.status == 400 and (await response.json())["recorded"] is False
    async with browser.post(tamper(link(system, alert_id, 2)), json={"answer": "safe"},
                            headers={"Accept": "application/json"}) as response:
        assert response.status == 403 and (await response.json())["error"] == "invalid_link"
    with system.runtime.sessions() as session:
        assert sorted((r.kind, r.channel) for r in session.scalars(select(Response))) == [
            ("need_help", "push"), ("safe", "push")]
    assert (await responses(system, alert_id))["no_response"] == 1


@pytest.mark.parametrize("kwargs, status, kind", [
    ({"data": {"answer": "maybe"}}, 400, "text/html"),
    ({"data": {"answer": "safe", "via": "sms"}}, 400, "text/html"),
    ({"data": {}}, 400, "text/html"),
    ({"json": ["safe"]}, 400, "application/json"),  # a JSON request gets a JSON answer
    ({"data": b"{not json", "headers": {"Content-Type": "application/json"}}, 400, "application/json"),
    ({"data": b"answer=safe", "headers": {"Content-Type": "text/plain"}}, 415, "text/html"),
    ({"data": {"answer": "safe", "padding": "x" * 5000}}, 413, "text/html"),
])
async def test_malformed_answers_are_refused(system: System, alert_id: int, browser, kwargs: dict, status: int,
                                             kind: str) -> None:
    code, content_type, text = await fetch(browser, "POST", link(system, alert_id), **kwargs)
    assert (code, content_type) == (status, kind) and "Traceback" not in text
    assert (await responses(system, alert_id))["no_response"] == COUNT
