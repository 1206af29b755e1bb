"""Quick launch: an admin binds a template to a secret URL; a GET only shows what would be sent, a
POST (page or API, no session, no token) sends once, a repeat within the window returns the same
alert, a revoked or unknown secret is a 404, and every launch is audited."""
from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from alerting import quick_launches, templates
from alerting.models import Alert, AlertRecipient, AuditEntry, QuickLaunch, Recipient
from tests.conftest import System
from tests.console_support import console_user, csrf_of, post_form
from tests.helpers import people_csv
from tests.test_scheduling import messages

DESK = 3  # people in the bound group; two more people are not in it


async def _setup(system: System) -> int:
    """People (3 at the desk, 2 elsewhere) and the template library; returns the Lockdown template's id."""
    for name in ("Desk", "Other"):
        await system.call("POST", "/api/v1/groups", json={"name": name}, expect=201)
    await system.call("POST", "/api/v1/recipients/import", data=people_csv(DESK, groups="Desk"), expect=200)
    await system.call("POST", "/api/v1/recipients/import", data=people_csv(2, groups="Other", start=DESK), expect=200)
    with system.runtime.sessions.begin() as session:
        templates.ensure_library(session, system.runtime.available_channels)
        return next(t.id for t in templates.list_templates(session) if t.name == "Lockdown")


def _create(system: System, template_id: int, **extra: Any) -> tuple[int, str]:
    with system.runtime.sessions.begin() as session:
        quick_launch, secret = quick_launches.create(session, {
            "name": extra.pop("name", "Front desk panic button"), "template_id": template_id,
            "values": {"threat": "An armed person", "location": "the front desk"},
            "target": {"groups": ["Desk"]}, "channels": ["sms"], "policy": "none", **extra},
            actor="user:admin@test.example.org", available_channels=system.runtime.available_channels)
        return quick_launch.id, secret


def _alerts(system: System, quick_launch_id: int) -> list[Alert]:
    with system.runtime.sessions() as session:
        return list(session.scalars(select(Alert).where(Alert.origin == f"quick_launch:{quick_launch_id}")))


async def _post(url: str, **kwargs: Any) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as anonymous:  # no session cookie, no token
        async with anonymous.post(url, **kwargs) as response:
            return response.status, response.content_type, await response.text()


async def test_get_shows_the_launch_and_never_sends_then_post_sends_once(system: System) -> None:
    template_id = await _setup(system)
    ql_id, secret = _create(system, template_id, drill=True)
    async with aiohttp.ClientSession() as anonymous:
        for _ in range(3):  # a link previewer, a prefetch, a person
            async with anonymous.get(f"{system.base_url}/launch/{secret}") as response:
                page = await response.text()
                assert response.status == 200 and response.headers["Referrer-Policy"] == "no-referrer"
        assert "DRILL: a test message to 3 people by SMS" in page and "Send DRILL alert to 3 people" in page
        assert "LOCKDOWN: the front desk" in page
    assert _alerts(system, ql_id) == [], "a GET never sends"

    code, _, page = await _post(f"{system.base_url}/launch/{secret}")
    assert code == 200 and "is being sent to 3 people by SMS" in page
    code, _, page = await _post(f"{system.base_url}/launch/{secret}")
    assert code == 200 and "Already launched" in page
    [alert] = _alerts(system, ql_id)
    assert alert.drill and alert.created_by == "quick_launch:Front desk panic button"
    await system.drain()
    assert messages(system, alert.id) == DESK

    with system.runtime.sessions() as session:
        audited = session.execute(select(AuditEntry.actor, AuditEntry.action).where(
            AuditEntry.action.like("quick_launch.%")).order_by(AuditEntry.id)).all()
        assert [tuple(a) for a in audited] == [
            ("user:admin@test.example.org", "quick_launch.create"),
            ("quick_launch:Front desk panic button", "quick_launch.launch"),
            ("quick_launch:Front desk panic button", "quick_launch.repeat")]
        send = session.scalar(select(AuditEntry).where(AuditEntry.action == "alert.send"))
        assert send.actor == "quick_launch:Front desk panic button"
        assert session.get(QuickLaunch, ql_id).last_used_at is not None


async def test_the_api_launches_without_a_token_and_reaches_exactly_the_bound_target(system: System) -> None:
    template_id = await _setup(system)
    ql_id, secret = _create(system, template_id)
    code, kind, text = await _post(f"{system.base_url}/api/v1/launch/{secret}")
    assert code == 202 and kind == "application/json", text
    body = json.loads(text)
    assert body["state"] == "sending" and not body["repeat"] and body["drill"] is False and body["audience"] == DESK
    code, _, again = await _post(f"{system.base_url}/api/v1/launch/{secret}")
    assert code == 202 and json.loads(again)["alert_id"] == body["alert_id"] and json.loads(again)["repeat"]
    await system.drain()
    with system.runtime.sessions() as session:
        alert = session.get(Alert, body["alert_id"])
        assert alert.target == {"groups": ["Desk"]} and alert.origin == f"quick_launch:{ql_id}"
        reached = set(session.scalars(select(Recipient.external_id).join(
            AlertRecipient, AlertRecipient.recipient_id == Recipient.id).where(AlertRecipient.alert_id == alert.id)))
        desk = set(session.scalars(select(Recipient.external_id).where(Recipient.external_id < f"P{DESK:05d}")))
        assert reached == desk and len(reached) == DESK
    assert messages(system, body["alert_id"]) == DESK


