"""Privacy: everything held about one person (export), erasing them, and retention.

Erasing keeps the records an organisation must keep, without the person in them:

    recipients            the row stays (deliveries and answers refer to it) with no name, phone,
                          email, attributes or external id ("erased-<random>")
    locations, groups, push subscriptions, subscriber row, pending codes and links: deleted
    deliveries            kept; the address they went to and provider error texts blanked
    responses             kept; the text of the reply blanked
    consent contacts      kept with their keyed hash, address blanked; the append-only consent log
                          never held an address, so the proof of consent survives (with an "erased" entry)
    opt-outs, auto-reply counters for the number or address: deleted unless someone else still uses it

Retention (`apply_retention`, run daily by a worker job): deliveries older than the configured days
are deleted; reply texts older than theirs are blanked; expired codes and links are purged.
"""
from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, false, or_, select, update
from sqlalchemy.orm import Session

from alerting import audit, consent
from alerting.directory import get_recipient, recipient_as_dict
from alerting.models import (AlertRecipient, AutoReply, ConsentContact, Delivery, OptOut, PushSubscription,
                             Recipient, RecipientGroup, RecipientLocation, Response, Subscriber,
                             SubscriptionRequest, utcnow)
from alerting.statuses import Channel
from alerting.timefmt import iso


def export(session: Session, external_id: str, *, actor: str) -> dict[str, Any]:
    """Everything Tocsin holds about one person, as JSON-ready values."""
    person = get_recipient(session, external_id)
    subscriber = session.get(Subscriber, person.id)
    contacts = consent.contacts_of(session, person.id)
    data = {
        "person": recipient_as_dict(person),
        "created_at": iso(person.created_at),
        "subscription": None if subscriber is None else {
            "source": subscriber.source, "zones": subscriber.zones, "created_at": iso(subscriber.created_at)},
        "consent": [{"channel": c.channel, "address": c.address, "status": c.status, "authority": c.authority,
                     "updated_at": iso(c.updated_at)} for c in contacts],
        "consent_log": consent.history(session, contacts),
        "opt_outs": [{"channel": o.channel, "address": o.address, "source": o.source, "created_at": iso(o.created_at)}
                     for o in session.scalars(select(OptOut).where(_addresses_of(person, OptOut)))],
        "push_subscriptions": [{"endpoint": p.endpoint, "user_agent": p.user_agent, "created_at": iso(p.created_at),
                                "gone_at": iso(p.gone_at)}
                               for p in session.scalars(select(PushSubscription)
                                                        .where(PushSubscription.recipient_id == person.id))],
        "alerts": [{"alert_id": a.alert_id, "response": a.response, "first_response_at": iso(a.first_response_at)}
                   for a in session.scalars(select(AlertRecipient).where(AlertRecipient.recipient_id == person.id)
                                            .order_by(AlertRecipient.alert_id))],
        "deliveries": [{"alert_id": d.alert_id, "channel": d.channel, "attempt": d.attempt, "address": d.address,
                        "provider": d.provider, "status": d.status, "created_at": iso(d.created_at),
                        "delivered_at": iso(d.delivered_at), "failed_at": iso(d.failed_at)}
                       for d in session.scalars(select(Delivery).where(Delivery.recipient_id == person.id)
                                                .order_by(Delivery.id))],
        "responses": [{"alert_id": r.alert_id, "kind": r.kind, "channel": r.channel, "text": r.raw_text,
                       "received_at": iso(r.received_at), "counted": r.counted}
                      for r in session.scalars(select(Response).where(Response.recipient_id == person.id)
                                               .order_by(Response.id))],
    }
    audit.record(session, actor, "recipient.export", "recipient", person.id)
    return data


def _addresses_of(person: Recipient, table: Any) -> Any:
    pairs = [(Channel.SMS, person.phone), (Channel.VOICE, person.phone), (Channel.EMAIL, person.email)]
    return or_(false(), *[(table.channel == c) & (table.address == a) for c, a in pairs if a])


def erase(session: Session, key: str, external_id: str, *, actor: str) -> dict[str, int]:
    """Erase a person (see the module docstring); returns what was removed or blanked, by kind."""
    person = get_recipient(session, external_id)
    return _erase(session, key, person, actor=actor)


