"""Following upstream CAP feeds (a national weather service's Atom or RSS feed of CAP messages).

An operator registers a feed with a rule:

    {"name": "NWS", "url": "https://...", "interval_s": 60,
     "rule": {"events": ["Tornado Warning"], "min_severity": "severe", "action": "draft" | "send",
              "template_id": 3, "policy": "default", "channels": ["sms", "push"]}}

Each poll reads the feed (fetch.py), and for each CAP message in it, once (a `cap_seen` row keyed by
feed, sender, identifier and sent is inserted before anything else, so a message seen twice, or by
two workers at once, is handled once):
- an Update or Cancel of an alert we made from this feed (or any import) follows it (imports.py);
- an Alert whose event and severity pass the rule, and whose area intersects one of our zones,
  becomes a draft targeting exactly the people inside the upstream area (its polygons and circles,
  not only the zone it touched); with action "send" it is sent at once (by the caller:
  ops/cap_poll.py), through the template's texts when the rule names one, and so are the follow-up
  drafts its Updates and Cancels make;
- anything else is recorded with why it was skipped ("rule", "outside", "no_area").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable
from urllib.parse import urljoin, urlsplit

import shapely
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import defusedxml.ElementTree as DefusedET
from defusedxml import DefusedXmlException
from xml.etree.ElementTree import ParseError

import geo
from alerting import audit, targeting, templates
from alerting.cap import areas as cap_areas
from alerting.cap.document import NAMESPACES, CapMessage
from alerting.cap.imports import Cancel, find_referenced, import_message, utc_sent
from alerting.cap.parse import ParsedCap
from alerting.errors import Conflict, NotFound, TocsinError, ValidationError
from alerting.models import AlertTemplate, CapFeed, CapSeen, EscalationPolicy, Zone
from alerting.statuses import Severity
from alerting.timefmt import iso

ACTIONS = ("draft", "send")
SEVERITY_RANK = {Severity.UNKNOWN: 0, Severity.MINOR: 1, Severity.MODERATE: 2, Severity.SEVERE: 3,
                 Severity.EXTREME: 4}
MIN_INTERVAL_S, MAX_INTERVAL_S, DEFAULT_INTERVAL_S = 30, 86400, 60
ATOM = "{http://www.w3.org/2005/Atom}"
CAP_TYPES = ("application/cap+xml", "application/common-alerting-protocol+xml")


# --- the registry ----------------------------------------------------------------------------------

def create_feed(session: Session, data: Any, *, actor: str, available_channels: Iterable[str]) -> CapFeed:
    if not isinstance(data, dict):
        raise ValidationError("the feed must be a JSON object with name, url and rule")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ValidationError("name is required (at most 200 characters)", field="name")
    url = data.get("url")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise ValidationError(f"url must be an http:// or https:// URL, got {url!r}", field="url")
    interval = data.get("interval_s", DEFAULT_INTERVAL_S)
    if not isinstance(interval, int) or not MIN_INTERVAL_S <= interval <= MAX_INTERVAL_S:
        raise ValidationError(f"interval_s must be {MIN_INTERVAL_S} to {MAX_INTERVAL_S} seconds", field="interval_s")
    rule = check_rule(session, data.get("rule") or {}, list(available_channels))
    if session.scalar(select(CapFeed.id).where(CapFeed.name == name.strip())) is not None:
        raise Conflict(f"a feed named {name.strip()!r} already exists")
    feed = CapFeed(name=name.strip(), url=url, rule=rule, interval_s=interval, created_by=actor)
    session.add(feed)
    session.flush()
    audit.record(session, actor, "cap_feed.create", "cap_feed", feed.id, url=url, rule_action=rule["action"])
    return feed


def check_rule(session: Session, rule: Any, available: list[str]) -> dict[str, Any]:
    if not isinstance(rule, dict):
        raise ValidationError("rule must be an object", field="rule")
    unknown = sorted(set(rule) - {"events", "min_severity", "action", "template_id", "policy", "channels"})
    if unknown:
        raise ValidationError(f"rule has unknown key(s) {', '.join(unknown)}", field=f"rule.{unknown[0]}")
    events = rule.get("events") or []
    if not isinstance(events, list) or not all(isinstance(e, str) and e.strip() for e in events):
        raise ValidationError("rule.events must be a list of CAP event names", field="rule.events")
    min_severity = str(rule.get("min_severity") or Severity.UNKNOWN).lower()
    if min_severity not in SEVERITY_RANK:
        raise ValidationError(f"rule.min_severity must be one of {', '.join(Severity)}", field="rule.min_severity")
    action = rule.get("action", "draft")
    if action not in ACTIONS:
        raise ValidationError("rule.action must be draft or send", field="rule.action")
    template_id = rule.get("template_id")
    if template_id is not None and (not isinstance(template_id, int)
                                    or session.get(AlertTemplate, template_id) is None):
        raise ValidationError(f"no template with id {template_id!r}", field="rule.template_id")
    policy = rule.get("policy")
    if policy is not None and session.scalar(
            select(EscalationPolicy.id).where(EscalationPolicy.name == policy)) is None:
        raise ValidationError(f"no escalation policy named {policy!r}", field="rule.policy")
    channels = rule.get("channels")
    if channels is not None and (not isinstance(channels, list) or not channels
                                 or not all(c in available for c in channels)):
        raise ValidationError(f"rule.channels must be a list of configured channels ({', '.join(available)})",
                              field="rule.channels")
    return {"events": [e.strip() for e in events], "min_severity": min_severity, "action": action,
            "template_id": template_id, "policy": policy, "channels": channels}


def feed_as_dict(feed: CapFeed) -> dict[str, Any]:
    return {"id": feed.id, "name": feed.name, "url": feed.url, "rule": feed.rule, "interval_s": feed.interval_s,
            "created_by": feed.created_by, "created_at": iso(feed.created_at),
            "last_polled_at": iso(feed.last_polled_at), "last_error": feed.last_error}


def list_feeds(session: Session) -> list[dict[str, Any]]:
    return [feed_as_dict(f) for f in session.scalars(select(CapFeed).order_by(CapFeed.id))]


def delete_feed(session: Session, feed_id: int, *, actor: str) -> None:
    feed = session.get(CapFeed, feed_id)
    if feed is None:
        raise NotFound(f"no CAP feed with id {feed_id}")
    session.delete(feed)
    audit.record(session, actor, "cap_feed.delete", "cap_feed", feed_id)


# --- reading a feed --------------------------------------------------------------------------------

@dataclass(frozen=True)
class FeedItem:
    """One CAP message a feed offers: a URL to fetch, or the document embedded in the entry."""
    url: str | None = None
    document: bytes | None = None


def feed_items(data: bytes, base_url: str) -> list[FeedItem]:
    """The CAP messages an Atom or RSS feed lists (links typed as CAP first, else each entry's link)."""
    try:
        root = DefusedET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, ParseError, ValueError) as exc:
        raise ValidationError(f"the feed is not readable XML ({type(exc).__name__})", field="feed") from None
    items: list[FeedItem] = []
    if root.tag == f"{ATOM}feed":
        for entry in root.findall(f"{ATOM}entry"):
            embedded = [e for e in entry.iter() if isinstance(e.tag, str) and e.tag.endswith("}alert")
                        and e.tag[1:].partition("}")[0] in NAMESPACES]
            if embedded:
                items.append(FeedItem(document=DefusedET.tostring(embedded[0], encoding="utf-8")))
                continue
            links = entry.findall(f"{ATOM}link")
            chosen = next((link for link in links if link.get("type") in CAP_TYPES), None) or \
                next((link for link in links if link.get("rel", "alternate") == "alternate"), None)
            if chosen is not None and chosen.get("href"):
                items.append(FeedItem(url=urljoin(base_url, chosen.get("href"))))
    elif root.tag == "rss":
        for item in root.iter("item"):
            enclosure = item.find("enclosure")
            link = enclosure.get("url") if enclosure is not None and enclosure.get("type") in CAP_TYPES else \
                (item.findtext("link") or "").strip()
            if link:
                items.append(FeedItem(url=urljoin(base_url, link)))
    else:
        raise ValidationError(f"not an Atom or RSS feed (root element {root.tag!r})", field="feed")
    return items


