"""Console tests in a real headless Chromium: Debian's `chromium` driven by Playwright.

Playwright's own browser download cannot work here (no internet), so the browser is the system's
(`make install` installs it as root). Flags keep it from reaching outside hosts. Each test gets a
fresh browser profile; screenshots of the pages a test visits go to var/screenshots/ as artifacts.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.console_support import PASSWORD, make_user

SCREENSHOTS = Path(__file__).resolve().parents[1] / "var" / "screenshots"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-default-apps", "--disable-extensions", "--metrics-recording-only"]


def chromium_path() -> str:
    path = os.environ.get("TOCSIN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("the console's browser tests need Debian's chromium: `make install` installs it as root "
                    "(apt-get install chromium), or set TOCSIN_CHROMIUM to a Chromium binary")
    return path


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    profile = tempfile.mkdtemp(prefix="tocsin-chromium-")
    async with async_playwright() as playwright:
        # Playwright gives each launch a fresh temporary profile; `profile` is its download folder.
        launched = await playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS,
                                                    downloads_path=profile)
        try:
            yield launched
        finally:
            await launched.close()
    shutil.rmtree(profile, ignore_errors=True)


async def new_page(browser: Browser, base_url: str, *, width: int = 1280, height: int = 900) -> Page:
    context = await browser.new_context(base_url=base_url, viewport={"width": width, "height": height})
    page = await context.new_page()
    page.set_default_timeout(15_000)
    return page


async def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def sign_in_page(page: Page, runtime, role: str, email: str | None = None) -> str:  # type: ignore[no-untyped-def]
    """Create a user with `role` and sign in through the real form; returns the email."""
    email = email or f"{role}@test.example.org"
    make_user(runtime, email, role)
    await page.goto("/login")
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(lambda url: not url.endswith("/login"))
    return email
