"""The console's home (`/`): open incidents, live and drill apart, and what waits to go out."""
from __future__ import annotations

from aiohttp import web

from alerting import overview
from console.db import in_transaction
from console.render import render
from console.session import require_page


async def home(request: web.Request) -> web.Response:
    require_page(request)
    board = await in_transaction(request, overview.dashboard)
    return render(request, "home.html", board)
