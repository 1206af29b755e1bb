"""Errors raised by the core; `console/` turns them into HTTP answers.

    TocsinError
    ├── ValidationError   bad input; carries the field (and CSV line) at fault -> 400/422
    ├── NotFound          no such alert / recipient / group -> 404
    ├── Conflict          the request contradicts current state (sending a cancelled alert) -> 409
    └── PermissionDenied  the caller's role may not do this -> 403
"""
from __future__ import annotations


class TocsinError(Exception):
    """Base of every error the core raises on purpose."""


class ValidationError(TocsinError):
    def __init__(self, message: str, *, field: str | None = None, errors: list[dict] | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.errors = errors or ([{"field": field, "message": message}] if field else [])


class NotFound(TocsinError):
    pass


class Conflict(TocsinError):
    pass


class PermissionDenied(TocsinError):
    pass
