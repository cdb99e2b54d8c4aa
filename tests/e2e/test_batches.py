"""Batch record review end to end: real `cmo-bot serve` and `tick`, signed requests, the Slack emulator."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, date, datetime
from pathlib import PurePosixPath

import icalendar
from sqlmodel import select

from store.agreements import service as agreements
from store.audit import AuditEntry
from store.batches import service as batches
from store.batches import settings as batch_settings
from store.db import transaction
from store.programs import Role
from tests import factories
from tests.e2e.harness import BOTH_TRANSPORTS, both_stores

CHANNEL = "CACME001"
MON_23 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Monday 23 Nov 2026, 10:00 in New York
MEMBERS = {Role.program_manager: ["UPM1"], Role.customer_approver: ["UAPP1", "UAPP2"], Role.cmo_quality: ["UQA1"]}


def _agreement(session, program, kind: agreements.Kind, effective: date, expires: date) -> None:
    agreements.create(session, program=program, actor=factories.ADMIN, now=MON_23, kind=kind,
                      counterparty="Acme Pharma", status=agreements.Status.executed,
                      terms=agreements.Terms(effective_on=effective, expires_on=expires))


def _program(bot, engine, qa_expires: date = date(2028, 12, 31), nda: bool = True, **settings) -> int:
    """ACME-001 with its channel, a US holiday calendar, and an executed NDA and quality agreement; it signs
    with initials (as programs that existed before authenticator signing do) unless `signing` says otherwise."""
    settings.setdefault("signing", "initials")
    bot.clock.set(MON_23)
    with transaction(engine) as session:
        program = factories.program(session, MON_23, channel=CHANNEL, holiday_calendar="US", members=MEMBERS)
        if nda:
            _agreement(session, program, agreements.Kind.nda, date(2025, 1, 1), date(2028, 12, 31))
        _agreement(session, program, agreements.Kind.quality, date(2024, 11, 20), qa_expires)
        if settings:
            batch_settings.configure(session, program, actor=factories.ADMIN, now=MON_23, **settings)
        program_id = program.id
    bot.slack.add_channel(CHANNEL, "acme-001", members=["UPM1", "UAPP1", "UAPP2", "UQA1"])
    return program_id


def _ready(bot, extra: str = "") -> dict[str, str]:
    """Mark B-1042 ready; returns each approver's DM channel."""
    reply = bot.ask(f"batch ready B-1042 --product 'Acmezol 10 mg' {extra}", user="UPM1", channel=CHANNEL)
    assert "B-1042 is ready for review" in reply, reply
    dms = bot.slack.wait_for("chat.postMessage", lambda c: c.args["channel"] in ("UAPP1", "UAPP2"), count=2)
    _published(bot, 2)
    return {c.args["channel"]: c.response["channel"] for c in dms}


def _published(bot, count: int) -> None:
    """Work after an ack ends by republishing the approvers' App Home: wait for it, so that nothing of this
    test reaches the emulator after the next test has reset it."""
    bot.slack.wait_for("views.publish", count=count, timeout=10)


def _buttons(message: dict) -> list[str]:
    return [e["action_id"] for b in message.get("blocks", []) if b["type"] == "actions" for e in b["elements"]]


def _ephemeral(bot, response) -> str:
    """The ephemeral answer to a click (to its response_url)."""
    return bot.reply(response)["text"]


