"""A form's follow-up (commands/after.py): queued in the work table when the process has workers, run at once
when it has none, and done once — run again after its worker died half-way, it neither repeats a step it did
nor does anything once it reached its end."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from bot.clock import Clock
from bot.settings import load_settings
from bot.worker import hand_over
from commands import after
from commands.deps import Deps
from commands.interaction import Interaction
from store import audit, work
from store.audit import AuditEntry
from store.db import transaction
from store.work import LEASE, Work
from tests import factories

T0 = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
KILLED_AFTER: set[str] = set()  # the steps after which the worker running the follow-up is killed


class Killed(BaseException):
    """The worker killed half-way: nothing after this point of its run happens (not even its finish)."""


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
    def refusing(name: str, body: str, received_at: datetime) -> bool:
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
