"""Following an upstream CAP feed end to end: a local feed server (aiohttp on a loopback port, no
outside host), the poll job run by a real RQ worker, drafts for warnings over the demo campus."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest
import shapely
from aiohttp import web
from sqlalchemy import select

from alerting import targeting
from alerting.cap.feeds import feed_items
from alerting.models import Alert, AlertTemplate, CapSeen, Recipient
from ops import cap_poll
from ops.demo import demo_people, seed_demo
from tests.cap_support import EXAMPLES, cap_system  # noqa: F401

#: Upstream warning area: the west half of the demo campus (lat,lon as CAP writes them). It covers
#: the chemistry building and the north residence hall, and cuts through the library.
WEST = [(38.9050, -77.0740), (38.9050, -77.0705), (38.9090, -77.0705), (38.9090, -77.0740), (38.9050, -77.0740)]


def cap_document(identifier: str, *, msg_type: str = "Alert", event: str = "Tornado Warning",
                 severity: str = "Extreme", area: list[tuple[float, float]] = WEST, references: str = "",
                 sent: str = "2026-11-23T14:00:00-05:00", headline: str = "Tornado warning: west campus") -> bytes:
    polygon = " ".join(f"{lat},{lon}" for lat, lon in area)
    refs = f"<references>{references}</references>" if references else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier><sender>warnings@weather.example.gov</sender><sent>{sent}</sent>
  <status>Actual</status><msgType>{msg_type}</msgType><scope>Public</scope>{refs}
  <info><category>Met</category><event>{event}</event><urgency>Immediate</urgency><severity>{severity}</severity>
    <certainty>Observed</certainty><headline>{headline}</headline>
    <description>A tornado is moving across the area.</description><instruction>Take shelter now.</instruction>
    <area><areaDesc>Warned area</areaDesc><polygon>{polygon}</polygon></area></info>
</alert>""".encode()


class UpstreamFeed:
    """An Atom feed of CAP documents served from memory; entries can be added between polls."""

    def __init__(self) -> None:
        self.documents: dict[str, bytes] = {}
        self.base = ""
        self.requests = 0

    def atom(self) -> str:
        entries = "".join(
            f'<entry><id>urn:{name}</id><title>{name}</title><updated>2026-11-23T19:00:00Z</updated>'
            f'<link rel="alternate" type="application/cap+xml" href="{self.base}/alerts/{name}.cap"/></entry>'
            for name in self.documents)
        return (f'<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
                f'<id>urn:upstream</id><title>Upstream</title><updated>2026-11-23T19:00:00Z</updated>{entries}</feed>')

    def app(self) -> web.Application:
        async def feed(request: web.Request) -> web.Response:
            self.requests += 1
            return web.Response(text=self.atom(), content_type="application/atom+xml")

        async def document(request: web.Request) -> web.Response:
            body = self.documents.get(request.match_info["name"])
            if body is None:
                raise web.HTTPNotFound()
            return web.Response(body=body, content_type="application/cap+xml")

        app = web.Application()
        app.router.add_get("/feed.atom", feed)
        app.router.add_get("/alerts/{name}.cap", document)
        return app


@pytest.fixture
async def upstream(aiohttp_server: Any) -> UpstreamFeed:
    feed = UpstreamFeed()
    server = await aiohttp_server(feed.app(), host="127.0.0.1")
    feed.base = str(server.make_url("")).rstrip("/")
    return feed


@pytest.fixture
def campus(runtime):  # type: ignore[no-untyped-def]
    with runtime.sessions.begin() as session:
        seed_demo(session)


def people_inside(area: list[tuple[float, float]]) -> set[str]:
    """Computed here from the demo's own data and shapely, not with Tocsin's targeting."""
    polygon = shapely.Polygon([(lon, lat) for lat, lon in area])
    return {p.external_id for p in demo_people()
            if any(polygon.covers(shapely.Point(loc["lon"], loc["lat"])) for loc in p.locations)}


def feed_alerts(runtime: Any) -> list[tuple[Alert, set[str]]]:
    with runtime.sessions() as session:
        result = []
        for alert in session.scalars(select(Alert).where(Alert.origin.like("cap_feed:%")).order_by(Alert.id)):
            ids = targeting.resolve(session, alert.target)
            names = set(session.scalars(select(Recipient.external_id).where(Recipient.id.in_([int(i) for i in ids]))))
            session.expunge(alert)
            result.append((alert, names))
        return result


