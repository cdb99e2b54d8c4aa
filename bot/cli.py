"""`cmo-bot`: serve, socket, work, migrate, tick, demo, try, audit verify, import, export, config, program new/list,
files migrate.

Every failure an operator can cause is one line on stderr and one of the exit codes below (docs/cli.md, "Exit
codes"); a traceback is a bug. Commands that only read never create a database: a mistyped SQLite path is an
error naming the URL, not a new empty database that then reads as "nothing there".

To add a command: write `def name(args) -> int`, then in `parser()` add its subparser with help texts and
`set_defaults(run=name)`.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.exc import OperationalError

from bot.clock import Clock, parse_instant
from bot.exit_codes import CANNOT_RUN, DATABASE_AWAY, FOUND_PROBLEMS, INTERRUPTED, OK, READER_GONE
from bot.settings import Settings, SettingsError, load_settings

log = logging.getLogger("cmo_bot")


def _prepare(settings: Settings, *, serving: bool = False):
    """The engine, with a SQLite schema brought up to date (PostgreSQL is migrated by `cmo-bot migrate`);
    a serving process waits for locks only as long as Slack waits for an answer."""
    from store import audit
    from store.db import CLI_WAIT, SERVING_WAIT, make_engine
    from store.migrate import is_sqlite, upgrade

    audit.use_key(settings.cmo_audit_key)
    if is_sqlite(settings.database_url):
        upgrade(settings.database_url)
    return make_engine(settings.database_url, wait=SERVING_WAIT if serving else CLI_WAIT)


def _existing(settings: Settings):
    """The engine of a database that must already be there: reading commands never create one."""
    from store.migrate import sqlite_file

    path = sqlite_file(settings.database_url)
    if path is not None and not path.exists():
        raise SettingsError(f"there is no database at {settings.database_url} (DATABASE_URL); check the path, "
                            "or create it with `cmo-bot migrate`")
    return _prepare(settings)


def _scheduler(app, settings: Settings):
    from bot.slack import alerter
    from scheduler import jobs
    from scheduler.checkpoints import upkeep

    deps = app.deps
    return jobs.start(deps.engine, app.client, deps.clock.now, alerter(app.client, settings),
                      upkeep=lambda now: upkeep(deps.engine, app.client, settings, now))


def _workers(args: argparse.Namespace):
    """The worker processes of a serving process (bot/worker.py), started once its database is ready; None
    with --workers 0, when the serving process does its work itself."""
    from bot.worker import Workers, worker_command

    return Workers(args.workers, worker_command()).start() if args.workers else None


def _role(args: argparse.Namespace) -> str:
    return "acknowledge" if args.workers else "whole"


def serve(args: argparse.Namespace) -> int:
    from bot.app import create_app
    from bot.server import make_server

    settings = load_settings()
    settings.require("slack_bot_token", "slack_signing_secret")
    app = create_app(settings, _prepare(settings, serving=True), _role(args))
    try:
        server = make_server(app, app.deps.engine, args.host, args.port,
                             signing_secret=settings.slack_signing_secret or "", warmed=True,
                             reuse_port=args.reuse_port)
    except OSError as exc:
        raise SettingsError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc} (another program "
                            "may be using the port; choose one with --port)") from None
    scheduler = None if args.no_scheduler else _scheduler(app, settings)
    workers = _workers(args)  # ready before the address is printed: a request would otherwise wait for them
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"cmo-bot listening on http://{args.host}:{server.effective_port}/slack/events", flush=True)
    try:
        server.run()
    finally:
        if scheduler:
            scheduler.shutdown(wait=False)
        server.close()
        if workers:
            workers.stop()
    return 0


def socket(args: argparse.Namespace) -> int:
    """Socket Mode; exit 2 when Slack refuses the app token, 3 when Slack cannot be reached."""
    import threading

    from bot.app import create_app
    from bot.server import health_app, run_until_closed, serve_wsgi
    from bot.socket_mode import SlackUnreachable, connect

    settings = load_settings()
    settings.require("slack_bot_token", "slack_app_token")
    if args.health_port is not None and not 0 <= args.health_port <= 65535:
        raise SettingsError(f"--health-port {args.health_port} is not a port (0–65535)")
    app = create_app(settings, _prepare(settings, serving=True), _role(args))
    try:
        handler = connect(app, settings.required("slack_app_token"))
    except SlackUnreachable as exc:
        print(f"cmo-bot: {exc}; nothing was changed, run it again when it is back", file=sys.stderr)
        return 3
    health = None
    if args.health_port is not None:
        try:
            health = serve_wsgi(health_app(app.deps, handler.client.is_connected, warmed=True), args.host,
                                args.health_port, 4)
        except OSError as exc:  # in use, or not ours to bind
            handler.close()
            raise SettingsError(f"--health-port {args.health_port}: cannot listen there ({exc})") from None
        threading.Thread(target=run_until_closed, args=(health,), daemon=True, name="health").start()
    scheduler = None if args.no_scheduler else _scheduler(app, settings)
    workers = _workers(args)  # as in serve
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    where = f"; health on http://{args.host}:{health.effective_port}/healthz" if health else ""
    print(f"cmo-bot connected to Slack over Socket Mode{where}", flush=True)
    try:
        threading.Event().wait()
    finally:
        if scheduler:
            scheduler.shutdown(wait=False)
        handler.close()
        if health:
            health.close()
        if workers:
            workers.stop()
    return 0


def work(args: argparse.Namespace) -> int:
    """A worker: runs the requests serve and socket acknowledged (bot/worker.py) until SIGTERM, finishing the
    one under way; at the lowest CPU priority (nice 19), so that acknowledgements win the cores."""
    import threading

    from bot.app import create_app
    from bot.worker import NICENESS, run_worker

    settings = load_settings()
    settings.require("slack_bot_token")
    app = create_app(settings, _prepare(settings, serving=True), "work")
    os.nice(NICENESS)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    run_worker(app, app.deps, stop, args.ready_fd)
    return 0


def migrate(args: argparse.Namespace) -> int:
    from store.migrate import upgrade

    settings = load_settings()
    before, after = upgrade(settings.database_url)
    print(migrated(before, after))
    return OK


def migrated(before: tuple[str, ...], after: tuple[str, ...]) -> str:
    """What `cmo-bot migrate` did, in words."""
    if not before:
        return f"created the database schema (revisions {', '.join(after)})"
    if before == after:
        return f"database schema is up to date (revisions {', '.join(after)}); nothing to do"
    return f"upgraded the database schema from {', '.join(before)} to {', '.join(after)}"


def _step(text: str) -> timedelta:
    match = re.fullmatch(r"(\d+)([mhd])", text.strip())
    if not match or int(match.group(1)) == 0:
        raise SettingsError(f"--every {text!r} is not a step such as 30m, 6h or 1d")
    return timedelta(**{{"m": "minutes", "h": "hours", "d": "days"}[match.group(2)]: int(match.group(1))})


def _instant(flag: str, text: str) -> datetime:
    try:
        return parse_instant(text)
    except ValueError:
        raise SettingsError(f"{flag} {text!r} is not an ISO-8601 instant, e.g. 2027-01-31T09:00:00+01:00") from None


def tick(args: argparse.Namespace) -> int:
    from bot.slack import alerter, web_client
    from scheduler.checkpoints import upkeep
    from scheduler.jobs import run_pass
    from scheduler.tick import dry_run

    settings = load_settings()
    now = _instant("--now", args.now) if args.now else Clock(settings.cmo_now).now()
    until = _instant("--until", args.until) if args.until else now
    step = _step(args.every)
    if args.dry_run:
        if until != now:
            raise SettingsError("--dry-run looks at one instant; leave out --until")
        lines = dry_run(_existing(settings), now)
        for line in lines:
            print(line)
        print(f"tick --dry-run {now.isoformat()}: {len(lines)} would be sent; nothing was changed", file=sys.stderr)
        return OK
    settings.require("slack_bot_token")
    engine = _prepare(settings)
    # Each undelivered row gets its own line below; the Web API client's log of every retry is noise here.
    logging.getLogger("slack_sdk").setLevel(logging.CRITICAL)
    client = web_client(settings)
    alert = alerter(client, settings)
    failed = 0
    while now <= until:
        report = run_pass(engine, client, now, alert)
        for outcome in report.outcomes:
            print(outcome.line(), flush=True)
        failed += sum(o.result not in ("sent", "recovered") for o in report.outcomes)
        print(f"tick {now.isoformat()}: {report.inserted} queued, {report.cancelled} cancelled, "
              f"{sum(o.result in ('sent', 'recovered') for o in report.outcomes)} delivered", file=sys.stderr)
        for line in upkeep(engine, client, settings, now):
            print(line, file=sys.stderr)
        now += step
    if failed:
        print(f"cmo-bot tick: {failed} notification(s) not delivered (see the lines above): `retry` ones wait in "
              "the outbox for a later pass, `dead` ones were dead-lettered", file=sys.stderr)
    return FOUND_PROBLEMS if failed else OK


def audit_verify(args: argparse.Namespace) -> int:

    from store import audit, signature_links
    from store.db import transaction

    settings = load_settings()
    checkpoint = _checkpoint(args.checkpoint) if args.checkpoint else None
    with transaction(_existing(settings)) as session:
        report = audit.verify(session)
        if checkpoint is not None:
            audit.verify_checkpoint(session, checkpoint, report)
        links = signature_links.problems(session, settings.document_store())
    print(report.summary() + (f" (checked against checkpoint {checkpoint.seq})" if checkpoint else ""))
    print(f"signature links: {'BROKEN: ' + '; '.join(links) if links else 'every signature matches its record'}")
    return OK if report.ok and not links else FOUND_PROBLEMS


def _checkpoint(value: str):
    """`--checkpoint SEQ:HASH` as posted in the alerts channel, or the path of a stored checkpoint file."""
    from pathlib import Path

    from store.audit import Checkpoint

    text = value
    if ":" not in value or Path(value).is_file():
        try:
            text = Path(value).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(f"--checkpoint: cannot read {value}: {getattr(exc, 'strerror', exc)}") from None
    try:
        return Checkpoint.parse(text)
    except ValueError as exc:
        raise SettingsError(f"--checkpoint: {exc}") from None


LONG_FILE = 200  # rows from which `import` shows a progress bar (on a terminal)


def cli_actor():
    """Who the audit trail names for work done at the command line: the operator's login."""
    import getpass

    from store.audit import Actor

    try:
        login = getpass.getuser()
    except (KeyError, OSError):
        login = "unknown"
    return Actor("cli", f"cmo-bot CLI ({login})"[:255], is_admin=True)