async def test_after_the_window_a_press_launches_again(system: System) -> None:
    template_id = await _setup(system)
    ql_id, secret = _create(system, template_id, drill=True)
    channels = system.runtime.available_channels
    with system.runtime.sessions.begin() as session:
        first, repeat = quick_launches.launch(session, secret, approval_severity=None, available_channels=channels)
        used = session.get(QuickLaunch, ql_id).last_used_at
    assert not repeat and first.changed
    with system.runtime.sessions.begin() as session:
        later, repeat = quick_launches.launch(session, secret, approval_severity=None, available_channels=channels,
                                              now=used + quick_launches.WINDOW + timedelta(seconds=1))
    assert not repeat and later.alert.id != first.alert.id


async def test_revoked_and_unknown_secrets_are_the_same_404(system: System) -> None:
    template_id = await _setup(system)
    ql_id, secret = _create(system, template_id)
    with system.runtime.sessions.begin() as session:
        quick_launches.revoke(session, ql_id, actor="user:admin@test.example.org")
    answers = []
    for candidate in (secret, "ql_" + "x" * 43):
        async with aiohttp.ClientSession() as anonymous:
            async with anonymous.get(f"{system.base_url}/launch/{candidate}") as response:
                answers.append((response.status, await response.text()))
        code, _, text = await _post(f"{system.base_url}/launch/{candidate}")
        answers.append((code, text))
        code, _, text = await _post(f"{system.base_url}/api/v1/launch/{candidate}")
        answers.append((code, text))
    assert all(code == 404 for code, _ in answers)
    assert answers[:3] == answers[3:], "revoked and unknown look the same"
    assert _alerts(system, ql_id) == []


@pytest.mark.settings(approval_severity="severe")
async def test_quick_launches_obey_the_two_person_rule_unless_the_admin_said_otherwise(system: System) -> None:
    template_id = await _setup(system)
    _, obeys = _create(system, template_id)
    _, skips = _create(system, template_id, name="Panic button, no wait", skip_approval=True)
    _, drill = _create(system, template_id, name="Monthly drill", drill=True)
    states = []
    for secret in (obeys, skips, drill):
        code, _, text = await _post(f"{system.base_url}/api/v1/launch/{secret}")
        assert code == 202
        states.append(re.search(r'"state": "(\w+)"', text).group(1))
    assert states == ["awaiting_approval", "sending", "sending"]


async def test_an_admin_creates_a_launch_url_shown_once_and_revokes_it(system: System) -> None:
    template_id = await _setup(system)
    admin = await console_user(system.runtime, system.base_url, "admin")
    operator = await console_user(system.runtime, system.base_url, "operator")
    async with admin, operator:
        async with admin.get(f"{system.base_url}/quick-launch?template={template_id}") as response:
            page = await response.text()
            assert response.status == 200 and 'name="values.threat"' in page
        code, _, page = await post_form(admin, f"{system.base_url}/quick-launch",
                                           f"{system.base_url}/quick-launch?template={template_id}", {
            "template_id": str(template_id), "name": "Security desk QR", "values.threat": "A fire",
            "values.location": "the lobby", "groups": "Desk", "channels": "sms", "policy": "none"})
        assert code == 422 and "choose LIVE or DRILL" in page, "the mode is never assumed"
        code, _, page = await post_form(admin, f"{system.base_url}/quick-launch",
                                           f"{system.base_url}/quick-launch?template={template_id}", {
            "template_id": str(template_id), "name": "Security desk QR", "values.threat": "A fire",
            "values.location": "the lobby", "groups": "Desk", "channels": "sms", "policy": "none", "mode": "drill"})
        assert code == 200 and "shown only this once" in page
        url = re.search(r'id="launch-url">([^<]+)<', page).group(1)
        assert url.startswith(f"{system.base_url}/launch/ql_")
        secret = url.rsplit("/", 1)[1]
        with system.runtime.sessions() as session:
            stored = session.scalar(select(QuickLaunch).where(QuickLaunch.name == "Security desk QR"))
            assert secret not in stored.token_hash and len(stored.token_hash) == 64
        async with admin.get(f"{system.base_url}/quick-launch") as response:
            listing = await response.text()
            assert "Security desk QR" in listing and secret not in listing
        async with operator.get(f"{system.base_url}/quick-launch") as response:
            assert response.status == 403
        async with admin.post(f"{system.base_url}/quick-launch/{stored.id}/revoke",
                              data={"csrf_token": csrf_of(listing)}) as response:
            assert response.status == 200 and "revoked" in await response.text()
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(url) as response:
            assert response.status == 404
    with system.runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Alert)) == 0
