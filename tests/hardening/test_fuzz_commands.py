"""Every /cmo command, however hostile, gets HTTP 200 and an ephemeral answer; nothing is written by a
person with no role, and nothing ever surfaces as an internal error."""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings

from store.audit import AuditHead
from store.db import transaction
from tests import factories
from tests.conftest import NOW
from tests.hardening import report
from tests.hardening.strategies import commands

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _audit_seq(engine) -> int:
    with transaction(engine) as session:
        head = session.get(AuditHead, 1)
        return head.seq if head else 0


def _answer(bot, text: str, user: str, channel: str, forms_allowed: bool = True) -> str:
    response = bot.command(text, user=user, channel=channel)  # asserts HTTP 200
    kind, reply = bot.answer(response)
    report.COUNTS["fuzzed"] += 1
    if kind == "view":  # a valid command that opens its form
        assert forms_allowed, f"a form was opened for someone with no role: {text!r}"
        return ""
    assert reply.get("response_type", "ephemeral") == "ephemeral", (text, reply)
    assert reply.get("text"), (text, reply)
    assert ":boom:" not in reply["text"] and "Traceback" not in reply["text"], (text, reply["text"])
    return reply["text"]


@FUZZ
@given(text=commands())
def test_outsider_commands_change_nothing(bot, engine, text):
    if _audit_seq(engine) == 0:
        with transaction(engine) as session:
            factories.program(session, NOW, "ACME-001", channel="CACME001")
    before = _audit_seq(engine)
    _answer(bot, text, "UOUT", "CACME001", forms_allowed=False)
    assert _audit_seq(engine) == before, text


@FUZZ
@given(text=commands())
@example(text="agreement show \x00")  # found by this test on PostgreSQL, which refuses NUL in a query
def test_member_commands_never_fail_internally(bot, engine, text):
    if _audit_seq(engine) == 0:
        with transaction(engine) as session:
            factories.program(session, NOW, "ACME-001", channel="CACME001")
    _answer(bot, text, "UPM1", "CACME001")
