"""`python -m bench` from the repository root: every benchmark, a table on stdout, and `bench/results.md`.

    python -m bench                      # everything (about an hour on two cores)
    python -m bench --parts delivery     # one part: ack, sweep, delivery, memory, views (comma-separated)
    python -m bench --quick              # fewer requests and sizes, to try the scripts out (no results.md)

PostgreSQL: `--postgres URL` (default the local `cmo_bench` database, created if missing). See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench import ack, delivery, memory, sweep, views
from bench.portfolio import fill, missing_areas
from bench.profile import Sampler, profiled
from store.db import make_engine

HERE = Path(__file__).resolve().parent
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/cmo_bench"
ACK_P99_MS, ACK_FLOOR_RATIO, RSS_MB, DELIVERY_RATIO, VIEW_MS = 150, 2.0, 200, 1.25, 300


def log(line: str) -> None:
    print(line, flush=True)


def ensure_database(url: str) -> None:
    parsed = make_url(url)
    admin = make_engine(parsed.set(database="postgres").render_as_string(hide_password=False))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if not connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}).first():
            connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def machine() -> list[str]:
    ram = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True).stdout
    return [f"{os.cpu_count()} cores ({cpu}), {int(ram.split()[1]) // 1024 ** 2} GiB RAM, "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}",
            f"commit {commit.strip() or '?'}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"]


def load_average() -> str:
    return " / ".join(Path("/proc/loadavg").read_text().split()[:3])


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def run_ack(args, out: list[str]) -> None:
    scale = 10
    ack_url = args.postgres
    sweep.reset_postgres(ack_url)
    engine = make_engine(ack_url)
    rows = fill(engine, scale)
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))
    engine.dispose()
    profile_file = Path(tempfile.mkdtemp(prefix="cmo-bench-")) / "serve.txt"
    sampler: list[Sampler] = []

    def before(name: str, clients: int, pid: int) -> None:
        if name == "serve" and clients == max(args.clients):
            sampler.append(Sampler(pid, profile_file))

    def after(name: str, clients: int, pid: int) -> None:
        if sampler and name == "serve" and clients == max(args.clients):
            sampler[0].stop()

    figures, rss, received = ack.measure(ack_url, rows["program"], args.clients, args.per_kind, log,
                                         before=before, after=after)
    out += ["## 1. Acknowledgement latency", "",
            f"`cmo-bot serve` on PostgreSQL with {', '.join(f'{n:,} {t}' for t, n in rows.items() if n)} rows "
            f"(tables not on this main: {', '.join(missing_areas()) or 'none'}); the floor is a bare Bolt app "
            f"under the same waitress server (`bench/floor.py`). {args.per_kind:,} requests of each kind per line "
            "(in turn), each client on a keep-alive connection sending its next request when the last was "
            f"answered; the *open loop* line sends {ack.OPEN_PER_KIND:,} of each kind at a fixed "
            f"{ack.OPEN_RATE:g} requests per second instead (arrivals from many independent people). The emulator "
            "runs in its own process. serve runs with its default two worker processes (`cmo-bot work`, at nice 19: "
            "bot/worker.py): it acknowledges and queues, they do the work; each line then waits until the work is "
            "done (serve's /metrics) and *work done after* says how long after the last ack that was. "
            f"*{ack.BUSY}*: the {max(args.clients)}-client line again while another process runs full sweeps of "
            "serve's database and deliveries of 2,000 reminders against the rate limits (`bench/background.py`). "
            f"*{ack.REPLICAS}*: after serve has stopped, two `cmo-bot serve --reuse-port` on one port, each with "
            "one worker (the same two workers, two interpreters answering), the kernel sharing the clients' "
            "connections out between them.",
            "",
            "The *durable floor* is that bare app keeping each request in the database, committed, before its ack "
            "(`bench/floor.py --durable`: one insert of the request's body on an engine made as serve's queueing "
            "one): the least any design that never loses an acknowledged request can do. Target 1 is against the "
            "bare floor; the ratio to the durable one is beside it.",
            "",
            "| clients | request | floor p50 | floor p99 | durable floor p50 | durable floor p99 | server | p50 | p99 "
            f"| p50 vs floor | p50 vs durable floor | p99 target ({ACK_P99_MS} ms) | p50 target (≤{ACK_FLOOR_RATIO:g}× "
            "floor) | work done after | error answers |",
            "|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---|---|---:|---:|"]
    floors = {(f.server, f.clients, f.kind): f for f in figures if f.server in ack.FLOORS}
    for f in sorted((f for f in figures if f.server not in ack.FLOORS),
                    key=lambda f: (f.server != "serve", f.server, f.clients == 0)):
        base, kept = floors[("floor", f.clients, f.kind)], floors[("durable floor", f.clients, f.kind)]
        ratio = f.p50_ms / base.p50_ms
        clients = f.clients or f"open loop, {ack.OPEN_RATE:g}/s"
        out.append(f"| {clients} | {f.kind} | {base.p50_ms:.1f} ms | {base.p99_ms:.1f} ms | {kept.p50_ms:.1f} ms | "
                   f"{kept.p99_ms:.1f} ms | {f.server} | {f.p50_ms:.1f} ms | {f.p99_ms:.1f} ms | {ratio:.2f}× | "
                   f"{f.p50_ms / kept.p50_ms:.2f}× | {verdict(f.p99_ms < ACK_P99_MS)} | "
                   f"{verdict(ratio <= ACK_FLOOR_RATIO)} | {f.drain_s:.1f} s | {f.refused} |")
    out += ["", f"After the acks the bot did the work: {received.get('response_url', 0):,} replies to response URLs "
                f"({received.get('response_url refused', 0)} refused), {received.get('views.open', 0):,} modals "
                f"opened ({received.get('views.open refused', 0)} refused) and {received.get('views.update', 0):,} "
                f"filled ({received.get('views.update refused', 0)} refused) reached the emulator (before the "
                f"{ack.REPLICAS} lines).", "",
            "## 4. Memory", "",
            "Peak RSS over the whole run (VmHWM) of `cmo-bot serve` and of each of its workers:", "",
            f"| process | peak | at the end | target (under {RSS_MB} MB) |", "|---|---:|---:|---|"]
    for process, figures_mib in rss.items():
        out.append(f"| {process} | {figures_mib['VmHWM']} MiB | {figures_mib['VmRSS']} MiB | "
                   f"{verdict(figures_mib['VmHWM'] * 1.048576 < RSS_MB)} |")
    out.append("")
    top = sampler[0].top() if sampler else []
    if top:
        out += [f"Where serve's busy threads were during the {max(args.clients)}-client run (py-spy, inclusive share "
                "of busy samples):", "", "```", *top, "```", ""]


def run_sweep(args, out: list[str]) -> None:
    figures = sweep.run(args.postgres, args.sizes, log=log)
    out += ["## 2. Sweep cost", "",
            "One `scheduler.sweep.sweep` with every rule on `main`, as of Mon 2 Nov 2026 15:00 UTC, on a fresh "
            "database per size (1× = 50 programs, 500 agreements, 2,000 batches, 10,000 stability pulls, plus "
            "members and submissions). *First* records everything due; *again* is the steady state (all already "
            "queued) with every rule run in full; *reused* is the scheduler's pass in that state (`reuse=True`: "
            "nothing audited since the last pass and no horizon, review call or UTC hour (the safety net's slice) "
            "passed, so the rules are skipped; best of 5); *one change* is the scheduler's pass after a role granted "
            "in one program (audited; no message addresses the role, so nothing new to send: the rules asked "
            "about that program alone; best of 5); the *floor* is a transaction reading one row (best of "
            "5). Nothing-new target: under 100 ms up to 10×, under 1 s at 100×.", "",
            "| database | size | programs | first: time | first: statements | queued | again (full): time | "
            "again (full): statements | reused: time | reused: statements | one change: time | "
            "one change: statements | hour's slice: time | hour's slice: statements | floor | nothing-new target |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for f in figures:
        quiet = [f.reused_seconds, f.changed_seconds] + ([f.hourly.seconds] if f.hourly else [])
        slice_ = f"{f.hourly.seconds * 1000:.1f} ms | {f.hourly.statements}" if f.hourly else "— | —"
        out.append(f"| {f.database} | {f.size}× | {f.rows['program']:,} | {f.seconds:.2f} s | {f.statements:,} | "
                   f"{f.inserted:,} | {f.again_seconds:.2f} s | {f.again_statements:,} | "
                   f"{f.reused_seconds * 1000:.1f} ms | {f.reused_statements} | {f.changed_seconds * 1000:.1f} ms | "
                   f"{f.changed_statements} | {slice_} | {f.floor_seconds * 1000:.1f} ms | "
                   f"{verdict(max(quiet) < (0.1 if f.size <= 10 else 1.0))} |")
    out += ["", "Passes with something new to send: the scheduler's pass just after Singapore's midnight (a sixth of "
            "the programs change day; the hour's slice with it) and just after the UTC midnight (Dublin's and UTC's "
            "programs change day; the hour-0 slice), each beside a full pass at the same instant (all rolled back: "
            "the same rows queued and cancelled by both).", "",
            "| database | size | Singapore's midnight: pass | statements | full | queued / cancelled | "
            "UTC midnight: pass | statements | full | queued / cancelled |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for f in figures:
        if f.midnight and f.midnight_full and f.utc_midnight and f.utc_midnight_full:
            out.append(f"| {f.database} | {f.size}× | {f.midnight.seconds * 1000:.1f} ms | {f.midnight.statements} | "
                       f"{f.midnight_full.seconds * 1000:.1f} ms | {f.midnight.queued:,} / {f.midnight.cancelled:,} | "
                       f"{f.utc_midnight.seconds * 1000:.1f} ms | {f.utc_midnight.statements} | "
                       f"{f.utc_midnight_full.seconds * 1000:.1f} ms | "
                       f"{f.utc_midnight.queued:,} / {f.utc_midnight.cancelled:,} |")
    out += ["", "Statements per rule (first sweep):", "",
            "| database | size | " + " | ".join(sorted({r for f in figures for r in f.by_rule})) + " |",
            "|---|---:|" + "---:|" * len({r for f in figures for r in f.by_rule})]
    rules = sorted({r for f in figures for r in f.by_rule})
    for f in figures:
        out.append(f"| {f.database} | {f.size}× | " + " | ".join(f"{f.by_rule.get(r, 0):,}" for r in rules) + " |")
    out += ["", "Seconds per rule (first sweep):", "", "| database | size | " + " | ".join(rules) + " |",
            "|---|---:|" + "---:|" * len(rules)]
    for f in figures:
        out.append(f"| {f.database} | {f.size}× | " + " | ".join(
            f"{f.seconds_by_rule.get(r, 0):.2f}" for r in rules) + " |")
    growing = sweep.per_row_rules(figures)
    out += ["", "Rules whose statement count grows with the portfolio (a query per row): "
            + (", ".join(f"`{r}`" for r in growing) or "none") + ".", ""]
    size = 10 if 10 in args.sizes else args.sizes[0]
    with sweep.fresh_database("sqlite", args.postgres) as engine:
        fill(engine, size)
        sweep.one_sweep(engine)
        _, first = profiled(lambda: sweep.one_sweep(engine), count=18)
    out += [f"cProfile of the steady-state sweep at {size}× on SQLite (cumulative share):", "", "```", *first, "```",
            ""]


def run_delivery(args, out: list[str]) -> None:
    figures = delivery.run(args.postgres, log=log)
    out += ["## 3. Delivery against rate limits", "",
            f"{delivery.MESSAGES:,} reminders to {delivery.CHANNELS} channels "
            f"({delivery.MESSAGES // delivery.CHANNELS} each, queued channel after channel) through the emulator "
            "with `apply_published_limits()`: "
            f"chat.postMessage 1 per second per channel, burst {delivery.POST_MESSAGE_BURST}, 429 + Retry-After "
            "beyond. Minimum = (messages per channel − burst) / rate.", "",
            "| database | time | minimum | ratio | target (≤1.25×) | 429s | posts | lost | doubled | outcomes |",
            "|---|---:|---:|---:|---|---:|---:|---:|---:|---|"]
    for f in figures:
        ok = f.ratio <= DELIVERY_RATIO and not f.lost and not f.doubled
        out.append(f"| {f.database} | {f.seconds:.2f} s | {f.minimum:.2f} s | {f.ratio:.2f}× | "
                   f"{verdict(ok)} | {f.limited} | {f.posts:,} | "
                   f"{f.lost} | {f.doubled} | {', '.join(f'{k} {v}' for k, v in sorted(f.outcomes.items()))} |")
    out += ["", "Where the time went (seconds from the start of `deliver`): the last channel's first post, the "
            "slowest channel's span from its first to its last post (the minimum allows 7.00), the best this run "
            "could have done given when each channel started (first post + minimum), and the tail from the last "
            "post to `deliver` returning (the last marks committed).", "",
            "| database | last channel's first post | slowest channel span | best given the starts | tail |",
            "|---|---:|---:|---:|---:|"]
    for f in figures:
        out.append(f"| {f.database} | {f.last_first_post:.2f} s | {f.slowest_span:.2f} s | "
                   f"{f.best_given_starts:.2f} s | {f.tail:.2f} s |")
    out.append("")


def run_memory(args, out: list[str]) -> None:
    scale = 1 if args.quick else memory.SCALE
    figures = memory.measure("postgresql", args.postgres, scale, log=log)
    out += ["## 4. Memory (all processes)", "",
            f"Peak resident set (VmHWM, read as each process exits) of every kind of `cmo-bot` process on PostgreSQL "
            f"with the {scale:g}× portfolio ({int(50 * scale):,} programs; `bench/memory.py`); the local Slack "
            "emulator answers the bot. The imports run into a fresh database holding only the programs and their "
            "members, and `audit verify` walks the trail they wrote.", "", *memory.table(figures), ""]


def run_views(args, out: list[str]) -> None:
    rows = [row for kind in ("sqlite", "postgresql") for size in args.sizes
            for row in views.measure(kind, size, args.postgres)]
    out += ["## 5. Views", "",
            f"The views of a program manager on {views.MANAGED} programs of a fresh portfolio per size (all 50 at 1×; "
            "`bench/views.py`), each run in process as the bot runs it after the ack, the Slack Web API stubbed: "
            "median of 5 runs after a warm-up; statements of one run (SQLite counts its `BEGIN IMMEDIATE`). "
            "*Status digests* is the sweep's digest rule composing every active program's digest (a first pass of a "
            f"period, not a view: 5,000 at 100×). Target: each view under {VIEW_MS} ms of server time, and a number "
            "of statements that does not grow with the portfolio — asserted for 2 against 12 programs by "
            "`tests/unit/test_view_statements.py`; here `/cmo status` differs between sizes because it asks the "
            "rules only about the coming days on which the one program's answer may change (at most 15), and that "
            "program's records differ between the portfolios.", "",
            f"| database | view | size | programs | server time | statements | under {VIEW_MS} ms |",
            "|---|---|---:|---:|---:|---:|---|"]
    for kind, name, size, managed, ms, count in rows:
        fast = "—" if name == views.DIGESTS else verdict(ms < VIEW_MS)
        out.append(f"| {kind} | {name} | {size}× | {managed:,} | {ms:,.0f} ms | {count} | {fast} |")
    out.append("")


PARTS = {"ack": run_ack, "sweep": run_sweep, "delivery": run_delivery, "memory": run_memory, "views": run_views}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="delivery,sweep,ack,memory,views",
                        help="comma-separated: ack, sweep, delivery, memory, views")
    parser.add_argument("--postgres", default=os.environ.get("CMO_BENCH_DATABASE_URL", POSTGRES))
    parser.add_argument("--quick", action="store_true", help="small runs; results.md is not written")
    parser.add_argument("--output", type=Path, default=HERE / "results.md")
    args = parser.parse_args(argv)
    args.clients = ack.CLIENTS
    args.per_kind = 200 if args.quick else ack.PER_KIND
    args.sizes = (1, 10) if args.quick else sweep.SIZES
    ensure_database(args.postgres)
    started, load_before, where = time.monotonic(), load_average(), machine()  # the commit as the run starts
    out: list[str] = []
    for part in args.parts.split(","):
        PARTS[part.strip()](args, out)
    head = ["# Benchmark results", "", "Written by `python -m bench` (see bench/README.md for what each part does).",
            "", *[f"- {line}" for line in where],
            f"- load average (1/5/15 min) before: {load_before}; after: {load_average()} "
            "(other engineers' test runs share this machine)",
            f"- took {(time.monotonic() - started) / 60:.1f} minutes", ""]
    text_out = "\n".join(head + out) + "\n"
    print("\n" + text_out)
    if not args.quick:
        args.output.write_text(text_out)
        print(f"written to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
