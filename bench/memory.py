"""Peak memory of every kind of process the product runs, on the 10× portfolio (issue 17, target 4: each under
200 MB).

    python -m bench.memory [--postgres URL] [--sqlite] [--scale 10]    # or: python -m bench --parts memory

Each process is the real `cmo-bot` in a subprocess, against a fresh 10× `bench.portfolio` (500 programs),
with the local Slack emulator in this process; `bench.peak` runs it and writes its peak resident set (VmHWM,
read from /proc as it exits) to a file. A long-running process (`serve`, `socket`) is started, driven, left
to finish the work after its acks, and stopped (SIGTERM); a command (`tick`, `export`, `import`, `audit
verify`) runs to its end. The imports run into a fresh database holding only the programs and their members:
one tracker per kind, made from the export (`trackers`); `audit verify` then walks the trail those imports
wrote (the bulk-loaded portfolio has none).

To measure another process kind, add a `Kind` to `KINDS`: its label, its `cmo-bot` arguments and how it is
driven (`until_quiet` is for a worker such as `cmo-bot work`, which runs until stopped and finds its work
itself). A process over the target is run once more under tracemalloc (`bench.peak --trace`), and where its
Python memory was at the peak is printed below the table. That second run starts where the first left the
database: the same work for `serve`, `socket`, `export` and `audit verify`, less for `tick` (all is queued
and sent) and an import (its rows are already present).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text

from bench import ack
from bench.portfolio import channel_of, fill, pm_of
from bench.sweep import fresh_url
from bot.emulator.client import SocketModeSender
from bot.emulator.server import SlackEmulator
from store.db import make_engine

TARGET_MB = 200  # megabytes (10^6 bytes), as the issue states it
SCALE = 10  # the portfolio of the target: 500 programs
REQUESTS = 200  # of each kind (a command and a click) for serve and socket
CLIENTS = 8
APP_TOKEN = "xapp-1-A0CMOBOT-bench-token"
NOW = ack.NOW


def peak_kib(status: str) -> int:
    """VmHWM (the peak resident set) in KiB from the text of /proc/<pid>/status."""
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise ValueError("no VmHWM line (not Linux, or the process has ended)")


def megabytes(kib: int) -> float:
    return kib * 1024 / 1e6


def within_target(kib: int) -> bool:
    return megabytes(kib) < TARGET_MB


@dataclass
class Run:
    """What the drivers share: the emulator, the environment of every `cmo-bot`, and a scratch folder."""

    emulator: SlackEmulator
    env: dict[str, str]
    folder: Path
    programs: int

    def command(self, argv: Sequence[str], report: Path, trace: bool = False) -> list[str]:
        """`cmo-bot` with these arguments under `bench.peak`, which writes its peak to `report` as it exits."""
        return [sys.executable, "-m", "bench.peak", str(report), *(["--trace"] if trace else []),
                *(a.format(folder=self.folder) for a in argv)]


@dataclass
class Figure:
    label: str
    did: str
    peak_kib: int
    top: list[str] = field(default_factory=list)  # tracemalloc at the peak, when over the target


Driver = Callable[[Run, list[str]], str]  # runs the command to its end; says what it did


def _stop(process: ack.Process) -> None:
    """SIGTERM, and time to write the report (a traced process sums up its snapshot first)."""
    process.popen.terminate()
    process.popen.wait(timeout=600)


def over_http(run: Run, command: list[str]) -> str:
    process = ack.launch(command, run.env, "cmo-bot listening on")
    try:
        ack.load(process.url, ack.Requests(run.emulator.base, run.programs), CLIENTS, REQUESTS)
        ack.quiet(process.pid)
    finally:
        _stop(process)
    return (f"{REQUESTS} `/cmo program status` + {REQUESTS} App Home *Show all* + {REQUESTS} *Log agreement* "
            f"submissions over HTTP, {CLIENTS} clients")


def over_socket(run: Run, command: list[str]) -> str:
    process = ack.launch(command, run.env, "cmo-bot connected to Slack")
    try:
        sender = SocketModeSender(run.emulator, timeout=30)

        def one(n: int) -> None:
            program = n % run.programs
            if n % 2:
                sender.command("program status", pm_of(program), channel_of(program))
            else:
                view = {"id": f"VHOME{pm_of(program)}", "type": "home", "blocks": [], "hash": "1.a"}
                sender.block_action(pm_of(program), "home_show_all", "0", view=view)

        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(one, range(2 * REQUESTS)))
        ack.quiet(process.pid)
    finally:
        _stop(process)
    return f"the same over Socket Mode, {CLIENTS} at a time"


def to_the_end(did: str) -> Driver:
    """A command that ends by itself; what it did, with its exit code and its last line."""

    def drive(run: Run, command: list[str]) -> str:
        done = subprocess.run(command, env=run.env, cwd=ack.REPO, capture_output=True, text=True)
        last = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()][-1:] or [""]
        return f"{did} (exit {done.returncode}: {last[0][:160]})"

    return drive


def until_quiet(marker: str, did: str) -> Driver:
    """A process that runs until stopped and works on its own (a worker): started, left until its CPU is idle."""

    def drive(run: Run, command: list[str]) -> str:
        process = ack.launch(command, run.env, marker)
        try:
            ack.quiet(process.pid)
        finally:
            _stop(process)
        return did

    return drive


@dataclass(frozen=True)
class Kind:
    label: str
    argv: tuple[str, ...]  # cmo-bot's arguments; {folder} is the run's scratch folder
    drive: Driver
    imported: bool = False  # run against the database the imports filled, not the portfolio


KINDS: tuple[Kind, ...] = (
    Kind("cmo-bot serve", ("serve", "--host", "127.0.0.1", "--port", "0", "--no-scheduler"), over_http),
    Kind("cmo-bot serve --workers 0", ("serve", "--host", "127.0.0.1", "--port", "0", "--no-scheduler",
                                       "--workers", "0"), over_http),  # the work in its own listener threads
    Kind("cmo-bot socket", ("socket", "--no-scheduler"), over_socket),
    Kind("cmo-bot tick", ("tick", "--now", NOW), to_the_end("one scheduler pass: the sweep, then delivery of all "
                                                            "it queued to the emulator")),
    Kind("cmo-bot export", ("export", "--all", "--format", "csv", "--out", "{folder}/export.zip"),
         to_the_end("every record of every program and the audit trail, CSV in a ZIP")),
    Kind("cmo-bot export (xlsx)", ("export", "--all", "--out", "{folder}/export.xlsx"),
         to_the_end("the same as one workbook (the default format)")),
    *(Kind(f"cmo-bot import ({kind})", ("import", f"{{folder}}/{kind}.csv", "--kind", kind),
           to_the_end(f"the exported {kind} as a tracker into a fresh database"), imported=True)
      for kind in ("agreements", "batches", "stability", "submissions")),
    Kind("cmo-bot audit verify", ("audit", "verify"), to_the_end("the hash chain the imports wrote"), imported=True),
)

SHEETS = {"agreements": "agreements", "batches": "batches", "stability": "stability-studies",
          "submissions": "submissions"}
HEADINGS = {"effective_on": "Effective date", "expires_on": "Expiration date", "review_on": "Review date",
            "code": "Study"}  # the export's column names the importer does not know as synonyms


def trackers(export: bytes, folder: Path) -> list[Path]:
    """One tracker CSV per import kind from a CSV export: the area's sheet with the few headings the importer
    reads under other names, and a study's conditions as the codes a tracker writes (`LT25; ACC40`)."""
    written = []
    with zipfile.ZipFile(io.BytesIO(export)) as archive:
        names = archive.namelist()
        for kind, sheet in SHEETS.items():
            name = next(n for n in names if n.split("-", 1)[1] == f"{sheet}.csv")
            rows = list(csv.reader(io.StringIO(archive.read(name).decode("utf-8-sig"))))
            header = [HEADINGS.get(h, h) for h in rows[0]]
            if "conditions" in header:
                at = header.index("conditions")
                for row in rows[1:]:
                    row[at] = "; ".join(c["code"] for c in json.loads(row[at]))
            path = folder / f"{kind}.csv"
            with path.open("w", newline="", encoding="utf-8") as out:
                csv.writer(out).writerows([header, *rows[1:]])
            written.append(path)
    return written


