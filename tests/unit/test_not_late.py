"""One rule for every area: a reminder whose day passed before its record existed was never owed on that
day. It goes out once, on the day the record came to be, worded for that day, and is not marked late.
Expected dates are counted by hand on the US calendar (Veterans Day, Wed 11 Nov 2026, is a holiday)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from scheduler.sweep import collect, sweep
from store import digest
from store.audit import Actor
from store.batches import rules as batches_rules
from store.batches import service as batches
from store.programs import Role
from store.submissions import rules as submission_rules
from store.submissions import service as subs
from tests import factories

PM = Actor("UPM1", "Pat Manager")
MON_2 = datetime(2026, 11, 2, 15, tzinfo=UTC)  # 10:00 in New York, after the 09:00 send time


def _rows(session, now, rule, key_part):
    return [r for r in collect(session, now, [rule]) if key_part in r["key"]]


def test_submission_item_due_in_8_business_days_is_reminded_now_not_late(session):
    program = factories.program(session, MON_2, holiday_calendar="US")
    submission = subs.create(session, program=program, actor=PM, now=MON_2, kind=subs.SubmissionType.other,
                             title="Acme DMF", filing_date=date(2027, 1, 15))
    # Mon 2 Nov + 8 business days: 3, 4, 5, 6, 9, 10, (11 Veterans Day), 12, 13 → due Fri 13 Nov
    subs.add_item(session, submission=submission, actor=PM, now=MON_2, section="Quality", document="Annual report",
                  owner="UQA1", due_on=date(2026, 11, 13))
    rows = _rows(session, MON_2, submission_rules.due, "remind")
    reminder = next(r for r in rows if r["text"].count("Annual report"))
    assert reminder["key"].endswith(":remind:14bd")  # the 14-day stage's day passed before the item existed
    assert reminder["due_on"] == date(2026, 11, 2)  # so it is due today, once
    assert "in 8 business days" in reminder["text"] and "14 business days" not in reminder["text"]


def test_batch_released_tomorrow_warns_today_not_late(session):
    members = {Role.program_manager: ["UPM1"], Role.customer_approver: ["UAPP1"]}
    program = factories.program(session, MON_2, holiday_calendar="US", members=members)
    monday = datetime(2026, 11, 23, 15, tzinfo=UTC)
    batches.ready(session, program, batch_no="B-7", actor=PM, now=monday, release_by=date(2026, 11, 24))
    # release by Tue 24 − 2 business days = Thu 19 Nov, before the batch existed (Mon 23)
    warning = _rows(session, monday, batches_rules.due, "release-by")[0]
    assert warning["due_on"] == date(2026, 11, 23)
    assert "(1 business day left)" in warning["text"]


def test_first_digest_of_a_program_created_midweek_goes_out_the_day_it_is_created(session):
    wednesday = datetime(2026, 11, 4, 15, tzinfo=UTC)
    factories.program(session, wednesday)
    first = _rows(session, wednesday, digest.due, "digest")[0]
    assert first["key"].endswith(":digest:2026-11-02") and first["due_on"] == date(2026, 11, 4)


def test_delivery_does_not_mark_such_a_reminder_late(engine):
    """Through the real delivery against the emulator: the new program's first digest is sent, not late."""
    from bot.emulator.server import SlackEmulator
    from bot.settings import load_settings
    from bot.slack import web_client
    from scheduler.delivery import deliver
    from store.db import transaction

    wednesday = datetime(2026, 11, 4, 15, tzinfo=UTC)
    with transaction(engine) as session:
        factories.program(session, wednesday)
        sweep(session, wednesday, [digest.due])
    with SlackEmulator() as slack:
        slack.add_channel("CACME001", "acme-001")
        client = web_client(load_settings(slack_bot_token="xoxb-test", slack_api_url=slack.url))
        outcomes = deliver(engine, client, wednesday)
        posted = slack.calls("chat.postMessage")
    assert [(o.result, o.late) for o in outcomes] == [("sent", False)]
    assert "ACME-001 status" in posted[0].args["text"] and "Late:" not in posted[0].args["text"]
