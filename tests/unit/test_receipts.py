"""Form receipts: a form is acted on once per view and person, and a refusal on the form lets the person
correct it and submit the same form again."""

from __future__ import annotations

import pytest
from pydantic import BaseModel
from sqlalchemy import insert

from bot.clock import Clock
from bot.settings import load_settings
from commands.deps import Deps
from commands.forms import SUBMITTER, submit
from commands.interaction import Interaction
from store import audit, programs, receipts
from store.db import transaction
from store.errors import Invalid
from tests.conftest import NOW
from tests.unit.test_busy_database import _Ack
from tests.unit.test_concurrent_writers import ADMIN


class Form(BaseModel):
    code: str


def _view(code: str, view_id: str = "V0FORM") -> dict:
    return {"id": view_id, "blocks": [{"block_id": "code"}],
            "state": {"values": {"code": {"a": {"type": "plain_text_input", "value": code}}}}}


def _submitting(engine, user: str = "UADMIN"):
    deps = Deps(engine, load_settings(), Clock(NOW.isoformat()))
    return SUBMITTER.set(Interaction(deps, NOW, {"id": user}))


def test_the_same_form_twice_creates_once_and_closes_quietly(engine):
    token = _submitting(engine)

    def create(form: Form) -> int:
        with transaction(engine) as session:
            return programs.create(session, actor=ADMIN, now=NOW, code=form.code, customer="Acme").id

    try:
        first, again = _Ack(), _Ack()
        assert isinstance(submit(first, _view("ONCE-001"), Form, create, "code"), int)
        assert submit(again, _view("ONCE-001"), Form, create, "code") is None
    finally:
        SUBMITTER.reset(token)
    assert first.calls == [{}] and again.calls == [{}]  # the second closes the form: it was done


def test_a_refusal_after_an_audited_write_lets_the_corrected_form_through(engine):
    token = _submitting(engine)

    def create(form: Form) -> int:
        with transaction(engine) as session:  # a refusal is audited first, in its own transaction …
            audit.record(session, actor=ADMIN, action="refused", entity="program", entity_id=form.code, now=NOW)
        if form.code == "BAD-001":  # … then shown on the form
            raise Invalid("Not that one.", "code")
        with transaction(engine) as session:
            return programs.create(session, actor=ADMIN, now=NOW, code=form.code, customer="Acme").id

    try:
        refused, corrected = _Ack(), _Ack()
        assert submit(refused, _view("BAD-001"), Form, create, "code") is None
        assert isinstance(submit(corrected, _view("GOOD-001"), Form, create, "code"), int)
    finally:
        SUBMITTER.reset(token)
    assert refused.calls == [{"response_action": "errors", "errors": {"code": "Not that one."}}]
    with transaction(engine) as session:
        assert programs.by_code(session, "GOOD-001") is not None


def _creating(engine):
    def create(form: Form) -> int:
        with transaction(engine) as session:
            return programs.create(session, actor=ADMIN, now=NOW, code=form.code, customer="Acme").id

    return create


def test_a_refusal_leaves_the_receipt_a_twin_wrote_meanwhile(engine):
    """The form's twin (a double click) committed its change between this submission's look and its refusal:
    the refusal forgets only a receipt it wrote itself, so a third copy of the form still closes quietly."""
    token = _submitting(engine)

    def refused(_form: Form) -> int:
        with engine.begin() as connection:  # the twin's commit, in its own connection
            connection.execute(insert(receipts.SubmissionReceipt).values(key="V0FORM:UADMIN", created_at=NOW))
        raise Invalid("Not that one.", "code")

    try:
        assert submit(_Ack(), _view("TWIN-001"), Form, refused, "code") is None
        third = _Ack()
        assert submit(third, _view("TWIN-001"), Form, _creating(engine), "code") is None
    finally:
        SUBMITTER.reset(token)
    assert third.calls == [{}]
    with transaction(engine) as session:
        assert programs.by_code(session, "TWIN-001") is None


def _claiming(engine, fail: str | None = None):
    """A submission done in one transaction that claims its receipt first (`receipts.claim`); `fail` names the
    code it refuses after writing (an error on the form, the whole transaction undone)."""

    def create(form: Form) -> int:
        with transaction(engine) as session:
            receipts.claim(session)
            created = programs.create(session, actor=ADMIN, now=NOW, code=form.code, customer="Acme")
            if form.code == fail:
                raise Invalid("Not that one.", "code")
            return created.id

    return create


def test_a_claimed_receipt_makes_the_same_form_once_and_a_refused_one_none(engine):
    token = _submitting(engine)
    try:
        first, again = _Ack(), _Ack()
        assert isinstance(submit(first, _view("ONE-001"), Form, _claiming(engine), "code",
                                 receipt_claimed_by_act=True), int)
        assert submit(again, _view("ONE-001"), Form, _claiming(engine), "code", receipt_claimed_by_act=True) is None
        refused, corrected = _Ack(), _Ack()
        assert submit(refused, _view("BAD-001", "V1FORM"), Form, _claiming(engine, fail="BAD-001"), "code",
                      receipt_claimed_by_act=True) is None
        assert isinstance(submit(corrected, _view("GOOD-001", "V1FORM"), Form, _claiming(engine), "code",
                                 receipt_claimed_by_act=True), int)
    finally:
        SUBMITTER.reset(token)
    assert first.calls == again.calls == corrected.calls == [{}]
    assert refused.calls == [{"response_action": "errors", "errors": {"code": "Not that one."}}]
    with transaction(engine) as session:
        assert [programs.by_code(session, code) is not None for code in ("ONE-001", "BAD-001", "GOOD-001")] == \
            [True, False, True]


def test_work_that_says_it_claims_its_receipt_and_does_not_fails_loudly(engine):
    token = _submitting(engine)

    try:
        with pytest.raises(RuntimeError, match="never claimed its receipt"):
            submit(_Ack(), _view("LOUD-001"), Form, _creating(engine), "code", receipt_claimed_by_act=True)
    finally:
        SUBMITTER.reset(token)
