"""`forms.submit`: every domain error its action raises is answered on the form — on the field it names,
else on the fallback field — and the form stays open with nothing done; what the action returns comes back
only when it succeeded."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from commands.forms import submit
from store.errors import Conflict, DomainError, Invalid, NotAllowed, NotFound
from tests.unit.test_busy_database import _Ack


class Form(BaseModel):
    code: str
    note: str | None = None


VIEW = {"blocks": [{"block_id": "code"}, {"block_id": "note"}],
        "state": {"values": {"code": {"a": {"type": "plain_text_input", "value": "ACME-001"}},
                             "note": {"a": {"type": "plain_text_input", "value": ""}}}}}


def _raising(error: DomainError):
    def act(form: Form) -> None:
        raise error

    return act


@pytest.mark.parametrize("error", [NotAllowed("Only QA can do that."), NotFound("That batch no longer exists."),
                                   Conflict("It was executed meanwhile."), Invalid("Not a code.")])
def test_a_refusal_or_a_conflict_lands_on_the_fallback_field(error):
    ack = _Ack()
    assert submit(ack, VIEW, Form, _raising(error), fallback="code") is None
    assert ack.calls == [{"response_action": "errors", "errors": {"code": str(error)}}]


def test_an_error_naming_a_field_lands_on_that_field_and_an_unknown_one_on_the_fallback():
    ack = _Ack()
    submit(ack, VIEW, Form, _raising(Invalid("Too long.", "note")), fallback="code")
    submit(ack, VIEW, Form, _raising(Invalid("Not here.", "nowhere")), fallback="code")
    assert [call["errors"] for call in ack.calls] == [{"note": "Too long."}, {"code": "Not here."}]


def test_a_form_acted_on_is_closed_and_returns_what_the_action_returned():
    ack = _Ack()
    assert submit(ack, VIEW, Form, lambda form: (form.code, form.note), fallback="code") == ("ACME-001", None)
    assert ack.calls == [{}]
