"""No phone number, email address or message text in the logs at INFO, on the paths the send test
(tests/test_logs.py) does not walk: failed sign-ins, rejected import rows, forged and unknown-sender
webhooks, STOP/START, texts from strangers, a voice call and its key press."""
from __future__ import annotations

import logging

import aiohttp
import pytest

from tests.conftest import System
from tests.console_support import csrf_of

SECRET_WORDS = "Gas leak near the loading dock"
STRANGER = "+12025550188"
MEMBER = "+12025550177"
BAD_PHONE = "+1202555ZZZZ"
EMAIL = "dana.private@example.org"


def _leaks(records: list[logging.LogRecord], words: list[str]) -> list[str]:
    fmt = logging.Formatter("%(name)s %(levelname)s %(message)s")
    out = []
    for record in records:
        line = fmt.format(record) + (fmt.formatException(record.exc_info) if record.exc_info else "")
        out += [f"{w!r} in: {line[:300]}" for w in words if w in line]
    return out


async def test_edge_paths_log_no_personal_data(system: System, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    # Sign-in failures name no address.
    async with aiohttp.ClientSession() as browser:
        async with browser.get(f"{system.base_url}/login") as page:
            token = csrf_of(await page.text())
        async with browser.post(f"{system.base_url}/login",
                                data={"email": EMAIL, "password": "wrong password!", "csrf_token": token}) as r:
            assert r.status in (200, 401, 403)
    # An import with a bad row: the reason goes back to the caller, not into the log.
    await system.call("POST", "/api/v1/groups", json={"name": "Everyone"}, expect=201)
    csv = (f"external_id,name,phone,email,groups\nM1,Mo Member,{MEMBER},{EMAIL},Everyone\n"
           f"M2,Bad Number,{BAD_PHONE},bad@@example.org,Everyone\n").encode()
    await system.call("POST", "/api/v1/recipients/import", data=csv, expect=200)
    alert = await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": SECRET_WORDS, "message": SECRET_WORDS, "channels": ["sms", "voice"],
        "target": {"groups": ["Everyone"]}, "policy": None})
    await system.call("POST", f"/api/v1/alerts/{alert['id']}/send", expect=202)
    await system.drain()
    # A forged webhook carrying a number and text, a stranger's text, STOP and START, a key press.
    await system.call("POST", "/hooks/twilio/sms", data={"From": STRANGER, "Body": SECRET_WORDS},
                      headers={"X-Twilio-Signature": "forged"}, expect=403)
    settings = system.runtime.settings
    await system.call("POST", "/sandbox/config", expect=200, json={
        "default_account": {"sid": settings.twilio_account_sid, "token": settings.twilio_auth_token},
        "default_from": settings.twilio_senders[0]})  # a stranger texts our number out of the blue
    for phone, body in ((STRANGER, "who is this " + SECRET_WORDS), (MEMBER, "STOP"), (MEMBER, "START"),
                        (MEMBER, "my private words")):
        await system.call("POST", "/sandbox/sms/reply", json={"from": phone, "body": body}, expect=200)
    await system.call("POST", "/sandbox/voice/press", json={"to": MEMBER, "digits": "2"})
    assert caplog.records, "nothing logged at INFO: the test would prove nothing"
    words = [STRANGER, MEMBER, STRANGER[2:], MEMBER[2:], "ZZZZ", EMAIL, "bad@@example.org", SECRET_WORDS,
             "my private words", "Mo Member"]
    assert _leaks(caplog.records, words) == []