@BOTH_TRANSPORTS
def test_ready_dm_buttons_approve_with_confirmation_and_messages_updated_in_place(bot, engine):
    _program(bot, engine)
    dms = _ready(bot, "--release-by 2026-12-04")
    [post] = bot.posts(CHANNEL)
    assert "B-1042" in post.args["text"] and _buttons(post.args) == []
    assert bot.posts("UPM1") == [] and bot.posts("UQA1") == []  # covered by agreements: no gate warning
    dm = bot.posts("UAPP1")[0].args
    assert _buttons(dm) == ["batch_approve", "batch_hold", "batch_reject", "batch_call"]
    assert "Acmezol 10 mg" in str(dm["blocks"]) and "Fri 4 Dec 2026" in str(dm["blocks"])

    bot.send.block_action("UAPP1", "batch_approve", channel_id=dms["UAPP1"])
    modal = bot.slack.wait_for("views.open")[0].args["view"]
    assert "I approve the executed batch record B-1042 of Acmezol 10 mg for release." in str(modal["blocks"])
    wrong = bot.submit("UAPP1", {"initials": "ZZ"}).json()
    assert wrong["response_action"] == "errors" and "initials" in wrong["errors"]
    assert bot.slack.calls("chat.update") == []
    assert bot.submit("UAPP1", {"initials": "a.a.", "comment": "All good"}).text == ""

    updates = bot.slack.wait_for("chat.update", count=3)
    assert {u.args["channel"] for u in updates} == {CHANNEL, dms["UAPP1"], dms["UAPP2"]}
    channel_now = bot.slack.messages(CHANNEL)[0]
    assert channel_now["ts"] == post.response["ts"] and "Approved* by Alice Approver" in str(channel_now["blocks"])
    for user, channel in dms.items():
        [message] = bot.slack.messages(channel)[:1]
        assert _buttons(message) == [], user  # old buttons are gone everywhere
    receipt = bot.slack.wait_for("chat.postMessage", lambda c: "Signed by" in c.args.get("text", ""))[0].args
    assert receipt["channel"] == "UAPP1" and "2026-11-23 15:00:00 UTC" in receipt["text"]
    assert "10:00:00-05:00 America/New_York" in receipt["text"]

    with transaction(engine) as session:
        [signature] = session.exec(select(batches.BatchSignature)).all()
        assert (signature.signer_name, signature.user_id, signature.comment) == ("Alice Approver", "UAPP1", "All good")
        assert signature.meaning.startswith("I approve the executed batch record B-1042")

    # a stale button (the DM as it looked before) and a second approval are refused politely
    old = {**dm, "channel": dms["UAPP2"], "ts": bot.posts("UAPP2")[0].response["ts"]}
    clicked = bot.send.block_action("UAPP2", "batch_approve", message=old, channel_id=dms["UAPP2"])
    assert "already approved by Alice Approver" in _ephemeral(bot, clicked)
    assert "already approved" in bot.ask("batch approve B-1042", user="UAPP2", channel=CHANNEL)
    assert len(bot.slack.calls("views.open")) == 1

    log = bot.ask("batch log", user="UQA1", channel=CHANNEL)
    assert "B-1042" in log and "approved" in log and "Alice Approver" in log
    history = bot.ask("batch status B-1042", user="UAPP2", channel=CHANNEL)
    assert "made available for review" in history and "signed by Alice Approver — I approve" in history
    _published(bot, 4)


def test_non_approvers_are_refused_and_the_attempt_audited(bot, engine):
    _program(bot, engine)
    dms = _ready(bot)
    assert "Only the customer approvers of ACME-001" in bot.ask("batch approve B-1042", user="UPM1",
                                                                channel=CHANNEL)
    assert "Only the customer approvers" in bot.ask("batch reject B-1042 no reason", user="UADMIN",
                                                    channel=CHANNEL)
    assert "no program here" in bot.ask("batch approve B-1042", user="UOUT", channel=CHANNEL)
    # a button forwarded to someone else is re-checked against who clicks it
    stolen = {**bot.posts("UAPP1")[0].args, "ts": bot.posts("UAPP1")[0].response["ts"]}
    clicked = bot.send.block_action("UQA1", "batch_approve", message=stolen, channel_id=dms["UAPP1"])
    assert "Only the customer approvers" in _ephemeral(bot, clicked)
    assert bot.slack.calls("views.open") == []
    with transaction(engine) as session:
        refused = session.exec(select(AuditEntry).where(AuditEntry.action == "decision_refused")).all()
        assert sorted(e.actor_id for e in refused) == ["UADMIN", "UPM1", "UQA1"]  # UOUT has no role: no row
        assert session.exec(select(batches.Batch)).one().status == "awaiting"


