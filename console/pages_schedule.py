"""(placeholder: routes added by the part of the console this module owns)"""
from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Register this module's routes."""
