"""The database schema: the single source of truth. Redis only carries work.

Every table is a model in one of these modules, by domain; this package exports them all, so code
imports `from alerting.models import Alert` whichever module holds it, and Alembic (ops/migrations/
env.py) sees every table in `Base.metadata` by importing this package.

    base.py      Base (one MetaData, its naming convention) and utcnow
    people.py    people, groups, locations, zones, push subscriptions, opt-outs, CSV imports
    alerts.py    incidents, alerts, alert recipients, deliveries, responses, escalation
    sources.py   templates, quick launches, CAP feeds and the CAP messages seen
    console.py   console users and sessions, API tokens, the audit log
    consent.py   consent texts and log, SMS keywords, subscribers, pending confirmations

Personal data (phone, email, names) lives on `recipients`; a delivery copies the address it was sent
to, because replies and provider callbacks must be matched to what was actually sent even if the
person's contact changes afterwards.
"""
from __future__ import annotations

from alerting.models.alerts import (Alert, AlertRecipient, AutoReply, Delivery, EscalationPolicy, EscalationStep,
                                    Incident, Response)
from alerting.models.base import NAMING, Base, utcnow
from alerting.models.consent import (ConsentContact, ConsentEvent, ConsentText, SmsKeyword, Subscriber,
                                     SubscriptionRequest)
from alerting.models.console import ApiToken, AuditEntry, ConsoleSession, User
from alerting.models.people import (Group, OptOut, PeopleImport, PushSubscription, Recipient, RecipientGroup,
                                    RecipientLocation, Zone)
from alerting.models.sources import AlertTemplate, CapFeed, CapSeen, QuickLaunch

__all__ = [
    "Alert", "AlertRecipient", "AutoReply", "Delivery", "EscalationPolicy", "EscalationStep", "Incident",
    "Response", "NAMING", "Base", "utcnow", "ConsentContact", "ConsentEvent", "ConsentText", "SmsKeyword",
    "Subscriber", "SubscriptionRequest", "ApiToken", "AuditEntry", "ConsoleSession", "User", "Group", "OptOut",
    "PeopleImport", "PushSubscription", "Recipient", "RecipientGroup", "RecipientLocation", "Zone", "AlertTemplate",
    "CapFeed", "CapSeen", "QuickLaunch",
]
