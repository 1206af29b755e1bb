"""Server-rendered console pages: Jinja2 (autoescaped) with what every page needs in its context.

Pages work without JavaScript; scripts (the map, the live board) only add to them. Everything a
page loads is served by Tocsin itself: consoles run on closed networks during disasters.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import aiohttp_jinja2
import jinja2
from aiohttp import web

from alerting.timefmt import as_utc
from console.keys import OPERATOR, RUNTIME

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def setup(app: web.Application) -> None:
    env = aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                               undefined=jinja2.StrictUndefined)
    env.filters["when"] = when
    env.filters["ago"] = ago
    env.globals["channel_names"] = CHANNEL_NAMES


CHANNEL_NAMES = {"sms": "SMS", "voice": "voice call", "push": "web push", "email": "email"}


def _common_context(request: web.Request) -> dict[str, Any]:
    runtime = request.app[RUNTIME]
    operator = request.get(OPERATOR)
    return {"operator": operator, "csrf_token": operator.csrf_token if operator else "",
            "org_name": runtime.settings.org_name, "request_path": request.path,
            "available_channels": runtime.available_channels}


def render(request: web.Request, template: str, context: Mapping[str, Any] | None = None, *,
           status: int = 200) -> web.Response:
    response = aiohttp_jinja2.render_template(template, request, {**_common_context(request), **(context or {})},
                                              status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _utc(moment: datetime | str) -> datetime:
    """A stored time (naive from SQLite, aware from PostgreSQL, ISO text from JSON) in UTC."""
    return as_utc(datetime.fromisoformat(moment) if isinstance(moment, str) else moment)


def when(moment: datetime | str | None, fmt: str = "%Y-%m-%d %H:%M UTC") -> str:
    return "" if moment is None else _utc(moment).strftime(fmt)


def ago(moment: datetime | str | None) -> str:
    if moment is None:
        return ""
    seconds = int((datetime.now(timezone.utc) - _utc(moment)).total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"
