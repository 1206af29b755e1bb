"""The console in a real browser: signing in, and a viewer's console has no way to send."""
from __future__ import annotations

from playwright.async_api import Browser

from tests.browser import browser, new_page, screenshot, sign_in_page  # noqa: F401 (fixture)
from tests.conftest import System


async def test_sign_in_page_and_home_in_chromium(system: System, browser: Browser) -> None:  # noqa: F811
    page = await new_page(browser, system.base_url)
    await page.goto("/")
    assert page.url.endswith("/login?next=/")
    await screenshot(page, "login")
    await sign_in_page(page, system.runtime, "operator")
    assert await page.title() == "Incidents - Test University - Tocsin"
    assert await page.locator("a", has_text="New alert").count() == 1
    await screenshot(page, "home")
