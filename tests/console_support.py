"""Signing in to the console as a browser would (cookie, CSRF fields), for page-level tests."""
from __future__ import annotations

import re
from typing import Any

import aiohttp

from alerting import users
from ops.runtime import Runtime

PASSWORD = "correct horse battery staple"


def make_user(runtime: Runtime, email: str, role: str, password: str = PASSWORD) -> None:
    with runtime.sessions.begin() as session:
        users.create_user(session, email, password, role, actor="test")


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has no CSRF field"
    return found.group(1)


async def sign_in(base_url: str, email: str, password: str = PASSWORD, **extra: Any) -> aiohttp.ClientSession:
    """A client session signed in to the console (raises if the sign-in fails)."""
    client = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with client.get(f"{base_url}/login") as response:
        token = csrf_of(await response.text())
    async with client.post(f"{base_url}/login", data={"email": email, "password": password, "csrf_token": token,
                                                      **extra}) as response:
        page = await response.text()
        if response.url.path == "/login":
            await client.close()
            raise AssertionError(f"sign-in refused: {response.status} {page[:300]}")
    return client


async def console_user(runtime: Runtime, base_url: str, role: str) -> aiohttp.ClientSession:
    email = f"{role}@test.example.org"
    make_user(runtime, email, role)
    return await sign_in(base_url, email)


async def post_form(client: aiohttp.ClientSession, url: str, page_url: str, data: dict[str, Any]) -> tuple[int, str, str]:
    """Post a console form with the CSRF token of the page it lives on: (status, final path, page)."""
    async with client.get(page_url) as response:
        token = csrf_of(await response.text())
    async with client.post(url, data={**data, "csrf_token": token}) as response:
        return response.status, response.url.path, await response.text()
