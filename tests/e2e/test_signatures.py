"""Electronic signatures end to end: enrollment of an authenticator app, batch approval signed with its code
(computed with pyotp at the bot's injected clock), wrong and replayed codes, lockout and reset, the dialog
bound to its review round, segregation of duties, signature/record linking checked by `audit verify`."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyotp
from sqlmodel import select

from store import programs, signing
from store.agreements import service as agreements
from store.audit import AuditEntry
from store.batches import service as batches
from store.db import transaction
from store.filing import file_document
from store.programs import Role
from store.submissions import service as subs
from store.submissions import signatures as document_signatures
from tests import factories
from tests.e2e.harness import cmo_bot

CHANNEL = "CACME001"
MON_23 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Monday 23 Nov 2026, 10:00 in New York
MEMBERS = {Role.program_manager: ["UPM1"], Role.customer_approver: ["UAPP1", "UAPP2"], Role.cmo_quality: ["UQA1"]}


def _program(bot, engine, record: bytes | None = None) -> None:
    """ACME-001, created now (so it signs with `totp`, the default), covered by its quality agreement, with
    B-1042 made ready by the program manager (and its executed batch record filed when `record` is given)."""
    bot.clock.set(MON_23)
    with transaction(engine) as session:
        program = factories.program(session, MON_23, channel=CHANNEL, members=MEMBERS)
        for kind in (agreements.Kind.nda, agreements.Kind.quality):
            agreements.create(session, program=program, actor=factories.ADMIN, now=MON_23, kind=kind,
                              counterparty="Acme Pharma", status=agreements.Status.executed,
                              terms=agreements.Terms(effective_on=date(2025, 1, 1), expires_on=date(2028, 12, 31)))
    bot.slack.add_channel(CHANNEL, "acme-001", members=["UPM1", "UAPP1", "UAPP2", "UQA1"])
    assert "ready for review" in bot.ask("batch ready B-1042 --product 'Acmezol 10 mg'", user="UPM1",
                                         channel=CHANNEL)
    bot.slack.wait_for("views.publish", count=2, timeout=10)
    if record is not None:
        with transaction(engine) as session:
            program = programs.by_code(session, "ACME-001")
            batch = batches.get(session, program, "B-1042")
            filed = file_document(bot.files, program.code, "batches", batch.batch_no,
                                  name="B-1042-executed.pdf", content=record)
            batches.attach_record(session, program, batch, filed=filed, name="B-1042-executed.pdf",
                                  actor=factories.ADMIN, now=MON_23)


def _code(secret: str, when: datetime) -> str:
    return pyotp.TOTP(secret).at(when)


def _qr_update(bot, user: str) -> dict:
    """`/cmo signing enroll`, then the form as updated with its QR code — this form's (it shows the same
    secret), never a late update from an earlier test."""
    kind, opened = bot.answer(bot.command("signing enroll", user=user))
    assert kind == "view"
    spaced = re.search(r"Secret:\* `([A-Z2-7 ]+)`", str(opened["blocks"])).group(1)
    return bot.slack.wait_for("views.update", lambda c: c.args["view"]["callback_id"] == "signing_enroll"
                              and spaced in str(c.args["view"]["blocks"]))[0].args["view"]


def _enroll(bot, user: str) -> str:
    """Enroll `user` through `/cmo signing enroll`; returns the secret the form showed."""
    update = _qr_update(bot, user)
    secret = re.search(r"Secret:\* `([A-Z2-7 ]+)`", str(update["blocks"])).group(1).replace(" ", "")
    assert bot.submit(user, {"code": _code(secret, bot.clock.now())}).text == ""
    bot.slack.wait_for("chat.postMessage", lambda c: c.args["channel"] == user and "is set up" in c.args["text"])
    bot.clock.set(bot.clock.now() + timedelta(seconds=30))  # the enrollment code is spent; the next one signs
    return secret


def _open_approval(bot, user: str = "UAPP1") -> dict:
    opened = len(bot.slack.calls("views.open"))
    dm = bot.posts(user, lambda c: "B-1042" in c.args.get("text", ""))[0].response["channel"]
    bot.send.block_action(user, "batch_approve", channel_id=dm)
    return bot.slack.wait_for("views.open", count=opened + 1)[-1].args["view"]


def _signatures(engine) -> list[batches.BatchSignature]:
    with transaction(engine) as session:
        return list(session.exec(select(batches.BatchSignature)))


def _actions(engine, entity: str = "signing") -> list[str]:
    with transaction(engine) as session:
        return [e.action for e in session.exec(select(AuditEntry).where(AuditEntry.entity == entity)
                                               .order_by(AuditEntry.seq))]


def test_enrollment_shows_secret_and_qr_and_keeps_it_only_when_confirmed(bot, engine):
    assert "no role on any program" in bot.ask("signing enroll", user="UAPP1")  # nothing to sign yet
    with transaction(engine) as session:
        factories.program(session, MON_23, channel=CHANNEL, members=MEMBERS)
    assert "not enrolled" in bot.ask("signing status", user="UAPP1")
    update = _qr_update(bot, "UAPP1")
    [image] = [b for b in update["blocks"] if b["type"] == "image"]
    [upload] = [f for f in bot.slack.uploaded_files() if f["id"] == image["slack_file"]["id"]]
    assert upload["name"].endswith(".png")
    secret = re.search(r"Secret:\* `([A-Z2-7 ]+)`", str(update["blocks"])).group(1).replace(" ", "")
    assert secret not in str(bot.process.output)  # never logged

    wrong = bot.submit("UAPP1", {"code": "000000" if _code(secret, MON_23) != "000000" else "111111"}).json()
    assert wrong["response_action"] == "errors" and "code" in wrong["errors"]
    assert "not enrolled" in bot.ask("signing status", user="UAPP1")  # nothing kept
    assert bot.slack.calls("files.delete") == []  # the form is still open after a wrong code
    assert bot.submit("UAPP1", {"code": _code(secret, bot.clock.now())}).text == ""
    # the QR code encodes the secret: it is deleted once the form is done with
    bot.slack.wait_for("files.delete", lambda c: c.args.get("file") == image["slack_file"]["id"])
    assert "You are enrolled" in bot.ask("signing status", user="UAPP1")
    with transaction(engine) as session:
        stored = signing.key_of(session, "UAPP1").secret
    assert secret not in stored  # encrypted at rest
    assert _actions(engine) == ["enrolled"]


def test_closing_the_enrollment_form_deletes_its_qr_code(bot, engine):
    with transaction(engine) as session:
        factories.program(session, MON_23, channel=CHANNEL, members=MEMBERS)
    update = _qr_update(bot, "UAPP1")
    [image] = [b for b in update["blocks"] if b["type"] == "image"]
    assert update.get("notify_on_close") is True
    bot.send.view_closed("UAPP1", bot.slack.last_view("UAPP1"))
    bot.slack.wait_for("files.delete", lambda c: c.args.get("file") == image["slack_file"]["id"])
    assert "not enrolled" in bot.ask("signing status", user="UAPP1")


def test_app_home_offers_enrollment(bot, engine):
    _program(bot, engine)
    home = bot.slack.home_view("UAPP1")
    assert "signing_enroll_open" in str(home["blocks"])
    bot.send.block_action("UAPP1", "signing_enroll_open", view=home)
    assert bot.slack.wait_for("views.open")[-1].args["view"]["callback_id"] == "signing_enroll"


def test_approval_signed_with_code_wrong_and_replayed_codes_refused(bot, engine):
    _program(bot, engine)
    secret = _enroll(bot, "UAPP1")
    spent = _code(secret, bot.clock.now() - timedelta(seconds=30))  # the code that confirmed the enrollment
    modal = _open_approval(bot)
    assert [b["block_id"] for b in modal["blocks"] if b["type"] == "input"] == ["code", "comment"]
    assert "Signing as *Alice Approver*" in str(modal["blocks"])

    now = bot.clock.now()
    wrong = "000000" if _code(secret, now) != "000000" else "111111"
    refused = bot.submit("UAPP1", {"code": wrong}).json()
    assert refused["response_action"] == "errors" and "not right" in refused["errors"]["code"]
    replayed = bot.submit("UAPP1", {"code": spent}).json()
    assert "already used" in replayed["errors"]["code"]
    assert _signatures(engine) == [] and bot.slack.calls("chat.update") == []
    assert _actions(engine) == ["enrolled", "code_refused", "code_replayed"]

    users_info = len(bot.slack.calls("users.info"))
    assert bot.submit("UAPP1", {"code": _code(secret, now), "comment": "Reviewed"}).text == ""
    receipt = bot.slack.wait_for("chat.postMessage", lambda c: "Signed by" in c.args.get("text", ""))[0].args
    assert "Signed by *Alice Approver*" in receipt["text"] and "America/New_York" in receipt["text"]
    [signature] = _signatures(engine)
    assert (signature.signer_name, signature.second_component) == ("Alice Approver", "totp")
    assert signature.linked_sha256 and len(signature.linked_sha256) == 64
    assert len(bot.slack.calls("users.info")) == users_info  # the submission called no Slack API before its ack
    channel_post = bot.slack.messages(CHANNEL)[0]
    assert "Approved* by Alice Approver" in str(channel_post["blocks"])
    history = bot.ask("batch status B-1042", user="UQA1", channel=CHANNEL)
    assert "signed by Alice Approver — I approve the executed batch record B-1042" in history
    assert "authenticator code entered" in history
    bot.slack.wait_for("views.publish", count=4, timeout=10)


def test_five_wrong_codes_lock_signing_tell_admins_and_quality_until_reset(bot, engine):
    _program(bot, engine)
    _open_approval(bot, "UAPP2")  # someone not enrolled is told how to enroll, not left at a dead end
    assert "`/cmo signing enroll`" in bot.submit("UAPP2", {"code": "123456"}).json()["errors"]["code"]
    secret = _enroll(bot, "UAPP1")
    _open_approval(bot)
    wrong = "000000" if _code(secret, bot.clock.now()) != "000000" else "111111"
    errors = [bot.submit("UAPP1", {"code": wrong}).json()["errors"]["code"] for _ in range(5)]
    assert ["wrong codes in a row" in e for e in errors] == [False] * 4 + [True] and "1 more try" in errors[3]
    for person in ("UADMIN", "UQA1"):
        warning = bot.slack.wait_for("chat.postMessage", lambda c, p=person: c.args["channel"] == p
                                     and "locked" in c.args.get("text", ""))[0].args["text"]
        assert "<@UAPP1>" in warning and "ACME-001" in warning
    assert _actions(engine) == ["enrolled"] + ["code_refused"] * 5 + ["locked"]
    right = bot.submit("UAPP1", {"code": _code(secret, bot.clock.now())}).json()
    assert "locked" in right["errors"]["code"] and _signatures(engine) == []
    assert "locked" in bot.ask("signing status", user="UAPP1")

    assert "Only admins" in bot.ask("signing reset <@UAPP1|alice>", user="UPM1")
    assert "must enroll again" in bot.ask("signing reset <@UAPP1|alice>", user="UADMIN")
    bot.slack.wait_for("chat.postMessage", lambda c: c.args["channel"] == "UAPP1" and "reset your signing"
                       in c.args.get("text", ""))
    assert "not enrolled" in bot.ask("signing status", user="UAPP1")
    assert _actions(engine)[-1] == "reset"


def test_dialog_opened_before_hold_and_resume_does_not_sign_round_two(bot, engine):
    _program(bot, engine)
    secret = _enroll(bot, "UAPP1")
    stale = _open_approval(bot)
    assert "on hold" in bot.ask("batch hold B-1042 Page 12 missing", user="UAPP2", channel=CHANNEL)
    assert "round 2" in bot.ask("batch resume B-1042", user="UPM1", channel=CHANNEL)
    answer = bot.send.view_submission("UAPP1", stale, {"code": _code(secret, bot.clock.now())}).json()
    assert "went back to review (round 2)" in answer["errors"]["code"]
    assert _signatures(engine) == []

    # the dialog's data is sealed: claiming round 2 in an old dialog is refused as altered
    forged = {**stale, "private_metadata": stale["private_metadata"].replace('"review_round":1', '"review_round":2')}
    answer = bot.send.view_submission("UAPP1", forged, {"code": _code(secret, bot.clock.now())}).json()
    assert "altered" in answer["errors"]["code"]
    assert _signatures(engine) == []


def test_nobody_signs_a_batch_they_marked_ready(bot, engine):
    _program(bot, engine)
    with transaction(engine) as session:  # Quality also holds the approver role (recorded by an admin)
        program = programs.by_code(session, "ACME-001")
        programs.add_member(session, program, "UQA1", Role.customer_approver, actor=factories.ADMIN,
                                      now=MON_23, reason="customer QA delegate")
    assert "ready for review" in bot.ask("batch ready B-2000", user="UQA1", channel=CHANNEL)
    secret = _enroll(bot, "UQA1")
    assert bot.answer(bot.command("batch approve B-2000", user="UQA1", channel=CHANNEL))[0] == "view"
    refused = bot.submit("UQA1", {"code": _code(secret, bot.clock.now())}).json()
    assert "segregation of duties" in refused["errors"]["code"]
    assert _signatures(engine) == []
    with transaction(engine) as session:
        [entry] = session.exec(select(AuditEntry).where(AuditEntry.action == "decision_refused")).all()
        assert entry.actor_id == "UQA1" and "marked it ready" in entry.after["reason"]


def test_signing_method_is_a_program_setting_shown_in_status_and_audited(bot, engine):
    _program(bot, engine)
    assert "Signing" in str(bot.reply(bot.command("program status", user="UPM1", channel=CHANNEL))["blocks"])
    reply = bot.ask("batch settings --signing initials", user="UPM1", channel=CHANNEL)
    assert "signing: initials" in reply
    assert "Only program managers" in bot.ask("batch settings --signing totp", user="UQA1", channel=CHANNEL)
    assert "Signing must be" in bot.ask("batch settings --signing password", user="UPM1", channel=CHANNEL)
    with transaction(engine) as session:
        [change] = session.exec(select(AuditEntry).where(AuditEntry.action == "batch_settings_changed")).all()
        assert (change.before["signing"], change.after["signing"], change.actor_id) == ("totp", "initials", "UPM1")
    modal = _open_approval(bot)
    assert [b["block_id"] for b in modal["blocks"] if b["type"] == "input"] == ["initials", "comment"]


def test_audit_verify_names_a_signature_whose_batch_record_changed(bot, engine):
    _program(bot, engine, record=b"%PDF-1.7 executed batch record B-1042")
    secret = _enroll(bot, "UAPP1")
    _open_approval(bot)
    assert bot.submit("UAPP1", {"code": _code(secret, bot.clock.now())}).text == ""
    bot.slack.wait_for("chat.postMessage", lambda c: "Signed by" in c.args.get("text", ""))
    verify = [*cmo_bot(), "audit", "verify"]
    done = subprocess.run(verify, env=bot.env, cwd=bot.env["CMO_WORKDIR"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    [record] = Path(bot.env["CMO_FILES_DIR"]).rglob("B-1042-executed.pdf")
    record.write_bytes(b"%PDF-1.7 a different batch record")
    done = subprocess.run(verify, env=bot.env, cwd=bot.env["CMO_WORKDIR"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    [signature] = _signatures(engine)
    assert f"signature {signature.id} (Alice Approver" in done.stdout and "batch B-1042 of ACME-001" in done.stdout
    assert "changed after signing" in done.stdout
    bot.slack.wait_for("views.publish", count=4, timeout=10)


def test_records_of_who_did_what_show_printed_names(bot, engine):
    _program(bot, engine)
    assert "on hold" in bot.ask("batch hold B-1042 Page 12 missing", user="UAPP2", channel=CHANNEL)
    bot.slack.wait_for("chat.update", lambda c: "On hold* by" in str(c.args.get("blocks")))
    channel_post = bot.slack.messages(CHANNEL)[0]
    assert "On hold* by Bob Approver" in str(channel_post["blocks"]) and "bob" not in str(channel_post["blocks"])
    history = bot.ask("batch status B-1042", user="UQA1", channel=CHANNEL)
    assert "Pat Manager (UPM1): made available for review" in history
    assert "Bob Approver (UAPP2): put on hold: Page 12 missing" in history
    log = bot.ask("batch log", user="UQA1", channel=CHANNEL)
    assert "Bob Approver" in log
    with transaction(engine) as session:
        actors = {(e.actor_id, e.actor_name) for e in session.exec(select(AuditEntry).where(
            AuditEntry.entity == "batch"))}
    assert actors == {("UPM1", "Pat Manager"), ("UAPP2", "Bob Approver")}
    bot.slack.wait_for("views.publish", count=4, timeout=10)


def test_submission_document_approval_is_signed_with_a_code_and_linked_to_the_file(bot, engine):
    _program(bot, engine)
    with transaction(engine) as session:
        program = programs.by_code(session, "ACME-001")
        submission = subs.create(session, program=program, actor=factories.ADMIN, now=MON_23,
                                 kind=subs.SubmissionType.other, title="Acmezol DMF", filing_date=date(2027, 1, 15))
        entry = subs.item(session, submission, 1)
        filed = file_document(bot.files, "ACME-001", "submissions", str(submission.id), name="smf.pdf", content=b"SMF")
        subs.attach(session, entry=entry, filed=filed, name="smf.pdf", actor=factories.ADMIN, now=MON_23)
    secret = _enroll(bot, "UQA1")
    kind, modal = bot.answer(bot.command("submission approve SUB-001 1", user="UQA1", channel=CHANNEL))
    assert kind == "view" and "I approve Site master file (smf.pdf, version 1)" in str(modal["blocks"])
    wrong = "000000" if _code(secret, bot.clock.now()) != "000000" else "111111"
    assert "not right" in bot.submit("UQA1", {"code": wrong}).json()["errors"]["code"]
    assert _item_status(engine) == "received"
    assert bot.submit("UQA1", {"code": _code(secret, bot.clock.now())}).text == ""
    receipt = bot.slack.wait_for("chat.postMessage", lambda c: "Signed by" in c.args.get("text", ""))[0].args
    assert "Signed by *Quinn Quality*" in receipt["text"] and "is approved" in receipt["text"]
    assert _item_status(engine) == "approved"
    with transaction(engine) as session:
        [signature] = session.exec(select(document_signatures.DocumentSignature)).all()
        assert signature.linked_sha256 == filed.sha256 and signature.signer_name == "Quinn Quality"

    (Path(bot.env["CMO_FILES_DIR"]) / filed.path).write_bytes(b"another site master file")  # tampered on disk
    done = subprocess.run([*cmo_bot(), "audit", "verify"], env=bot.env, cwd=bot.env["CMO_WORKDIR"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout
    assert f"document signature {signature.id} (Quinn Quality" in done.stdout and "smf.pdf" in done.stdout


def _item_status(engine) -> str:
    with transaction(engine) as session:
        return str(session.exec(select(subs.SubmissionItem).where(subs.SubmissionItem.number == 1)).one().status)
