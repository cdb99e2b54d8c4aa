"""Faults end to end, through the real `serve`: a form submitted again (Slack timed out, a double click)
changes nothing twice."""

from __future__ import annotations

from tests.e2e.test_agreements import CHANNEL, EXECUTED_QA, _program, _stored
from tests.unit.test_concurrent_writers import at_once


def _open_form(bot, user: str = "UPM1") -> dict:
    trigger = bot.command("agreement new", user=user, channel=CHANNEL).trigger_id
    bot.slack.wait_for("views.open", lambda c: c.args.get("trigger_id") == trigger)
    view = bot.slack.last_view(user)
    assert view is not None
    return view


def test_a_form_submitted_again_is_acted_on_once(bot, engine):
    _program(bot, engine)
    view = _open_form(bot)
    first = bot.send.view_submission("UPM1", view, EXECUTED_QA)
    again = bot.send.view_submission("UPM1", view, EXECUTED_QA)  # Slack's retry, or the person's
    assert (first.status_code, first.text) == (200, "") and (again.status_code, again.text) == (200, "")
    assert [a.ref for a in _stored(engine)] == ["QA-1"]


def test_twin_submissions_at_the_same_moment_make_one_record(bot, engine):
    _program(bot, engine)
    view = _open_form(bot)
    answers = at_once(lambda _: bot.send.view_submission("UPM1", view, EXECUTED_QA), count=4)
    assert all(a.status_code == 200 for a in answers), answers
    assert [a.ref for a in _stored(engine)] == ["QA-1"]
    other = _open_form(bot)  # a new form is a new submission
    bot.send.view_submission("UPM1", other, EXECUTED_QA)
    assert [a.ref for a in _stored(engine)] == ["QA-1", "QA-2"]