def progress_bar(items, total: int):
    """A progress bar on stderr for long files (tqdm; only on a terminal)."""
    from tqdm import tqdm

    return tqdm(items, total=total, file=sys.stderr, unit="row", disable=True if total < LONG_FILE else None)


def import_tracker(args: argparse.Namespace) -> int:
    from pathlib import Path

    from store.areas import KINDS
    from store.db import refresh_statistics
    from store.errors import DomainError
    from store.onboarding import importing

    settings = load_settings()
    path = Path(args.file)
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise SettingsError(f"cannot read {args.file}: {exc.strerror}") from None
    engine = _existing(settings)
    try:
        report = importing.run(engine, kind=importing.kind_named(args.kind, KINDS), content=content,
                               file_name=path.name, actor=cli_actor(), now=Clock(settings.cmo_now).now(),
                               program=args.program, dayfirst=args.dayfirst, dry_run=args.dry_run,
                               progress=progress_bar)
    except DomainError as exc:
        print(f"cmo-bot import: {exc}", file=sys.stderr)
        return 2
    if not args.dry_run:
        refresh_statistics(engine)  # a bulk load moves the planner's statistics most (SQLite; see store.db)
    for line in report.lines():
        print(line)
    return 0 if report.ok else 1


def export(args: argparse.Namespace) -> int:
    from datetime import date
    from pathlib import Path

    from store import programs as program_store
    from store.areas import SHEETS
    from store.db import transaction
    from store.errors import DomainError
    from store.onboarding import exporting

    settings = load_settings()
    try:
        start = date.fromisoformat(args.date_from) if args.date_from else None
        end = date.fromisoformat(args.date_to) if args.date_to else None
    except ValueError:
        raise SettingsError("--from and --to are dates written YYYY-MM-DD, e.g. 2027-01-31") from None
    target = Path(args.out or ".")
    into_folder = target.is_dir() or (args.out or "").endswith(("/", "\\"))  # a trailing slash: made here
    if not target.absolute().parent.is_dir():
        raise SettingsError(f"--out {args.out}: there is no folder {target.parent}")
    try:
        with transaction(_existing(settings)) as session:
            if args.all:
                chosen = program_store.visible_to(session, cli_actor())
            else:
                program = program_store.by_code(session, args.program)
                if program is None:
                    raise SettingsError(f"there is no program {args.program.strip().upper()[:20]}")
                chosen = [program]
            result = exporting.build(session, sheets=SHEETS, programs=chosen, everything=args.all,
                                     now=Clock(settings.cmo_now).now(), fmt=args.format, start=start, end=end)
    except DomainError as exc:
        print(f"cmo-bot export: {exc}", file=sys.stderr)
        return 2
    try:
        if into_folder:
            target.mkdir(exist_ok=True)
            target = target / result.file_name
        target.write_bytes(result.content)
    except OSError as exc:
        raise SettingsError(f"cannot write {target}: {exc.strerror or exc}") from None
    sheets = ", ".join(f"{t.title} ({t.count})" for t in result.tables[1:])
    print(f"wrote {target}: {sheets}")
    print(result.verified.summary())
    return OK if result.verified.ok else FOUND_PROBLEMS