# --- what each message becomes ---------------------------------------------------------------------

@dataclass
class Outcome:
    outcome: str                 # "created", "replaced", "follow_up", "cancelled", "duplicate", "rule", ...
    alert_id: int | None = None
    send: bool = False           # the rule says send: the caller starts the send
    warnings: tuple[str, ...] = ()


def claim(session: Session, feed_id: int, message: CapMessage) -> CapSeen | None:
    """Insert the message's `cap_seen` row first; None if this feed has seen it already."""
    seen = CapSeen(feed_id=feed_id, sender=message.sender[:300], identifier=message.identifier[:300],
                   sent=utc_sent(message.sent)[:40], outcome="claimed")
    try:
        with session.begin_nested():
            session.add(seen)
            session.flush()
    except IntegrityError:
        return None
    return seen


def passes_rule(rule: dict[str, Any], message: CapMessage) -> bool:
    events = {e.lower() for e in rule.get("events") or []}
    floor = SEVERITY_RANK[rule.get("min_severity") or Severity.UNKNOWN]
    for info in message.info:
        severity = SEVERITY_RANK.get(info.severity.lower(), 0)
        if (not events or info.event.strip().lower() in events) and severity >= floor:
            return True
    return False


def intersects_zones(session: Session, fence: geo.Geofence) -> list[str]:
    """Names of our zones the area touches."""
    area = fence.display_geometry()
    touched = []
    for zone in session.scalars(select(Zone).order_by(Zone.name)):
        (key, value), = zone.area.items()
        try:
            zone_area = targeting.parse_area(key, value, f"zones.{zone.name}").display_geometry()
        except ValidationError:
            continue
        if shapely.intersects(area, zone_area):
            touched.append(zone.name)
    return touched


