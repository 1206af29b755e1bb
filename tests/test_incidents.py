"""Accountability belongs to the incident: answers carry over to its later alerts."""
from __future__ import annotations

from tests.conftest import System
from tests.helpers import people_csv, phone


async def _alert(system: System, title: str, **extra: object) -> dict:
    alert = await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": title, "message": f"{title}: stay away from the river.", "channels": ["sms"],
        "target": {"groups": ["Everyone"]}, **extra})
    await system.call("POST", f"/api/v1/alerts/{alert['id']}/send", expect=202)
    await system.drain()
    return alert


async def _reply(system: System, n: int, body: str) -> None:
    await system.call("POST", "/sandbox/sms/reply", json={"from": phone(n), "body": body}, expect=200)


async def test_an_update_keeps_earlier_answers_and_the_board_rolls_up(system: System) -> None:
    await system.call("POST", "/api/v1/groups", json={"name": "Everyone"}, expect=201)
    await system.call("POST", "/api/v1/recipients/import", data=people_csv(6), expect=200)
    first = await _alert(system, "Flood warning")
    await _reply(system, 0, "SAFE")
    await _reply(system, 1, "HELP")
    await _reply(system, 2, "on my way")
    update = await _alert(system, "Flood update", incident_id=first["incident"]["id"])
    summary = await system.call("GET", f"/api/v1/alerts/{update['id']}")
    assert summary["responses"] == {"safe": 1, "need_help": 1, "acknowledged": 1, "no_response": 3}
    # Answering the update counts for it; a later HELP surfaces over an earlier SAFE.
    await _reply(system, 0, "HELP")
    await _reply(system, 3, "SAFE")
    summary = await system.call("GET", f"/api/v1/alerts/{update['id']}")
    assert summary["responses"] == {"safe": 1, "need_help": 2, "acknowledged": 1, "no_response": 2}
    board = await system.call("GET", f"/api/v1/incidents/{first['incident']['id']}", expect=200)
    assert [a["id"] for a in board["alerts"]] == [first["id"], update["id"]]
    assert board["people"] == 6 and board["responses"] == summary["responses"]
    # Another incident starts fresh.
    other = await _alert(system, "Water main break")
    assert (await system.call("GET", f"/api/v1/alerts/{other['id']}"))["responses"]["no_response"] == 6
    await system.call("GET", "/api/v1/incidents/999", expect=404)
