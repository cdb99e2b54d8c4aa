"""The views a manager of many programs opens (App Home, `/cmo status`, `/cmo status --all`, `/cmo program
status`) and the programs' status digests run a fixed number of SQL statements however large the portfolio:
the same count for 2 programs as for 12, each with agreements, batches, stability pulls and submissions.
(How long they take is measured by `python -m bench.views`, not asserted here.)"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.clock import Clock
from bot.settings import Settings
from commands import home, programs, status
from commands.args import parse, split
from commands.deps import Deps
from commands.router import Request
from store import digest
from store.db import transaction
from tests import factories
from tests.statements import counted

NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)  # a Monday: weekly digests fall due
PM = "UPM1"


def _portfolio(engine, indexes: range) -> None:
    with transaction(engine) as session:
        factories.portfolio(session, NOW, indexes, PM)


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
    args = parse(split(text), frozenset({"all"}))
    req = Request(deps, _Client(), lambda **kw: answers.append(kw["text"]), body, args, NOW)
    return req, answers


def _views(engine) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Statements each view ran, and what it answered, by view."""
    counts: dict[str, int] = {}
    said: dict[str, list[str]] = {}
    deps = _deps(engine)

    def home_tab() -> list[str]:
        items, lines, _ = home.gather(deps, PM, NOW)
        return [item.text for item in items] + lines

    def command(run, text: str) -> list[str]:
        req, answers = _request(engine, text, "CP000")
        run(req)
        return answers

    def digests() -> list[str]:
        with transaction(engine) as session:
            return [due.text for due in digest.due(session, NOW)]

    views = {
        "App Home": home_tab,
        "/cmo status": lambda: command(status.run, ""),
        "/cmo status --all": lambda: command(status.run, "--all"),
        "/cmo program status": lambda: command(programs.cmd_status, ""),
        "status digests": digests,
    }
    for name, view in views.items():
        with counted(engine) as statements:
            said[name] = view()
        counts[name] = len(statements)
    return counts, said


def test_views_run_as_many_statements_for_12_programs_as_for_2(engine):
    _portfolio(engine, range(2))
    small, said = _views(engine)
    assert "B-0-1" in " ".join(said["App Home"]) and len(said["/cmo status --all"]) == 1
    assert "message(s) planned" in said["/cmo status"][0] and "B-0-1" in said["/cmo program status"][0]
    assert len(said["status digests"]) == 2 and all("B-" in text for text in said["status digests"])
    _portfolio(engine, range(2, 12))
    large, said = _views(engine)
    assert "12 program(s)" in said["/cmo status --all"][0] and len(said["status digests"]) == 12
    assert large == small, (small, large)
