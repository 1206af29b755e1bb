"""Typed keys for everything the application keeps in `app[...]`."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from console.group_commit import GroupCommitter
from ops.runtime import Runtime

RUNTIME = web.AppKey("runtime", Runtime)
DB_EXECUTOR = web.AppKey("db_executor", ThreadPoolExecutor)
#: Auth tokens Twilio webhooks may be signed with (two during a credential rotation).
TWILIO_TOKENS = web.AppKey("twilio_tokens", tuple)
#: Writes provider status callbacks in shared transactions (see console/group_commit.py).
STATUS_WRITER = web.AppKey("status_writer", GroupCommitter)


#: Who is calling, set by the authentication middleware: their role and their name in the audit log.
ROLE = web.RequestKey("role", str)
ACTOR = web.RequestKey("actor", str)
#: The signed-in console operator (console/session.py), when there is one.
OPERATOR = web.RequestKey("operator", object)
