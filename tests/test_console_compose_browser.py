"""The composer in a real Chromium: a template, a polygon drawn with the mouse, the reach preview, DRILL,
review, send."""
from __future__ import annotations

import re

from playwright.async_api import Browser, Page

from alerting.templates import ensure_library
from ops.demo import seed_demo
from tests.browser import browser, new_page, screenshot, sign_in_page  # noqa: F401 (fixture)
from tests.conftest import System


async def _reach(page: Page) -> int:
    value = await page.locator("#reach").get_attribute("data-people")
    return int(value) if value else -1


async def _draw_polygon_around(page: Page, label: str, half: int) -> None:
    """Draw a square of 2*half pixels around a zone's label with the Leaflet.draw polygon tool."""
    await page.locator("#map").scroll_into_view_if_needed()  # mouse positions are in the viewport
    box = await page.locator(".leaflet-tooltip.zone-label", has_text=label).bounding_box()
    assert box, f"the map shows no zone {label!r}"
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    await page.click(".leaflet-draw-draw-polygon")
    corners = [(cx - half, cy - half), (cx + half, cy - half), (cx + half, cy + half), (cx - half, cy + half)]
    for x, y in [*corners, corners[0]]:  # back on the first vertex closes the polygon
        await page.mouse.move(x, y, steps=4)
        await page.mouse.down()
        await page.mouse.up()
        await page.wait_for_timeout(200)


async def test_compose_from_a_template_draw_on_the_map_and_send_a_drill(system: System, browser: Browser) -> None:  # noqa: F811
    with system.runtime.sessions.begin() as session:
        seed_demo(session)
        ensure_library(session, system.runtime.available_channels)
    page = await new_page(browser, system.base_url, width=1400, height=1000)
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(system.base_url) or r.url.startswith("data:")
            else outside.append(r.url))
    await sign_in_page(page, system.runtime, "operator")
    await page.goto("/compose")
    await page.click("a.template-card:has-text('Shelter in place')")
    await page.wait_for_url(re.compile(r"/compose\?template=\d+"))
    await page.fill("#value-building", "Library")
    await page.fill("#value-hazard", "a chemical spill")
    await page.wait_for_selector(".leaflet-draw-draw-polygon")
    await page.wait_for_function("document.querySelector('#reach .reach-people').textContent.includes('No one')")

    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await _draw_polygon_around(page, "Library", 45)
    await page.wait_for_function("Number(document.querySelector('#reach').dataset.people || 0) > 0")
    drawn = await _reach(page)
    geometry = await page.input_value("#geometry")
    assert '"type":"Polygon"' in geometry and "-77.07" in geometry, geometry  # GeoJSON is [lon, lat]

    await page.check("input[name=groups][value='Faculty']")  # groups add to the drawn area
    await page.wait_for_function(f"Number(document.querySelector('#reach').dataset.people || 0) > {drawn}")
    await page.uncheck("input[name=groups][value='Faculty']")
    await page.wait_for_function(f"Number(document.querySelector('#reach').dataset.people || 0) === {drawn}")

    await page.check("input[name=mode][value=drill]")
    await page.wait_for_function("document.querySelector('#previews').textContent.includes("
                                 "'TEST - EXERCISE ONLY. Test University: SHELTER IN PLACE now: a chemical spill near Library')")
    assert "segment" in await page.locator(".preview.sms .segments").first.inner_text()
    await screenshot(page, "compose")

    await page.click("button:has-text('Review before sending')")
    await page.wait_for_url(re.compile(r"/compose/\d+/review$"))
    alert_id = int(page.url.rsplit("/", 2)[1])
    statement = re.sub(r"\s+", " ", await page.locator("#statement").inner_text()).strip()
    assert statement == f"Send a DRILL alert to {drawn:,} {'person' if drawn == 1 else 'people'} by SMS, voice call, web push and email." \
        or statement.startswith(f"Send a DRILL alert to {drawn:,}"), statement
    assert await page.locator("#send-button").inner_text() == "Send DRILL now"
    await screenshot(page, "review")
    await page.fill("#scheduled_for", "2031-05-06T07:08")
    assert await page.locator("#send-button").inner_text() == "Schedule DRILL for 2031-05-06 07:08 UTC"
    await page.fill("#scheduled_for", "")
    assert await page.locator("#send-button").inner_text() == "Send DRILL now"

    await page.click("#send-button")
    await page.wait_for_url(re.compile(rf"/alerts/{alert_id}$"))
    assert outside == [], f"the console loaded something from outside: {outside}"
    assert errors == [], f"script errors: {errors}"
    with system.runtime.sessions() as session:
        from alerting.models import Alert
        alert = session.get(Alert, alert_id)
        assert alert.status in ("sending", "sent") and alert.drill and "geometry" in alert.target
        assert alert.origin == "console" and alert.title == "Shelter in place: Library"


async def test_a_circle_drawn_on_the_map_is_the_target_and_a_zone_is_clicked(system: System, browser: Browser) -> None:  # noqa: F811
    with system.runtime.sessions.begin() as session:
        seed_demo(session)
        ensure_library(session, system.runtime.available_channels)
    page = await new_page(browser, system.base_url, width=1400, height=1000)
    await sign_in_page(page, system.runtime, "operator")
    await page.goto("/templates")
    assert await page.locator("table.templates tbody tr").count() == 7
    await screenshot(page, "templates")
    await page.goto("/compose?template=free")
    await page.locator("#map").scroll_into_view_if_needed()
    box = await page.locator(".leaflet-tooltip.zone-label", has_text="Student Center").bounding_box()
    assert box
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    await page.click(".leaflet-draw-draw-circle")
    await page.mouse.move(cx, cy)
    await page.mouse.down()
    await page.mouse.move(cx + 25, cy, steps=5)
    await page.mouse.move(cx + 50, cy, steps=5)
    await page.mouse.up()
    await page.wait_for_function("document.querySelector('#circle').value.includes('radius_m')")
    circle = await page.input_value("#circle")
    assert '"lat":38.90' in circle and '"lon":-77.06' in circle and await page.input_value("#geometry") == ""
    await page.wait_for_function("Number(document.querySelector('#reach').dataset.people || 0) > 0")
    circled = await _reach(page)
    # Clicking a zone on the map ticks its box (and adds its people).
    label = await page.locator(".leaflet-tooltip.zone-label", has_text="Library").bounding_box()
    assert label
    await page.mouse.click(label["x"] + label["width"] / 2, label["y"] + label["height"] + 4)
    await page.wait_for_function("document.querySelector(\"input[name=zones][value='Library']\").checked")
    await page.wait_for_function(f"Number(document.querySelector('#reach').dataset.people || 0) > {circled}")
