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
- `accounts`: `{"AC...": {"fail_status", "latency_ms", "rate_limit_per_s", "drop"}}`,
  merged field by field; an account set to null loses its behaviour.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlsplit


class ConfigError(ValueError):
    """A config value was rejected; `field` is its dotted name."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


def _int(name: str, value: Any, *, minimum: int, maximum: int | None = None, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    # bool is an int subclass: `"latency_ms": true` is a mistake, not 1 ms.
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (
        maximum is not None and value > maximum
    ):
        bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise ConfigError(name, f"{name} must be an integer {bounds}{' or null' if optional else ''}, got {value!r}")
    return value


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(name, f"{name} must be true or false, got {value!r}")
    return value


def _text(name: str, value: Any, *, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(name, f"{name} must be a non-empty string{' or null' if optional else ''}, got {value!r}")
    return value


def _url(name: str, value: Any) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(name, f"{name} must be an http:// or https:// URL or null, got {value!r}")
    return value


def _object(name: str, value: Any, allowed: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(name, f"{name or 'config'} must be a JSON object, got {value!r}")
    for key in value:
        if key not in allowed:
            raise ConfigError(f"{name}.{key}" if name else key, f"unknown config field {key!r}")
    return value


@dataclass(frozen=True, slots=True)
class AccountCredentials:
    """An account SID and the auth token that signs its webhooks."""

    sid: str
    token: str

    def __post_init__(self) -> None:
        _text("default_account.sid", self.sid, optional=False)
        _text("default_account.token", self.token, optional=False)


@dataclass(frozen=True, slots=True)
class AccountBehaviour:
    """How the provider misbehaves for one account; the defaults mean "behave"."""

    fail_status: int | None = None  # answer every call with this HTTP status
    latency_ms: int | None = None  # replaces the global latency for this account
    rate_limit_per_s: int | None = None  # calls beyond this in one clock second get 429
    drop: bool = False  # close the connection without answering

    def __post_init__(self) -> None:
        _int("fail_status", self.fail_status, minimum=400, maximum=599, optional=True)
        _int("latency_ms", self.latency_ms, minimum=0, optional=True)
        _int("rate_limit_per_s", self.rate_limit_per_s, minimum=1, optional=True)
        _bool("drop", self.drop)

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


_ACCOUNT_KEYS = frozenset(f.name for f in fields(AccountBehaviour))


def _merge_account(sid: str, current: AccountBehaviour | None, patch: Any) -> AccountBehaviour:
    prefix = f"accounts.{sid}"
    _object(prefix, patch, _ACCOUNT_KEYS)
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

    def __post_init__(self) -> None:
        _int("latency_ms", self.latency_ms, minimum=0)
        _bool("callbacks", self.callbacks)
        _int("delivery_delay_ms", self.delivery_delay_ms, minimum=0)
        _url("inbound_sms_url", self.inbound_sms_url)
        _text("default_from", self.default_from)

    def merged(self, patch: Any) -> SandboxConfig:
        """Return a copy with the JSON object `patch` applied; raise ConfigError if any part is bad."""
        _object("", patch, _CONFIG_KEYS)
        changes: dict[str, Any] = {}
        for key, value in patch.items():
            if key == "default_account":
                changes[key] = None if value is None else _credentials(value)
            elif key == "accounts":
                changes[key] = self._merged_accounts(value)
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
        }


_CONFIG_KEYS = frozenset(f.name for f in fields(SandboxConfig))


def _credentials(value: Any) -> AccountCredentials:
    _object("default_account", value, frozenset({"sid", "token"}))
    return AccountCredentials(sid=value.get("sid"), token=value.get("token"))
