"""Issue 6's acceptance, in one story in a real Chromium: an operator signs in, composes an alert
from a template, draws the danger zone on the map, sends it to the demo campus, watches the counters
move, and sees a person who answers SAFE from their phone turn safe on the board without reloading.
A viewer, meanwhile, can watch but has no way to send."""
from __future__ import annotations

import re

from playwright.async_api import Browser
from sqlalchemy import select

from alerting.models import AlertRecipient, Recipient
from alerting.templates import ensure_library
from ops.demo import seed_demo
from tests.browser import browser, new_page, screenshot, sign_in_page  # noqa: F401 (fixture)
from tests.conftest import System
from tests.test_console_compose_browser import _draw_polygon_around


async def test_an_operator_sends_from_the_map_and_sees_a_reply_turn_safe_live(system: System, browser: Browser) -> None:  # noqa: F811
    with system.runtime.sessions.begin() as session:
        seed_demo(session)
        ensure_library(session, system.runtime.available_channels)
    page = await new_page(browser, system.base_url, width=1400, height=1000)
    await sign_in_page(page, system.runtime, "operator")

    # Compose from a template, with the danger zone drawn on the map.
    await page.click("text=New alert")
    await page.click("a.template-card:has-text('Evacuate building')")
    await page.fill("#value-building", "the Chemistry Building")
    await page.fill("#value-assembly_point", "the Library lawn")
    await page.wait_for_selector(".leaflet-draw-draw-polygon")
    await _draw_polygon_around(page, "Chemistry Building", 40)
    await page.wait_for_function("Number(document.querySelector('#reach').dataset.people || 0) > 0")
    reach = int(await page.locator("#reach").get_attribute("data-people") or 0)
    await page.check("input[name=mode][value=live]")
    await page.click("button:has-text('Review before sending')")

    # The final confirmation says LIVE, how many people and which channels, in words.
    await page.wait_for_url(re.compile(r"/compose/\d+/review$"))
    alert_id = int(page.url.rsplit("/", 2)[1])
    statement = " ".join((await page.locator("#statement").inner_text()).split())
    assert statement.startswith(f"Send a LIVE alert to {reach:,} people by SMS"), statement
    assert await page.locator(".mode-banner.live").count() == 1
    assert await page.locator("#send-button").inner_text() == "Send LIVE alert now"
    await page.click("#send-button")
    await page.wait_for_url(re.compile(rf"/alerts/{alert_id}$"))
    await page.wait_for_selector("#live-indicator.on")
    await page.evaluate("window.notReloaded = true")

    # The workers send; the per-channel counters move on the open page.
    await system.drain()
    delivered = "tr[data-channel='sms'] [data-count='delivered']"
    await page.wait_for_function(f"document.querySelector(\"{delivered}\").textContent === '{reach}'")

    # One person answers SAFE from their phone (through the sandbox): they turn safe, live.
    with system.runtime.sessions() as session:
        external_id, phone_number = session.execute(
            select(Recipient.external_id, Recipient.phone).join(AlertRecipient, AlertRecipient.recipient_id == Recipient.id)
            .where(AlertRecipient.alert_id == alert_id).order_by(Recipient.id).limit(1)).one()
    inbox = await system.call("GET", f"/sandbox/messages?to={phone_number.replace('+', '%2B')}", expect=200)
    assert any("EVACUATE the Chemistry Building NOW" in str(m) for m in inbox), inbox
    await system.call("POST", "/sandbox/sms/reply", json={"from": phone_number, "body": "SAFE"}, expect=200)
    await page.wait_for_selector(f"[data-group='safe'] [data-person='{external_id}']")
    assert await page.text_content("[data-response='safe']") == "1"
    assert await page.evaluate("window.notReloaded") is True, "the board changed without a reload"
    await screenshot(page, "acceptance-alert-live")

    # A viewer sees the same board but cannot send anything.
    viewer = await new_page(browser, system.base_url)
    await sign_in_page(viewer, system.runtime, "viewer")
    assert await viewer.locator("text=New alert").count() == 0
    await viewer.goto(f"/alerts/{alert_id}")
    assert await viewer.locator(f"[data-group='safe'] [data-person='{external_id}']").count() == 1
    assert await viewer.locator("text=False alarm").count() == 0
    response = await viewer.goto("/compose")
    assert response is not None and response.status == 403
    assert "operator role" in (await viewer.text_content("main") or "")
    await screenshot(viewer, "acceptance-viewer-forbidden")