def _erase(session: Session, key: str, person: Recipient, *, actor: str) -> dict[str, int]:
    phone, email, rid = person.phone, person.email, person.id
    counts: dict[str, int] = {}
    addresses = [(c, a) for c, a in ((Channel.SMS, phone), (Channel.VOICE, phone), (Channel.EMAIL, email)) if a]
    # Consent: an "erased" entry for each contact, then the addresses go (hashes and the log stay).
    contacts = {c.id for c in consent.contacts_of(session, rid)}
    for channel, address in addresses:
        found = session.scalar(select(ConsentContact).where(
            ConsentContact.channel == channel, ConsentContact.address_hash == consent.contact_hash(key, channel, address)))
        if found is not None:
            found.recipient_id = rid
            contacts.add(found.id)
    for contact in session.scalars(select(ConsentContact).where(ConsentContact.id.in_(contacts))):
        consent.record_erased(session, contact, actor=actor)
    counts["consent_contacts"] = consent.forget_addresses(session, rid)
    others = {a for c, a in addresses if _someone_else_uses(session, rid, c, a)}
    mine = [(c, a) for c, a in addresses if a not in others]
    if mine:
        counts["opt_outs"] = session.execute(delete(OptOut).where(
            or_(*[(OptOut.channel == c) & (OptOut.address == a) for c, a in mine]))).rowcount
    if phone and phone not in others:
        counts["auto_replies"] = session.execute(delete(AutoReply).where(AutoReply.address == phone)).rowcount
    hashes = [consent.contact_hash(key, c, a) for c, a in addresses]
    requests = list(session.scalars(select(SubscriptionRequest).where(or_(
        SubscriptionRequest.address_hash.in_(hashes) if hashes else false(),
        SubscriptionRequest.address.in_([a for _, a in addresses]) if addresses else false()))))
    siblings = {r.payload.get("sibling") for r in requests if isinstance(r.payload, dict)} - {None}
    ids = {r.id for r in requests} | siblings
    counts["pending_requests"] = session.execute(delete(SubscriptionRequest).where(
        SubscriptionRequest.id.in_(ids))).rowcount if ids else 0
    counts["deliveries_anonymised"] = session.execute(update(Delivery).where(Delivery.recipient_id == rid).values(
        address=None, error_message=None)).rowcount
    counts["responses_anonymised"] = session.execute(update(Response).where(Response.recipient_id == rid).values(
        raw_text="")).rowcount
    counts["push_subscriptions"] = session.execute(delete(PushSubscription).where(
        PushSubscription.recipient_id == rid)).rowcount
    counts["locations"] = session.execute(delete(RecipientLocation).where(
        RecipientLocation.recipient_id == rid)).rowcount
    session.execute(delete(RecipientGroup).where(RecipientGroup.recipient_id == rid))
    session.execute(delete(Subscriber).where(Subscriber.recipient_id == rid))
    session.execute(update(Recipient).where(Recipient.id == rid).values(
        external_id=f"erased-{secrets.token_hex(8)}", name="", phone=None, email=None,
        attributes={"erased_at": iso(utcnow())}, updated_at=utcnow()))
    session.expire(person)
    audit.record(session, actor, "recipient.erase", "recipient", rid, **counts)
    return counts


def _someone_else_uses(session: Session, rid: int, channel: str, address: str) -> bool:
    column = Recipient.email if channel == Channel.EMAIL else Recipient.phone
    return session.scalar(select(Recipient.id).where(column == address, Recipient.id != rid).limit(1)) is not None


def unsubscribe(session: Session, key: str, recipient_id: int, *, actor: str) -> None:
    """A person deletes their subscription: consent withdrawn on every contact they gave; a person who
    subscribed themselves is then erased, one the organisation imported loses what they added."""
    person = session.get(Recipient, recipient_id)
    if person is None:
        return
    for contact in consent.contacts_of(session, recipient_id):
        if contact.address and contact.authority == consent.Authority.PERSON:
            consent.opt_out(session, key, contact.channel, contact.address, method=consent.Method.WEB,
                            source="web-unsubscribe", actor=actor)
    if session.get(Subscriber, recipient_id) is not None:
        _erase(session, key, person, actor=actor)
        return
    session.execute(delete(RecipientLocation).where(
        RecipientLocation.recipient_id == recipient_id,
        RecipientLocation.label.like("zone-%") | (RecipientLocation.label == "signup-pin")))
    audit.record(session, actor, "subscriber.delete", "recipient", recipient_id)


def apply_retention(session: Session, *, delivery_days: int | None, body_days: int | None) -> dict[str, int]:
    """Delete deliveries older than `delivery_days`, blank reply texts older than `body_days` (None:
    keep for ever), purge expired codes and links."""
    now = utcnow()
    counts = {"deliveries": 0, "bodies": 0}
    if delivery_days:
        counts["deliveries"] = session.execute(delete(Delivery).where(
            Delivery.created_at < now - timedelta(days=delivery_days))).rowcount
    if body_days:
        counts["bodies"] = session.execute(update(Response).where(
            Response.received_at < now - timedelta(days=body_days), Response.raw_text != "").values(raw_text="")).rowcount
    counts["requests"] = session.execute(delete(SubscriptionRequest).where(
        SubscriptionRequest.expires_at < now - timedelta(days=1))).rowcount
    if any(counts.values()):
        audit.record(session, "retention", "retention.apply", "", "", **counts)
    return counts
