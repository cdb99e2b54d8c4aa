"""`cmo-bot`: serve, socket, migrate, tick, demo, audit verify, import, export."""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.exc import OperationalError

from bot.clock import Clock, parse_instant
from bot.settings import Settings, SettingsError, load_settings

log = logging.getLogger("cmo_bot")


def _prepare(settings: Settings, *, serving: bool = False):
    """The engine, with a SQLite schema brought up to date (PostgreSQL is migrated by `cmo-bot migrate`);
    a serving process waits for locks only as long as Slack waits for an answer."""
    from store.db import CLI_WAIT, SERVING_WAIT, make_engine
    from store.migrate import is_sqlite, upgrade

    if is_sqlite(settings.database_url):
        upgrade(settings.database_url)
    return make_engine(settings.database_url, wait=SERVING_WAIT if serving else CLI_WAIT)


def _scheduler(app, settings: Settings):
    from bot.slack import alerter
    from scheduler import jobs

    deps = app.deps
    return jobs.start(deps.engine, app.client, deps.clock.now, alerter(app.client, settings))


def serve(args: argparse.Namespace) -> int:
    from bot.app import create_app
    from bot.server import make_server

    settings = load_settings()
    settings.require("slack_bot_token", "slack_signing_secret")
    app = create_app(settings, _prepare(settings, serving=True))
    server = make_server(app, app.deps.engine, args.host, args.port)
    scheduler = None if args.no_scheduler else _scheduler(app, settings)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"cmo-bot listening on http://{args.host}:{server.effective_port}/slack/events", flush=True)
    try:
        server.run()
    finally:
        if scheduler:
            scheduler.shutdown(wait=False)
        server.close()
    return 0


def socket(args: argparse.Namespace) -> int:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.app import create_app

    settings = load_settings()
    settings.require("slack_bot_token", "slack_app_token")
    app = create_app(settings, _prepare(settings, serving=True))
    scheduler = None if args.no_scheduler else _scheduler(app, settings)
    try:
        SocketModeHandler(app, settings.slack_app_token).start()
    finally:
        if scheduler:
            scheduler.shutdown(wait=False)
    return 0


def migrate(args: argparse.Namespace) -> int:
    from store.migrate import upgrade

    settings = load_settings()
    upgrade(settings.database_url)
    print("database schema is up to date")
    return 0


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
    from scheduler.jobs import run_pass
    from scheduler.tick import dry_run

    settings = load_settings()
    settings.require("slack_bot_token")
    now = _instant("--now", args.now) if args.now else Clock(settings.cmo_now).now()
    until = _instant("--until", args.until) if args.until else now
    step = _step(args.every)
    if args.dry_run and until != now:
        raise SettingsError("--dry-run looks at one instant; leave out --until")
    engine = _prepare(settings)
    if args.dry_run:
        for line in dry_run(engine, now):
            print(line)
        return 0
    client = web_client(settings)
    alert = alerter(client, settings)
    while now <= until:
        report = run_pass(engine, client, now, alert)
        for outcome in report.outcomes:
            print(outcome.line(), flush=True)
        print(f"tick {now.isoformat()}: {report.inserted} queued, {report.cancelled} cancelled, "
              f"{sum(o.result in ('sent', 'recovered') for o in report.outcomes)} delivered", file=sys.stderr)
        now += step
    return 0


def audit_verify(args: argparse.Namespace) -> int:
    from store import audit
    from store.db import transaction

    settings = load_settings()
    with transaction(_prepare(settings)) as session:
        report = audit.verify(session)
    print(report.summary())
    return 0 if report.ok else 1


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

    from store import importing, onboarding_kinds  # noqa: F401  (registers every area's kind)
    from store.errors import DomainError

    settings = load_settings()
    path = Path(args.file)
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise SettingsError(f"cannot read {args.file}: {exc.strerror}") from None
    try:
        report = importing.run(_prepare(settings), kind=args.kind, content=content, file_name=path.name,
                               actor=cli_actor(), now=Clock(settings.cmo_now).now(), program=args.program,
                               dayfirst=args.dayfirst, dry_run=args.dry_run, progress=progress_bar)
    except DomainError as exc:
        print(f"cmo-bot import: {exc}", file=sys.stderr)
        return 2
    for line in report.lines():
        print(line)
    return 0 if report.ok else 1


