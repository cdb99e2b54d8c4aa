"""The acknowledging process's path from a request to its answer (bot/app.py, role "acknowledge": serve and socket
with workers): its listener runs in the thread that answers (Bolt's `process_before_response`), counted in
`cmo_listener_work` while it runs; a listener failing after its ack still keeps it and its person is told;
what is not a form is queued, shortcuts and closed forms included, since nothing after an ack may hold the
answer back; and the request gate's read is one round trip, answered as any database error when it fails.
In role "whole" (the in-process tests, the demo, --workers 0) Bolt's listener threads run the listeners."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import REGISTRY
from slack_bolt import BoltRequest, BoltResponse
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine, make_url

from bot.app import WiredApp, create_app
from bot.emulator import SlackEmulator
from bot.settings import Settings
from store.db import first_row, is_postgres, make_engine, transaction
from store.work import Work
from tests.statements import counted

NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
USER = "UPM1"


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator() as emulator:
        emulator.add_user(USER, "pat")
        yield emulator


def _app(engine: Engine, database_url: str, slack: SlackEmulator, role: str = "acknowledge") -> WiredApp:
    settings = Settings(_env_file=None, slack_signing_secret="s", slack_bot_token="xoxb-test",
                        database_url=database_url, slack_api_url=slack.url, cmo_now=NOW.isoformat())
    return create_app(settings, engine, role=role)


def _submit(app: WiredApp, callback_id: str = "probe") -> BoltResponse:
    body = {"type": "view_submission", "team": {"id": "T0CMO"}, "user": {"id": USER, "username": "pat"},
            "api_app_id": "A0CMOBOT", "view": {"id": "VPROBE", "type": "modal", "callback_id": callback_id,
                                                        "state": {"values": {}}}}
    return app.dispatch(BoltRequest(body=body, mode="socket_mode"))


def _running() -> float:
    return REGISTRY.get_sample_value("cmo_listener_work") or 0.0


@pytest.mark.parametrize("role, here", [("acknowledge", True), ("whole", False)])
def test_a_form_is_answered_from_the_thread_that_runs_its_listener_when_acknowledging(engine, db_url, slack,
                                                                                     role, here):
    app = _app(engine, db_url, slack, role)
    before = _running()  # the gauge is process-wide: read relative to its start
    seen: list[tuple[threading.Thread, float]] = []

    def on_probe(ack: Any) -> None:
        seen.append((threading.current_thread(), _running() - before))
        ack(response_action="errors", errors={"field": "checked"})

    app.view("probe")(on_probe)
    response = _submit(app)
    assert response.status == 200
    assert json.loads(response.body) == {"response_action": "errors", "errors": {"field": "checked"}}
    [(thread, running)] = seen
    assert (thread is threading.current_thread()) is here  # else a listener thread, whose ack Bolt polls for
    assert running == 1  # counted while it runs, in either thread
    if here:
        assert _running() == before  # its run ended with the answer


def test_a_form_failing_after_its_ack_keeps_it_and_its_person_is_told(engine, db_url, slack):
    app = _app(engine, db_url, slack)

    def on_probe(ack: Any) -> None:
        ack()
        raise RuntimeError("after the ack")

    app.view("probe")(on_probe)
    response = _submit(app)
    assert (response.status, response.body) == (200, "")
    [told] = [c.args["text"] for c in slack.calls("chat.postMessage") if c.args.get("channel") == USER]
    assert told.startswith(":boom: Something went wrong on our side (ref `")


def test_shortcuts_and_closed_forms_are_queued_not_run_when_acknowledging(engine, db_url, slack):
    app = _app(engine, db_url, slack)
    ran: list[str] = []
    app.shortcut("probe_shortcut")(lambda ack: ran.append("shortcut"))
    app.view_closed("probe")(lambda ack: ran.append("closed"))
    shortcut = {"type": "message_action", "callback_id": "probe_shortcut", "team": {"id": "T0CMO"},
                "user": {"id": USER}, "channel": {"id": "C1"}, "message": {"ts": "1.0"}, "trigger_id": "1.2.3"}
    closed = {"type": "view_closed", "team": {"id": "T0CMO"}, "user": {"id": USER},
              "view": {"id": "VPROBE", "type": "modal", "callback_id": "probe"}}
    for body in (shortcut, closed):
        response = app.dispatch(BoltRequest(body=body, mode="socket_mode"))
        assert (response.status, response.body) == (200, "")
    assert ran == []
    with transaction(engine) as session:
        assert len(session.exec(select(Work.id)).all()) == 2  # for the workers


def test_the_gate_reads_once_on_a_connection_that_needs_no_ping_nor_transaction(engine, db_url, slack,
                                                                               monkeypatch):
    """The form's door check (is the person outside the company?) in the acknowledging role: one statement,
    on the queueing engine (PostgreSQL: no ping, autocommit: no BEGIN, no COMMIT), nothing taken from the
    serving engine, whose connections are pinged and whose reads are transactions (four round trips)."""
    app = _app(engine, db_url, slack)
    app.view("probe")(lambda ack: ack())
    serving_checkouts: list[object] = []
    event.listen(app.deps.engine, "checkout", lambda *args: serving_checkouts.append(args))
    pings: list[object] = []
    dialect = type(app.deps.engine.dialect)
    pinging = dialect.do_ping
    monkeypatch.setattr(dialect, "do_ping", lambda self, connection: pings.append(connection) or pinging(self,
                                                                                                         connection))
    autocommit: list[bool] = []

    def read(connection, *_args: Any) -> None:
        autocommit.append(getattr(connection.connection.dbapi_connection, "autocommit", False))

    event.listen(Engine, "before_cursor_execute", read)
    try:
        with counted(Engine) as statements:
            assert _submit(app).status == 200
    finally:
        event.remove(Engine, "before_cursor_execute", read)
    sent = [s for s in statements if not s.startswith("BEGIN")]  # SQLite's own, in process
    assert len(sent) == 1 and "FROM program_member" in sent[0], sent
    assert serving_checkouts == []
    if is_postgres(engine):
        assert pings == [] and autocommit == [True]


def test_a_gate_that_cannot_read_is_answered_as_the_database_not_answering(engine, db_url, slack):
    unreachable = (make_url(db_url).set(port=1).render_as_string(hide_password=False) if is_postgres(engine)
                   else "sqlite:////nonexistent-cmo-directory/cmo.db")
    app = _app(engine, unreachable, slack)  # the queueing engine's database: the gate's read
    ran: list[str] = []
    app.view("probe")(lambda ack: ran.append("listener"))
    response = _submit(app)
    assert (response.status, response.body, ran) == (200, "", [])  # the form closes; nothing was done
    [told] = [c.args["text"] for c in slack.calls("chat.postMessage") if c.args.get("channel") == USER]
    assert told == ":hourglass: The database is not answering right now. Nothing was changed; try again shortly."


def test_a_read_on_a_pooled_connection_the_database_dropped_is_made_again_on_a_fresh_one(engine, db_url):
    if not is_postgres(engine):
        pytest.skip("a PostgreSQL connection closed by the server (SQLite has none)")
    reads = make_engine(db_url, ping=False, autocommit=True)
    try:
        pid = first_row(reads, select(func.pg_backend_pid()))
        assert pid is not None
        with engine.connect() as connection:  # as a restart of the database does it
            assert connection.execute(select(func.pg_terminate_backend(pid[0], 5000))).scalar_one()
        again = first_row(reads, select(func.pg_backend_pid()))
        assert again is not None and again[0] != pid[0]
    finally:
        reads.dispose()


def _command(command: str = "/probe") -> BoltRequest:
    return BoltRequest(body={"command": command, "text": "", "team_id": "T0CMO", "user_id": USER, "user_name": "pat",
                             "api_app_id": "A0CMOBOT"}, mode="socket_mode")


def test_a_deferred_request_is_queued_as_its_ack_function_got_it_never_copied(engine, db_url, slack, monkeypatch):
    """Bolt copies a request for each lazy listener it starts (decoded again, deep-copied with its context and
    Web API client): a third of a command's acknowledgement, for a copy the queue never read. The acknowledging
    process queues the request its ack function was given, then acks."""
    app = _app(engine, db_url, slack)
    ran: list[str] = []
    app.command("/probe")(lambda ack: ran.append("here"))
    copies: list[str] = []
    deepcopy = copy.deepcopy
    monkeypatch.setattr(copy, "deepcopy", lambda x, *rest: copies.append(type(x).__name__) or deepcopy(x, *rest))
    response = app.dispatch(_command())
    assert (response.status, response.body, ran, copies) == (200, "", [], [])
    with transaction(engine) as session:
        [(listener, body)] = session.exec(select(Work.listener, Work.body)).all()
    assert listener == "<lambda>" and json.loads(body)["command"] == "/probe"  # the name a worker runs it by


def test_a_command_the_database_cannot_queue_is_run_here_and_its_person_told(engine, db_url, slack):
    unreachable = (make_url(db_url).set(port=1).render_as_string(hide_password=False) if is_postgres(engine)
                   else "sqlite:////nonexistent-cmo-directory/cmo.db")
    app = _app(engine, unreachable, slack)  # the queueing engine's database
    app.command("/probe")(lambda ack: None)
    response = app.dispatch(_command())
    assert (response.status, response.body) == (200, "")  # acknowledged, and run in a listener thread
    app.listener_runner.listener_executor.shutdown(wait=True)
    [told] = [c.args["text"] for c in slack.calls("chat.postMessage") if c.args.get("channel") == USER]
    assert told == ":hourglass: The database is not answering right now. Nothing was changed; try again shortly."
