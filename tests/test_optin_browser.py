"""The sign-up page in a real headless Chromium: the map (Leaflet served by Tocsin, no tiles) places
a pin, the page's strict CSP is kept, and a resident subscribes with the code texted to them."""
from __future__ import annotations

import asyncio

from playwright.async_api import Browser

from tests.browser import browser, new_page, screenshot  # noqa: F401 (a fixture, used by name)
from tests.conftest import System
from tests.helpers import phone
from tests.test_optin_support import FILL_S, NORTHSIDE, code_for, inbox, send_alert
from tests.test_optin_support import optin  # noqa: F401 (a fixture, used by name)


async def test_a_resident_places_a_pin_and_subscribes(optin: System, browser: Browser) -> None:  # noqa: F811
    await optin.call("POST", "/api/v1/zones", json=NORTHSIDE, expect=201)
    page = await new_page(browser, optin.base_url, width=420, height=900)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"{m.text} {m.location.get('url')}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    await page.goto("/subscribe")
    await page.wait_for_selector("#signup-map .leaflet-interactive")  # the zone is drawn
    box = await page.locator("#signup-map").bounding_box()
    await page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    lat, lon = float(await page.input_value("#lat")), float(await page.input_value("#lon"))
    assert 38.90 < lat < 38.95 and -77.05 < lon < -77.00, (lat, lon)
    await page.fill("#phone", "202 555 0041")
    await page.check("input[name=consent]")
    trap = await page.locator(".hp").bounding_box()
    assert trap["x"] + trap["width"] < 0, "the honeypot is off-screen for people"
    await screenshot(page, "subscribe-form")
    await asyncio.sleep(FILL_S)
    await page.click("button[type=submit]")
    await page.wait_for_selector("#code")
    await page.fill("#code", await code_for(optin, phone(41)))
    await page.click("button[type=submit]")
    await page.wait_for_selector("#manage-link")
    await screenshot(page, "subscribe-done")
    assert [p for p in problems if "favicon.ico" not in p] == [], problems
    await send_alert(optin, {"circle": {"lat": lat, "lon": lon, "radius_m": 50}}, title="Road closed")
    assert any("Road closed" in m["body"] for m in await inbox(optin, phone(41)))
