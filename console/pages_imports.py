"""The console's CSV import of people: the upload form, then a status page with live progress.

The upload is checked for what would sink the whole file (size, encoding, header), stored in
`imports` and handed to a worker on the bulk queue (alerting/imports.py, ops.jobs.import_people),
so a 100,000-row file never holds a request open and never delays an alert. The status page polls
a small JSON answer every second (static/imports.js) and, once the import ends, shows the per-row
report. Everything here needs the operator role, like the import itself.
"""
from __future__ import annotations

from aiohttp import web

from alerting import imports
from alerting.errors import ValidationError
from alerting.recipient_input import KNOWN_COLUMNS, LOCATION_COLUMNS, RowRejected
from alerting.statuses import Role
from console.api_imports import queue_import
from console.db import in_transaction
from console.paths import path_id
from console.render import render
from console.session import require_page

#: What the import page shows as the expected columns.
EXAMPLE_CSV = ("external_id,name,phone,email,locale,groups,lat,lon,location_label,department\n"
               "S0001,Ana Chen,+12025550100,ana.chen@campus.example.edu,en,Students;Residence Halls,"
               "38.9081,-77.0720,home,Chemistry\n"
               "F0002,Ben Okafor,(202) 555-0101,,fr,Faculty,,,,Library\n")
MAX_MB = imports.MAX_IMPORT_BYTES // (1024 * 1024)
NOTICES = {
    "queued": "The import was queued again; it goes on from where it stopped.",
    "already": "The import is already queued or running.",
    "unqueued": "The job queue cannot be reached: the import is stored and waits. Resume it in a moment.",
}


def _form_page(request: web.Request, *, file_error: str = "", create_groups: bool = False,
               recent: list | None = None, status: int = 200) -> web.Response:
    return render(request, "people_import.html", {
        "recent": recent or [], "file_error": file_error, "create_groups": create_groups, "example": EXAMPLE_CSV,
        "known_columns": KNOWN_COLUMNS, "location_columns": LOCATION_COLUMNS, "max_mb": MAX_MB}, status=status)


async def import_page(request: web.Request) -> web.Response:
    require_page(request, Role.OPERATOR)
    return _form_page(request, recent=await in_transaction(request, imports.recent))


async def import_submit(request: web.Request) -> web.Response:
    """Store the upload and queue its import; the answer is the import's status page."""
    operator = require_page(request, Role.OPERATOR)
    form = await request.post()
    upload = form.get("file")
    create_groups = form.get("create_groups") == "1"
    if not isinstance(upload, web.FileField):
        return _form_page(request, file_error="Choose a CSV file to import.", create_groups=create_groups, status=422)
    body = upload.file.read(imports.MAX_IMPORT_BYTES + 1)
    try:
        found = await in_transaction(request, lambda s: imports.create(
            s, body, filename=upload.filename or "", create_groups=create_groups, actor=operator.actor))
    except ValidationError as exc:
        too_big = len(body) > imports.MAX_IMPORT_BYTES
        hint = (" Split it into smaller files, or send it to the API (POST /api/v1/recipients/import)."
                if too_big else "")
        return _form_page(request, file_error=f"{exc.message[0].upper()}{exc.message[1:]}.{hint}",
                          create_groups=create_groups, status=413 if too_big else 422)
    except RowRejected as exc:
        where = f"Line {exc.error.line}: " if exc.error.line else ""
        return _form_page(request, file_error=f"{where}{exc.error.message}. Nothing was imported.",
                          create_groups=create_groups, status=422)
    notice = await queue_import(request, found.id)
    raise web.HTTPSeeOther(f"/recipients/imports/{found.id}" + ("?done=unqueued" if notice == "unqueued" else ""))


async def import_status(request: web.Request) -> web.Response:
    """Progress while it runs (updated by script, or by a refresh without one), the report once it ends."""
    require_page(request, Role.OPERATOR)
    import_id = path_id(request, "import_id")

    def load(session):  # type: ignore[no-untyped-def]
        found = imports.get(session, import_id)
        return (imports.progress(found), imports.report(found),
                {"filename": found.filename, "created_by": found.created_by, "created_at": found.created_at,
                 "create_groups": found.create_groups})

    progress, report, about = await in_transaction(request, load)
    return render(request, "people_import_status.html", {
        "progress": progress, "result": report if progress["ended"] else None, "about": about,
        "notice": NOTICES.get(request.query.get("done", ""), "")})


async def import_progress(request: web.Request) -> web.Response:
    """The status page's poll: counts only, a few hundred bytes whatever the file."""
    require_page(request, Role.OPERATOR)
    import_id = path_id(request, "import_id")
    progress = await in_transaction(request, lambda s: imports.progress(imports.get(s, import_id)))
    return web.json_response(progress, headers={"Cache-Control": "no-store"})


async def import_resume(request: web.Request) -> web.Response:
    """Queue an unfinished import again (its worker died, Redis lost the job): it goes on after
    its last committed chunk. Harmless while it runs: the job is not queued twice."""
    require_page(request, Role.OPERATOR)
    import_id = path_id(request, "import_id")
    ended = await in_transaction(request, lambda s: imports.get(s, import_id).status in imports.ENDED)
    notice = "" if ended else await queue_import(request, import_id)
    raise web.HTTPSeeOther(f"/recipients/imports/{import_id}" + (f"?done={notice}" if notice else ""))


def setup(app: web.Application) -> None:
    """Register this module's routes (before `/recipients/{external_id}`, which would match "import")."""
    app.router.add_get("/recipients/import", import_page)
    app.router.add_post("/recipients/import", import_submit)
    app.router.add_get("/recipients/imports/{import_id}", import_status)
    app.router.add_get("/recipients/imports/{import_id}/progress", import_progress)
    app.router.add_post("/recipients/imports/{import_id}/resume", import_resume)
