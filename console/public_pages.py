"""The shell of the pages people open without signing in (answer links, the push subscribe page):
small, accessible, self-contained HTML with strict headers. Each page brings its own CSP and style."""
from __future__ import annotations

import html

from aiohttp import web

#: Headers every public page sends besides its Content-Security-Policy: never cached (the links are
#: personal), never framed, never leaking the link in a Referer, never indexed.
COMMON_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Robots-Tag": "noindex, nofollow",
}


def page(title: str, body: str, *, csp: str, style: str, status: int = 200) -> web.Response:
    """`body` is trusted HTML the caller built with escaped values; `title` is escaped here."""
    document = (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                f'<title>{html.escape(title)}</title><style>{style}</style></head>'
                f'<body><main>{body}</main></body></html>')
    return web.Response(text=document, status=status, content_type="text/html", charset="utf-8",
                        headers={"Content-Security-Policy": csp, **COMMON_HEADERS})