def handle(session: Session, feed: CapFeed, parsed: ParsedCap, *, available_channels: Iterable[str],
           cancel: Cancel, own_sender: str | None = None) -> Outcome:
    """One message from `feed` (see the module docstring)."""
    message = parsed.message
    seen = claim(session, feed.id, message)
    if seen is None:
        return Outcome("duplicate")
    rule = feed.rule or {}
    available = list(available_channels)
    channels = rule.get("channels") or available
    actor = f"cap_feed:{feed.id}"
    follows = message.msgType in ("Update", "Cancel") and \
        find_referenced(session, message, own_sender=own_sender) is not None
    if not follows:
        if message.msgType == "Cancel":
            return _skip(seen, "unknown_reference")  # a Cancel of something we never drafted
        if message.msgType != "Alert" and message.msgType != "Update":
            return _skip(seen, "not_alert")
        if not passes_rule(rule, message):
            return _skip(seen, "rule")
        fence = _fence(message)
        if fence is None:
            return _skip(seen, "no_area")
        if not intersects_zones(session, fence):
            return _skip(seen, "outside")
    extra: dict[str, Any] = {}
    if rule.get("policy") is not None:
        extra["policy"] = rule["policy"]
    try:
        with session.begin_nested():
            result = import_message(session, parsed, actor=actor, available_channels=available, cancel=cancel,
                                    channels=channels, own_sender=own_sender, seen=seen, origin=f"cap_feed:{feed.id}",
                                    extra=extra)
            if rule.get("template_id") and result.created and message.msgType == "Alert":
                _apply_template(session, result.alert, rule, message)
    except TocsinError as exc:
        seen.outcome = "failed"
        feed.last_error = f"{message.identifier}: {exc}"[:2000]
        return Outcome("failed", warnings=(str(exc),))
    # A send rule sends what the feed made: the alert, an update's follow-up, a cancel's all-clear.
    send = rule.get("action") == "send" and result.created
    return Outcome(result.action, result.alert.id, send, tuple(result.warnings))


def _skip(seen: CapSeen, why: str) -> Outcome:
    seen.outcome = why
    return Outcome(why)


def _fence(message: CapMessage) -> geo.Geofence | None:
    areas = [{"polygon": a.polygon, "circle": a.circle} for i in message.info for a in i.area]
    return cap_areas.geofence(areas) if areas else None


def _apply_template(session: Session, alert: Any, rule: dict[str, Any], message: CapMessage) -> None:
    """The rule's template speaks instead of the upstream text; placeholders filled from CAP fields."""
    template = session.get(AlertTemplate, rule["template_id"])
    info = message.info[0]
    values = {"event": info.event, "headline": info.headline or info.event, "area": ", ".join(
        a.areaDesc for a in info.area) or info.event, "instruction": info.instruction or "",
              "sender": info.senderName or message.sender}
    needed = templates.operator_placeholders(template)
    data = templates.alert_data(template, {k: " ".join(values.get(k, "").split())[:200] or info.event
                                           for k in needed}, target=alert.target, channels=alert.channels)
    alert.title, alert.message = data["title"], data["message"]
    alert.variants, alert.translations, alert.template_id = data["variants"], data["translations"], template.id


# --- one poll --------------------------------------------------------------------------------------

Fetch = Callable[..., bytes]


def poll(sessions: Any, feed_id: int, *, fetch: Fetch, available_channels: Iterable[str],
         cancel: Cancel, own_sender: str | None = None) -> list[Outcome]:
    """Read the feed once and handle each message in its own transaction. A message that cannot be
    fetched or parsed is skipped (and named in the feed's `last_error`); it is tried again next poll,
    since only parsed messages are claimed."""
    from alerting.cap.fetch import MAX_FEED_BYTES
    from alerting.cap.parse import parse
    from alerting.models import utcnow

    with sessions() as session:
        feed = session.get(CapFeed, feed_id)
        if feed is None:
            raise NotFound(f"no CAP feed with id {feed_id}")
        url = feed.url
    outcomes: list[Outcome] = []
    errors: list[str] = []
    try:
        items = feed_items(fetch(url, max_bytes=MAX_FEED_BYTES), url)
    except ValidationError as exc:
        items, errors = [], [str(exc)]
    for item in items:
        try:
            parsed = parse(item.document if item.document is not None else fetch(item.url))
        except ValidationError as exc:
            errors.append(f"{item.url or 'embedded alert'}: {exc}")
            continue
        with sessions.begin() as session:
            feed = session.get(CapFeed, feed_id)
            if feed is None:
                break
            outcome = handle(session, feed, parsed, available_channels=available_channels, cancel=cancel,
                             own_sender=own_sender)
        outcomes.append(outcome)
        if outcome.outcome == "failed":
            errors.append(f"{parsed.message.identifier}: {'; '.join(outcome.warnings)}")
    with sessions.begin() as session:
        feed = session.get(CapFeed, feed_id)
        if feed is not None:
            feed.last_polled_at = utcnow()
            feed.last_error = "; ".join(errors)[:2000] if errors else None
    return outcomes
