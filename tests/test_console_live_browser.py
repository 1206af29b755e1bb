"""The live incident view in Chromium: counters move and a person turns safe without a reload; a
false alarm is two presses away."""
from __future__ import annotations

import re

from playwright.async_api import Browser

from tests.browser import browser, new_page, screenshot, sign_in_page  # noqa: F401 (fixture)
from tests.conftest import System
from tests.helpers import phone
from tests.test_follow_ups import people


async def test_the_board_moves_live_and_a_false_alarm_takes_two_presses(system: System, browser: Browser) -> None:  # noqa: F811
    await people(system, 3)
    alert = await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": "Chemical spill", "message": "Stay inside Building 7 and close the windows.",
        "channels": ["sms", "email"], "target": {"groups": ["Everyone"]}})
    await system.call("POST", f"/api/v1/alerts/{alert['id']}/send", expect=202)
    page = await new_page(browser, system.base_url)
    await sign_in_page(page, system.runtime, "operator")
    await page.goto(f"/alerts/{alert['id']}")
    await page.wait_for_selector("#live-indicator.on")  # the event stream is open
    await page.evaluate("window.notReloaded = true")
    delivered = "tr[data-channel='sms'] [data-count='delivered']"
    assert await page.text_content(delivered) == "0"

    await system.drain()
    await page.wait_for_function(f"document.querySelector(\"{delivered}\").textContent === '3'")
    assert await page.text_content("tr[data-channel='email'] [data-count='total']") == "3"
    await system.call("POST", "/sandbox/sms/reply", json={"from": phone(0), "body": "SAFE"}, expect=200)
    await page.wait_for_selector("[data-group='safe'] [data-person='P00000']")
    assert await page.text_content("[data-response='safe']") == "1"
    assert await page.locator("[data-group='no_response'] [data-person='P00000']").count() == 0
    assert await page.evaluate("window.notReloaded") is True, "all of it without a reload"
    await screenshot(page, "alert-live")

    await page.click("text=False alarm")
    await page.wait_for_url(f"**/alerts/{alert['id']}/follow-up?kind=false_alarm")
    assert "LIVE: false alarm to the same 3 people by SMS and email." in " ".join(
        (await page.text_content(".confirm .statement") or "").split())
    assert (await page.input_value("#message")).startswith("FALSE ALARM: the alert 'Chemical spill' sent at")
    await screenshot(page, "alert-false-alarm-confirm")
    await page.click("button[type=submit].danger")
    await page.wait_for_url(lambda url: (found := re.search(r"/alerts/(\d+)$", url)) is not None
                            and int(found.group(1)) != alert["id"])
    assert "FALSE ALARM: Chemical spill" in (await page.text_content("h1") or "")
    assert await page.locator(".mode-banner.live").count() == 1

    await page.goto(f"/alerts/{alert['id']}/people/P00000")
    assert await page.locator("tr.event-response").count() == 1
    await screenshot(page, "alert-person")
    await page.goto("/alerts")
    assert await page.locator("tr.row-live").count() == 2
    await screenshot(page, "alerts-list")
