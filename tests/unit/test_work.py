"""The work queue's rules (store/work.py): a request is claimed by one worker at a time, a dead worker's claim
is freed, and a request's change is written by one claim only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import select

from commands.access import opens_form
from commands.forms import OpenedFromQueue, open_form
from store import audit, work
from store.audit import AuditEntry
from store.db import SERVING_WAIT, make_engine, transaction
from store.work import LEASE, AlreadyApplied, Work
from tests import factories

T0 = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)


def _queue(engine, text: str = "command=%2Fcmo&text=help") -> int:
    return work.enqueue(engine, queue="main", listener="handle", mode="http",
                        content_type="application/x-www-form-urlencoded", body=text, received_at=T0)


def _audited(engine, action: str) -> None:
    with transaction(engine) as session:
        audit.record(session, actor=factories.ADMIN, action=action, entity="test", entity_id=1, now=T0)


def test_a_request_is_claimed_by_one_worker_until_its_claim_expires(engine):
    first = _queue(engine)
    second = _queue(engine, "command=%2Fcmo&text=batch+log")
    assert work.fresh(engine, "main") and not work.fresh(engine, "other")
    one = work.claim(engine, "main", "host:1", T0)
    two = work.claim(engine, "main", "host:2", T0)
    assert (one.id, two.id) == (first, second)  # oldest first, each to one worker
    assert not work.fresh(engine, "main")
    assert work.claim(engine, "main", "host:3", T0 + LEASE) is None  # held until the lease ends
    again = work.claim(engine, "main", "host:3", T0 + LEASE + LEASE / 10)
    assert again.id == first and again.attempts == 2 and again.token == "host:3#2"
    with transaction(engine) as session:
        assert work.queued(session) == 2
    work.finish(engine, first)
    with transaction(engine) as session:
        assert [w.id for w in session.exec(select(Work)).all()] == [second]


def test_the_claims_of_dead_workers_on_this_machine_are_freed_at_once(engine):
    _queue(engine)
    _queue(engine)
    _queue(engine)
    work.claim(engine, "main", "here:11", T0)
    work.claim(engine, "main", "here:12", T0)
    work.claim(engine, "main", "there:11", T0)  # another machine's: its lease decides
    assert work.release_dead(engine, "here", alive=lambda pid: pid != 11) == 1
    assert work.fresh(engine, "main")
    freed = work.claim(engine, "main", "here:13", T0)
    assert freed.attempts == 2 and freed.token == "here:13#2"


def test_a_change_marks_its_request_applied_and_a_second_claim_cannot_change_it_again(engine):
    _queue(engine)
    first = work.claim(engine, "main", "host:1", T0)
    with work.running(first):
        _audited(engine, "first")
        _audited(engine, "first again")  # the same claim may write more than once
    second = work.claim(engine, "main", "host:2", T0 + LEASE * 2)  # the first looked dead: claimed again
    assert second.applied_by == "host:1#1"
    with work.running(second), pytest.raises(AlreadyApplied):
        _audited(engine, "second")
    with transaction(engine) as session:
        assert [e.action for e in session.exec(select(AuditEntry).order_by(AuditEntry.seq)).all()] == [
            "first", "first again"]  # the second claim's change was rolled back with its transaction


def test_a_change_rolled_back_leaves_its_request_unapplied(engine):
    _queue(engine)
    item = work.claim(engine, "main", "host:1", T0)
    with work.running(item), pytest.raises(RuntimeError), transaction(engine) as session:
        audit.record(session, actor=factories.ADMIN, action="undone", entity="test", entity_id=1, now=T0)
        raise RuntimeError("the service refused after auditing")
    with transaction(engine) as session:
        assert session.get(Work, item.id).applied_by is None


def test_changes_outside_a_worker_mark_nothing(engine):
    _queue(engine)
    _audited(engine, "from the command line")
    with transaction(engine) as session:
        assert session.exec(select(Work)).one().applied_by is None


def test_a_request_queued_by_the_serving_process_is_committed_when_enqueue_returns(engine, db_url):
    serving = make_engine(db_url, wait=SERVING_WAIT, ping=False, autocommit=True)  # as bot/app.py makes it
    try:
        queued = work.enqueue(serving, queue="main", listener="handle", mode="http", content_type=None,
                              body="command=%2Fcmo&text=help", received_at=T0)
    finally:
        serving.dispose()  # its connections closed: what was not committed would be gone
    item = work.claim(engine, "main", "host:1", T0)
    assert (item.id, item.listener, item.content_type, item.body, item.received_at, item.attempts) == (
        queued, "handle", None, "command=%2Fcmo&text=help", T0, 1)


class _Client:
    """Records the forms opened through it."""

    def __init__(self) -> None:
        self.opened: list[str] = []

    def views_open(self, trigger_id: str, view: dict) -> dict:
        self.opened.append(trigger_id)
        return {"ok": True}


def test_a_worker_opens_forms_only_for_requests_of_the_forms_queue_and_takes_those_first(engine):
    client = _Client()
    open_form(client, trigger_id="T.1", view={"type": "modal"})  # type: ignore[arg-type]  # serve's fallback
    _queue(engine, "command=%2Fcmo&text=agreement+list")
    work.enqueue(engine, queue=work.forms_of("main"), listener="handle", mode="http", content_type=None,
                 body="command=%2Fcmo&text=agreement+new", received_at=T0)
    assert work.fresh(engine, work.forms_of("main"))
    form = work.claim(engine, work.forms_of("main"), "host:1", T0)
    with work.running(form):
        open_form(client, trigger_id="T.2", view={"type": "modal"})  # type: ignore[arg-type]
    with work.running(work.claim(engine, "main", "host:1", T0)), pytest.raises(OpenedFromQueue):
        open_form(client, trigger_id="T.3", view={"type": "modal"})  # type: ignore[arg-type]
    assert client.opened == ["T.1", "T.2"]


@pytest.mark.parametrize(("body", "form"), [
    ({"command": "/cmo", "text": "agreement new --program ACME-001"}, True),
    ({"command": "/cmo", "text": "Batch Approve B-1042 all good"}, True),  # as typed: any case
    ({"command": "/cmo", "text": "batch hold B-1042 waiting for the CoA"}, False),  # a reason: no form
    ({"command": "/cmo", "text": "batch log"}, False),
    ({"command": "/cmo", "text": ""}, False),
    ({"type": "block_actions", "actions": [{"action_id": "batch_approve"}]}, True),
    ({"type": "block_actions", "actions": [{"action_id": "stability_mark_pulled"}]}, False),
    ({"type": "event_callback", "event": {"type": "app_home_opened"}}, False),
])
def test_requests_that_may_open_a_form_are_known_before_they_are_queued(body, form):
    assert opens_form(body) is form
