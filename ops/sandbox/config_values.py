"""Checks shared by every config section: each names the bad field and value in `ConfigError`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit


class ConfigError(ValueError):
    """A config value was rejected; `field` is its dotted name."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


def check_int(name: str, value: Any, *, minimum: int, maximum: int | None = None, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    # bool is an int subclass: `"latency_ms": true` is a mistake, not 1 ms.
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (
        maximum is not None and value > maximum
    ):
        bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise ConfigError(name, f"{name} must be an integer {bounds}{' or null' if optional else ''}, got {value!r}")
    return value


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(name, f"{name} must be true or false, got {value!r}")
    return value


def check_text(name: str, value: Any, *, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(name, f"{name} must be a non-empty string{' or null' if optional else ''}, got {value!r}")
    return value


def check_url(name: str, value: Any) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(name, f"{name} must be an http:// or https:// URL or null, got {value!r}")
    return value


def check_object(name: str, value: Any, allowed: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(name, f"{name or 'config'} must be a JSON object, got {value!r}")
    for key in value:
        if key not in allowed:
            raise ConfigError(f"{name}.{key}" if name else key, f"unknown config field {key!r}")
    return value