def outcomes(runtime: Any) -> dict[str, str]:
    with runtime.sessions() as session:
        return {s.identifier: s.outcome for s in session.scalars(select(CapSeen).where(CapSeen.feed_id.is_not(None)))}


async def test_a_warning_over_campus_becomes_a_draft_for_exactly_the_people_inside(cap_system, campus, upstream):
    runtime = cap_system.runtime
    upstream.documents["warning"] = cap_document("UP-1")
    upstream.documents["storm-elsewhere"] = (EXAMPLES / "thunderstorm.cap").read_bytes()
    upstream.documents["minor"] = cap_document("UP-2", event="Wind Advisory", severity="Minor")
    feed = await cap_system.call("POST", "/api/v1/cap/feeds", expect=201, json={
        "name": "Upstream weather", "url": f"{upstream.base}/feed.atom", "interval_s": 60,
        "rule": {"events": ["Tornado Warning", "SEVERE THUNDERSTORM"], "min_severity": "severe", "action": "draft"}})
    await cap_system.drain()  # the first poll, enqueued when the feed was registered
    assert upstream.requests == 1
    (alert, people), = feed_alerts(runtime)
    expected = people_inside(WEST)
    assert alert.status == "draft" and alert.title == "Tornado warning: west campus"
    assert len(expected) > 20 and people == expected
    assert outcomes(runtime) == {"UP-1": "created", "KSTO1055887203": "outside", "UP-2": "rule"}
    listed = await cap_system.call("GET", "/api/v1/cap/feeds", expect=200)
    assert listed[0]["id"] == feed["id"] and listed[0]["last_polled_at"] and listed[0]["last_error"] is None

    # Polled again: each message is handled once.
    assert [o.outcome for o in await asyncio.to_thread(cap_poll.poll_once, runtime, feed["id"])] == ["duplicate"] * 3
    assert len(feed_alerts(runtime)) == 1

    # The Update follows (the draft now covers only the chemistry building), then the Cancel.
    chemistry = [(38.9057, -77.0736), (38.9057, -77.0719), (38.9069, -77.0719), (38.9069, -77.0736),
                 (38.9057, -77.0736)]
    upstream.documents["update"] = cap_document(
        "UP-3", msg_type="Update", area=chemistry, headline="Tornado warning: chemistry building",
        references="warnings@weather.example.gov,UP-1,2026-11-23T14:00:00-05:00", sent="2026-11-23T14:10:00-05:00")
    await asyncio.to_thread(cap_poll.poll_once, runtime, feed["id"])
    (alert, people), = feed_alerts(runtime)
    assert alert.title == "Tornado warning: chemistry building" and people == people_inside(chemistry)
    upstream.documents["cancel"] = cap_document(
        "UP-4", msg_type="Cancel", references="warnings@weather.example.gov,UP-3,2026-11-23T14:10:00-05:00",
        sent="2026-11-23T14:20:00-05:00")
    await asyncio.to_thread(cap_poll.poll_once, runtime, feed["id"])
    (alert, _), = feed_alerts(runtime)
    assert alert.status == "cancelled"
    assert outcomes(runtime)["UP-3"] == "replaced" and outcomes(runtime)["UP-4"] == "cancelled"

    await cap_system.call("DELETE", f"/api/v1/cap/feeds/{feed['id']}", expect=200)
    assert await cap_system.call("GET", "/api/v1/cap/feeds", expect=200) == []


