"""`/cmo status`: in a program's channel (or with `--program`), what the bot will send there in the next 14
days; elsewhere (or with `--all`), the portfolio of every program the caller manages, most urgent first, with
the same table uploaded to them as CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date

from bot import blocks as bk
from commands.args import UsageError
from commands.router import Request
from scheduler.preview import upcoming
from store import home, programs
from store.db import pk
from store.errors import NotAllowed
from store.markup import day, escape, local_time
from store.sheets import neutralise

DAYS = 14
SORTS = ("urgency", "deadline", "code")


@dataclass(frozen=True)
class Row:
    code: str
    customer: str
    health: str
    deadline: date | None
    alarm: bool

    def urgency(self) -> tuple:
        return (not self.alarm, self.deadline or date.max, self.code)


def run(req: Request) -> None:
    req.args.only("program", "all", "sort")
    portfolio = req.args.flags.get("all") is True or req.args.flags.get("sort") is not None
    with req.session() as session:
        if not portfolio and not req.args.flag("program") and programs.by_channel(session, req.channel_id) is None:
            portfolio = True
    if portfolio:
        _portfolio(req)
    else:
        _plan(req)


def _plan(req: Request) -> None:
    with req.session() as session:
        access = req.access(session)
        access.require_internal("see what the bot will send")
        program = access.program
        planned = upcoming(session, pk(program), req.now, DAYS)
    if not planned:
        req.reply(f"Nothing is planned for {escape(program.code)} in the next {DAYS} days.")
        return
    lines = []
    for item in planned:
        to = "the channel" if item.target == program.channel_id else bk.mention(item.target)
        first = item.text.splitlines()[0] if item.text else item.key
        lines.append(f"• {local_time(item.at.astimezone(program.tz))} → {to}: {bk.clip(first, 200)}")
    head = f"*{escape(program.code)}: {len(planned)} message(s) planned in the next {DAYS} days*"
    blocks = [bk.section(head)] + [bk.section(line) for line in lines]
    req.reply("\n".join([head, *lines]), bk.message(blocks))


def _portfolio(req: Request) -> None:
    order = req.args.flag("sort") or "urgency"
    if order not in SORTS:
        raise UsageError(f"--sort takes {', '.join(SORTS)}.")
    with req.session() as session:
        managing = programs.managed_ids(session, req.user_id)
        mine = [p for p in programs.visible_to(session, req.actor) if req.actor.is_admin or p.id in managing]
        if not mine:
            raise NotAllowed("The portfolio is for admins and program managers; you manage no program.")
        health = home.health(session, mine, req.now)
    rows = [Row(p.code, p.customer, " · ".join(health.fragments.get(pk(p)) or ["nothing open"]),
                health.deadlines.get(pk(p)), any(":warning:" in f or ":rotating_light:" in f
                                                for f in health.fragments.get(pk(p), [])))
            for p in mine]
    key = {"urgency": Row.urgency, "deadline": lambda r: (r.deadline or date.max, r.code),
           "code": lambda r: r.code}[order]
    rows.sort(key=key)
    lines = [f"{'• :rotating_light:' if r.alarm else '•'} *{escape(r.code)}* ({escape(r.customer)}): {r.health}"
             + (f" · next deadline {day(r.deadline)}" if r.deadline else "") for r in rows]
    head = f"*Your portfolio: {len(rows)} program(s), by {order}* (the CSV is in your DM with the bot)"
    req.reply("\n".join([head, *lines]), bk.message([bk.section(head), *(bk.section(line) for line in lines)]))
    _upload_csv(req, rows)


def portfolio_csv(rows: list[Row]) -> bytes:
    """The portfolio as CSV, every cell spreadsheet-safe (a customer named `=HYPERLINK(…)` stays text)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["program", "customer", "health", "next deadline", "needs attention"])
    for r in rows:
        writer.writerow([neutralise(r.code), neutralise(r.customer), neutralise(r.health),
                         r.deadline.isoformat() if r.deadline else "", "yes" if r.alarm else "no"])
    return buffer.getvalue().encode()


def _upload_csv(req: Request, rows: list[Row]) -> None:
    dm = req.client.conversations_open(users=req.user_id)["channel"]["id"]
    req.client.files_upload_v2(channel=dm, content=portfolio_csv(rows), title="Portfolio status",
                               filename=f"portfolio-{req.now.date().isoformat()}.csv")

