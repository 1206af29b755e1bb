"""Escalation policies: checking them, storing them, and the plan of runs they give an alert.

A policy is a list of steps and an optional final step:

    {"name": "campus",
     "steps": [{"after_s": 300, "channels": ["voice"]},
               {"after_s": 600, "channels": ["voice", "sms"], "repeat": 3, "every_s": 120}],
     "final": {"after_s": 1200, "notify": ["SUP-1", "SUP-2"], "channels": ["sms", "email"]}}

Every `after_s` counts from the moment the alert's send was requested, never from the previous
step. A step with `repeat: R` runs R times, at after_s, after_s + every_s, ... Each run reaches only
the people who have not responded on any channel by then. The final step tells the supervisors (by
external id) who is still unaccounted for.

Waits must increase strictly from step to step, and every run of a step must come before the next
step starts (no overlaps, no loops); the final step comes after every run.

An alert escalates only when it names a policy (`"policy": name`); without one nothing is re-sent.
Policies are immutable once stored: create a new name to change one (alerts keep following the
policy they named).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from sqlalchemy.exc import IntegrityError
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerting.alerts import DEFAULT_POLICY
from alerting import audit
from alerting.errors import Conflict, NotFound, ValidationError
from alerting.models import EscalationPolicy, Recipient
from alerting.timefmt import iso

MAX_NAME = 200
#: More runs than this of one step is a loop, not a plan.
MAX_REPEAT = 20
MAX_STEPS = 20
MAX_SUPERVISORS = 100


@dataclass(frozen=True)
class Run:
    """One scheduled run of a step: `step_index == len(steps)` is the final (supervisors) step."""
    step_index: int
    round: int
    after_s: int


def _whole(value: Any, field: str, *, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError(f"{field} must be a whole number of seconds, got {value!r}", field=field)
    if value < minimum:
        raise ValidationError(f"{field} must be at least {minimum}, got {value}", field=field)
    return value


def _channels(value: Any, field: str, available: list[str]) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(c, str) for c in value):
        raise ValidationError(f"{field} must be a non-empty list of channels, e.g. {available[:2]}", field=field)
    unknown = [c for c in value if c not in available]
    if unknown:
        raise ValidationError(f"channel {unknown[0]!r} is not configured; configured channels: "
                              f"{', '.join(available)}", field=field)
    return list(dict.fromkeys(value))


def validate(session: Session, data: Any, available_channels: Iterable[str]) -> dict[str, Any]:
    """Check a policy as posted; returns it normalised. Each error names the field at fault."""
    available = list(available_channels)
    if not isinstance(data, dict):
        raise ValidationError("the policy must be a JSON object")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise ValidationError(f"name is required, at most {MAX_NAME} characters", field="name")
    steps = data.get("steps")
    if not isinstance(steps, list) or not steps:
        raise ValidationError("steps must be a non-empty list of {after_s, channels}", field="steps")
    if len(steps) > MAX_STEPS:
        raise ValidationError(f"at most {MAX_STEPS} steps, got {len(steps)}", field="steps")
    clean: list[dict[str, Any]] = []
    last_run = -1
    for i, step in enumerate(steps):
        path = f"steps[{i}]"
        if not isinstance(step, dict):
            raise ValidationError(f"{path} must be an object with after_s and channels", field=path)
        after = _whole(step.get("after_s"), f"{path}.after_s", minimum=0)
        if after <= last_run:
            raise ValidationError(f"{path}.after_s must be later than every run of the step before it "
                                  f"({last_run} s): waits count from the send and must increase",
                                  field=f"{path}.after_s")
        channels = _channels(step.get("channels"), f"{path}.channels", available)
        repeat = _whole(step.get("repeat", 1), f"{path}.repeat", minimum=1)
        if repeat > MAX_REPEAT:
            raise ValidationError(f"{path}.repeat must be at most {MAX_REPEAT}, got {repeat}", field=f"{path}.repeat")
        every = _whole(step["every_s"], f"{path}.every_s", minimum=1) if "every_s" in step else None
        if repeat > 1 and every is None:
            raise ValidationError(f"{path}.every_s is required when repeat is more than 1", field=f"{path}.every_s")
        clean.append({"after_s": after, "channels": channels, "repeat": repeat, "every_s": every})
        last_run = after + (repeat - 1) * (every or 0)
    final = data.get("final")
    if final is not None:
        if not isinstance(final, dict):
            raise ValidationError("final must be an object with after_s, notify and channels", field="final")
        after = _whole(final.get("after_s"), "final.after_s", minimum=0)
        if after <= last_run:
            raise ValidationError(f"final.after_s must be later than every step's last run ({last_run} s)",
                                  field="final.after_s")
        notify = final.get("notify")
        if (not isinstance(notify, list) or not notify or len(notify) > MAX_SUPERVISORS
                or not all(isinstance(n, str) and n for n in notify)):
            raise ValidationError(f"final.notify must list 1 to {MAX_SUPERVISORS} supervisors' external ids",
                                  field="final.notify")
        known = set(session.scalars(select(Recipient.external_id).where(Recipient.external_id.in_(notify))))
        unknown = [n for n in notify if n not in known]
        if unknown:
            raise ValidationError(f"final.notify: no recipient with external id {unknown[0]!r}", field="final.notify")
        final = {"after_s": after, "notify": list(dict.fromkeys(notify)),
                 "channels": _channels(final.get("channels"), "final.channels", available)}
    return {"name": name.strip(), "steps": clean, "final": final}


def create_policy(session: Session, data: Any, *, actor: str, available_channels: Iterable[str]) -> EscalationPolicy:
    checked = validate(session, data, available_channels)
    if session.scalar(select(EscalationPolicy.id).where(EscalationPolicy.name == checked["name"])) is not None:
        raise Conflict(f"a policy named {checked['name']!r} exists; policies are immutable, use a new name")
    policy = EscalationPolicy(**checked, created_by=actor)
    session.add(policy)
    session.flush()
    audit.record(session, actor, "policy.create", "policy", policy.id, steps=len(checked["steps"]),
                 final=checked["final"] is not None)
    return policy


def get_policy(session: Session, name: str) -> EscalationPolicy:
    policy = session.scalar(select(EscalationPolicy).where(EscalationPolicy.name == name))
    if policy is None:
        raise NotFound(f"no escalation policy named {name!r}")
    return policy


def describe(policy: EscalationPolicy) -> dict[str, Any]:
    return {"id": policy.id, "name": policy.name, "steps": policy.steps, "final": policy.final,
            "created_by": policy.created_by, "created_at": iso(policy.created_at)}


def list_policies(session: Session) -> list[dict[str, Any]]:
    return [describe(p) for p in session.scalars(select(EscalationPolicy).order_by(EscalationPolicy.name))]


def plan(steps: list[dict[str, Any]], final: dict[str, Any] | None) -> list[Run]:
    """Every run a policy makes, in time order (seconds after the send was requested)."""
    runs = [Run(i, r, step["after_s"] + r * (step.get("every_s") or 0))
            for i, step in enumerate(steps) for r in range(step.get("repeat", 1))]
    if final is not None:
        runs.append(Run(len(steps), 0, final["after_s"]))
    return runs


def ensure_default_policy(session: Session, available_channels: Iterable[str]) -> bool:
    """Create the "default" policy if there is none; True if it did.

    After 5 minutes, call the people still silent; after 10, call and text them again: the
    follow-up emergency managers expect when they choose nothing. Built from the channels this
    installation has (no voice without a provider, no step at all without phones). It has no
    final step: supervisors are named per policy (create your own policy to notify them).
    """
    if session.scalar(select(EscalationPolicy.id).where(EscalationPolicy.name == DEFAULT_POLICY)) is not None:
        return False
    channels = set(available_channels)
    steps = []
    if "voice" in channels:
        steps.append({"after_s": 300, "channels": ["voice"]})
    again = [c for c in ("voice", "sms") if c in channels]
    if again:
        steps.append({"after_s": 600, "channels": again})
    if not steps:
        return False
    try:
        with session.begin_nested():  # two processes starting at once: the loser's insert fails alone
            session.add(EscalationPolicy(name=DEFAULT_POLICY, steps=steps, final=None, created_by="tocsin"))
            session.flush()
    except IntegrityError:
        return False
    audit.record(session, "tocsin", "policy.create", "policy", DEFAULT_POLICY, steps=len(steps), final=False)
    return True


#: How each channel is named in a policy's summary.
CHANNEL_WORDS = {"sms": "SMS", "voice": "voice", "email": "email", "push": "web push"}


def duration_in_words(seconds: int) -> str:
    """300 -> "5 min", 90 -> "1 min 30 s", 5400 -> "1 h 30 min"."""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else "", f"{secs} s" if secs else ""]
    return " ".join(p for p in parts if p) or "0 s"


def _channels_in_words(channels: list[str]) -> str:
    names = [CHANNEL_WORDS.get(c, c) for c in channels]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def in_words(steps: list[dict[str, Any]], final: dict[str, Any] | None) -> list[str]:
    """A policy as sentences, one per step: "after 5 min: SMS and voice again, 3 times every 10 min"."""
    lines = []
    for step in steps:
        line = f"after {duration_in_words(step['after_s'])}: {_channels_in_words(step['channels'])} again"
        if step.get("repeat", 1) > 1:
            line += f", {step['repeat']} times every {duration_in_words(step.get('every_s') or 0)}"
        lines.append(line)
    if final is not None:
        count = len(final["notify"])
        lines.append(f"after {duration_in_words(final['after_s'])}: notify {count} supervisor{'s' if count != 1 else ''} "
                     f"({', '.join(final['notify'])}) by {_channels_in_words(final['channels'])} of who is still silent")
    return lines
