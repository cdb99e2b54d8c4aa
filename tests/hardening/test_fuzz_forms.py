"""Every form (modal) the bot opens, submitted with hostile values in Slack's real state shapes: the answer
is HTTP 200 and either accepted or field errors on the form's own inputs, never an internal error; a refused
submission writes nothing."""

from __future__ import annotations

import time
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store.audit import AuditHead
from store.db import transaction
from tests import factories
from tests.conftest import NOW
from tests.hardening import report
from tests.hardening.strategies import NASTY

CHANNEL = "CACME001"
# (command that opens the form, who opens it)
FORMS = [("program new", "UADMIN"), ("agreement new", "UPM1"), ("batch new", "UPM1"),
         ("stability new", "USTAB1"), ("submission new", "UPM1")]
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

TEXT = st.one_of(st.none(), NASTY, st.text(max_size=60), st.just("x" * 3001))
DATES = st.one_of(st.none(), st.dates(date(1900, 1, 1), date(2200, 12, 31)).map(date.isoformat),
                  st.sampled_from(["2026-02-30", "31/12/2026", "2027-13-01", "", "not a date"]))
USERS = st.lists(st.sampled_from(["UPM1", "UAPP1", "UOUT", "U0NOBODY", "<!channel>"]), max_size=3)


def _value(element: dict):
    kind = element.get("type")
    options = [o["value"] for o in element.get("options") or []]
    if kind in ("static_select", "radio_buttons"):
        return st.one_of(st.none(), st.sampled_from(options) if options else st.none(), NASTY)
    if kind in ("checkboxes", "multi_static_select"):
        return st.lists(st.one_of(st.sampled_from(options), NASTY) if options else NASTY, max_size=3)
    if kind == "datepicker":
        return DATES
    if kind == "multi_users_select":
        return USERS
    if kind == "users_select":
        return st.one_of(st.none(), st.sampled_from(["UPM1", "UOUT", "U0NOBODY"]))
    if kind in ("conversations_select", "channels_select"):
        return st.one_of(st.none(), st.sampled_from([CHANNEL, "C0NOWHERE"]))
    if kind == "file_input":
        return st.lists(st.sampled_from(["F0MISSING"]), max_size=1)
    if kind == "timepicker":
        return st.one_of(st.none(), st.sampled_from(["14:00", "25:61", "x"]))
    return TEXT


def _seq(engine) -> int:
    with transaction(engine) as session:
        head = session.get(AuditHead, 1)
        return head.seq if head else 0


def _settle(engine, quiet: float = 0.5, limit: float = 10) -> None:
    """Wait until the audit trail stops growing: another process's work, observed, not time simulated."""
    deadline, last, since = time.monotonic() + limit, _seq(engine), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < quiet:
        time.sleep(0.05)
        if (now := _seq(engine)) != last:
            last, since = now, time.monotonic()


@pytest.mark.parametrize(("command", "user"), FORMS)
def test_forms_answer_hostile_values_on_their_fields(bot, engine, command, user):
    with transaction(engine) as session:
        factories.program(session, NOW, "ACME-001", channel=CHANNEL)
    opened = bot.command(command, user=user, channel=CHANNEL)
    view = bot.slack.wait_for("views.open", lambda c: c.args.get("trigger_id") == opened.trigger_id)[0].args["view"]
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b.get("type") == "input"}

    @FUZZ
    @given(values=st.fixed_dictionaries({block_id: _value(element) for block_id, element in inputs.items()}))
    def submit(values):
        before = _seq(engine)
        response = bot.send.view_submission(user, view, values)
        report.COUNTS["fuzzed"] += 1
        assert response.status_code == 200, (command, values, response.text)
        body = response.json() if response.text.strip() else {}
        if body.get("response_action") == "errors":
            assert body["errors"] and set(body["errors"]) <= set(inputs), (command, body)
            assert _seq(engine) == before, (command, values)
        else:
            assert body in ({}, None) or body.get("response_action") in ("clear", "update", "push"), body
            _settle(engine)  # the accepted form's work after the ack (DMs, filing) ends before the next example
        for call in bot.slack.calls():
            text = str(call.args.get("text", ""))
            assert ":boom:" not in text and "Traceback" not in text, (command, values, text,
                                                                      "".join(bot.process.output[-60:]))

    submit()
