"""The live incident view as a browser without JavaScript sees it: the alerts list, an alert's board
(need help, silent, safe), a person's timeline, the actions (operators only) and the SSE stream."""
from __future__ import annotations

import asyncio
import json

import aiohttp
from sqlalchemy import select

from alerting.models import Delivery
from tests.conftest import System
from tests.console_support import console_user, csrf_of, post_form
from tests.helpers import phone
from tests.test_follow_ups import people, sent_alert


async def reply(system: System, n: int, body: str) -> None:
    await system.call("POST", "/sandbox/sms/reply", json={"from": phone(n), "body": body}, expect=200)


def words(html: str) -> str:
    """The page with its whitespace collapsed, as a reader sees it."""
    return " ".join(html.split())


async def page(client: aiohttp.ClientSession, url: str, status: int = 200) -> str:
    async with client.get(url) as response:
        text = await response.text()
        assert response.status == status, (response.status, text[:500])
        return text


async def test_a_viewer_sees_the_board_in_order_but_no_action(system: System) -> None:
    await people(system, 5)
    alert = await sent_alert(system)
    await reply(system, 0, "SAFE")
    await reply(system, 1, "HELP")
    await reply(system, 2, "SAFE")
    viewer = await console_user(system.runtime, system.base_url, "viewer")
    try:
        html = await page(viewer, f"{system.base_url}/alerts/{alert['id']}")
        assert 'class="mode-banner live"' in html and "Gas leak" in html
        assert "SMS and email" in html, "channels in words"
        positions = [html.index(f'data-group="{g}"') for g in ("need_help", "no_response", "safe")]
        assert positions == sorted(positions), "need help, then silent, then safe"
        need_help = html[positions[0]:positions[1]]
        silent = html[positions[1]:positions[2]]
        safe = html[positions[2]:]
        assert "P00001" in need_help and "P00003" in silent and "P00004" in silent and "P00000" in safe
        assert "P00000" not in silent and "P00001" not in safe
        assert f'href="/alerts/{alert["id"]}/people/P00001"' in html
        for action in ("False alarm", "Send correction", "/actions/", "follow-up?kind"):
            assert action not in html, f"a viewer sees no {action!r}"
        async with viewer.post(f"{system.base_url}/alerts/{alert['id']}/actions/cancel",
                               data={"csrf_token": csrf_of(html)}) as response:
            assert response.status == 403 and "Traceback" not in await response.text()
        async with viewer.post(f"{system.base_url}/alerts/{alert['id']}/follow-up",
                               data={"csrf_token": csrf_of(html), "kind": "false_alarm"}) as response:
            assert response.status == 403
        await page(viewer, f"{system.base_url}/alerts/{alert['id']}/follow-up?kind=false_alarm", 403)
        assert (await system.call("GET", f"/api/v1/alerts/{alert['id']}"))["status"] == "sent", "nothing changed"
        board = json.loads(await page(viewer, f"{system.base_url}/alerts/{alert['id']}/board.json"))
        assert [g["key"] for g in board["board"]][:3] == ["need_help", "no_response", "safe"]
        assert board["alert"]["progress"]["sms"]["delivered"] == 5
        assert [p["external_id"] for p in board["board"][0]["people"]] == ["P00001"]
    finally:
        await viewer.close()


async def test_a_timeline_shows_each_delivery_and_response(system: System) -> None:
    await people(system, 2)
    alert = await sent_alert(system)
    await reply(system, 0, "help")
    viewer = await console_user(system.runtime, system.base_url, "viewer")
    try:
        html = await page(viewer, f"{system.base_url}/alerts/{alert['id']}/people/P00000")
        assert "Person 0" in html and "need help" in html
        assert "SMS attempt 1 delivered" in html and "email attempt 1" in html
        assert "answered need help" in html and "\u201chelp\u201d" in html, "what they wrote"
        assert html.index("SMS attempt 1 written") < html.index("answered need help"), "in time order"
        await page(viewer, f"{system.base_url}/alerts/{alert['id']}/people/NOBODY", 404)
        await page(viewer, f"{system.base_url}/alerts/99999", 404)
    finally:
        await viewer.close()


