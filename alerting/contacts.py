"""Normalising and checking contact details: E.164 phone numbers, email addresses, locales."""
from __future__ import annotations

import re

import phonenumbers

#: Region assumed for numbers written without a country code ("(555) 010-0199").
DEFAULT_REGION = "US"
_EMAIL = re.compile(r"^[^@\s<>(),;:\"\[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
_LOCALE = re.compile(r"^[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")


class ContactError(ValueError):
    """A contact value is not usable; the message says why and quotes the value."""


def normalize_phone(raw: str, region: str = DEFAULT_REGION) -> str:
    """Return the number in E.164 (+15550100199), or raise ContactError explaining the problem."""
    text = raw.strip()
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise ContactError(f"{raw!r} is not a phone number ({exc.args[0] if exc.args else exc})") from None
    if not phonenumbers.is_possible_number(number):
        raise ContactError(f"{raw!r} has the wrong number of digits for a phone number")
    if not phonenumbers.is_valid_number(number):
        raise ContactError(f"{raw!r} is not a valid phone number in its country")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    text = raw.strip()
    if len(text) > 320 or not _EMAIL.match(text):
        raise ContactError(f"{raw!r} is not an email address")
    local, domain = text.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


def normalize_locale(raw: str) -> str:
    text = raw.strip().replace("_", "-")
    if not _LOCALE.match(text):
        raise ContactError(f"{raw!r} is not a language tag such as 'en' or 'es-MX'")
    language, _, rest = text.partition("-")
    return language.lower() + (f"-{rest}" if rest else "")
