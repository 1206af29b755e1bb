"""The management pages in a real Chromium: an operator draws a zone on the map and saves it, and
imports a CSV of people, watching its progress to the end and its report."""
from __future__ import annotations

import re

from playwright.async_api import Browser

from ops.demo import seed_demo
from tests.browser import browser, new_page, screenshot, sign_in_page  # noqa: F401 (fixture)
from tests.conftest import System
from tests.test_imports import BAD_LINES, people_csv


async def test_an_operator_draws_a_zone_on_the_map_and_sees_who_is_inside(system: System, browser: Browser) -> None:  # noqa: F811
    with system.runtime.sessions.begin() as session:
        seed_demo(session)
    page = await new_page(browser, system.base_url)
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(system.base_url) else None)
    await sign_in_page(page, system.runtime, "operator")

    await page.goto("/recipients?q=garc")
    assert await page.locator("table.list tbody tr").count() > 0
    await screenshot(page, "people")

    await page.goto("/zones")
    await page.wait_for_selector("#map .leaflet-interactive")  # the demo's buildings, drawn without tiles
    await page.click(".leaflet-draw-draw-polygon")
    box = await page.locator("#map").bounding_box()
    assert box is not None
    cx, cy, dx, dy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, box["width"] * 0.3, box["height"] * 0.3
    for x, y in ((cx - dx, cy - dy), (cx + dx, cy - dy), (cx + dx, cy + dy), (cx - dx, cy + dy)):
        await page.mouse.click(x, y)
        await page.wait_for_timeout(150)
    await page.mouse.click(cx - dx, cy - dy)  # back on the first corner closes the polygon
    geometry = await page.input_value("#geometry")
    assert geometry.startswith('{"type":"Polygon"'), geometry
    await page.fill("#name", "Central quad")
    await page.fill("#description", "drawn in the browser test")
    await page.click("#zone-form button[type=submit]")
    await page.wait_for_url(re.compile(r"/zones\?created=\d+"))

    notice = await page.text_content("#created-notice")
    inside = int(re.search(r"saved: ([\d,]+) people are inside", notice or "").group(1).replace(",", ""))
    assert inside > 50, notice
    row = page.locator("#zone-list tr", has_text="Central quad")
    assert (await row.locator(".people-count").text_content()) == f"{inside:,}"
    await screenshot(page, "zones")

    # A circle fills the centre and radius instead of the GeoJSON.
    await page.click(".leaflet-draw-draw-circle")
    box = await page.locator("#map").bounding_box()
    assert box is not None
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    await page.mouse.move(cx, cy)
    await page.mouse.down()
    await page.mouse.move(cx + 60, cy, steps=5)
    await page.mouse.up()
    assert await page.input_value("#geometry") == ""
    assert float(await page.input_value("#circle_lat")) and int(await page.input_value("#circle_radius_m")) > 0

    await row.locator("a").click()
    await page.wait_for_selector("#map .leaflet-interactive")
    assert f"{inside:,} people inside" in (await page.text_content("#zone-people") or "")

    await page.goto("/audit")
    assert await page.locator("#audit-log tr", has_text="zone.create").count() >= 1
    await screenshot(page, "audit")
    assert outside == [], outside  # nothing loaded from anywhere but Tocsin itself


async def test_an_operator_imports_a_csv_and_watches_it_reach_the_end(system: System, browser: Browser) -> None:  # noqa: F811
    page = await new_page(browser, system.base_url)
    await sign_in_page(page, system.runtime, "operator")
    polled: list[dict] = []

    async def keep(route) -> None:  # type: ignore[no-untyped-def]  # the server's answers, passed on as they are
        response = await route.fetch()
        polled.append(await response.json())
        await route.fulfill(response=response)
    await page.route("**/progress", keep)

    await page.goto("/recipients")
    await page.click("text=Import a CSV file")
    await page.set_input_files("#file", files=[{"name": "staff.csv", "mimeType": "text/csv",
                                                "buffer": people_csv(2500)}])
    await page.check("input[name=create_groups]")
    async with page.expect_response(lambda r: r.url.endswith("/progress")):  # its first poll, while it waits
        await page.click("form.stacked button[type=submit]")
        await page.wait_for_url(re.compile(r"/recipients/imports/\d+$"))
        assert (await page.text_content("#import-state")) == "Waiting for a worker"
        assert await page.get_attribute("#import-bar", "value") == "0"
    await screenshot(page, "import-waiting")

    await system.drain()  # the worker imports it, 1,000 rows a chunk; the page follows by itself
    await page.wait_for_selector("#import-result")  # the page reloaded itself once the import ended
    assert polled and polled[0]["status"] == "queued" and polled[-1]["ended"]
    assert polled[-1]["percent"] == 100 and polled[-1]["done"] == polled[-1]["total"] == 2500
    assert await page.get_attribute("#import-bar", "value") == "100"
    assert (await page.text_content("#import-state")) == "Finished"
    counts = await page.text_content("#import-result .counts") or ""
    assert "2,497 created" in counts and "3 rejected" in counts
    rows = await page.locator("#row-errors tbody tr").all_inner_texts()
    assert [tuple(r.split("\t")[::2][:2]) for r in rows] == [(str(line), field) for line, field in sorted(BAD_LINES.items())]
    await screenshot(page, "import-report")