async def test_the_alerts_list_keeps_live_and_drills_apart(system: System) -> None:
    await people(system, 1)
    live = await sent_alert(system, title="Real fire")
    drill = await sent_alert(system, title="Fire drill", drill=True)
    viewer = await console_user(system.runtime, system.base_url, "viewer")
    try:
        html = await page(viewer, f"{system.base_url}/alerts")
        assert "Real fire" in html and "Fire drill" in html
        lives = await page(viewer, f"{system.base_url}/alerts?mode=live")
        assert f'/alerts/{live["id"]}"' in lives and f'/alerts/{drill["id"]}"' not in lives
        drills = await page(viewer, f"{system.base_url}/alerts?mode=drills")
        assert f'/alerts/{drill["id"]}"' in drills and f'/alerts/{live["id"]}"' not in drills and "DRILL" in drills
        drill_page = await page(viewer, f"{system.base_url}/alerts/{drill['id']}")
        assert 'class="mode-banner drill"' in drill_page
    finally:
        await viewer.close()


async def test_an_operator_sends_a_false_alarm_in_two_presses(system: System) -> None:
    await people(system, 2)
    alert = await sent_alert(system, channels=("sms",))
    operator = await console_user(system.runtime, system.base_url, "operator")
    try:
        alert_url = f"{system.base_url}/alerts/{alert['id']}"
        html = await page(operator, alert_url)
        assert f'/alerts/{alert["id"]}/follow-up?kind=false_alarm' in html
        form_url = f"{alert_url}/follow-up?kind=false_alarm"
        form = await page(operator, form_url)
        assert "LIVE: false alarm to the same 2 people by SMS." in words(form)
        assert "FALSE ALARM: the alert &#39;Gas leak&#39; sent at" in form
        status, path, _ = await post_form(operator, f"{alert_url}/follow-up", form_url, {
            "kind": "correction", "message": " "})
        assert status == 422
        form = await page(operator, f"{alert_url}/follow-up?kind=correction")
        status, path, result = await post_form(operator, f"{alert_url}/follow-up", form_url, {
            "kind": "false_alarm", "message": ""})
        assert status == 200 and path != f"/alerts/{alert['id']}", path
        new_id = int(path.rsplit("/", 1)[1])
        assert "FALSE ALARM: Gas leak" in result and "false alarm" in result
        await system.drain()
        for n in range(2):
            sms = [m for m in await system.call("GET", "/sandbox/messages", params={"to": phone(n)})]
            assert "FALSE ALARM" in sms[-1]["body"]
        assert (await system.call("GET", f"/api/v1/alerts/{new_id}"))["follows_alert_id"] == alert["id"]
        original = await page(operator, alert_url)
        assert f'href="/alerts/{new_id}"' in original, "the original lists its follow-ups"
    finally:
        await operator.close()


async def test_escalate_now_cancel_and_close_from_the_console(system: System) -> None:
    await people(system, 3)
    await system.call("POST", "/api/v1/policies", expect=201, json={
        "name": "slow", "steps": [{"after_s": 3600, "channels": ["sms"]}]})
    alert = await sent_alert(system, channels=("sms",), policy="slow")
    await reply(system, 0, "SAFE")
    operator = await console_user(system.runtime, system.base_url, "operator")
    try:
        alert_url = f"{system.base_url}/alerts/{alert['id']}"
        confirm = await page(operator, f"{alert_url}/actions/escalate")
        assert "LIVE: re-send to the 2 of 3 people who have not answered, by SMS, now" in words(confirm)
        escalate = f"{alert_url}/actions/escalate"
        status, path, _ = await post_form(operator, escalate, escalate, {})
        assert status == 200 and path == f"/alerts/{alert['id']}"
        await system.drain()
        with system.runtime.sessions() as session:
            attempts = sorted(session.execute(select(Delivery.recipient_id, Delivery.attempt)
                                              .where(Delivery.alert_id == alert["id"], Delivery.attempt == 2)))
        assert len(attempts) == 2, "the two silent people got the step now, not in an hour"
        silent_one = await page(operator, f"{alert_url}/people/P00001")
        assert "escalation step 1 (round 1) re-sent to them" in silent_one and "SMS attempt 2" in silent_one
        assert "escalation step" not in await page(operator, f"{alert_url}/people/P00000"), "they had answered"
        again = await system.call("POST", f"/api/v1/alerts/{alert['id']}/escalate", expect=409)
        assert "already run" in again["error"]["message"]
        status, _, _ = await post_form(operator, f"{alert_url}/actions/cancel", f"{alert_url}/actions/cancel", {})
        assert (await system.call("GET", f"/api/v1/alerts/{alert['id']}"))["status"] == "cancelled"
        status, _, _ = await post_form(operator, f"{alert_url}/actions/close", f"{alert_url}/actions/close", {})
        assert (await system.call("GET", f"/api/v1/alerts/{alert['id']}"))["status"] == "closed"
    finally:
        await operator.close()


