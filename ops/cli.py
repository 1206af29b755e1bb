"""The `tocsin` command. Each sub-command takes its settings from TOCSIN_* variables; flags override."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from ops import logs
from ops.settings import Settings, SettingsError

DESCRIPTION = """Tocsin: emergency mass notification.

  tocsin serve                 the whole system (web, workers, embedded Redis/SQLite, sandbox)
  tocsin worker                RQ workers alone, for other machines
  tocsin sandbox               the provider sandbox alone
  tocsin db upgrade            create or migrate the database schema
  tocsin token create --role   print a new API token
  tocsin user create EMAIL     add a console user (password read from standard input)
  tocsin demo seed             load the demo campus into an empty database
  tocsin cap import FILE       a CAP 1.1/1.2 document as a draft alert (prints its id)
  tocsin check                 report insecure settings (exit code 1 if any)
  tocsin recipients import F   create or update people from a CSV file (per-row error report)
  tocsin alert send ID --wait  start an alert's send through the API and follow it to the end

Settings come from TOCSIN_* environment variables (see README); flags override them."""


def _data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where the embedded SQLite database, Redis and secrets live "
                             "(TOCSIN_DATABASE_URL overrides the database; default ./var)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tocsin", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run web app, workers and (embedded default) Redis + sandbox")
    _data_dir(serve)
    serve.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port to listen on (default 8080)")
    serve.add_argument("--workers", type=int, default=None,
                       help="RQ worker processes to start and supervise; 0 for web only (default 2)")
    serve.add_argument("--demo", action="store_true",
                       help="load the demo campus if the database is empty and print an admin token")

    worker = commands.add_parser("worker", help="run an RQ worker (needs TOCSIN_REDIS_URL)")
    _data_dir(worker)
    worker.add_argument("--burst", action="store_true", help="exit once the queues are empty")
    worker.add_argument("--metrics-port", type=int, default=None,
                        help="answer Prometheus scrapes of this worker's counts on this port (/metrics)")

    sandbox = commands.add_parser("sandbox", help="run the provider sandbox alone")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8090)
    sandbox.add_argument("--inbound-sms-url", default=None,
                         help="where replies are delivered (Tocsin's /hooks/twilio/sms)")
    sandbox.add_argument("--smtp-port", type=int, default=None,
                         help="also run the sandbox's SMTP server on this port (0: any free port)")

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    _data_dir(db_commands.add_parser("upgrade", help="create or migrate the schema to the latest version"))

    token = commands.add_parser("token", help="API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = token_commands.add_parser("create", help="create a token and print it (only the token)")
    create.add_argument("--role", required=True, choices=["admin", "operator", "viewer"])
    create.add_argument("--label", default="", help="a note saying who or what uses the token")
    _data_dir(create)

    user = commands.add_parser("user", help="console users")
    user_commands = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    user_create = user_commands.add_parser(
        "create", help="add a console user; the password is read from standard input (first line)",
        description="Add a console user. The password is read from standard input: the first line, "
                    "at least 10 characters (at a terminal it is asked for twice, unechoed).")
    user_create.add_argument("email")
    user_create.add_argument("--role", required=True, choices=["admin", "operator", "viewer"])
    user_create.add_argument("--name", default="", help="the person's name, shown in the console")
    _data_dir(user_create)
    user_unlock = user_commands.add_parser("unlock", help="unlock an account locked by failed sign-ins")
    user_unlock.add_argument("email")
    _data_dir(user_unlock)
    _data_dir(user_commands.add_parser("list", help="list console users and their roles"))

    demo = commands.add_parser("demo", help="demo data")
    demo_commands = demo.add_subparsers(dest="demo_command", required=True, metavar="ACTION")
    _data_dir(demo_commands.add_parser("seed", help="load the demo campus into an empty database"))

    cap = commands.add_parser("cap", help="CAP 1.2 (Common Alerting Protocol) documents")
    cap_commands = cap.add_subparsers(dest="cap_command", required=True, metavar="ACTION")
    cap_import = cap_commands.add_parser("import", help="turn a CAP document into a draft alert; prints its id")
    cap_import.add_argument("file", type=Path, help="the CAP XML document ('-' for standard input)")
    cap_import.add_argument("--channels", default="", help="comma-separated channels (default: all configured)")
    _data_dir(cap_import)

    recipients = commands.add_parser("recipients", help="the directory of people")
    recipients_commands = recipients.add_subparsers(dest="recipients_command", required=True, metavar="ACTION")
    recipients_import = recipients_commands.add_parser(
        "import", help="create or update people from a CSV file; rows with errors are listed and skipped",
        description="Create or update people from a CSV file (header row first, external_id required; "
                    "the same columns as the API's /api/v1/recipients/import). Exits 1 if any row was refused.")
    recipients_import.add_argument("file", type=Path, help="the CSV file")
    recipients_import.add_argument("--create-groups", action="store_true",
                                   help="create groups the file names that do not exist yet")
    _progress_flag(recipients_import)
    _data_dir(recipients_import)

    alert = commands.add_parser("alert", help="alerts, through a running Tocsin's API")
    alert_commands = alert.add_subparsers(dest="alert_command", required=True, metavar="ACTION")
    alert_send = alert_commands.add_parser(
        "send", help="press send on a draft alert (the API's POST /api/v1/alerts/ID/send)",
        description="Press send on a draft alert through the API of a running Tocsin (the same path as "
                    "the console: approvals, escalation). Needs an operator token: --token or TOCSIN_API_TOKEN.")
    alert_send.add_argument("alert_id", type=int)
    alert_send.add_argument("--wait", action="store_true",
                            help="follow the send until every message is handed over and reports stop")
    alert_send.add_argument("--url", default=None, help="Tocsin's URL (default TOCSIN_PUBLIC_URL, or the "
                                                        "address `tocsin serve` listens on)")
    alert_send.add_argument("--token", default=None, help="an operator API token (default TOCSIN_API_TOKEN)")
    _progress_flag(alert_send)
    check = commands.add_parser("check", help="report insecure settings; exit code 1 if any")
    _data_dir(check)
    check.add_argument("--no-database", action="store_true", help="check the settings only")
    return parser


def _progress_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bars (they are drawn only when standard error is a terminal)")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env().with_overrides(data_dir=getattr(args, "data_dir", None))
    except SettingsError as exc:
        print(f"tocsin: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)
    handler = COMMANDS[args.command]
    try:
        return handler(args, settings) or 0
    except SettingsError as exc:
        print(f"tocsin: {exc}", file=sys.stderr)
        return 2


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from ops.serve import serve

    settings = settings.with_overrides(host=args.host, port=args.port, workers=args.workers)
    if settings.workers < 0:
        raise SettingsError("--workers must be 0 or more")

    token = None
    demo_users: list[tuple[str, str, str]] = []

    def prepare(runtime) -> None:  # type: ignore[no-untyped-def]
        nonlocal token
        if args.demo:
            token = _demo_token(runtime)
            demo_users.extend(_demo_users(runtime))

    def ready(runtime) -> None:  # type: ignore[no-untyped-def]
        url = runtime.settings.effective_public_url
        lines = [f"Tocsin is running at {url}/  (health: {url}/healthz)",
                 f"  database: {_without_password(runtime.settings.effective_database_url)}",
                 f"  redis:    {_without_password(runtime.settings.redis_url)}",
                 f"  workers:  {runtime.settings.workers}"]
        if runtime.settings.twilio_account_sid and runtime.settings.twilio_api_base and "/sandbox/" in runtime.settings.twilio_api_base:
            lines.append(f"  provider: sandbox at {url}/sandbox/ (inboxes: {url}/sandbox/messages?to=+1...)")
        if token:
            lines.append(f"  admin API token: {token}")
        if demo_users:
            lines.append(f"  console sign-in ({url}/login):")
            lines.extend(f"    {email} / {password}  ({role})" for email, password, role in demo_users)
        print("\n".join(lines), flush=True)

    serve(settings, prepare=prepare, on_ready=ready)
    return 0


def _demo_token(runtime) -> str:  # type: ignore[no-untyped-def]
    from alerting import tokens
    from ops.demo import seed_demo

    with runtime.sessions.begin() as session:
        seed_demo(session)
        return tokens.create_token(session, "admin", label="make run", actor="cli")


def _without_password(url: str | None) -> str:
    """A URL fit for a terminal or a log: any password replaced by ***."""
    from urllib.parse import urlsplit, urlunsplit

    if not url:
        return ""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _demo_users(runtime) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    """The demo's console users, created on first start; their passwords are kept in the data
    directory (readable by its owner only) so every `make run` can print them."""
    from ops.demo import ensure_demo_users

    with runtime.sessions.begin() as session:
        return ensure_demo_users(session, runtime.settings.data_dir)


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from ops.worker import run_worker

    if not settings.redis_url:
        raise SettingsError("TOCSIN_REDIS_URL is required for `tocsin worker` (the Redis `tocsin serve` uses)")
    if args.metrics_port is not None:
        from ops.metrics import serve_worker_metrics
        serve_worker_metrics(args.metrics_port)
    run_worker(settings, burst=args.burst)
    return 0


def cmd_sandbox(args: argparse.Namespace, settings: Settings) -> int:
    from aiohttp import web

    from ops.sandbox import create_standalone_app

    smtp = f", SMTP on {args.host}:{args.smtp_port}" if args.smtp_port else ""
    print(f"Tocsin sandbox on http://{args.host}:{args.port}/sandbox/ "
          f"(Twilio API base: http://{args.host}:{args.port}/sandbox/twilio{smtp})", flush=True)
    web.run_app(create_standalone_app(inbound_sms_url=args.inbound_sms_url, smtp_host=args.host,
                                      smtp_port=args.smtp_port),
                host=args.host, port=args.port, print=None, access_log=None)
    return 0


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    from ops import database

    database.upgrade(settings.effective_database_url)
    print("database schema is up to date", file=sys.stderr)
    return 0


def _sessions(settings: Settings):  # type: ignore[no-untyped-def]
    from ops import database

    database.upgrade(settings.effective_database_url)
    return database.make_sessions(database.make_engine(settings.effective_database_url))


def cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    from alerting import tokens

    with _sessions(settings).begin() as session:
        print(tokens.create_token(session, args.role, label=args.label, actor="cli"))
    return 0


def _read_password() -> str:
    import getpass

    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise SettingsError("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def cmd_user(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy import select

    from alerting import users
    from alerting.errors import TocsinError
    from alerting.models import User

    try:
        with _sessions(settings).begin() as session:
            if args.user_command == "create":
                user = users.create_user(session, args.email, _read_password(), args.role, name=args.name,
                                         actor="cli")
                print(f"user {user.email} created with the {user.role} role", file=sys.stderr)
            elif args.user_command == "unlock":
                found = session.scalar(select(User).where(User.email == args.email.strip().lower()))
                if found is None:
                    raise SettingsError(f"no user {args.email}")
                users.unlock(session, found.id, actor="cli")
                print(f"user {found.email} unlocked", file=sys.stderr)
            else:
                for found in users.list_users(session):
                    state = "disabled" if found.disabled_at else ("locked" if found.locked_until else "active")
                    print(f"{found.email}\t{found.role}\t{state}")
    except TocsinError as exc:
        print(f"tocsin: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from ops.demo import seed_demo

    with _sessions(settings).begin() as session:
        created = seed_demo(session)
    print("demo campus loaded" if created else "the database already has recipients; nothing loaded",
          file=sys.stderr)
    return 0


def cmd_cap(args: argparse.Namespace, settings: Settings) -> int:
    from alerting.cap import imports
    from alerting.cap.export import Origin
    from alerting.cap.parse import parse
    from alerting.errors import TocsinError
    from escalation import accountability
    data = sys.stdin.buffer.read() if str(args.file) == "-" else args.file.read_bytes()
    try:
        parsed = parse(data)
        with _sessions(settings).begin() as session:
            available = _configured_channels(settings)
            chosen = [c.strip() for c in args.channels.split(",") if c.strip()] or None
            own = Origin(org_name=settings.org_name, public_url=settings.effective_public_url)
            result = imports.import_message(
                session, parsed, actor="cli", available_channels=available, channels=chosen, own_sender=own.sender,
                cancel=lambda s, alert_id: accountability.cancel(s, alert_id, None, actor="cli",
                                                                  available_channels=available))
            alert_id, action = result.alert.id, result.action
    except TocsinError as exc:
        field = getattr(exc, "field", None)
        print(f"tocsin: {field + ': ' if field and field not in str(exc) else ''}{exc}", file=sys.stderr)
        return 2
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"alert {alert_id} {action}", file=sys.stderr)
    print(alert_id)
    return 0


def _configured_channels(settings: Settings) -> list[str]:
    """The channels `Runtime.available_channels` would give, without connecting to Redis."""
    channels = ["sms", "voice"] if settings.twilio_account_sid or settings.uses_sandbox else []
    channels.append("push")
    if settings.smtp_url or settings.uses_sandbox:
        channels.append("email")
    return channels


def cmd_recipients(args: argparse.Namespace, settings: Settings) -> int:
    from alerting.recipient_input import RowRejected
    from ops.progress import bars_wanted, describe_error, import_csv

    try:
        totals = import_csv(_sessions(settings), args.file, create_groups=args.create_groups,
                            show=bars_wanted(args.no_progress))
    except (RowRejected, OSError) as exc:
        print(f"tocsin: {args.file}: {exc}", file=sys.stderr)
        return 2
    for error in totals.errors:
        print(describe_error(error))
    groups = f"; new groups: {', '.join(totals.created_groups)}" if totals.created_groups else ""
    print(f"{totals.created} created, {totals.updated} updated, {len(totals.errors)} rejected{groups}",
          file=sys.stderr)
    return 1 if totals.errors else 0


def cmd_alert(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from ops.progress import Api, ApiError, bars_wanted, counts, follow_send

    token = args.token or settings.api_token
    if not token:
        raise SettingsError("an operator API token is required: --token or TOCSIN_API_TOKEN "
                            "(create one with `tocsin token create --role operator`)")
    api = Api(args.url or settings.effective_public_url, token)
    path = f"/api/v1/alerts/{args.alert_id}"
    try:
        started = api.call("POST", f"{path}/send", {})
        print(f"alert {args.alert_id}: {started.get('state')}"
              f"{'' if started.get('started') else ' (already; nothing changed)'}", file=sys.stderr)
        summary = follow_send(lambda: api.call("GET", path), show=bars_wanted(args.no_progress)) \
            if args.wait and started.get("state") == "sending" else started
    except ApiError as exc:
        print(f"tocsin: {exc}", file=sys.stderr)
        return 2
    total, handed, final, delivered = counts(summary)
    if args.wait:
        print(f"alert {args.alert_id} {summary.get('status')}: {total} messages, {handed} handed over, "
              f"{delivered} delivered, {final - delivered} failed or cancelled", file=sys.stderr)
    print(json.dumps({"id": args.alert_id, "state": started.get("state"), "status": summary.get("status"),
                      "deliveries": summary.get("deliveries", {})}))
    return 0


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    from ops.check import run_check

    findings, code = run_check(settings, database=not args.no_database)
    for finding in findings:
        print(finding)
    print("insecure settings found" if code else "no insecure settings found", file=sys.stderr)
    return code


COMMANDS = {"check": cmd_check, "serve": cmd_serve, "worker": cmd_worker, "sandbox": cmd_sandbox, "db": cmd_db,
            "token": cmd_token, "user": cmd_user, "demo": cmd_demo, "cap": cmd_cap,
            "recipients": cmd_recipients, "alert": cmd_alert}

if __name__ == "__main__":
    sys.exit(main())
