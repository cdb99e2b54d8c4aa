"""Form receipts: a form is acted on once per view and person, and a refusal on the form lets the person
correct it and submit the same form again."""

from __future__ import annotations

from pydantic import BaseModel

from bot.clock import Clock
from bot.settings import load_settings
from commands.deps import Deps
from commands.forms import SUBMITTER, submit
from commands.interaction import Interaction
from store import audit, programs
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
