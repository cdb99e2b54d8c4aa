"""A form's follow-up (commands/after.py): queued in the work table when the process has workers, run at once
when it has none, and done once — run again after its worker died half-way, it neither repeats a step it did
nor does anything once it reached its end. Named by a form's act in the transaction of its write, it commits
with the write or not at all: a serving process killed right after the write's commit loses nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel
from slack_bolt import BoltContext, BoltRequest
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from bot.app import create_app
from bot.clock import Clock
from bot.emulator import SlackEmulator
from bot.emulator.client import SlackSender
from bot.settings import Settings, load_settings
from bot.worker import hand_over, run_one
from commands import after, forms
from commands.agreements.views import new_view
from commands.deps import Deps
from commands.interaction import Interaction
from store import audit, work
from store.agreements.service import Agreement
from store.audit import AuditEntry
from store.db import transaction
from store.errors import Invalid
from store.programs import Program, Role
from store.work import LEASE, Work
from tests import factories

T0 = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
KILLED_AFTER: set[str] = set()  # the steps after which the worker running the follow-up is killed


class Killed(BaseException):
    """The process killed half-way (a worker, or the serving process): nothing after this point of its run happens
    (not even a worker's finish)."""


class Client:
    """The Slack calls a follow-up makes."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []

    def chat_postMessage(self, **kwargs: Any) -> None:  # noqa: N802 (Slack's name)
        self.posts.append(kwargs)


@after.follow_up("test.saved")
def _saved(run: after.Run, record: int, text: str) -> None:
    """An audited write, then a message: each once."""

    def write() -> None:
        with transaction(run.who.deps.engine) as session:
            audit.record(session, actor=factories.ADMIN, action="filed", entity="test", entity_id=record,
                         now=run.who.now)

    run.once("write", write)
    if "write" in KILLED_AFTER:
        raise Killed
    run.once("post", lambda: run.client.chat_postMessage(channel="UADMIN", text=text))
    if "post" in KILLED_AFTER:
        raise Killed


def _deps(engine, workers: bool) -> Deps:
    return Deps(engine, load_settings(), Clock(T0.isoformat()),
                hand_over=hand_over(engine, "main") if workers else None)


def _who(engine, workers: bool) -> Interaction:
    return Interaction(_deps(engine, workers), T0, {"id": "UADMIN"})


def _queued(engine) -> list[Work]:
    with transaction(engine) as session:
        return list(session.exec(select(Work)).all())


def _filed(engine) -> int:
    with transaction(engine) as session:
        return len(session.exec(select(AuditEntry).where(AuditEntry.action == "filed")).all())


def _run(engine, client: Client, claimed: Work) -> None:
    """What a worker does with a claimed follow-up (bot/worker.py `follow`): as of the request it follows."""
    after.run(Interaction(_deps(engine, False), claimed.received_at, after.person(claimed.body)), client,  # type: ignore[arg-type]
              claimed.listener, claimed.body)


@pytest.fixture(autouse=True)
def _no_kill():
    KILLED_AFTER.clear()
    yield
    KILLED_AFTER.clear()


def test_without_workers_it_runs_at_once(engine):
    client = Client()
    after.later(_who(engine, workers=False), client, "test.saved", record=7, text="Filed.")  # type: ignore[arg-type]
    assert client.posts == [{"channel": "UADMIN", "text": "Filed."}] and _filed(engine) == 1
    assert _queued(engine) == []


def test_with_workers_it_is_queued_with_its_ids_and_the_request_s_now_and_run_by_a_worker(engine):
    serving, working = Client(), Client()
    after.later(_who(engine, workers=True), serving, "test.saved", record=7, text="Filed.")  # type: ignore[arg-type]
    assert serving.posts == [] and _filed(engine) == 0  # nothing done by the acknowledging process
    [queued] = _queued(engine)
    assert (queued.queue, queued.listener, queued.mode, queued.received_at) == ("main", "test.saved", after.MODE, T0)
    assert after.person(queued.body) == {"id": "UADMIN"}
    claimed = work.claim(engine, "main", "host:1", T0)
    _run(engine, working, claimed)
    assert working.posts == [{"channel": "UADMIN", "text": "Filed."}] and _filed(engine) == 1


def test_a_database_that_cannot_take_it_has_it_done_at_once(engine):
    def refusing(name: str, body: str, received_at: datetime, session: Session | None) -> bool:
        raise OperationalError("INSERT INTO work", {}, Exception("database is locked"))

    client = Client()
    who = Interaction(Deps(engine, load_settings(), Clock(T0.isoformat()), hand_over=refusing), T0, {"id": "UADMIN"})
    after.later(who, client, "test.saved", record=7, text="Filed.")  # type: ignore[arg-type]
    assert len(client.posts) == 1 and _filed(engine) == 1


def test_a_worker_hands_a_follow_up_on_only_from_a_request_of_the_forms_queue(engine):
    """A forms-queue request must open its modal within Slack's three seconds and the next one waits for its
    worker: what fills the modal goes to the other queue. Any other request's follow-up its worker does itself."""
    worker = Deps(engine, load_settings(), Clock(T0.isoformat()),
                  hand_over=hand_over(engine, "main", from_forms_only=True))
    who, client = Interaction(worker, T0, {"id": "UADMIN"}), Client()

    def claimed(queue: str) -> Work:
        work.enqueue(engine, queue=queue, listener="on_click", mode="http", content_type=None, body="{}",
                     received_at=T0)
        return work.claim(engine, queue, "host:1", T0)

    after.later(who, client, "test.saved", record=1, text="Outside a request.")  # type: ignore[arg-type]
    with work.running(claimed("main")):
        after.later(who, client, "test.saved", record=2, text="In a request.")  # type: ignore[arg-type]
    assert [p["text"] for p in client.posts] == ["Outside a request.", "In a request."]
    with work.running(claimed(work.forms_of("main"))):
        after.later(who, client, "test.saved", record=3, text="In a form's request.")  # type: ignore[arg-type]
    assert len(client.posts) == 2
    [handed] = [w for w in _queued(engine) if w.listener == "test.saved"]
    assert (handed.queue, handed.mode) == ("main", after.MODE) and "In a form" in handed.body


def test_a_follow_up_run_again_after_it_finished_does_nothing(engine):
    client = Client()
    after.later(_who(engine, workers=True), Client(), "test.saved", record=7, text="Filed.")  # type: ignore[arg-type]
    claimed = work.claim(engine, "main", "host:1", T0)
    _run(engine, client, claimed)  # its worker then died before deleting the row
    again = work.claim(engine, "main", "host:2", T0 + LEASE * 2)
    assert again.id == claimed.id and again.attempts == 2
    _run(engine, client, again)
    assert len(client.posts) == 1 and _filed(engine) == 1


@pytest.mark.parametrize("step", ["write", "post"])
def test_a_worker_killed_half_way_leaves_it_to_another_which_does_each_step_once(engine, step):
    first, second = Client(), Client()
    after.later(_who(engine, workers=True), Client(), "test.saved", record=7, text="Filed.")  # type: ignore[arg-type]
    claimed = work.claim(engine, "main", "host:1", T0)
    KILLED_AFTER.add(step)
    with pytest.raises(Killed):
        _run(engine, first, claimed)
    KILLED_AFTER.clear()
    assert work.claim(engine, "main", "host:2", T0 + LEASE / 2) is None  # its claim holds until the lease ends
    again = work.claim(engine, "main", "host:2", T0 + LEASE * 2)
    _run(engine, second, again)
    work.finish(engine, again.id)
    assert _filed(engine) == 1  # written by the first run only
    assert len(first.posts + second.posts) == 1  # posted by whichever run got that far, once
    assert _queued(engine) == []


# --- named by a form's act, in the transaction of its write ------------------------------------------------------


VIEW = {"id": "VFORM", "blocks": [{"block_id": "record"}], "state": {"values": {}}}


class Empty(BaseModel):
    """A form with nothing to validate: the act is what is tested."""


def _submit(who: Interaction, client: Client, *, fail: Exception | None = None, acks: list[dict] | None = None,
            record: int = 7) -> None:
    """A form whose act writes an audited change and names its follow-up in that change's transaction; `fail`
    is raised inside the transaction after both, so it rolls them back."""

    def act(_: Empty) -> None:
        with transaction(who.deps.engine) as session:
            audit.record(session, actor=factories.ADMIN, action="changed", entity="test", entity_id=record,
                         now=who.now)
            after.later(who, client, "test.saved", session=session, record=record, text="Changed.")  # type: ignore[arg-type]
            if fail is not None:
                raise fail

    answers = acks if acks is not None else []
    token = forms.SUBMITTER.set(who)
    try:
        forms.submit(lambda **answer: answers.append(answer), VIEW, Empty, act, fallback="record")
    finally:
        forms.SUBMITTER.reset(token)


def _changed(engine) -> int:
    with transaction(engine) as session:
        return len(session.exec(select(AuditEntry).where(AuditEntry.action == "changed")).all())


def test_with_workers_a_form_s_follow_up_commits_with_its_write_or_not_at_all(engine):
    client = Client()
    _submit(_who(engine, workers=True), client, fail=Invalid("No such record.", "record"))
    assert _changed(engine) == 0 and _queued(engine) == []  # rolled back together
    _submit(_who(engine, workers=True), client)
    [queued] = _queued(engine)
    assert _changed(engine) == 1 and queued.listener == "test.saved" and client.posts == []


def test_without_workers_it_runs_after_the_ack_once_its_transaction_committed(engine):
    acks: list[dict] = []

    class Watching(Client):
        def chat_postMessage(self, **kwargs: Any) -> None:  # noqa: N802 (Slack's name)
            super().chat_postMessage(**kwargs, acked=len(acks))

    client = Watching()
    _submit(_who(engine, workers=False), client, fail=Invalid("No such record.", "record"), acks=acks)
    assert client.posts == [] and _filed(engine) == 0  # rolled back: forgotten with the change
    _submit(_who(engine, workers=False), client, acks=acks)
    assert client.posts == [{"channel": "UADMIN", "text": "Changed.", "acked": 2}]  # after this form's ack
    assert _changed(engine) == 1 and _queued(engine) == []


def test_a_database_refusing_the_follow_up_fails_the_write_with_it(engine):
    """Its row is part of the write: a busy database is answered on the form and nothing is saved (the person
    submits again), rather than the change committed with its follow-up left to this process."""

    def refusing(name: str, body: str, received_at: datetime, session: Session | None) -> bool:
        raise OperationalError("INSERT INTO work", {}, Exception("database is locked"))

    client, acks = Client(), []
    who = Interaction(Deps(engine, load_settings(), Clock(T0.isoformat()), hand_over=refusing), T0, {"id": "UADMIN"})
    _submit(who, client, acks=acks)  # type: ignore[arg-type]
    assert acks == [{"response_action": "errors", "errors": {"record": forms.BUSY_FIELD}}]
    assert _changed(engine) == 0 and client.posts == []


def test_a_serving_process_killed_right_after_a_form_s_write_committed_loses_none_of_its_follow_up(engine, db_url):
    """Slack gets no answer and the person submits again, which closes quietly (the form's receipt): the
    channel's notice, the files and the DMs of the first submission must still come, from a worker."""
    with transaction(engine) as session:
        program = factories.program(session, T0, "P-001", channel=None, members={Role.program_manager: ["UPM1"]})
    with SlackEmulator() as slack:
        slack.add_user("UPM1", "pat")
        settings = Settings(_env_file=None, slack_signing_secret="s", slack_bot_token="xoxb-test",
                            database_url=db_url, slack_api_url=slack.url, cmo_now=T0.isoformat())
        serving = create_app(settings, engine, role="acknowledge")
        dying = [True]

        def killed(**_: Any) -> None:
            raise Killed

        def die_at_the_ack(context: BoltContext, next: Callable[[], Any]) -> Any:  # noqa: A002 (Bolt's name)
            if dying and dying.pop():
                context["ack"] = killed  # the first thing the form does after its write committed
            return next()

        serving.use(die_at_the_ack)
        submission = BoltRequest(body=_log_agreement(program), mode="socket_mode")
        with pytest.raises(Killed):
            serving.dispatch(submission)
        again = serving.dispatch(BoltRequest(body=_log_agreement(program), mode="socket_mode"))
        assert (again.status, again.body) == (200, "")  # closed: the change is recorded
        [queued] = _queued(engine)
        assert queued.listener == "agreements.saved"
        working = create_app(settings, engine, role="work")
        assert run_one(working, working.deps, "host:1", settings.cmo_work_queue)
        [told] = [c.args["text"] for c in slack.calls("chat.postMessage") if c.args.get("channel") == "UPM1"]
    assert "Acme Pharma" in told and _queued(engine) == []
    with transaction(engine) as session:
        assert len(session.exec(select(Agreement).where(Agreement.created_by == "UPM1")).all()) == 1


def _log_agreement(program: Program) -> dict[str, Any]:
    view = new_view(program, "UPM1")
    values = {"kind": "nda", "status": "draft", "counterparty": "Acme Pharma", "version": "v1.0"}
    shown = {**view, "id": "VKILLED", "state": {"values": SlackSender("http://unused", "s").view_state(view, values)}}
    return {"type": "view_submission", "team": {"id": "T0CMO"}, "api_app_id": "A0CMOBOT", "view": shown,
            "user": {"id": "UPM1", "username": "pat", "name": "pat"}}