async def test_a_send_rule_sends_at_once(cap_system, campus, upstream):
    upstream.documents["warning"] = cap_document("UP-10")
    await cap_system.call("POST", "/api/v1/cap/feeds", expect=201, json={
        "name": "Auto", "url": f"{upstream.base}/feed.atom",
        "rule": {"action": "send", "channels": ["sms"], "policy": None}})
    await cap_system.drain()  # the poll, then the dispatch and its send batches
    (alert, people), = feed_alerts(cap_system.runtime)
    assert alert.status == "sent" and alert.channels == ["sms"]
    assert alert.recipient_count == len(people_inside(WEST))
    summary = await cap_system.call("GET", f"/api/v1/alerts/{alert.id}", expect=200)
    assert summary["deliveries"]["sms"]["delivered"] + summary["deliveries"]["sms"]["sent"] == len(people_inside(WEST))
    # The upstream Cancel cancels it, and its all-clear goes to the same area at once.
    upstream.documents["cancel"] = cap_document(
        "UP-11", msg_type="Cancel", headline="All clear", sent="2026-11-23T14:30:00-05:00",
        references="warnings@weather.example.gov,UP-10,2026-11-23T14:00:00-05:00")
    feed_id = (await cap_system.call("GET", "/api/v1/cap/feeds", expect=200))[0]["id"]
    await asyncio.to_thread(cap_poll.poll_once, cap_system.runtime, feed_id)
    await cap_system.drain()
    (warning, _), (all_clear, cleared) = feed_alerts(cap_system.runtime)
    assert warning.status == "cancelled" and all_clear.status == "sent" and all_clear.title == "All clear"
    assert all_clear.follows_alert_id == warning.id and cleared == people


async def test_a_rule_template_speaks_instead_of_the_upstream_text(cap_system, campus, upstream):
    with cap_system.runtime.sessions.begin() as session:
        template = AlertTemplate(name="Upstream tornado", title="{event}: take shelter",
                                 message="{headline}. Go to the basement now, {name}.", channels=["sms"],
                                 variants={"sms": "{event}: basement now"}, translations={}, severity="extreme")
        session.add(template)
        session.flush()
        template_id = template.id
    upstream.documents["warning"] = cap_document("UP-20")
    await cap_system.call("POST", "/api/v1/cap/feeds", expect=201, json={
        "name": "Templated", "url": f"{upstream.base}/feed.atom", "rule": {"template_id": template_id}})
    await cap_system.drain()
    (alert, people), = feed_alerts(cap_system.runtime)
    assert alert.title == "Tornado Warning: take shelter" and alert.template_id == template_id
    assert alert.message == "Tornado warning: west campus. Go to the basement now, {name}."
    assert alert.variants == {"sms": "Tornado Warning: basement now"} and people == people_inside(WEST)


async def test_only_the_latest_chain_polls(cap_system, campus, upstream):
    runtime = cap_system.runtime
    feed = await cap_system.call("POST", "/api/v1/cap/feeds", expect=201, json={
        "name": "Chains", "url": f"{upstream.base}/feed.atom"})
    old = runtime.redis.get(cap_poll.chain_key(feed["id"])).decode()
    new = cap_poll.start(runtime.redis, feed["id"])
    assert await asyncio.to_thread(cap_poll.poll_chain, runtime, feed["id"], old) == {"stale": True}
    await asyncio.to_thread(cap_poll.poll_chain, runtime, feed["id"], new)
    await cap_system.call("DELETE", f"/api/v1/cap/feeds/{feed['id']}", expect=200)
    assert await asyncio.to_thread(cap_poll.poll_chain, runtime, feed["id"], new) == {"deleted": True}


async def test_feed_registration_is_checked(cap_system):
    bad = await cap_system.call("POST", "/api/v1/cap/feeds", expect=422,
                                json={"name": "x", "url": "file:///etc/passwd"})
    assert bad["error"]["field"] == "url"
    bad = await cap_system.call("POST", "/api/v1/cap/feeds", expect=422,
                                json={"name": "x", "url": "http://127.0.0.1:1/", "rule": {"action": "explode"}})
    assert bad["error"]["field"] == "rule.action"


def test_rss_and_atom_items():
    rss = (b'<rss version="2.0"><channel><item><link>/a.cap</link></item>'
           b'<item><enclosure url="http://h.example/b.cap" type="application/cap+xml"/></item></channel></rss>')
    assert [i.url for i in feed_items(rss, "http://feeds.example/rss")] == [
        "http://feeds.example/a.cap", "http://h.example/b.cap"]
    embedded = (b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><content type="text/xml">'
                + cap_document("E-1").split(b"?>", 1)[1] + b"</content></entry></feed>")
    (item,) = feed_items(embedded, "http://feeds.example/")
    assert item.url is None and b"E-1" in item.document
    with pytest.raises(Exception, match="DOCTYPE|not readable"):
        feed_items(b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><feed>&e;</feed>', "http://x/")
