"""Follow-ups (the Hawaii lesson): a false alarm or correction reaches exactly the people the alert
reached, on the same channels, in the same incident and mode. Through the JSON API, real sandbox."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from alerting.models import Alert
from tests.conftest import System, make_token
from tests.helpers import people_csv, phone


async def people(system: System, count: int, start: int = 0, *, group: bool = True) -> None:
    if group and start == 0:
        await system.call("POST", "/api/v1/groups", json={"name": "Everyone"}, expect=201)
    await system.call("POST", "/api/v1/recipients/import", data=people_csv(count, start=start), expect=200)


async def sent_alert(system: System, *, drill: bool = False, channels: tuple[str, ...] = ("sms", "email"),
                     title: str = "Gas leak", policy: str | None = None) -> dict[str, Any]:
    alert = await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": title, "message": "Leave Building 12 now.", "channels": list(channels), "drill": drill,
        "target": {"groups": ["Everyone"]}, "policy": policy})
    await system.call("POST", f"/api/v1/alerts/{alert['id']}/send", expect=202)
    await system.drain()
    return alert


async def texts(system: System, n: int) -> list[str]:
    return [m["body"] for m in await system.call("GET", "/sandbox/messages", params={"to": phone(n)})
            if m["channel"] == "sms"]


async def test_a_false_alarm_reaches_exactly_the_people_of_the_alert_on_its_channels(system: System) -> None:
    await people(system, 3)
    original = await sent_alert(system, drill=True)
    await people(system, 1, start=3)  # joins Everyone after the alert went out
    body = await system.call("POST", f"/api/v1/alerts/{original['id']}/follow-ups", expect=201,
                             json={"kind": "false_alarm", "send": True})
    await system.drain()
    assert body["started"] is True and body["follow_kind"] == "false_alarm"
    assert body["follows_alert_id"] == original["id"] and body["origin"] == "api"
    assert body["incident"]["id"] == original["incident"]["id"], "same incident"
    assert body["drill"] is True and body["channels"] == ["sms", "email"], "same mode, same channels"
    assert body["target"] == {"alerts": [original["id"]]}
    assert body["message"].startswith("FALSE ALARM: the alert 'Gas leak' sent at ")
    assert body["message"].endswith("was sent in error. There is no emergency. No action is needed.")
    follow_up = await system.call("GET", f"/api/v1/alerts/{body['id']}")
    assert follow_up["recipients"] == 3
    for n in range(3):
        (first, second) = await texts(system, n)
        assert "FALSE ALARM" in second and "TEST" in second, "a drill's false alarm is a drill"
        assert [m.subject for m in system.sandbox.inbox(f"p{n}@example.org")][-1].count("FALSE ALARM") == 1
    assert await texts(system, 3) == [], "someone added to the group since gets nothing"
    assert system.sandbox.inbox("p3@example.org") == []
    assert (await system.call("GET", f"/api/v1/alerts/{original['id']}"))["status"] == "cancelled", \
        "a false alarm stops the original (no one is chased about it)"


async def test_a_correction_carries_the_operators_text_and_is_created_once(system: System) -> None:
    await people(system, 2)
    original = await sent_alert(system, channels=("sms",))
    request = {"kind": "correction", "message": "Leave Building 14, not 12."}
    draft = await system.call("POST", f"/api/v1/alerts/{original['id']}/follow-ups", expect=201, json=request)
    assert draft["status"] == "draft" and draft["drill"] is False
    assert draft["message"].startswith("CORRECTION: Leave Building 14, not 12. This corrects the alert 'Gas leak'")
    assert draft["title"] == "CORRECTION: Gas leak" and draft["recipients"] == 2
    again = await system.call("POST", f"/api/v1/alerts/{original['id']}/follow-ups", expect=201,
                              json={**request, "send": True})
    assert again["id"] == draft["id"] and again["started"] is True, "a double submit sends one correction"
    await system.drain()
    for n in range(2):
        assert "Leave Building 14, not 12." in (await texts(system, n))[-1]
    assert (await system.call("GET", f"/api/v1/alerts/{original['id']}"))["status"] == "sent", \
        "a correction leaves the original running"


async def test_follow_ups_are_refused_for_a_draft_and_bad_input_is_named(system: System) -> None:
    await people(system, 1)
    draft = await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": "T", "message": "M", "channels": ["sms"], "target": {"groups": ["Everyone"]}})
    refused = await system.call("POST", f"/api/v1/alerts/{draft['id']}/follow-ups", expect=409,
                                json={"kind": "false_alarm", "send": True})
    assert "never sent" in refused["error"]["message"]
    await system.call("POST", f"/api/v1/alerts/{draft['id']}/send", expect=202)
    refused = await system.call("POST", f"/api/v1/alerts/{draft['id']}/follow-ups", expect=409,
                                json={"kind": "false_alarm", "send": True})
    assert "not reached anyone yet" in refused["error"]["message"] and "cancel it" in refused["error"]["message"]
    await system.drain()
    sent = await sent_alert(system)
    for body, field in (({"kind": "oops"}, "kind"), ({"kind": "correction"}, "message"),
                        ({"kind": "update", "message": "  "}, "message"),
                        ({"kind": "update", "message": "x", "send": "yes"}, "send")):
        answer = await system.call("POST", f"/api/v1/alerts/{sent['id']}/follow-ups", expect=422, json=body)
        assert answer["error"]["field"] == field, answer
    await system.call("POST", "/api/v1/alerts/999/follow-ups", expect=404, json={"kind": "false_alarm"})
    viewer = make_token(system.runtime, "viewer")
    await system.call("POST", f"/api/v1/alerts/{sent['id']}/follow-ups", expect=403, json={"kind": "false_alarm"},
                      headers={"Authorization": f"Bearer {viewer}"})
    with system.runtime.sessions() as session:
        assert session.scalar(select(Alert.id).where(Alert.follows_alert_id.is_not(None))) is None


async def test_the_alerts_target_part_means_the_people_an_alert_reached(system: System) -> None:
    await people(system, 4)
    sent = await sent_alert(system)
    preview = await system.call("POST", "/api/v1/targets/preview", expect=200,
                                json={"alerts": [sent["id"]], "exclude": {"recipients": ["P00001"]}})
    assert preview["people"] == 3
    draft = await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": "T", "message": "M", "channels": ["sms"], "target": {"groups": ["Everyone"]}})
    for target, message in (({"alerts": [draft["id"]]}, "never sent"), ({"alerts": [424242]}, "no alert"),
                            ({"alerts": ["1"]}, "list of alert ids")):
        answer = await system.call("POST", "/api/v1/alerts", expect=422, json={
            "title": "T", "message": "M", "channels": ["sms"], "target": target})
        assert message in answer["error"]["message"] and answer["error"]["field"] == "target.alerts"


async def test_an_all_clear_comes_from_the_library_template_when_there_is_one(system: System) -> None:
    from alerting.templates import ensure_library
    with system.runtime.sessions.begin() as session:
        ensure_library(session, system.runtime.available_channels)
    await people(system, 1)
    sent = await sent_alert(system, policy=None)
    body = await system.call("POST", f"/api/v1/alerts/{sent['id']}/follow-ups", expect=201,
                             json={"kind": "all_clear"})
    assert body["message"].startswith("All clear: the Gas leak is over.")
    assert body["policy"] is None and body["severity"] == "minor"