def seed(emulator: SlackEmulator, url: str, programs: int) -> None:
    """Every person the portfolio names and every program channel, so that DMs and posts reach someone."""
    engine = make_engine(url)
    with engine.connect() as connection:
        people = set(connection.execute(text("SELECT DISTINCT user_id FROM program_member")).scalars())
    engine.dispose()
    for user in sorted(people | {pm_of(i) for i in range(programs)}):
        emulator.add_user(user, user.lower())
    for i in range(programs):
        emulator.add_channel(channel_of(i), f"p{i:04d}", members=["U0CMOBOT"])


def peak_of(run: Run, kind: Kind, trace: bool = False) -> tuple[int, str, list[str]]:
    """Run one process kind: its peak (KiB), what it did, and with `trace` the tracemalloc lines."""
    report = run.folder / f"peak-{len(list(run.folder.glob('peak-*')))}.txt"
    did = kind.drive(run, run.command(kind.argv, report, trace))
    lines = report.read_text().splitlines()
    return peak_kib(lines[0]), did, lines[1:]


def measure(database: str, postgres_url: str, scale: float = 10, kinds: Iterable[Kind] = KINDS,
            log: Callable[[str], None] = print) -> list[Figure]:
    kinds = list(kinds)
    figures: list[Figure] = []
    with ExitStack() as stack:
        url = stack.enter_context(fresh_url(database, postgres_url, "memory"))
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cmo-bench-memory-")))
        emulator = stack.enter_context(SlackEmulator())
        engine = make_engine(url)
        programs = fill(engine, scale)["program"]
        if database == "postgresql":
            with engine.begin() as connection:
                connection.execute(text("ANALYZE"))
        engine.dispose()
        seed(emulator, url, programs)
        env = ack.bot_env(emulator, url)  # it reads the Web API URL, `.url`, which the emulator has too
        env["SLACK_APP_TOKEN"] = APP_TOKEN
        run = Run(emulator, env, folder, programs)
        for imported in sorted({k.imported for k in kinds}):  # the portfolio first: the imports need its export
            if imported:
                _fresh_import_database(database, url, folder, scale)
            for kind in (k for k in kinds if k.imported == imported):
                log(f"memory: {kind.label} …")
                peak, did, _ = peak_of(run, kind)
                log(f"  peak {megabytes(peak):.0f} MB — {did}")
                figure = Figure(kind.label, did, peak)
                if not within_target(peak):
                    log("  over the target: once more under tracemalloc …")
                    figure.top = peak_of(run, kind, trace=True)[2]
                figures.append(figure)
    return figures