def export(args: argparse.Namespace) -> int:
    from datetime import date
    from pathlib import Path

    from store import exporting, onboarding_kinds  # noqa: F401  (registers every area's sheets)
    from store import programs as program_store
    from store.db import transaction
    from store.errors import DomainError

    settings = load_settings()
    try:
        start = date.fromisoformat(args.date_from) if args.date_from else None
        end = date.fromisoformat(args.date_to) if args.date_to else None
    except ValueError:
        raise SettingsError("--from and --to are dates written YYYY-MM-DD, e.g. 2027-01-31") from None
    try:
        with transaction(_prepare(settings)) as session:
            if args.all:
                chosen = program_store.visible_to(session, cli_actor())
            else:
                program = program_store.by_code(session, args.program)
                if program is None:
                    raise SettingsError(f"there is no program {args.program.strip().upper()[:20]}")
                chosen = [program]
            result = exporting.build(session, programs=chosen, everything=args.all, now=Clock(settings.cmo_now).now(),
                                     fmt=args.format, start=start, end=end)
    except DomainError as exc:
        print(f"cmo-bot export: {exc}", file=sys.stderr)
        return 2
    target = Path(args.out) if args.out else Path(result.file_name)
    if target.is_dir() or (args.out or "").endswith(("/", "\\")):
        target.mkdir(parents=True, exist_ok=True)
        target = target / result.file_name
    target.write_bytes(result.content)
    sheets = ", ".join(f"{t.title} ({len(t.rows)})" for t in result.tables[1:])
    print(f"wrote {target}: {sheets}")
    print(result.verified.summary())
    return 0 if result.verified.ok else 1


def demo(args: argparse.Namespace) -> int:
    from bot.demo import run

    return run()


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="cmo-bot", description="Slack bot for contract manufacturing programs.")
    sub = root.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="HTTP mode: POST /slack/events, GET /healthz")
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int, default=3000)
    p.add_argument("--no-scheduler", action="store_true")
    p.set_defaults(run=serve)
    p = sub.add_parser("socket", help="Socket Mode (no public URL needed)")
    p.add_argument("--no-scheduler", action="store_true")
    p.set_defaults(run=socket)
    sub.add_parser("migrate", help="bring the database schema up to date").set_defaults(run=migrate)
    p = sub.add_parser("tick", help="one scheduler pass as of --now")
    p.add_argument("--now", help="ISO-8601 instant (default: now)")
    p.add_argument("--dry-run", action="store_true", help="print what would be sent; change nothing")
    p.add_argument("--until", help="extension: repeat the pass every --every until this instant (simulations)")
    p.add_argument("--every", default="1d", help="step between passes with --until: 30m, 6h, 1d … (default 1d)")
    p.set_defaults(run=tick)
    sub.add_parser("demo", help="a sample portfolio against the local Slack emulator").set_defaults(run=demo)
    p = sub.add_parser("audit", help="audit trail tools")
    audit_sub = p.add_subparsers(dest="audit_command", required=True)
    audit_sub.add_parser("verify", help="check the hash chain; exit 1 if broken").set_defaults(run=audit_verify)
    p = sub.add_parser("import", help="bring in an existing tracker (CSV or XLSX), one record per row")
    p.add_argument("file", help="the tracker: .csv (any delimiter) or .xlsx (first sheet)")
    p.add_argument("--kind", required=True, help="agreements, batches, stability or submissions")
    p.add_argument("--program", help="program code (else a Program column in the tracker)")
    p.add_argument("--dayfirst", action="store_true", help="read 01/02/2027 as 1 February (default: 2 January)")
    p.add_argument("--dry-run", action="store_true", help="check every row and report; change nothing")
    p.set_defaults(run=import_tracker)
    p = sub.add_parser("export", help="every record and the audit trail, for auditors (xlsx, or csv in a zip)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--program", help="one program's records")
    which.add_argument("--all", action="store_true", help="every program's records")
    p.add_argument("--format", choices=("xlsx", "csv"), default="xlsx")
    p.add_argument("--from", dest="date_from", help="audit trail from this UTC day (YYYY-MM-DD)")
    p.add_argument("--to", dest="date_to", help="audit trail up to and including this UTC day (YYYY-MM-DD)")
    p.add_argument("--out", help="file or folder to write (default: the export's name, here)")
    p.set_defaults(run=export)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("alembic", "apscheduler", "slack_bolt", "waitress.queue"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return args.run(args)
    except SettingsError as exc:
        print(f"cmo-bot: {exc}", file=sys.stderr)
        return 2
    except OperationalError as exc:
        print(f"cmo-bot: the database is not reachable ({type(exc.orig).__name__}); nothing was changed, "
              "run it again when it is back", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
