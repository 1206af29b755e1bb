"""Issue 10 acceptance, privacy: an export returns a person's data; an erase leaves no phone number
or email of theirs anywhere in the database (every text column of every table is scanned), while
delivery history stays, anonymised, and the consent log keeps its proof under a hash."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import inspect, select, text as sql, update

from alerting import consent, privacy
from alerting.models import ConsentContact, ConsentEvent, Delivery, PushSubscription, Recipient, Response, utcnow
from tests.conftest import System
from tests.helpers import phone
from tests.test_optin_support import NORTHSIDE, inbox, send_alert, text
from tests.test_optin_support import optin  # noqa: F401 (a fixture, used by name)

EMAIL = "Dana.Resident@Example.org"


def _everything_textual(system: System) -> list[tuple[str, str, str]]:
    """(table, column, value) for every text-like value in the database."""
    found = []
    with system.runtime.engine.connect() as conn:
        inspector = inspect(conn)
        for table in inspector.get_table_names():
            columns = [c["name"] for c in inspector.get_columns(table)
                       if any(t in str(c["type"]).upper() for t in ("CHAR", "TEXT", "JSON", "CLOB"))]
            for column in columns:
                for (value,) in conn.execute(sql(f'SELECT "{column}" FROM "{table}"')):
                    if value is not None:
                        found.append((table, column, str(value)))
    return found


def _traces(system: System, *needles: str) -> list[tuple[str, str]]:
    lowered = [n.lower() for n in needles]
    return sorted({(t, c) for t, c, v in _everything_textual(system) if any(n in v.lower() for n in lowered)})


async def test_export_then_erase_leaves_no_number_or_email(optin: System) -> None:
    await optin.call("POST", "/api/v1/zones", json=NORTHSIDE, expect=201)
    number = phone(31)
    # A resident subscribes by keyword, gives an email too (by the API), answers, stops, restarts.
    await text(optin, number, "JOIN NORTHSIDE")
    await text(optin, number, "YES")
    with optin.runtime.sessions.begin() as session:
        person = session.scalar(select(Recipient).where(Recipient.phone == number))
        person.email, person.name = "Dana.Resident@example.org", "Dana Resident"
        external_id = person.external_id
        consent.opt_in(session, optin.runtime.secret_key, "email", person.email, method=consent.Method.API,
                       text_version=None, recipient_id=person.id, actor="test")
        session.add(PushSubscription(recipient_id=person.id, endpoint="https://push.example/abc", p256dh="k", auth="a"))
    await send_alert(optin, {"zones": ["Northside"]}, channels=("sms", "email"))
    await text(optin, number, f"SAFE, call me at {number} or {EMAIL}")
    await text(optin, number, "STOP")
    await text(optin, number, "START")
    await text(optin, number, "what?")

    exported = await optin.call("GET", f"/api/v1/recipients/{external_id}/export", expect=200)
    assert exported["person"]["phone"] == number and exported["person"]["name"] == "Dana Resident"
    assert {c["channel"] for c in exported["consent"]} == {"sms", "email"}
    assert [e["action"] for e in exported["consent_log"]][:2] == ["requested", "opt_in"]
    assert {d["channel"] for d in exported["deliveries"]} == {"sms", "email"}
    assert exported["responses"] and exported["push_subscriptions"][0]["endpoint"] == "https://push.example/abc"
    assert exported["subscription"]["zones"] == ["Northside"]
    assert _traces(optin, number, EMAIL), "the person is in the database before the erase"

    erased = await optin.call("POST", f"/api/v1/recipients/{external_id}/erase", expect=200)
    assert erased["erased"] is True and erased["deliveries_anonymised"] == 2
    traces = _traces(optin, number, number.lstrip("+"), number[-10:], EMAIL, "Dana Resident")
    assert traces == [], f"left behind in {traces}"
    await optin.call("GET", f"/api/v1/recipients/{external_id}", expect=404)
    with optin.runtime.sessions() as session:
        # The records stay, without the person: deliveries, and the consent proof under its hash.
        assert len(session.scalars(select(Delivery)).all()) == 2
        digest = consent.contact_hash(optin.runtime.secret_key, "sms", number)
        contact = session.scalar(select(ConsentContact).where(ConsentContact.address_hash == digest))
        assert contact.address is None
        actions = session.scalars(select(ConsentEvent.action).where(ConsentEvent.address_hash == digest)
                                  .order_by(ConsentEvent.id)).all()
        assert actions == ["requested", "opt_in", "opt_out", "opt_in", "erased"]
        assert session.scalars(select(PushSubscription)).all() == []
    audit = [a["action"] for a in await _audit(optin)]
    assert "recipient.export" in audit and "recipient.erase" in audit
    # An erased person is reached by nothing.
    await optin.call("POST", "/api/v1/recipients", json={"external_id": "N1", "phone": phone(32),
                                                        "locations": [{"label": "home", "lat": 38.92, "lon": -77.03}]},
                     expect=201)
    before = len(await inbox(optin, number))
    await send_alert(optin, {"zones": ["Northside"]}, title="After")
    assert len(await inbox(optin, number)) == before


async def _audit(system: System) -> list[dict]:
    from alerting.models import AuditEntry
    with system.runtime.sessions() as session:
        return [{"action": a.action} for a in session.scalars(select(AuditEntry))]


async def test_export_and_erase_are_for_admins(optin: System) -> None:
    from tests.conftest import make_token
    await optin.call("POST", "/api/v1/recipients", json={"external_id": "X1", "phone": phone(33)}, expect=201)
    operator = make_token(optin.runtime, "operator")
    headers = {"Authorization": f"Bearer {operator}"}
    await optin.call("GET", "/api/v1/recipients/X1/export", headers=headers, expect=403)
    await optin.call("POST", "/api/v1/recipients/X1/erase", headers=headers, expect=403)
    await optin.call("POST", "/api/v1/recipients/NOPE/erase", expect=404)


async def test_retention_deletes_old_deliveries_and_blanks_old_replies(optin: System) -> None:
    await optin.call("POST", "/api/v1/recipients", json={"external_id": "R1", "phone": phone(34),
                                                        "groups": []}, expect=201)
    await send_alert(optin, {"recipients": ["R1"]})
    await text(optin, phone(34), "safe, at the library")
    with optin.runtime.sessions.begin() as session:
        old = utcnow() - timedelta(days=40)
        session.execute(update(Delivery).values(created_at=old))
        session.execute(update(Response).values(received_at=old))
        kept = privacy.apply_retention(session, delivery_days=None, body_days=None)
        assert kept["deliveries"] == 0 and kept["bodies"] == 0
        counts = privacy.apply_retention(session, delivery_days=30, body_days=30)
    assert counts["deliveries"] == 1 and counts["bodies"] == 1
    with optin.runtime.sessions() as session:
        assert session.scalar(select(Response.raw_text)) == ""


async def test_retention_runs_daily_from_a_job(optin: System) -> None:
    from datetime import datetime, timezone

    from ops import jobs
    now = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)
    assert jobs.schedule_retention(optin.runtime.redis, now=now) is True
    assert jobs.schedule_retention(optin.runtime.redis, now=now) is False, "once a day, however often asked"
    assert jobs.retention_job_id(datetime(2026, 11, 24, 3, tzinfo=timezone.utc)) == "retention-20261124"
    assert jobs.retention() == {"deliveries": 0, "bodies": 0, "requests": 0}
