"""What the sandbox is told to do: latency, callbacks, defaults and per-account faults.

Config arrives as JSON (`POST /sandbox/config`) and is merged into an immutable
`SandboxConfig`; every value is checked when the object is built, and a bad one
raises `ConfigError` naming the field (`accounts.AC123.fail_status`), which the
view turns into a 400.

Keys:
- `latency_ms`: every provider API call waits this long before answering.
- `callbacks`: send Twilio status callbacks (default true).
- `delivery_delay_ms`: wait between the `sent` and `delivered` steps.
- `inbound_sms_url`: where `/sandbox/sms/reply` delivers the phone's answer.
- `default_account` (`{"sid", "token"}`) and `default_from`: who a phone replies
  to when the sandbox never messaged it.
- `accounts`: `{"AC...": {"fail_status", "latency_ms", "rate_limit_per_s", "calls_per_s", "drop"}}`,
  merged field by field; an account set to null loses its behaviour. These apply
  to every Twilio API call of the account (Messages and Calls); `calls_per_s`
  further limits call creation alone (Twilio's calls-per-second), in its own
  window, and is shown only when set.
- `voice`, `voice_default`, `smtp`, `push`, `push_base_url`: see `channel_config.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .channel_config import (
    PushBehaviour,
    SmtpBehaviour,
    check_voice_outcome,
    merged_push,
    merged_voice,
)
from .config_values import ConfigError, check_bool, check_int, check_object, check_text, check_url

__all__ = ["AccountBehaviour", "AccountCredentials", "ConfigError", "SandboxConfig"]


@dataclass(frozen=True, slots=True)
class AccountCredentials:
    """An account SID and the auth token that signs its webhooks."""

    sid: str
    token: str

    def __post_init__(self) -> None:
        check_text("default_account.sid", self.sid, optional=False)
        check_text("default_account.token", self.token, optional=False)


@dataclass(frozen=True, slots=True)
class AccountBehaviour:
    """How the provider misbehaves for one account; the defaults mean "behave"."""

    fail_status: int | None = None  # answer every call with this HTTP status
    latency_ms: int | None = None  # replaces the global latency for this account
    rate_limit_per_s: int | None = None  # calls beyond this in one clock second get 429
    drop: bool = False  # close the connection without answering
    calls_per_s: int | None = None  # call creations beyond this in one clock second get 429

    def __post_init__(self) -> None:
        check_int("fail_status", self.fail_status, minimum=400, maximum=599, optional=True)
        check_int("latency_ms", self.latency_ms, minimum=0, optional=True)
        check_int("rate_limit_per_s", self.rate_limit_per_s, minimum=1, optional=True)
        check_bool("drop", self.drop)
        check_int("calls_per_s", self.calls_per_s, minimum=1, optional=True)

    def to_json(self) -> dict[str, Any]:
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        if shown["calls_per_s"] is None:  # newer than the rest: absent unless used
            del shown["calls_per_s"]
        return shown


_ACCOUNT_KEYS = frozenset(f.name for f in fields(AccountBehaviour))


def _merge_account(sid: str, current: AccountBehaviour | None, patch: Any) -> AccountBehaviour:
    prefix = f"accounts.{sid}"
    check_object(prefix, patch, _ACCOUNT_KEYS)
    try:
        return replace(current or AccountBehaviour(), **patch)
    except ConfigError as exc:
        raise ConfigError(f"{prefix}.{exc.field}", f"{prefix}.{exc}") from None


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """The whole sandbox configuration; replaced, never mutated."""

    latency_ms: int = 0
    callbacks: bool = True
    delivery_delay_ms: int = 0
    inbound_sms_url: str | None = None
    default_account: AccountCredentials | None = None
    default_from: str | None = None
    accounts: Mapping[str, AccountBehaviour] = field(default_factory=dict)
    voice: Mapping[str, str] = field(default_factory=dict)  # phone -> what the callee does
    voice_default: str = "answer"
    smtp: SmtpBehaviour = field(default_factory=SmtpBehaviour)
    push: Mapping[str, PushBehaviour] = field(default_factory=dict)  # subscription id -> faults
    push_base_url: str | None = None

    def __post_init__(self) -> None:
        check_int("latency_ms", self.latency_ms, minimum=0)
        check_bool("callbacks", self.callbacks)
        check_int("delivery_delay_ms", self.delivery_delay_ms, minimum=0)
        check_url("inbound_sms_url", self.inbound_sms_url)
        check_text("default_from", self.default_from)
        check_voice_outcome("voice_default", self.voice_default)
        check_url("push_base_url", self.push_base_url)

    def voice_outcome(self, number: str) -> str:
        """What the callee at `number` does when the fake carrier rings it."""
        return self.voice.get(number, self.voice_default)

    def merged(self, patch: Any) -> SandboxConfig:
        """Return a copy with the JSON object `patch` applied; raise ConfigError if any part is bad."""
        check_object("", patch, _CONFIG_KEYS)
        changes: dict[str, Any] = {}
        for key, value in patch.items():
            if key == "default_account":
                changes[key] = None if value is None else _credentials(value)
            elif key == "accounts":
                changes[key] = self._merged_accounts(value)
            elif key == "voice":
                changes[key] = merged_voice(self.voice, value)
            elif key == "smtp":
                changes[key] = self.smtp.merged(value)
            elif key == "push":
                changes[key] = merged_push(self.push, value)
            else:
                changes[key] = value
        return replace(self, **changes)

    def _merged_accounts(self, patch: Any) -> dict[str, AccountBehaviour]:
        if not isinstance(patch, Mapping):
            raise ConfigError("accounts", f"accounts must be a JSON object keyed by account SID, got {patch!r}")
        accounts = dict(self.accounts)
        for sid, value in patch.items():
            if value is None:
                accounts.pop(sid, None)
            else:
                accounts[sid] = _merge_account(sid, accounts.get(sid), value)
        return accounts

    def to_json(self) -> dict[str, Any]:
        default = self.default_account
        return {
            "latency_ms": self.latency_ms,
            "callbacks": self.callbacks,
            "delivery_delay_ms": self.delivery_delay_ms,
            "inbound_sms_url": self.inbound_sms_url,
            "default_account": None if default is None else {"sid": default.sid, "token": default.token},
            "default_from": self.default_from,
            "accounts": {sid: behaviour.to_json() for sid, behaviour in self.accounts.items()},
            "voice": dict(self.voice),
            "voice_default": self.voice_default,
            "smtp": self.smtp.to_json(),
            "push": {sub_id: behaviour.to_json() for sub_id, behaviour in self.push.items()},
            "push_base_url": self.push_base_url,
        }


_CONFIG_KEYS = frozenset(f.name for f in fields(SandboxConfig))


def _credentials(value: Any) -> AccountCredentials:
    check_object("default_account", value, frozenset({"sid", "token"}))
    return AccountCredentials(sid=value.get("sid"), token=value.get("token"))
