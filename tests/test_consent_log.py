"""Consent records without a server: append-only tables, versioned texts, pseudonyms, and who may be
messaged (consent.unconsented, applied by dispatch.write_pending)."""
from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DatabaseError

from alerting import consent
from alerting.models import ConsentContact, ConsentEvent, ConsentText, OptOut, Recipient, Subscriber
from ops.database import make_engine, make_sessions

KEY = "test-key"


@pytest.fixture
def sessions(database_url: str):  # noqa: ANN201
    engine = make_engine(database_url)
    yield make_sessions(engine)
    engine.dispose()


def test_the_consent_log_and_texts_are_append_only(sessions) -> None:  # noqa: ANN001
    with sessions.begin() as session:
        consent.opt_in(session, KEY, "sms", "+12025550001", method=consent.Method.KEYWORD,
                       text_version=consent.consent_text(session, consent.SMS_KEYWORD_VERSION, "en",
                                                         org_name="Town").version)
    for statement in (update(ConsentEvent).values(action="opt_out"), delete(ConsentEvent),
                      update(ConsentText).values(text="something else"), delete(ConsentText)):
        with pytest.raises(DatabaseError, match="append-only"), sessions.begin() as session:
            session.execute(statement)
    with sessions() as session:
        assert session.scalar(select(ConsentEvent.action)) == "opt_in"


def test_consent_texts_are_versioned_per_language(sessions) -> None:  # noqa: ANN001
    with sessions.begin() as session:
        spanish = consent.consent_text(session, consent.WEB_VERSION, "es-MX", org_name="Villa")
        again = consent.consent_text(session, consent.WEB_VERSION, "es", org_name="Villa")
        unknown = consent.consent_text(session, consent.WEB_VERSION, "de", org_name="Villa")
        assert spanish.id == again.id and spanish.locale == "es" and "Villa" in spanish.text
        assert unknown.locale == "en"


def test_the_log_holds_no_address_only_a_keyed_hash(sessions) -> None:  # noqa: ANN001
    number = "+12025550002"
    with sessions.begin() as session:
        consent.requested(session, KEY, "sms", number, method=consent.Method.WEB, text_version="web-1", locale="en")
        consent.opt_in(session, KEY, "sms", number, method=consent.Method.WEB, text_version="web-1")
        consent.opt_out(session, KEY, "sms", number, method=consent.Method.KEYWORD, source="sms-keyword")
        assert session.scalar(select(OptOut.address)) == number
        consent.opt_in(session, KEY, "sms", number, method=consent.Method.KEYWORD, text_version=None)
        assert session.scalar(select(OptOut.address)) is None, "opting in again lifts the opt-out"
    with sessions() as session:
        events = session.scalars(select(ConsentEvent).order_by(ConsentEvent.id)).all()
        assert [e.action for e in events] == ["requested", "opt_in", "opt_out", "opt_in"]
        assert {e.address_hash for e in events} == {consent.contact_hash(KEY, "sms", number)}
        assert consent.contact_hash("another-key", "sms", number) != events[0].address_hash
        assert all(number not in str(e.details) for e in events)


def test_self_subscribers_need_consent_per_channel_imported_people_do_not(sessions) -> None:  # noqa: ANN001
    with sessions.begin() as session:
        imported = Recipient(external_id="E1", phone="+12025550003", email="e1@example.org")
        resident = Recipient(external_id="sub-1", phone="+12025550004", email="r@example.org")
        session.add_all([imported, resident])
        session.flush()
        session.add(Subscriber(recipient_id=resident.id, source="web", zones=[]))
        consent.opt_in(session, KEY, "sms", resident.phone, method=consent.Method.WEB, text_version="web-1",
                       recipient_id=resident.id)
        rows = [(imported.id, imported.phone), (resident.id, resident.phone)]
        assert consent.unconsented(session, "sms", rows) == set()
        assert consent.unconsented(session, "voice", rows) == {resident.phone}, "texts were agreed, not calls"
        assert consent.unconsented(session, "email", [(imported.id, imported.email), (resident.id, resident.email)]) \
            == {resident.email}
        assert consent.unconsented(session, "push", [(resident.id, "7")]) == set(), "the browser asked them"
        consent.opt_out(session, KEY, "sms", resident.phone, method=consent.Method.KEYWORD, source="sms-keyword")
        assert consent.unconsented(session, "sms", rows) == {resident.phone}
        assert session.scalar(select(ConsentContact.status)) == consent.WITHDRAWN