def program_new(args: argparse.Namespace) -> int:
    from store import programs as program_store
    from store.db import transaction
    from store.errors import DomainError

    settings = load_settings()
    managers = [m.strip().upper() for m in args.manager or []]
    if bad := [m for m in managers if not re.fullmatch(r"[UW][A-Z0-9]{2,}", m)]:
        raise SettingsError(f"--manager {bad[0]} is not a Slack user ID such as U012ABCDEF")
    try:
        with transaction(_prepare(settings)) as session:
            program = program_store.create(
                session, actor=cli_actor(), now=Clock(settings.cmo_now).now(), code=args.code,
                customer=args.customer, products=args.products or "", timezone=args.timezone or settings.cmo_timezone,
                members={program_store.Role.program_manager: managers} if managers else None)
            line = _program_line(program, managers)
    except DomainError as exc:
        raise SettingsError(f"program new: {exc}") from None
    print(f"created {line}")
    return OK


def program_list(args: argparse.Namespace) -> int:
    from store import programs as program_store
    from store.db import pk, transaction

    settings = load_settings()
    with transaction(_existing(settings)) as session:
        lines = [_program_line(p, program_store.user_ids(session, pk(p), program_store.Role.program_manager))
                 for p in program_store.visible_to(session, cli_actor())]
    for line in lines:
        print(line)
    if not lines:
        print("no programs yet: `cmo-bot program new --code … --customer …`, or /cmo program new in Slack",
              file=sys.stderr)
    return OK


