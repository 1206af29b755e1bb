"""Config sections for the voice, Web Push and SMTP fakes, checked like the rest of `config.py`.

Keys (all merged into `SandboxConfig`):
- `voice`: `{"+1555...": outcome}`, what the callee does when the fake carrier
  rings it; `voice_default` is the outcome for numbers not listed ("answer").
  Outcomes: `answer`, `machine` (voicemail picks up), `no-answer`, `busy`, `failed`.
  A number set to null goes back to the default.
- `smtp`: `{"fail": code, "addresses": {"bob@example.org": code}}`. `fail` makes
  the SMTP server refuse every transaction at MAIL FROM; an address code
  refuses that recipient at RCPT TO. Codes are 4xx (temporary: the client should
  retry or fail over) or 5xx (permanent), e.g. "451" or "554"; null clears one.
- `push`: `{"<subscription id>": {"fail_status": 500}}`: that subscription's push
  endpoint answers with this HTTP status; null clears it.
- `push_base_url`: the public base (`https://host[:port]`) that new push
  subscription endpoints are built on, instead of the request's own origin.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .config_values import ConfigError, check_int, check_object

VOICE_OUTCOMES = frozenset({"answer", "machine", "no-answer", "busy", "failed"})


def check_voice_outcome(name: str, value: Any) -> str:
    if value not in VOICE_OUTCOMES:
        raise ConfigError(name, f"{name} must be one of {', '.join(sorted(VOICE_OUTCOMES))}, got {value!r}")
    return value


def merged_voice(current: Mapping[str, str], patch: Any) -> dict[str, str]:
    """`current` with the per-number outcomes of `patch` applied (null removes a number)."""
    if not isinstance(patch, Mapping):
        raise ConfigError("voice", f"voice must be a JSON object keyed by phone number, got {patch!r}")
    outcomes = dict(current)
    for number, outcome in patch.items():
        if not isinstance(number, str) or not number:
            raise ConfigError("voice", f"voice keys must be phone numbers, got {number!r}")
        if outcome is None:
            outcomes.pop(number, None)
        else:
            outcomes[number] = check_voice_outcome(f"voice.{number}", outcome)
    return outcomes


def _smtp_code(name: str, value: Any) -> str:
    """An SMTP reply code as a 3-digit string; ints are accepted too (451 or "451")."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or len(text) != 3 or not text.isdigit() or text[0] not in "45":
        raise ConfigError(name, f"{name} must be an SMTP failure code 400-599 such as \"451\" or \"554\", got {value!r}")
    return text


@dataclass(frozen=True, slots=True)
class SmtpBehaviour:
    """How the fake SMTP server refuses mail; the defaults accept everything."""

    fail: str | None = None  # refuse every transaction at MAIL FROM with this code
    addresses: Mapping[str, str] = field(default_factory=dict)  # recipient -> code at RCPT TO

    def code_for(self, address: str) -> str | None:
        """The code a recipient is refused with, if any (addresses compare case-insensitively)."""
        return self.addresses.get(address.lower())

    def merged(self, patch: Any) -> SmtpBehaviour:
        check_object("smtp", patch, frozenset({"fail", "addresses"}))
        fail = self.fail
        if "fail" in patch:
            fail = None if patch["fail"] is None else _smtp_code("smtp.fail", patch["fail"])
        addresses = dict(self.addresses)
        if "addresses" in patch:
            changes = patch["addresses"]
            if not isinstance(changes, Mapping):
                raise ConfigError("smtp.addresses", f"smtp.addresses must be a JSON object, got {changes!r}")
            for address, code in changes.items():
                if not isinstance(address, str) or "@" not in address:
                    raise ConfigError("smtp.addresses", f"smtp.addresses keys must be email addresses, got {address!r}")
                if code is None:
                    addresses.pop(address.lower(), None)
                else:
                    addresses[address.lower()] = _smtp_code(f"smtp.addresses.{address}", code)
        return SmtpBehaviour(fail=fail, addresses=addresses)

    def to_json(self) -> dict[str, Any]:
        return {"fail": self.fail, "addresses": dict(self.addresses)}


@dataclass(frozen=True, slots=True)
class PushBehaviour:
    """How one push subscription's endpoint misbehaves."""

    fail_status: int | None = None  # answer every push with this HTTP status

    def __post_init__(self) -> None:
        check_int("fail_status", self.fail_status, minimum=400, maximum=599, optional=True)

    def to_json(self) -> dict[str, Any]:
        return {"fail_status": self.fail_status}


def merged_push(current: Mapping[str, PushBehaviour], patch: Any) -> dict[str, PushBehaviour]:
    """`current` with per-subscription behaviour from `patch` (null removes a subscription's)."""
    if not isinstance(patch, Mapping):
        raise ConfigError("push", f"push must be a JSON object keyed by subscription id, got {patch!r}")
    behaviours = dict(current)
    for sub_id, value in patch.items():
        if value is None:
            behaviours.pop(sub_id, None)
            continue
        check_object(f"push.{sub_id}", value, frozenset({"fail_status"}))
        try:
            behaviours[sub_id] = PushBehaviour(fail_status=value.get("fail_status"))
        except ConfigError as exc:
            raise ConfigError(f"push.{sub_id}.{exc.field}", f"push.{sub_id}.{exc}") from None
    return behaviours
