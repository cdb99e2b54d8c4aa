"""The views a manager of many programs opens (App Home, `/cmo status`, `/cmo status --all`, `/cmo program
status`) and the programs' status digests run a fixed number of SQL statements however large the portfolio:
the same count for 2 programs as for 12, each with agreements, batches, stability pulls and submissions."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event

from bot.clock import Clock
from bot.settings import Settings
from commands import home, programs, status
from commands.args import parse, split
from commands.deps import Deps
from commands.router import Request
from scheduler.sweep import collect
from store import agreements, batches, submissions
from store.agreements import Kind, Status, Terms
from store.db import transaction
from tests import factories
from tests.stability_factories import study

NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)  # a Monday: weekly digests fall due
PM = "UPM1"
ZONES = ("America/New_York", "Europe/Berlin", "Asia/Singapore")


def _portfolio(engine, size: int) -> None:
    """`size` programs managed by PM, each with an executed and a draft agreement, batches in review (one due
    for a reminder, one with a release-by date), a stability study with pulls falling due, a submission."""
    with transaction(engine) as session:
        for i in range(size):
            program = factories.program(session, NOW - timedelta(days=200), f"P-{i:03d}", channel=f"CP{i:03d}",
                                        timezone=ZONES[i % len(ZONES)], holiday_calendar="US")
            earlier = NOW - timedelta(days=200)
            agreements.create(session, program=program, actor=factories.ADMIN, now=earlier, kind=Kind.quality,
                              counterparty="Acme Pharma", status=Status.executed, owner_id=PM,
                              terms=Terms(date(2025, 12, 1), date(2026, 12, 1 + i % 20)))
            agreements.create(session, program=program, actor=factories.ADMIN, now=earlier, kind=Kind.nda,
                              counterparty="Acme Pharma", status=Status.draft, terms=Terms())
            batches.ready(session, program, batch_no=f"B-{i}-1", product="Acmezol", actor=factories.ADMIN,
                          now=NOW - timedelta(days=10))
            batches.ready(session, program, batch_no=f"B-{i}-2", release_by=date(2026, 11, 6 + i % 5),
                          actor=factories.ADMIN, now=NOW - timedelta(days=1))
            study(session, program, earlier, code=f"STB-{i:04d}", placed_on=date(2026, 8, 3 + i % 20))
            submissions.create(session, program=program, actor=factories.ADMIN, now=earlier,
                               kind=submissions.SubmissionType.fda_510k, title="Catheter",
                               filing_date=date(2026, 11, 20 + i % 5))


@contextmanager
def _counted(engine):
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


class _Client:
    """The two Web API calls `/cmo status --all` makes (the CSV in the caller's DM)."""

    def conversations_open(self, users: str) -> dict:
        return {"channel": {"id": f"D{users}"}}

    def files_upload_v2(self, **_kwargs) -> dict:
        return {"ok": True}


def _deps(engine) -> Deps:
    return Deps(engine, Settings(_env_file=None, slack_signing_secret="s"), Clock(NOW.isoformat()))


def _request(engine, text: str, channel: str) -> tuple[Request, list[str]]:
    deps = _deps(engine)
    answers: list[str] = []
    body = {"user_id": PM, "channel_id": channel, "text": text, "team_id": "T1"}
    req = Request(deps, _Client(), lambda **kw: answers.append(kw["text"]), body, parse(split(text), frozenset({"all"})), NOW)
    return req, answers


def _views(engine) -> dict[str, int]:
    """Statements each view ran, by view."""
    counts: dict[str, int] = {}
    deps = _deps(engine)
    runs = {
        "App Home": lambda: home.gather(deps, PM),
        "/cmo status": lambda: status.run(_request(engine, "", "CP000")[0]),
        "/cmo status --all": lambda: status.run(_request(engine, "--all", "CP000")[0]),
        "/cmo program status": lambda: programs.cmd_status(_request(engine, "", "CP000")[0]),
    }
    for name, run in runs.items():
        with _counted(engine) as statements:
            run()
        counts[name] = len(statements)
    with transaction(engine) as session, _counted(engine) as statements:
        collect(session, NOW)
    counts["status digests (sweep)"] = len(statements)
    return counts


@pytest.mark.parametrize("size", [2, 12])
def test_print(engine, size):
    _portfolio(engine, size)
    print(size, _views(engine))
