"""The calendar and the controls of scheduled alerts in the console: viewers see, operators act (after
a confirmation stating LIVE or DRILL, the audience and the channels), and the alert page's box."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import aiohttp_jinja2
from playwright.async_api import Browser

from alerting.users import Operator
from console.app import create_app
from tests.browser import browser, new_page, screenshot, sign_in_page  # noqa: F401 (fixture)
from tests.conftest import System
from tests.console_support import console_user, csrf_of
from tests.test_quick_launch import _create, _setup
from tests.test_scheduling import PEOPLE, _draft, _in, _people, jobs, scheduled_jobs, status


async def _scheduled(system: System, at: datetime, **extra: object) -> int:
    alert_id = await _draft(system, **extra)
    await system.call("POST", f"/api/v1/alerts/{alert_id}/send", json={"scheduled_for": at.isoformat()}, expect=202)
    return alert_id


async def test_the_calendar_lists_scheduled_and_past_sends_and_a_viewer_cannot_act(system: System) -> None:
    await _people(system)
    tomorrow = _in(24 * 60)
    live = await _scheduled(system, tomorrow, title="Water shut-off in Hall B")
    drill = await _scheduled(system, _in(25 * 60), title="Fire drill", drill=True)
    sent = await _draft(system, title="Road closed")
    await system.call("POST", f"/api/v1/alerts/{sent}/send", expect=202)
    viewer = await console_user(system.runtime, system.base_url, "viewer")
    async with viewer:
        async with viewer.get(f"{system.base_url}/calendar") as response:
            page = await response.text()
            assert response.status == 200
        for alert_id, title in ((live, "Water shut-off in Hall B"), (drill, "Fire drill"), (sent, "Road closed")):
            assert f'<a href="/alerts/{alert_id}">{title}</a>' in page
        assert f'<time datetime="{tomorrow.date().isoformat()}">' in page
        assert tomorrow.strftime("%H:%M") in page and "DRILL" in page and "LIVE" in page
        assert "/reschedule" not in page and "/cancel-schedule" not in page, "a viewer gets no forms"
        for action in ("reschedule", "unschedule", "cancel-schedule", "approve", "reject"):
            async with viewer.post(f"{system.base_url}/alerts/{live}/{action}",
                                   data={"csrf_token": csrf_of(page), "confirm": "yes"}) as response:
                assert response.status == 403, action
    assert status(system, live) == "scheduled"


async def test_an_operator_reschedules_edits_and_cancels_from_the_calendar(system: System) -> None:
    await _people(system)
    at = _in(60)
    moved, edited, cancelled = (await _scheduled(system, at), await _scheduled(system, at),
                                await _scheduled(system, at, drill=True))
    operator = await console_user(system.runtime, system.base_url, "operator")
    async with operator:
        async with operator.get(f"{system.base_url}/calendar") as response:
            page = await response.text()
            token = csrf_of(page)
            assert f'action="/alerts/{moved}/reschedule"' in page
        # Reschedule: the first post asks, with the current time filled in; a past time is refused on the field.
        async with operator.post(f"{system.base_url}/alerts/{moved}/reschedule", data={"csrf_token": token}) as response:
            page = await response.text()
            assert response.status == 200 and at.strftime("%Y-%m-%dT%H:%M") in page
            assert f"to {PEOPLE} people by SMS" in page and "LIVE" in page
        past = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
        async with operator.post(f"{system.base_url}/alerts/{moved}/reschedule",
                                 data={"csrf_token": token, "confirm": "yes", "scheduled_for": past}) as response:
            page = await response.text()
            assert response.status == 422 and 'class="field-error" id="when-error"' in page and "future" in page
        later = _in(120)
        async with operator.post(f"{system.base_url}/alerts/{moved}/reschedule", data={
                "csrf_token": token, "confirm": "yes", "scheduled_for": later.strftime("%Y-%m-%dT%H:%M")}) as response:
            page = await response.text()
            assert response.url.path == "/calendar" and f"Alert {moved} rescheduled." in page
        new_time = later.replace(second=0)
        assert jobs.scheduled_send_job_id(moved, new_time) in scheduled_jobs(system)

        # Edit: back to draft, then to the composer's edit page.
        async with operator.post(f"{system.base_url}/alerts/{edited}/unschedule",
                                 data={"csrf_token": token, "confirm": "yes"}, allow_redirects=False) as response:
            assert response.status == 303 and response.headers["Location"] == f"/compose/{edited}/edit"
        assert status(system, edited) == "draft"

        # Cancel: a confirmation in the drill's colours, then cancelled.
        async with operator.post(f"{system.base_url}/alerts/{cancelled}/cancel-schedule",
                                 data={"csrf_token": token, "next": f"/alerts/{cancelled}"}) as response:
            page = await response.text()
            assert 'class="confirm drill stacked"' in page and "Cancel this DRILL alert" in page
        async with operator.post(f"{system.base_url}/alerts/{cancelled}/cancel-schedule", allow_redirects=False,
                                 data={"csrf_token": token, "next": f"/alerts/{cancelled}", "confirm": "yes"}) as response:
            assert response.status == 303 and response.headers["Location"] == f"/alerts/{cancelled}"
        assert status(system, cancelled) == "cancelled"
        # A return address off the site is ignored.
        async with operator.post(f"{system.base_url}/alerts/{moved}/cancel-schedule", allow_redirects=False,
                                 data={"csrf_token": token, "next": "//evil.example/", "confirm": "yes"}) as response:
            assert response.headers["Location"].startswith("/calendar")


async def test_the_alert_page_box_shows_controls_only_while_waiting(system: System) -> None:
    env = aiohttp_jinja2.get_env(create_app(system.runtime))
    box = env.get_template("schedule_alert_box.html")
    operator = Operator(1, "op@test.example.org", "", "operator", 1, "tok", False)
    base = {"id": 7, "drill": True, "scheduled_for": "2030-01-31T08:00:00Z", "submitted_by": "user:a@x.org",
            "approved_by": None}
    html = box.render(alert={**base, "status": "scheduled"}, operator=operator, csrf_token="tok")
    assert "Scheduled for 2030-01-31 08:00 UTC" in html and 'action="/alerts/7/reschedule"' in html
    assert 'action="/alerts/7/unschedule"' in html and 'value="/alerts/7"' in html and "DRILL" in html
    html = box.render(alert={**base, "status": "awaiting_approval"}, operator=operator, csrf_token="tok")
    assert 'action="/alerts/7/approve"' in html and 'action="/alerts/7/reject"' in html
    mine = Operator(2, "a@x.org", "", "operator", 2, "tok", False)
    html = box.render(alert={**base, "status": "awaiting_approval"}, operator=mine, csrf_token="tok")
    assert 'action="/alerts/7/approve"' not in html, "never to the submitter"
    viewer = Operator(3, "v@x.org", "", "viewer", 3, "tok", False)
    assert "<form" not in box.render(alert={**base, "status": "scheduled"}, operator=viewer, csrf_token="tok")
    assert box.render(alert={**base, "status": "sent"}, operator=operator, csrf_token="tok").strip() == ""


async def test_the_calendar_in_chromium(system: System, browser: Browser) -> None:  # noqa: F811
    await _people(system)
    await _scheduled(system, _in(26 * 60), title="Planned water shut-off")
    await _scheduled(system, _in(50 * 60), title="Monthly siren test", drill=True)
    page = await new_page(browser, system.base_url)
    await sign_in_page(page, system.runtime, "operator")
    await page.goto("/calendar")
    assert await page.title() == "Calendar - Test University - Tocsin"
    assert await page.locator("li.schedule-entry.drill", has_text="Monthly siren test").count() == 1
    await screenshot(page, "calendar")
    await page.locator("li.schedule-entry", has_text="Planned water shut-off").get_by_role(
        "button", name="Cancel…").click()
    await page.wait_for_selector("form.confirm")
    await screenshot(page, "calendar-cancel-confirm")
    await page.get_by_role("button", name="Cancel the alert").click()
    await page.wait_for_url(lambda url: "/calendar" in url)
    assert "cancelled" in await page.locator("p.notice").inner_text()


async def test_the_alert_page_carries_the_box(system: System) -> None:
    await _people(system)
    alert_id = await _scheduled(system, _in(90), title="Siren test")
    operator = await console_user(system.runtime, system.base_url, "operator")
    async with operator:
        async with operator.get(f"{system.base_url}/alerts/{alert_id}") as response:
            page = await response.text()
            assert response.status == 200
    assert "Scheduled for" in page and f'action="/alerts/{alert_id}/reschedule"' in page
    assert f'action="/alerts/{alert_id}/cancel-schedule"' in page


async def test_a_launch_page_in_chromium(system: System, browser: Browser) -> None:  # noqa: F811
    _, secret = _create(system, await _setup(system))
    page = await new_page(browser, system.base_url)
    await page.goto(f"/launch/{secret}")
    assert await page.locator(".mode-banner.live").count() == 1
    assert "LIVE: a real alert to 3 people by SMS" in await page.locator("p.statement").inner_text()
    await screenshot(page, "quick-launch-confirm")
    await page.get_by_role("button", name="Send LIVE alert to 3 people").click()
    await page.wait_for_selector("p.statement")
    assert "is being sent to 3 people" in await page.locator("p.statement").inner_text()
