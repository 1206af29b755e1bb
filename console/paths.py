"""Reading ids out of URL paths: digits only, or there is nothing at that address (404)."""
from __future__ import annotations

from aiohttp import web

#: Longer than any id we hand out; a longer run of digits is not an id (and would overflow SQL).
MAX_ID_DIGITS = 12


def path_id(request: web.Request, key: str, *, suffix: str = "") -> int:
    """The integer id in the path's `{key}` part (`suffix`, such as ".cap", removed first)."""
    raw = request.match_info[key].removesuffix(suffix) if suffix else request.match_info[key]
    if not raw.isdigit() or len(raw) > MAX_ID_DIGITS:
        raise web.HTTPNotFound()
    return int(raw)
