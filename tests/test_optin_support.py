"""The opt-in tests' system: the real app and the sandbox, whose phones may text Tocsin first (a
default account and number to reply from)."""
from __future__ import annotations

from typing import Any, AsyncIterator

import pytest

from ops.runtime import Runtime
from ops.settings import SANDBOX_ACCOUNT_SID, SANDBOX_FROM_NUMBER
from tests.conftest import SANDBOX_TOKEN, System, running_system

NORTHSIDE = {"name": "Northside", "geometry": {"type": "Polygon", "coordinates": [
    [[-77.05, 38.90], [-77.00, 38.90], [-77.00, 38.95], [-77.05, 38.95], [-77.05, 38.90]]]}}
FILL_S = 0.2
SOUTHSIDE = {"name": "Southside", "circle": {"lat": 38.80, "lon": -77.02, "radius_m": 2000}}


def fast_forms(app: Any) -> None:
    """Forms may come back fast in tests (the fill-time rule has its own test)."""
    from console import public_signup
    app[public_signup.SIGNUP_CONFIG] = public_signup.SignupConfig(min_fill_s=FILL_S, per_ip_per_hour=30)


@pytest.fixture
async def optin(runtime: Runtime, aiohttp_server: Any) -> AsyncIterator[System]:
    async with running_system(runtime, aiohttp_server, prepare=fast_forms) as system:
        system.sandbox.configure({"default_account": {"sid": SANDBOX_ACCOUNT_SID, "token": SANDBOX_TOKEN},
                                  "default_from": SANDBOX_FROM_NUMBER})
        yield system


async def text(system: System, number: str, body: str) -> list[str]:
    """A phone texts Tocsin; returns Tocsin's answers."""
    result = await system.call("POST", "/sandbox/sms/reply", json={"from": number, "body": body}, expect=200)
    return result["replies"]


async def inbox(system: System, address: str) -> list[dict]:
    return await system.call("GET", "/sandbox/messages", params={"to": address})


async def send_alert(system: System, target: dict, *, channels: tuple[str, ...] = ("sms",),
                     title: str = "Gas leak") -> int:
    alert = await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": title, "message": f"{title}: stay indoors.", "channels": list(channels), "target": target})
    await system.call("POST", f"/api/v1/alerts/{alert['id']}/send", expect=202)
    await system.drain()
    return alert["id"]


async def signup_form(system: System, lang: str = "en") -> str:
    """The sign-up page's form token, once a person could have filled the form."""
    import asyncio
    import re
    page = await system.call("GET", "/subscribe", params={"lang": lang}, expect=200)
    await asyncio.sleep(FILL_S)
    return re.search(r'name="form_token" value="([^"]+)"', page).group(1)


async def sign_up(system: System, expect: int = 200, **fields: Any) -> str:
    """Post the sign-up form (consent given unless told otherwise); returns the page."""
    token = fields.pop("form_token", None) or await signup_form(system)
    data: list[tuple[str, str]] = [("form_token", token), ("consent", "yes")]
    for name, value in fields.items():
        if name == "zones":
            data.extend(("zones", z) for z in value)
        elif value is None:
            data = [(k, v) for k, v in data if k != name]
        else:
            data.append((name, str(value)))
    return await system.call("POST", "/subscribe", data=data, expect=expect)


async def code_for(system: System, number: str) -> str:
    import re
    texts = [m["body"] for m in await inbox(system, number) if "code" in m["body"]]
    return re.search(r"\b(\d{6})\b", texts[-1]).group(1)


def verify_token(page: str) -> str:
    import re
    return re.search(r'name="verify_token" value="([^"]+)"', page).group(1)