def test_hold_with_reason_tells_managers_then_back_to_review(bot, engine):
    _program(bot, engine)
    dms = _ready(bot)
    bot.send.block_action("UAPP2", "batch_hold", channel_id=dms["UAPP2"])
    bot.slack.wait_for("views.open")
    empty = bot.submit("UAPP2", {"reason": " "}).json()
    assert empty["response_action"] == "errors" and "reason" in empty["errors"]
    assert bot.submit("UAPP2", {"reason": "Deviation <!channel> DV-17 not closed"}).text == ""
    told = bot.slack.wait_for("chat.postMessage", lambda c: c.args["channel"] == "UPM1")[0].args["text"]
    assert "put on hold" in told and "DV-17" in told and "<!channel>" not in told
    bot.slack.wait_for("chat.update", count=3)
    assert "On hold* by bob" in str(bot.slack.messages(CHANNEL)[0]["blocks"])
    assert all(_buttons(bot.slack.messages(ch)[0]) == [] for ch in dms.values())
    assert "on hold" in bot.ask("batch approve B-1042", user="UAPP1", channel=CHANNEL)

    refused = bot.ask("batch resume B-1042", user="UAPP1", channel=CHANNEL)
    assert "only program managers or cmo quality" in refused.lower()
    assert "back in review (round 2)" in bot.ask("batch resume B-1042 DV-17 closed", user="UQA1", channel=CHANNEL)
    fresh = bot.slack.wait_for("chat.postMessage", lambda c: c.args["channel"] == "UAPP1", count=2)[-1].args
    assert _buttons(fresh) == ["batch_approve", "batch_hold", "batch_reject", "batch_call"]
    assert "rejected" in bot.ask("batch reject B-1042 OOS assay result", user="UAPP1", channel=CHANNEL)
    assert "was *rejected*" in bot.slack.wait_for(
        "chat.postMessage", lambda c: c.args["channel"] == "UPM1", count=2)[-1].args["text"]
    _published(bot, 8)


def test_reject_from_the_dm_button_through_its_modal(bot, engine):
    _program(bot, engine)
    dms = _ready(bot)
    bot.send.block_action("UAPP1", "batch_reject", channel_id=dms["UAPP1"])
    modal = bot.slack.wait_for("views.open")[0]
    assert modal.response["ok"] and modal.args["view"]["callback_id"] == "batch_reject_view"
    assert bot.submit("UAPP1", {"reason": "OOS assay result"}).text == ""
    assert "was *rejected*" in bot.slack.wait_for(
        "chat.postMessage", lambda c: c.args["channel"] == "UPM1")[-1].args["text"]
    _published(bot, 4)


def _sent(lines: list[str]) -> list[str]:
    """`sent <key> → <target>` lines about batches, as `<key> <target>`."""
    return sorted(f"{w[1]} {w[3]}" for w in map(str.split, lines) if w[0] == "sent" and w[1].startswith("batch:"))


