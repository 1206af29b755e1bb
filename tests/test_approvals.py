"""The two-person rule: with TOCSIN_APPROVAL_SEVERITY set, a live alert at that severity or above
waits for a second operator; the submitter can never approve their own (API or page); two approvers
at once send once; drills are exempt; a refusal sends it back to draft with its reason."""
from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from alerting.models import AuditEntry
from tests.conftest import System, make_token
from tests.console_support import console_user, csrf_of
from tests.test_scheduling import PEOPLE, _in, _people, jobs, messages, scheduled_jobs, status

pytestmark = pytest.mark.settings(approval_severity="severe")


async def _draft(system: System, severity: str = "extreme", drill: bool = False) -> int:
    alert = await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": "Chemical release", "message": "Shelter in place now.", "channels": ["sms"],
        "target": {"groups": ["Everyone"]}, "severity": severity, "drill": drill, "policy": None})
    return alert["id"]


async def _as(system: System, token: str, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as client:
        async with client.request(method, f"{system.base_url}{path}", **kwargs) as response:
            return response.status, await response.json()


def _audit(system: System, alert_id: int, action: str) -> list[AuditEntry]:
    with system.runtime.sessions() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.subject_id == str(alert_id),
                                                             AuditEntry.action == action)))


async def test_the_submitter_cannot_approve_and_another_operator_sends_it_once(system: System) -> None:
    await _people(system)
    alert_id = await _draft(system)
    body = await system.call("POST", f"/api/v1/alerts/{alert_id}/send", expect=202)
    assert body["state"] == "awaiting_approval" and body["submitted_by"].startswith("token:")
    await system.drain()
    assert messages(system, alert_id) == 0, "nothing goes out before approval"
    again = await system.call("POST", f"/api/v1/alerts/{alert_id}/send", expect=202)
    assert again["state"] == "awaiting_approval" and not again["started"], "pressing send again is not approval"
    refused = await system.call("POST", f"/api/v1/alerts/{alert_id}/approve", expect=403)
    assert "another operator" in refused["error"]["message"]
    assert status(system, alert_id) == "awaiting_approval"

    second = make_token(system.runtime, "operator")
    code, approved = await _as(system, second, "POST", f"/api/v1/alerts/{alert_id}/approve")
    assert code == 202 and approved["state"] == "sending" and approved["started"]
    assert approved["approved_by"].startswith("token:") and approved["approved_by"] != approved["submitted_by"]
    assert approved["sent_by"] == approved["submitted_by"]
    code, twice = await _as(system, second, "POST", f"/api/v1/alerts/{alert_id}/approve")
    assert code == 202 and not twice["started"]
    await system.drain()
    assert messages(system, alert_id) == PEOPLE
    assert len(_audit(system, alert_id, "alert.approve")) == 1 and len(_audit(system, alert_id, "alert.send")) == 1


async def test_two_approvers_at_once_send_once(system: System) -> None:
    await _people(system)
    alert_id = await _draft(system)
    await system.call("POST", f"/api/v1/alerts/{alert_id}/send", expect=202)
    first, second = make_token(system.runtime, "operator"), make_token(system.runtime, "admin")
    results = await asyncio.gather(*(_as(system, t, "POST", f"/api/v1/alerts/{alert_id}/approve")
                                     for t in (first, second, first, second)))
    assert all(code == 202 for code, _ in results)
    assert sum(body["started"] for _, body in results) == 1
    await system.drain()
    assert messages(system, alert_id) == PEOPLE
    assert len(_audit(system, alert_id, "alert.approve")) == 1 and len(_audit(system, alert_id, "alert.send")) == 1


async def test_drills_and_less_severe_alerts_go_straight_out(system: System) -> None:
    await _people(system)
    drill, minor, unknown = (await _draft(system, drill=True), await _draft(system, severity="moderate"),
                             await _draft(system, severity="unknown"))
    assert (await system.call("POST", f"/api/v1/alerts/{drill}/send", expect=202))["state"] == "sending"
    assert (await system.call("POST", f"/api/v1/alerts/{minor}/send", expect=202))["state"] == "sending"
    body = await system.call("POST", f"/api/v1/alerts/{unknown}/send", expect=202)
    assert body["state"] == "awaiting_approval", "an unknown severity cannot be shown to be below the rule"