def _fresh_import_database(database: str, url: str, folder: Path, scale: float) -> None:
    """The trackers from the export, and the database emptied to the programs and members they belong to."""
    trackers((folder / "export.zip").read_bytes(), folder)
    if database == "postgresql":
        from bench.sweep import reset_postgres

        reset_postgres(url)
    else:
        from store.migrate import upgrade

        Path(url.removeprefix("sqlite:///")).unlink()
        upgrade(url)
    engine = make_engine(url)
    fill(engine, scale, tables=("program", "program_member"))
    engine.dispose()


def table(figures: Sequence[Figure]) -> list[str]:
    lines = [f"| process | what it did | peak RSS | target (<{TARGET_MB} MB) |", "|---|---|---:|---|"]
    for f in figures:
        verdict = "met" if within_target(f.peak_kib) else "**missed**"
        lines.append(f"| {f.label} | {f.did} | {megabytes(f.peak_kib):.0f} MB ({f.peak_kib / 1024:.0f} MiB) | "
                     f"{verdict} |")
    for f in figures:
        if f.top:
            lines += ["", f"Where {f.label}'s Python memory was at its peak (tracemalloc, a second run):", "",
                      "```", *f.top, "```"]
    return lines


def main(argv: list[str] | None = None) -> int:
    from bench.__main__ import POSTGRES, ensure_database, load_average, machine

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", default=os.environ.get("CMO_BENCH_DATABASE_URL", POSTGRES))
    parser.add_argument("--sqlite", action="store_true", help="also on SQLite (a temporary file)")
    parser.add_argument("--scale", type=float, default=SCALE)
    args = parser.parse_args(argv)
    ensure_database(args.postgres)
    print(*machine(), f"load average before: {load_average()}", sep="\n")
    started = time.monotonic()
    for database in ("postgresql", "sqlite") if args.sqlite else ("postgresql",):
        figures = measure(database, args.postgres, args.scale)
        print("", f"{database}, {args.scale:g}×:", "", *table(figures), sep="\n")
    print(f"\nload average after: {load_average()}; took {(time.monotonic() - started) / 60:.1f} minutes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
