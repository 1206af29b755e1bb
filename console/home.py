"""The page at `/`: what is running here and where to go. The operators' console (sign-in,
composer, live board) will live here; until then this page says so plainly and points at the API."""
from __future__ import annotations

import html

from aiohttp import web

from console.keys import RUNTIME

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}}
code{{background:#f2f2f2;padding:0 .25em}} h1{{font-size:1.6rem}} li{{margin:.3rem 0}}</style></head>
<body><h1>Tocsin for {org}</h1>
<p>Tocsin is running: the database and Redis answer at <a href="/healthz">/healthz</a>.
Channels available here: <strong>{channels}</strong>.</p>
<p>The operators' console (sign-in, composer with a map, live accountability board) is not part of this
version yet. Everything it will do is available through the JSON API with a bearer token
(<code>tocsin token create --role operator</code>):</p>
<ul>
<li><code>POST /api/v1/alerts</code>, then <code>POST /api/v1/alerts/{{id}}/send</code></li>
<li><code>GET /api/v1/alerts/{{id}}</code> and <code>/recipients</code>: live counts and each person's answer</li>
<li><code>POST /api/v1/targets/preview</code>: who a group, zone or drawn area reaches</li>
<li><code>POST /api/v1/recipients/import</code>: a CSV of your people</li>
</ul>
{sandbox}
<p>The README describes every setting, command and endpoint.</p></body></html>"""

SANDBOX = """<p>No provider account is configured, so messages go to the <strong>sandbox</strong>: see what a
phone received at <code>/sandbox/messages?to=%2B12025550001</code> and answer as that phone with
<code>POST /sandbox/sms/reply</code>.</p>"""


async def home(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    uses_sandbox = "/sandbox/" in (runtime.settings.twilio_api_base or "")
    org = runtime.settings.org_name
    body = PAGE.format(org=html.escape(org), title=html.escape("Tocsin" if org == "Tocsin" else f"{org} - Tocsin"),
                       channels=html.escape(", ".join(runtime.available_channels)),
                       sandbox=SANDBOX if uses_sandbox else "")
    return web.Response(text=body, content_type="text/html")