async def test_a_refusal_needs_a_reason_and_sends_the_alert_back_to_draft(system: System) -> None:
    await _people(system)
    alert_id = await _draft(system)
    await system.call("POST", f"/api/v1/alerts/{alert_id}/send", json={"scheduled_for": _in(60).isoformat()},
                      expect=202)
    other = make_token(system.runtime, "operator")
    code, body = await _as(system, other, "POST", f"/api/v1/alerts/{alert_id}/reject", json={})
    assert code == 422 and body["error"]["field"] == "reason"
    code, body = await _as(system, other, "POST", f"/api/v1/alerts/{alert_id}/reject",
                           json={"reason": "Wrong building in the text"})
    assert code == 200 and body["status"] == "draft" and body["scheduled_for"] is None and body["submitted_by"] is None
    [entry] = _audit(system, alert_id, "alert.reject")
    assert entry.details["reason"] == "Wrong building in the text"
    code, body = await _as(system, other, "POST", f"/api/v1/alerts/{alert_id}/approve")
    assert code == 409, "a draft is not approved"


async def test_an_approved_alert_with_a_time_is_scheduled(system: System) -> None:
    await _people(system)
    alert_id = await _draft(system)
    at = _in(45)
    body = await system.call("POST", f"/api/v1/alerts/{alert_id}/send", json={"scheduled_for": at.isoformat()},
                             expect=202)
    assert body["state"] == "awaiting_approval" and scheduled_jobs(system) == {}, "no job before approval"
    code, body = await _as(system, make_token(system.runtime, "operator"), "POST", f"/api/v1/alerts/{alert_id}/approve")
    assert code == 202 and body["state"] == "scheduled"
    assert scheduled_jobs(system) == {jobs.scheduled_send_job_id(alert_id, at): at}
    assert jobs.start_scheduled(system.runtime, alert_id, at, now=at)
    await system.drain()
    assert messages(system, alert_id) == PEOPLE


async def test_on_the_page_the_submitter_cannot_approve_but_a_colleague_can(system: System) -> None:
    await _people(system)
    alert_id = await _draft(system)
    alice = await console_user(system.runtime, system.base_url, "operator")
    bob = await console_user(system.runtime, system.base_url, "admin")
    async with alice, bob:
        async with alice.get(f"{system.base_url}/calendar") as response:
            token = csrf_of(await response.text())
        async with alice.post(f"{system.base_url}/api/v1/alerts/{alert_id}/send",
                              headers={"X-CSRF-Token": token}) as response:
            body = await response.json()
            assert response.status == 202 and body["submitted_by"] == "user:operator@test.example.org"
        async with alice.get(f"{system.base_url}/calendar") as response:
            page = await response.text()
            assert "Awaiting a second operator" in page and "another operator must approve it" in page
            assert f'action="/alerts/{alert_id}/approve"' not in page, "no approve button for the submitter"
        async with alice.post(f"{system.base_url}/alerts/{alert_id}/approve",
                              data={"csrf_token": token, "confirm": "yes"}) as response:
            page = await response.text()
            assert response.status == 403 and "another operator" in page and "Traceback" not in page
        assert status(system, alert_id) == "awaiting_approval"

        async with bob.get(f"{system.base_url}/calendar") as response:
            bob_token = csrf_of(page := await response.text())
            assert f'action="/alerts/{alert_id}/approve"' in page
        async with bob.post(f"{system.base_url}/alerts/{alert_id}/approve",
                            data={"csrf_token": bob_token, "next": "/calendar"}) as response:
            page = await response.text()
            assert response.status == 200 and "Approve this LIVE alert to 5 people by SMS" in page
            assert status(system, alert_id) == "awaiting_approval", "the first press only asks for confirmation"
        async with bob.post(f"{system.base_url}/alerts/{alert_id}/approve",
                            data={"csrf_token": bob_token, "next": "/calendar", "confirm": "yes"}) as response:
            assert response.status == 200 and response.url.path == "/calendar"
    await system.drain()
    assert messages(system, alert_id) == PEOPLE
    [entry] = _audit(system, alert_id, "alert.approve")
    assert entry.actor == "user:admin@test.example.org"
