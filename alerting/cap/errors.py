"""Errors raised while reading CAP::

    ValidationError (alerting.errors)      .field: where, e.g. "/alert/info[1]/area[2]/polygon[1]"
    └── CapError                           the document cannot be used
        ├── CapTooLarge                    more than MAX_DOCUMENT_BYTES
        ├── CapUnsafe                      a DTD, an entity or XInclude: refused, never resolved
        └── CapSchemaError                 not valid against the OASIS schema; .errors lists each one
"""
from __future__ import annotations

from alerting.errors import ValidationError


class CapError(ValidationError):
    """A CAP document we cannot use; `field` is the element path (or "document")."""


class CapTooLarge(CapError):
    pass


class CapUnsafe(CapError):
    pass


class CapSchemaError(CapError):
    pass