def _program_line(program, managers: list[str]) -> str:
    channel = f"channel {program.channel_id}" if program.channel_id else "no channel"
    who = ", ".join(managers) or "none"
    state = "" if program.active else ", closed"
    return f"{program.code}: {program.customer} ({program.timezone}, {channel}, program managers: {who}{state})"


def config(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from bot import checks
    from bot.settings import problems

    try:
        settings = Settings()
    except ValidationError as exc:
        for line in problems(exc):
            print(f"cmo-bot: {line}", file=sys.stderr)
        return CANNOT_RUN
    logging.getLogger("slack_sdk").setLevel(logging.CRITICAL)  # the token's check line says what Slack answered
    return OK if checks.run(settings) else FOUND_PROBLEMS


def files_migrate(args: argparse.Namespace) -> int:
    """Copy every filed document to another store, each checked against the audit trail's SHA-256."""
    from store import file_migration
    from store.db import transaction
    from store.errors import DomainError
    from store.storage import check_url, open_store

    settings = load_settings()
    try:
        check_url(args.to)
    except ValueError as exc:
        raise SettingsError(f"--to: {exc}") from None
    if args.to.rstrip("/") == settings.files_url.rstrip("/"):
        raise SettingsError(f"--to names the store documents are already in ({settings.files_url})")
    source, target = (open_store(url, endpoint_url=settings.cmo_s3_endpoint_url, region=settings.aws_region)
                      for url in (settings.files_url, args.to))
    try:
        with transaction(_prepare(settings)) as session:
            report = file_migration.migrate(session, source, target)
    except DomainError as exc:
        print(f"cmo-bot files migrate: {exc}", file=sys.stderr)
        return 3
    for line in report.lines():
        print(line)
    return 0 if report.ok else 1


def demo(args: argparse.Namespace) -> int:
    from bot.demo import run

    return run(args.transport, quiet=args.quiet)


def try_page(args: argparse.Namespace) -> int:
    from bot.trypage.server import run

    return run(args.port, args.transport)


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("cmo-bot")
    except PackageNotFoundError:  # run from a checkout that was not installed
        return "unknown (not installed)"


class Parser(argparse.ArgumentParser):
    """argparse, except that a usage mistake is one line (and where to read more), exit code 2."""

    def error(self, message: str):
        self.exit(CANNOT_RUN, f"{self.prog}: {message} (see {self.prog} --help)\n")


def workers(text: str) -> int:
    """A count of worker processes, 0 to 32."""
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of processes") from None
    if not 0 <= count <= 32:
        raise argparse.ArgumentTypeError(f"{count} is not between 0 and 32")
    return count


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port: 1–65535, or 0 for a free one")
    return value


def with_workers(p: argparse.ArgumentParser) -> None:
    """serve's and socket's --workers."""
    p.add_argument("--workers", type=workers, default=2, help="worker processes doing the work after each "
                   "acknowledgement (`cmo-bot work`, started and restarted by this one); 0: this process does it "
                   "(default: %(default)s)")


def parser() -> argparse.ArgumentParser:
    root = Parser(prog="cmo-bot", description="Slack bot for contract manufacturing programs. Settings come from "
                  "the environment (and a .env file): `cmo-bot config` shows them.",
                  epilog="Exit codes: 0 done; 1 the command found a problem (broken audit chain, refused rows, "
                  "undelivered notifications, a failed check); 2 it cannot run as asked (bad setting, argument, "
                  "file or port; nothing changed); 3 the database did not answer (nothing changed).")
    root.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("serve", help="HTTP mode: POST /slack/events, GET /healthz",
                       description="Serve Slack's requests over HTTP (behind your TLS terminator).")
    p.add_argument("--host", default="0.0.0.0", help="address to listen on (default: %(default)s)")
    p.add_argument("--port", type=port, default=3000, help="port to listen on, 0 for a free one (default: %(default)s)")
    p.add_argument("--no-scheduler", action="store_true", help="do not run the reminder scheduler in this process")
    p.add_argument("--reuse-port", action="store_true", help="let other `serve --reuse-port` processes on this "
                   "machine listen on the same port (the kernel shares the connections out: more cores answer)")
    with_workers(p)
    p.set_defaults(run=serve)
    p = sub.add_parser("socket", help="Socket Mode (no public URL needed)",
                       description="Connect to Slack over Socket Mode (needs SLACK_APP_TOKEN).")
    p.add_argument("--no-scheduler", action="store_true", help="do not run the reminder scheduler in this process")
    p.add_argument("--health-port", type=int, help="serve GET /healthz, /metrics and the calendar feeds on this port "
                   "(default: off; 0 picks one)")
    p.add_argument("--host", default="0.0.0.0", help="address of the health server (default: %(default)s)")
    with_workers(p)
    p.set_defaults(run=socket)
    p = sub.add_parser("work", help="a worker: does the work serve and socket acknowledged",
                   description="Run the requests that `serve` and `socket` acknowledged and queued, until SIGTERM "
                   "(serve and socket start their own with --workers; run more on other machines).")
    p.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)  # serve's and socket's: "ready" is said there
    p.set_defaults(run=work)
    sub.add_parser("migrate", help="bring the database schema up to date",
                   description="Create or upgrade the schema of DATABASE_URL (every area's migrations) and say "
                   "what was done.").set_defaults(run=migrate)
    p = sub.add_parser("tick", help="one scheduler pass as of --now",
                       description="Sweep what is due into the outbox, deliver it, print one line per notification; "
                       "exit 1 when any was not delivered.")
    p.add_argument("--now", help="ISO-8601 instant to run as of (default: now, or CMO_NOW)")
    p.add_argument("--dry-run", action="store_true",
                   help="print what would be sent; change nothing (needs no bot token)")
    p.add_argument("--until", help="extension: repeat the pass every --every until this instant, for simulations "
                   "(default: one pass)")
    p.add_argument("--every", default="1d",
                   help="step between passes with --until: 30m, 6h, 1d … (default: %(default)s)")
    p.set_defaults(run=tick)
    p = sub.add_parser("demo", help="a sample portfolio against the local Slack emulator",
                       description="The real app in a throwaway SQLite database, driven through the local Slack "
                       "emulator; needs no workspace and no settings.")
    p.add_argument("--transport", choices=("http", "socket"), default="http",
                   help="how Slack reaches the bot: signed HTTP requests (serve) or Socket Mode (socket) "
                   "(default: %(default)s)")
    p.add_argument("--quiet", action="store_true", help="print the section headings only, not the conversation")
    p.set_defaults(run=demo)
    p = sub.add_parser("try", help="the sample portfolio in a web page on 127.0.0.1, to click through as its people",
                       description="Start the local Slack emulator, the real bot and a web page over them (on "
                       "127.0.0.1 only), load the sample portfolio and print the page's URL; runs until Ctrl-C. "
                       "Needs no workspace and no settings.")
    p.add_argument("--port", type=port, default=8000,
                   help="port of the web page, 0 for a free one (default: %(default)s)")
    p.add_argument("--transport", choices=("http", "socket"), default="http",
                   help="how Slack reaches the bot: signed HTTP requests (serve) or Socket Mode (socket) "
                   "(default: %(default)s)")
    p.set_defaults(run=try_page)
    p = sub.add_parser("audit", help="audit trail tools", description="Audit trail tools.")
    audit_sub = p.add_subparsers(dest="audit_command", required=True, metavar="COMMAND")
    p = audit_sub.add_parser("verify", help="check the hash chain; exit 1 if broken",
                             description="Walk the audit trail's hash chain (keyed with CMO_AUDIT_KEY when set) and "
                             "name every edited row and every deleted range; exit 1 when broken.")
    p.add_argument("--checkpoint", help="SEQ:HASH from the alerts channel, or a checkpoint file from the store "
                   "(default: none)")
    p.set_defaults(run=audit_verify)
    p = sub.add_parser("import", help="bring in an existing tracker (CSV or XLSX), one record per row",
                       description="Import a tracker; exit 1 when any row was refused, 2 when the file cannot be "
                       "used.")
    p.add_argument("file", help="the tracker: .csv (any delimiter) or .xlsx (first sheet)")
    p.add_argument("--kind", required=True, help="agreements, batches, stability or submissions")
    p.add_argument("--program", help="program code (default: a Program column in the tracker)")
    p.add_argument("--dayfirst", action="store_true", help="read 01/02/2027 as 1 February (default: 2 January)")
    p.add_argument("--dry-run", action="store_true", help="check every row and report; change nothing")
    p.set_defaults(run=import_tracker)
    p = sub.add_parser("export", help="every record and the audit trail, for auditors (xlsx, or csv in a zip)",
                       description="Export records and the audit trail; exit 1 when the chain is broken.")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--program", help="one program's records")
    which.add_argument("--all", action="store_true", help="every program's records")
    p.add_argument("--format", choices=("xlsx", "csv"), default="xlsx", help="file format (default: %(default)s)")
    p.add_argument("--from", dest="date_from", help="audit trail from this UTC day, YYYY-MM-DD (default: the start)")
    p.add_argument("--to", dest="date_to", help="audit trail up to and including this UTC day (default: today)")
    p.add_argument("--out", help="file, or folder (an existing one, or NAME/ to make it), to write (default: the "
                   "export's own name, here)")
    p.set_defaults(run=export)
    p = sub.add_parser("config", help="show the effective settings and check each",
                       description="Print every setting (secrets masked) with where it came from, then check the "
                       "database, the bot token (Slack's auth.test), the signing secret and the files store; exit 1 "
                       "when a check fails.")
    p.set_defaults(run=config)
    p = sub.add_parser("program", help="set up and inspect programs", description="Set up and inspect programs.")
    program_sub = p.add_subparsers(dest="program_command", required=True, metavar="COMMAND")
    p = program_sub.add_parser("new", help="create a program (audited as the CLI operator)",
                               description="Create a program; its channel is linked later in Slack.")
    p.add_argument("--code", required=True, help="program code, e.g. ACME-001 (letters, digits, -)")
    p.add_argument("--customer", required=True, help="the customer's name")
    p.add_argument("--manager", action="append", metavar="USER_ID",
                   help="Slack user ID of a program manager; repeat for several (default: none)")
    p.add_argument("--timezone", help="IANA time zone of the program's days (default: CMO_TIMEZONE)")
    p.add_argument("--products", help="what is made for the customer (default: empty)")
    p.set_defaults(run=program_new)
    program_sub.add_parser("list", help="every program, one line each",
                           description="List every program with its time zone, channel and program managers."
                           ).set_defaults(run=program_list)
    p = sub.add_parser("files", help="the document store", description="The document store.")
    files_sub = p.add_subparsers(dest="files_command", required=True, metavar="COMMAND")
    p = files_sub.add_parser("migrate", help="copy every document to another store, verifying each SHA-256",
                             description="Copy every filed document to another store, checked against the audit "
                             "trail's SHA-256; prints copied, skipped and refused; exit 1 when any is refused.")
    p.add_argument("--to", required=True, help="the new store: s3://bucket/prefix, file:///folder or a folder")
    p.set_defaults(run=files_migrate)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # Warnings and errors by default: the libraries' INFO notes are noise, and Bolt's include request bodies
    # (Bolt sets its loggers' level from the root logger's, so the root level is what quiets them).
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("cmo_bot").setLevel(logging.INFO)
    try:
        return args.run(args)
    except SettingsError as exc:
        print(f"cmo-bot: {exc}", file=sys.stderr)
        return CANNOT_RUN
    except OperationalError as exc:
        print(f"cmo-bot: the database is not reachable ({type(exc.orig).__name__}); nothing was changed, "
              "run it again when it is back", file=sys.stderr)
        return DATABASE_AWAY
    except BrokenPipeError:
        # The reader went away (`cmo-bot demo | head`): say nothing more, and let nothing flush into the pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return READER_GONE
    except KeyboardInterrupt:
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
