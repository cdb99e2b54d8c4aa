"""Faults end to end, through the real `serve`: a form submitted again (Slack timed out, a double click)
changes nothing twice; a delivery run longer than the delivery job's interval sends nothing twice."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta

from sqlmodel import select

from store.agreements import service as agreements
from store.agreements.service import Kind, Status, Terms
from store.db import transaction
from store.outbox import Outbox
from tests import factories
from tests.conftest import NOW
from tests.e2e.harness import BotProcess
from tests.e2e.test_agreements import CHANNEL, EXECUTED_QA, _log, _program, _stored
from tests.e2e.test_batches import CHANNEL as BATCH_CHANNEL
from tests.e2e.test_batches import MON_23
from tests.e2e.test_batches import _program as batch_program
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


def test_serve_with_its_scheduler_delivers_a_long_run_once(bot, engine, slack, tmp_path):
    """`serve` with the in-process scheduler: the sweep's pass delivers one person 34 reminders (and their 34
    programs' channels one each) at Slack's pace, one a second per conversation, so the delivery job fires
    (after 30 s) while that pass still runs. Every reminder arrives exactly once."""
    count = 34
    bot.clock.set(datetime(2026, 11, 2, 15, tzinfo=UTC))  # 10:00 in New York: the 30-day reminders are due
    with transaction(engine) as session:
        for i in range(count):  # one agreement per program (a program's newest QA is the one reminded about)
            program = factories.program(session, NOW, f"P-{i:03d}", channel=f"CP{i:03d}")
            agreements.create(session, program=program, actor=factories.ADMIN, now=NOW, kind=Kind.quality,
                              counterparty="Acme Pharma", status=Status.executed, owner_id="UPM1",
                              terms=Terms(date(2026, 1, 1), date(2026, 12, 2)))
    for i in range(count):
        slack.add_channel(f"CP{i:03d}", f"p-{i:03d}", members=["UPM1"])
    slack.set_rate_limit("chat.postMessage", 1.0, 1, per_channel=True)
    env = {**bot.env, "CMO_WORKDIR": str(tmp_path)}
    serving = BotProcess(env, scheduler=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # waiting for the other process to deliver, not moving time
            with transaction(engine) as session:
                rows = session.exec(select(Outbox).where(Outbox.key.like("agreement:%"))).all()  # type: ignore
            if len(rows) == 2 * count and all(r.status == "sent" for r in rows):
                break
            time.sleep(0.5)
    finally:
        serving.stop()
    assert len(rows) == 2 * count and {r.status for r in rows} == {"sent"}
    posted = Counter(c.args["metadata"]["event_payload"]["id"] for c in bot.posts()
                     if c.args.get("metadata") and c.status == 200 and c.response.get("ok"))  # accepted posts
    assert {r.id for r in rows} <= set(posted) and set(posted.values()) == {1}  # every outbox row posted once
    assert all(r.attempts == 1 for r in rows)  # no row was claimed twice
    assert "Traceback" not in "".join(serving.output)


def test_a_slack_outage_during_batch_ready_loses_no_request_for_approval(bot, engine):
    batch_program(bot, engine)
    bot.slack.inject("chat.postMessage", *[{"status": 503}] * 6)  # the channel and both DMs, each tried twice
    reply = bot.ask("batch ready B-1042 --product 'Acmezol 10 mg'", user="UPM1", channel=BATCH_CHANNEL)
    assert "B-1042 is ready for review" in reply
    told = bot.slack.wait_for("chat.postMessage", lambda c: "Slack did not take 3" in c.args.get("text", ""))
    assert told[0].args["channel"] == "UPM1"
    assert [p for p in bot.posts() if p.status == 200 and "B-1042" in p.args.get("text", "")] == []
    with transaction(engine) as session:
        queued = session.exec(select(Outbox).where(Outbox.key.like("batch:%:ready%"))).all()  # type: ignore
    assert sorted(r.target for r in queued) == sorted([BATCH_CHANNEL, "UAPP1", "UAPP2"])
    assert {r.status for r in queued} == {"pending"}

    # Slack is back: the scheduler's next pass sends each request once, with the approvers' buttons
    lines = bot.tick(MON_23 + timedelta(minutes=5))
    assert sorted(line.split()[0] for line in lines if ":ready" in line) == ["sent"] * 3
    for approver in ("UAPP1", "UAPP2"):
        [dm] = [p.args for p in bot.posts(approver) if p.status == 200 and "B-1042" in p.args.get("text", "")]
        assert [e["action_id"] for b in dm["blocks"] if b["type"] == "actions" for e in b["elements"]] == [
            "batch_approve", "batch_hold", "batch_reject", "batch_call"]
    assert bot.tick(MON_23 + timedelta(minutes=10)) == []
    assert "already recorded" in bot.ask("batch ready B-1042", user="UPM1", channel=BATCH_CHANNEL)


def test_a_program_left_without_a_channel_gets_one_with_program_channel(bot, engine):
    with transaction(engine) as session:  # as a crash during creation leaves it: the program, no channel
        factories.program(session, NOW, channel=None)
    refused = bot.ask("program channel --program ACME-001", user="UAPP1")
    assert refused.startswith(":no_entry:") and "channel" in refused  # managers and admins only

    reply = bot.ask("program channel --program ACME-001", user="UPM1")
    [created] = bot.slack.calls("conversations.create")
    assert created.args["name"] == "acme-001"
    channel = created.response["channel"]["id"]
    assert f"<#{channel}>" in reply
    with transaction(engine) as session:
        assert factories.programs.by_code(session, "ACME-001").channel_id == channel
    [invite] = bot.slack.wait_for("conversations.invite")
    assert set(invite.args["users"].split(",")) >= {"UPM1", "UAPP1", "UQA1"}
    assert bot.slack.wait_for("chat.postMessage", lambda c: c.args["channel"] == channel
                              and "This is the channel of *ACME-001*" in c.args.get("text", ""))

    bot.slack.add_channel("CNEWHOME", "acme-new", members=["UPM1"])
    reply = bot.ask("program channel <#CNEWHOME|acme-new>", user="UPM1", channel=channel)
    assert "<#CNEWHOME>" in reply
    with transaction(engine) as session:
        assert factories.programs.by_code(session, "ACME-001").channel_id == "CNEWHOME"
    assert "is not a channel" in bot.ask("program channel acme --program ACME-001", user="UPM1")


def test_a_slack_outage_does_not_lose_the_channel_notice_of_a_renewal(bot, engine):
    _program(bot, engine)
    _log(bot, EXECUTED_QA)
    bot.slack.wait_for("chat.postMessage", lambda c: "logged" in c.args.get("text", ""))
    bot.slack.inject("chat.postMessage", {"status": 503}, {"status": 503})  # the post and its one retry
    reply = bot.ask("agreement renew QA-1 2029-06-01", user="UPM1", channel=CHANNEL)
    assert "Renewed QA-1" in reply
    bot.slack.wait_for("chat.postMessage", lambda c: c.args["channel"] == "UPM1" and "will post it" in
                       c.args.get("text", ""))
    assert bot.posts(CHANNEL, lambda c: c.status == 200 and "renewal" in c.args.get("text", "")) == []
    lines = [line for line in bot.tick(NOW + timedelta(minutes=5)) if ":renewed:" in line]
    assert len(lines) == 1 and lines[0].startswith("sent")
    assert len(bot.posts(CHANNEL, lambda c: c.status == 200 and "recorded the renewal" in c.args.get("text", ""))) == 1