def test_reminder_and_escalation_across_a_weekend_and_thanksgiving(bot, engine):
    _program(bot, engine)
    _ready(bot, "--release-by 2026-12-04")
    with transaction(engine) as session:
        batch_id = session.exec(select(batches.Batch.id)).one()
    key = f"batch:{batch_id}"
    assert _sent(bot.tick(datetime(2026, 11, 25, 15, tzinfo=UTC))) == []  # Wed: 2 business days
    assert _sent(bot.tick(datetime(2026, 11, 26, 15, tzinfo=UTC))) == []  # Thanksgiving
    # Fri 27 Nov, 09:30 New York: the 3rd business day → the reminder to both approvers, with buttons
    assert _sent(bot.tick(datetime(2026, 11, 27, 14, 30, tzinfo=UTC))) == [f"{key}:r1:reminder UAPP1",
                                                                           f"{key}:r1:reminder UAPP2"]
    reminder = bot.posts("UAPP1")[-1]
    assert "Reminder" in reminder.args["text"] and _buttons(reminder.args)[0] == "batch_approve"
    assert _sent(bot.tick(datetime(2026, 11, 28, 15, tzinfo=UTC))) == []  # Saturday
    assert _sent(bot.tick(datetime(2026, 11, 30, 15, tzinfo=UTC))) == []  # Monday: 4th business day
    # Tue 1 Dec: the 5th business day is still within the SLA of 5 business days
    assert _sent(bot.tick(datetime(2026, 12, 1, 14, 30, tzinfo=UTC))) == []
    # Wed 2 Dec: the 6th business day → past the SLA: the escalation; and 2 business days before the release-by
    # date → a warning, both to the manager, once
    assert sorted(_sent(bot.tick(datetime(2026, 12, 2, 14, 30, tzinfo=UTC)))) == [f"{key}:r1:sla UPM1",
                                                                                   f"{key}:release-by UPM1"]
    said = [c.args["text"] for c in bot.posts("UPM1")[-2:]]
    assert any("passed its SLA of 5 business days" in t and "6 business days" in t for t in said)
    assert any("must be released by Fri 4 Dec 2026" in t for t in said)
    assert _sent(bot.tick(datetime(2026, 12, 2, 20, tzinfo=UTC))) == []
    assert "B-1042" in bot.ask("program status", user="UPM1", channel=CHANNEL)
    # a decision turns the reminder's buttons into the current state too
    bot.ask("batch hold B-1042 Missing page 12", user="UAPP2", channel=CHANNEL)
    bot.slack.wait_for("chat.update", lambda c: c.args["ts"] == reminder.response["ts"])
    [updated] = [m for m in bot.slack.messages(reminder.response["channel"]) if m["ts"] == reminder.response["ts"]]
    assert _buttons(updated) == [] and "Missing page 12" in str(updated["blocks"])
    _published(bot, 4)


def test_review_call_ics_parses_back_to_local_time_across_dst(bot, engine):
    _program(bot, engine)
    dms = _ready(bot)
    # 16 Mar 2027: New York is already on daylight time (from 14 Mar), Europe not yet
    reply = bot.ask("batch call B-1042 2027-03-16 14:00 --minutes 45", user="UAPP1", channel=CHANNEL)
    assert "Tue 16 Mar 2027 14:00 EDT" in reply
    [upload] = bot.slack.uploaded_files()
    assert upload["channel"] == CHANNEL and upload["name"].endswith(".ics")
    calendar = icalendar.Calendar.from_ical(upload["bytes"])
    [event] = calendar.walk("VEVENT")
    start, end = event.decoded("dtstart"), event.decoded("dtend")
    assert (start.hour, start.minute, str(start.tzinfo)) == (14, 0, "America/New_York")
    assert start.astimezone(UTC) == datetime(2027, 3, 16, 18, 0, tzinfo=UTC)
    assert (end - start).total_seconds() == 45 * 60 and "B-1042" in str(event["summary"])
    assert calendar.walk("VTIMEZONE"), "the invitation carries its time zone definition"
    # the same through the button and its modal, at a winter date (EST)
    bot.send.block_action("UAPP2", "batch_call", channel_id=dms["UAPP2"])
    bot.slack.wait_for("views.open")
    assert bot.submit("UAPP2", {"date": "2026-12-03", "time": "09:30", "minutes": "30"}).text == ""
    second = bot.slack.wait_for("files.completeUploadExternal", count=2) and bot.slack.uploaded_files()[-1]
    start = icalendar.Calendar.from_ical(second["bytes"]).walk("VEVENT")[0].decoded("dtstart")
    assert start.astimezone(UTC) == datetime(2026, 12, 3, 14, 30, tzinfo=UTC)
    # the morning of the call: a reminder to the participants
    lines = bot.tick(datetime(2026, 12, 3, 14, 5, tzinfo=UTC))
    called = [line for line in lines if ":call:" in line]
    assert sorted(line.split()[-1] for line in called) == ["UAPP1", "UAPP2", "UPM1", "UQA1"]
    assert "Today: review call" in bot.posts("UQA1")[-1].args["text"]