async def test_the_event_stream_tells_of_an_answer(system: System) -> None:
    await people(system, 2)
    alert = await sent_alert(system, channels=("sms",))
    viewer = await console_user(system.runtime, system.base_url, "viewer")
    try:
        async with viewer.get(f"{system.base_url}/alerts/{alert['id']}/events") as stream:
            assert stream.status == 200 and stream.content_type == "text/event-stream"

            async def next_event() -> tuple[str, dict]:
                name = ""
                while True:
                    line = (await stream.content.readline()).decode().rstrip("\n")
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: ") and name:
                        return name, json.loads(line[6:])

            name, state = await asyncio.wait_for(next_event(), 10)
            assert name == "state" and state["responses"]["no_response"] == 2
            await reply(system, 1, "SAFE")
            seen = [await asyncio.wait_for(next_event(), 10) for _ in range(2)]
            assert ("change", {"type": "response", "alert_id": alert["id"], "recipient_id": None,
                               "kind": "safe", "channel": "sms"}) in seen
            assert any(n == "state" and s["responses"]["safe"] == 1 for n, s in seen), "the counts follow"
            assert _listeners(system, alert["id"]) == 1
        for _ in range(50):  # the browser left: the stream ends and gives its Redis connection back
            if _listeners(system, alert["id"]) == 0:
                break
            await asyncio.sleep(0.1)
        assert _listeners(system, alert["id"]) == 0
    finally:
        await viewer.close()


def _listeners(system: System, alert_id: int) -> int:
    return dict(system.runtime.redis.pubsub_numsub(f"tocsin:alert:{alert_id}"))[f"tocsin:alert:{alert_id}".encode()]


async def test_a_large_group_shows_its_first_people_and_a_more_link(system: System, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from console import pages_alerts
    monkeypatch.setattr(pages_alerts, "PAGE", 2)
    await people(system, 5)
    alert = await sent_alert(system, channels=("sms",))
    viewer = await console_user(system.runtime, system.base_url, "viewer")
    try:
        html = await page(viewer, f"{system.base_url}/alerts/{alert['id']}")
        silent = html[html.index('data-group="no_response"'):html.index('data-group="safe"')]
        assert silent.count('data-person="') == 2 and ">5<" in silent
        more = silent.split('class="more" href="')[1].split('"')[0].replace("&amp;", "&")
        rest = await page(viewer, f"{system.base_url}{more}")
        assert "P00002" in rest and "P00003" in rest and "P00000" not in rest
        last = rest.split('more&hellip;')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
        assert "P00004" in await page(viewer, f"{system.base_url}{last}")
    finally:
        await viewer.close()


async def test_a_draft_links_to_its_review_and_has_no_board(system: System) -> None:
    await people(system, 1)
    draft = await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": "Draft", "message": "M", "channels": ["sms"], "target": {"groups": ["Everyone"]}, "drill": True})
    operator = await console_user(system.runtime, system.base_url, "operator")
    try:
        html = await page(operator, f"{system.base_url}/alerts/{draft['id']}")
        assert f'href="/compose/{draft["id"]}/review"' in html and 'class="mode-banner drill"' in html
        assert 'data-group="safe"' not in html and "False alarm" not in html
        await page(operator, f"{system.base_url}/alerts/{draft['id']}/follow-up?kind=false_alarm", 409)
    finally:
        await operator.close()
