"""One *Log agreement* submission, as the serving process runs it (bot/app.py, role "acknowledge": the work after
the ack handed to the workers), runs a fixed number of SQL statements in two transactions before its ack, however
large the portfolio: the request gate's read, then one transaction — the form's receipt, the program with the
person's roles on it and their name, the chain's head, the agreement, its audit row, the channel's notice, and the
follow-up handed over to the workers (commands/after.py), committed with them. Every statement there is paid by
each submission while the others wait their turn (the audit chain's lock; SQLite's write lock), so a new one fails
here. (How long it takes: bench/ack.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY
from slack_bolt import BoltRequest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from bot.app import WiredApp, create_app
from bot.emulator import SlackEmulator
from bot.emulator.client import SlackSender
from bot.settings import Settings
from commands.agreements.views import new_view
from store.agreements.service import Agreement
from store.db import transaction
from store.outbox import Outbox
from store.programs import Program
from store.work import Work
from tests import factories
from tests.statements import counted

NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
PM = "UPM1"
# The gate's read; then the receipt, the program with the roles and the person's name, the head, the count of the
# program's agreements, the agreement, its audit row, the head moved on, the notice; last in that transaction the
# hand-over.
BEFORE_ACK = 1 + 8
HAND_OVER = 1


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator() as emulator:
        emulator.add_user(PM, "pat")
        yield emulator


def _app(engine, db_url: str, slack: SlackEmulator) -> WiredApp:
    settings = Settings(_env_file=None, slack_signing_secret="s", slack_bot_token="xoxb-test", database_url=db_url,
                        slack_api_url=slack.url, cmo_now=NOW.isoformat())
    return create_app(settings, engine, role="acknowledge")


def _submission(program: Program, view_id: str) -> dict:
    view = new_view(program, PM)
    values = {"kind": "nda", "status": "draft", "counterparty": "Acme Pharma", "version": "v1.0"}
    shown = {**view, "id": view_id, "state": {"values": SlackSender("http://unused", "s").view_state(view, values)}}
    return {"type": "view_submission", "team": {"id": "T0CMO"}, "user": {"id": PM, "username": "pat", "name": "pat"},
            "api_app_id": "A0CMOBOT", "view": shown}


def _statements(app: WiredApp, program: Program, view_id: str, commits: list[object] | None = None) -> list[str]:
    """The statements of one submission, from its arrival to the end of its listener (through every engine,
    the one the serving process queues with included), without SQLite's BEGINs (PostgreSQL sends none of its
    own); the transactions it committed appended to `commits`."""
    committing = (commits if commits is not None else []).append
    event.listen(Engine, "commit", committing)
    try:
        with counted(Engine) as statements:
            response = app.dispatch(BoltRequest(body=_submission(program, view_id), mode="socket_mode"))
            assert response.status == 200 and not response.body, response.body  # closed: no field errors
            while REGISTRY.get_sample_value("cmo_listener_work"):  # the listener's run after the ack
                pass
    finally:
        event.remove(Engine, "commit", committing)
    return [s for s in statements if not s.startswith("BEGIN")]


def _portfolio(engine, indexes: range) -> list[Program]:
    with transaction(engine) as session:
        return factories.portfolio(session, NOW, indexes, PM)


def _logged(engine) -> tuple[list[str], int, int]:
    """The refs of the agreements the manager logged, the notices queued, the follow-ups handed over."""
    with transaction(engine) as session:
        refs = session.exec(select(Agreement.ref).where(Agreement.created_by == PM).order_by(Agreement.id)).all()
        notices = session.exec(select(Outbox.id).where(col(Outbox.key).endswith(":logged:announce"))).all()
        return list(refs), len(notices), len(session.exec(select(Work.id)).all())


def test_a_log_agreement_submission_runs_as_many_statements_for_12_programs_as_for_2(engine, db_url, slack):
    small = _portfolio(engine, range(2))
    app = _app(engine, db_url, slack)
    commits: list[object] = []
    counts = [_statements(app, program, f"VSMALL{i}", commits) for i, program in enumerate([*small, small[0]])]
    assert [len(s) for s in counts] == [BEFORE_ACK + HAND_OVER] * 3, "\n".join(counts[0])
    assert counts[0][-1].startswith("INSERT INTO work")  # the hand-over, last
    assert len(commits) == 3  # one transaction each (the gate's read is one statement, not a transaction)
    assert sum(s.startswith("SELECT audit_head") for s in counts[0]) == 1  # the chain's head locked once
    assert sum(s.startswith("INSERT INTO submission_receipt") for s in counts[0]) == 1
    assert not any(s.startswith("SELECT") and "FROM submission_receipt" in s for s in counts[0])  # claimed, not read
    assert _logged(engine) == (["NDA-3", "NDA-3", "NDA-4"], 3, 3)

    large = [*small, *_portfolio(engine, range(2, 12))]
    counts = [_statements(app, program, f"VLARGE{i}") for i, program in enumerate(large[::4])]
    assert [len(s) for s in counts] == [BEFORE_ACK + HAND_OVER] * 3, "\n".join(counts[0])
    assert _logged(engine) == (["NDA-3", "NDA-3", "NDA-4", "NDA-5", "NDA-3", "NDA-3"], 6, 6)


def test_the_same_form_submitted_again_changes_nothing_and_closes(engine, db_url, slack):
    program = _portfolio(engine, range(1))[0]
    app = _app(engine, db_url, slack)
    first = _statements(app, program, "VTWICE")
    again = _statements(app, program, "VTWICE")  # Slack timed out, or a double click
    assert _logged(engine) == (["NDA-3"], 1, 1)
    assert len(again) < len(first) and not any(s.startswith("INSERT INTO agreement") for s in again)


def test_a_submission_runs_statements_built_once_not_built_again_for_each(engine, db_url, slack):
    """Building a statement and its cache key cost as much CPU as running it, before each form's ack: the
    second submission runs the very statements the first ran."""
    program = _portfolio(engine, range(1))[0]
    app = _app(engine, db_url, slack)
    runs: list[list[object]] = []

    def built(_conn, clauseelement, *_args) -> None:
        runs[-1].append(clauseelement)  # held: a statement's id is not reused by the next one

    event.listen(Engine, "before_execute", built)
    try:
        for view_id in ("VONCE1", "VONCE2"):
            runs.append([])
            _statements(app, program, view_id)
    finally:
        event.remove(Engine, "before_execute", built)
    first, second = runs
    assert len(first) == len(second) == BEFORE_ACK + HAND_OVER
    assert [str(a).split(chr(10))[0] for a, b in zip(first, second, strict=True) if a is not b] == []