def test_concurrent_approvals_yield_one_decision(bot, engine):
    _program(bot, engine)
    dms = _ready(bot)
    for user in ("UAPP1", "UAPP2"):
        bot.send.block_action(user, "batch_approve", channel_id=dms[user])
    bot.slack.wait_for("views.open", count=2)
    barrier = threading.Barrier(2)
    answers: dict[str, dict] = {}

    def sign(user: str, initials: str) -> None:
        barrier.wait()
        response = bot.send.submit_last_view(user, {"initials": initials})
        answers[user] = response.json() if response.text else {}

    threads = [threading.Thread(target=sign, args=a) for a in (("UAPP1", "AA"), ("UAPP2", "BA"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    refused = [a for a in answers.values() if a.get("response_action") == "errors"]
    assert len(answers) == 2 and len(refused) == 1
    assert "already approved" in refused[0]["errors"]["initials"]
    with transaction(engine) as session:
        assert len(session.exec(select(batches.BatchSignature)).all()) == 1
        assert len(session.exec(select(AuditEntry).where(AuditEntry.action == "approved")).all()) == 1
    _published(bot, 4)


def test_all_approvers_mode_and_stats(bot, engine):
    _program(bot, engine, approvals="all", sla_business_days=2)
    dms = _ready(bot)
    bot.send.block_action("UAPP1", "batch_approve", channel_id=dms["UAPP1"])
    bot.slack.wait_for("views.open")
    bot.submit("UAPP1", {"initials": "AA"})
    receipt = bot.slack.wait_for("chat.postMessage", lambda c: "Signed by" in c.args.get("text", ""))[0].args
    assert "Still to sign: <@UAPP2>" in receipt["text"]
    bot.slack.wait_for("chat.update", count=3)
    assert _buttons(bot.slack.messages(dms["UAPP1"])[0]) == [] and _buttons(bot.slack.messages(dms["UAPP2"])[0])
    _published(bot, 4)  # the clock file is rewritten next: let the first signature's work finish reading it
    bot.clock.set(datetime(2026, 11, 30, 15, tzinfo=UTC))  # 4 business days later (Thanksgiving skipped)
    bot.send.block_action("UAPP2", "batch_approve", channel_id=dms["UAPP2"])
    bot.slack.wait_for("views.open", count=2)
    bot.submit("UAPP2", {"initials": "BA"})
    bot.slack.wait_for("chat.postMessage", lambda c: "The batch is *approved*" in c.args.get("text", ""))
    stats = bot.ask("batch stats --days 30", user="UPM1", channel=CHANNEL)
    assert "ACME-001" in stats and " 4 " in stats  # reviewed 1, median 4 days, 1 breach, 2 days lost
    assert "Only admins" in bot.ask("batch stats --all", user="UPM1", channel=CHANNEL)
    assert "All programs" in bot.ask("batch stats --all", user="UADMIN", channel=CHANNEL)
    with transaction(engine) as session:
        batch = session.exec(select(batches.Batch)).one()
        assert batch.status == "approved" and batch.decided_on == date(2026, 11, 30)
    _published(bot, 6)


@both_stores
def test_new_batch_through_the_modal_files_the_record_with_its_checksum(bot, engine):
    _program(bot, engine)
    content = b"%PDF-1.4 executed batch record B-7"
    bot.slack.add_file("FREC1", "B-7 executed: record.pdf", content, mimetype="application/pdf")
    assert "only program managers or cmo quality" in bot.ask("batch new", user="UAPP1", channel=CHANNEL).lower()
    bot.command("batch new", user="UQA1", channel=CHANNEL)
    bot.slack.wait_for("views.open")
    bad = bot.submit("UQA1", {"batch_no": "no spaces please"}).json()
    assert bad["response_action"] == "errors" and "batch_no" in bad["errors"]
    assert bot.submit("UQA1", {"batch_no": "b-7", "product": "Acmezol 5 mg", "release_by": "2026-12-10",
                               "record": ["FREC1"]}).text == ""
    bot.slack.wait_for("chat.postMessage", lambda c: c.args["channel"] in ("UAPP1", "UAPP2"), count=2)
    with transaction(engine) as session:
        batch = session.exec(select(batches.Batch)).one()
        assert (batch.batch_no, batch.product, batch.release_by) == ("B-7", "Acmezol 5 mg", date(2026, 12, 10))
        assert batch.record_sha256 == hashlib.sha256(content).hexdigest()
        filed = PurePosixPath(batch.record_path)
        assert bot.files.get(batch.record_path) == content and filed.parent.name == "B-7" and ":" not in filed.name
        actions = [e.action for e in session.exec(select(AuditEntry).where(AuditEntry.entity == "batch")
                                                  .order_by(AuditEntry.seq))]  # type: ignore[arg-type]
        assert actions == ["ready", "record_filed"]
    assert batch.record_sha256[:12] in str(bot.posts(CHANNEL)[0].args["blocks"])
    _published(bot, 2)


def test_app_home_lists_what_awaits_the_approver_with_working_buttons(bot, engine):
    _program(bot, engine)
    _ready(bot)
    published = bot.slack.wait_for("views.publish", lambda c: c.args["user_id"] == "UAPP2")[-1].args["view"]
    assert "B-1042" in str(published["blocks"]) and "review due Tue 1 Dec 2026" in str(published["blocks"])
    assert "batch_approve" in _buttons({"blocks": published["blocks"]})
    bot.send.block_action("UAPP2", "batch_approve", view=bot.slack.home_view("UAPP2"))
    bot.slack.wait_for("views.open")
    assert bot.submit("UAPP2", {"initials": "BA"}).text == ""
    bot.slack.wait_for("views.publish", lambda c: c.args["user_id"] == "UAPP1"
                       and "Nothing waits for you" in str(c.args["view"]["blocks"]))
    assert "batch record in review" not in str(bot.slack.home_view("UAPP1")["blocks"])
    _published(bot, 4)


def test_gate_warns_managers_and_quality_when_the_quality_agreement_has_expired(bot, engine):
    _program(bot, engine, qa_expires=date(2026, 11, 20))
    dms = _ready(bot)
    for user in ("UPM1", "UQA1"):
        warning = bot.slack.wait_for("chat.postMessage", lambda c, u=user: c.args["channel"] == u)[0].args["text"]
        assert "Quality agreement gate" in warning and "B-1042" in warning and "marked ready" in warning
        assert "expired on Fri 20 Nov 2026" in warning
    assert not bot.posts("UAPP1", lambda c: "gate" in c.args["text"])  # the customer is not told
    bot.send.block_action("UAPP1", "batch_approve", channel_id=dms["UAPP1"])
    bot.slack.wait_for("views.open")
    bot.submit("UAPP1", {"initials": "AA"})
    bot.slack.wait_for("chat.postMessage", lambda c: c.args["channel"] == "UPM1"
                       and "was approved with no Quality Agreement" in c.args["text"])
    with transaction(engine) as session:
        warnings = session.exec(select(AuditEntry).where(AuditEntry.action == "gate_warning")
                                .order_by(AuditEntry.seq)).all()
    assert [w.after["stage"] for w in warnings] == ["ready", "approval"]
    assert "expired on Fri 20 Nov 2026" in warnings[0].after["gaps"][0]
    assert "gate warning (ready)" in bot.ask("batch status B-1042", user="UPM1", channel=CHANNEL)
    _published(bot, 4)


def test_a_missing_nda_is_its_own_point_never_a_quality_agreement_warning(bot, engine):
    _program(bot, engine, nda=False)  # the Quality Agreement is in force; there is no Mutual NDA
    _ready(bot)
    status = bot.ask("program status", user="UPM1", channel=CHANNEL)
    assert "Mutual NDA not in force*: no current executed Mutual NDA." in status
    assert "gate not met" not in status
    assert bot.posts("UPM1") == [] and bot.posts("UQA1") == []  # no gate warning to managers or quality
    with transaction(engine) as session:
        assert not session.exec(select(AuditEntry).where(AuditEntry.action == "gate_warning")).all()
