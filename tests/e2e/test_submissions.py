"""Submissions end to end: a 510(k) checklist from its template, owners asked by DM, documents shared
through the message shortcut and the Attach button, reminders on business days once each, and the
package refused, then built and checked against its manifest."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import UTC, date, datetime

from sqlmodel import select

from store import audit, programs
from store.audit import Actor
from store.db import transaction
from store.filing import file_document
from store.submissions import service as subs
from tests import factories
from tests.conftest import NOW
from tests.e2e.harness import both_stores

CHANNEL = "CACME001"
PM = Actor("UPM1", "Pat Manager")


def _program(bot, engine):
    bot.slack.add_channel(CHANNEL, "acme-001", members=["UPM1", "UQA1", "URA1", bot.slack.bot_user_id])
    with transaction(engine) as session:
        program = factories.program(session, NOW, holiday_calendar="US")
        return program.id


def _submission(engine, kind=subs.SubmissionType.other):
    with transaction(engine) as session:
        program = session.exec(select(subs.Program)).one()
        created = subs.create(session, program=program, actor=PM, now=NOW, kind=kind, title="Acmezol DMF",
                              filing_date=date(2027, 1, 15))
        return created.id


def _item(engine, number: int, submission_id: int | None = None) -> subs.SubmissionItem:
    with transaction(engine) as session:
        submission = session.get(subs.Submission, submission_id) if submission_id else \
            session.exec(select(subs.Submission)).first()
        return subs.item(session, submission, number)


def _shared_message(bot, file_id: str, name: str, content: bytes, user="UQA1") -> dict:
    file = bot.slack.add_file(file_id, name, content, mimetype="application/pdf", user=user)
    message = bot.slack.add_message(CHANNEL, "the document", user)
    return {**message, "files": [file]}


@both_stores
def test_510k_checklist_owners_asked_and_file_shared_through_shortcut(bot, engine):
    _program(bot, engine)
    bot.command("submission new", user="UPM1", channel=CHANNEL)
    assert _view(bot.slack.wait_for("views.open")[0])["callback_id"] == "submission_new"
    bot.submit("UPM1", {"kind": "fda_510k", "title": "Acme catheter 510(k)", "filing_date": "2027-01-15",
                        "contact": "Jo Regulatory, Acme"})
    announced = bot.slack.wait_for("chat.postMessage", lambda c: ":clipboard:" in c.args.get("text", ""))[0]
    template = subs.template(subs.SubmissionType.fda_510k)
    assert announced.args["channel"] == CHANNEL
    assert f"{len(template.items)} documents to collect" in announced.args["text"]

    with transaction(engine) as session:
        submission = session.exec(select(subs.Submission)).one()
        entries = subs.items(session, submission)
    assert submission.ref == "SUB-001" and submission.kind == "fda_510k"
    assert [e.document for e in entries] == [t.document for t in template.items]
    assert all(e.status == subs.ItemStatus.requested for e in entries)
    site = next(e for e in entries if e.document.startswith("Sterilization validation summary"))
    assert site.owner == "UQA1" and site.due_on == date(2026, 12, 23)

    # every owner is asked by DM for their own items, with the due dates and an Attach button each
    for owner in {e.owner for e in entries}:
        dm = bot.posts(owner, lambda c: "You are asked for" in c.args.get("text", ""))
        assert len(dm) == 1, owner
        mine = [e for e in entries if e.owner == owner]
        blocks = json.dumps(dm[0].args["blocks"])
        assert all(e.document in blocks for e in mine) and blocks.count("submission_attach") == len(mine)
    assert "Wed 23 Dec 2026" in json.dumps(bot.posts("UQA1")[0].args["blocks"])

    # the quality owner shares the site master file and files it with the message shortcut
    content = b"%PDF-1.7 site master file of the Acme plant"
    message = _shared_message(bot, "F0SMF", "Site Master File.pdf", content)
    bot.slack.clear()
    response = bot.send.message_shortcut("file_submission_item", "UQA1", CHANNEL, message)
    assert response.status_code == 200
    view = _view(bot.slack.wait_for("views.open")[0])
    assert view["callback_id"] == "submission_shortcut_view" and "Site Master File.pdf" in json.dumps(view)
    bot.submit("UQA1", {"item": str(site.id)})
    confirm = bot.slack.wait_for("chat.postMessage", lambda c: "Received for" in c.args.get("text", ""))[0]
    digest = hashlib.sha256(content).hexdigest()
    assert confirm.args["channel"] == "UQA1" and digest in confirm.args["text"]

    assert bot.files.get(f"ACME-001/submissions/{submission.id}/Site Master File.pdf") == content
    with transaction(engine) as session:
        row = session.exec(select(subs.SubmissionFile)).one()
        assert (row.sha256, row.version, row.received_by, row.slack_file_id) == (digest, 1, "UQA1", "F0SMF")
        assert row.received_by_name == "Quinn Quality"
        assert session.get(subs.SubmissionItem, site.id).status == subs.ItemStatus.received
        trail = audit.history(session, entity="submission", entity_id="ACME-001/SUB-001")
        assert trail[-1].action == "item_file_received" and trail[-1].after["sha256"] == digest

    # the Attach button on the DM opens a file form; the same name makes version 2
    bot.slack.add_file("F0SMF2", "Site Master File.pdf", b"revised", user="UQA1")
    bot.send.block_action("UQA1", "submission_attach", value=str(site.id),
                          channel_id=_dm_of(bot, "UQA1"))
    bot.slack.wait_for("views.open", lambda c: "Attach document" in json.dumps(c.args))
    bot.submit("UQA1", {"files": ["F0SMF2"]})
    bot.slack.wait_for("chat.postMessage", lambda c: "version 2" in c.args.get("text", ""))


def _view(call) -> dict:
    view = call.args["view"]
    return json.loads(view) if isinstance(view, str) else view


def _dm_of(bot, user: str) -> str | None:
    asks = bot.posts(user)
    return asks[0].response["channel"] if asks else None


def test_only_owners_and_managers_may_file(bot, engine):
    _program(bot, engine)
    _submission(engine)
    site = _item(engine, 1)  # owned by UQA1
    message = _shared_message(bot, "F0X", "x.pdf", b"x", user="UOUT")
    bot.send.message_shortcut("file_submission_item", "UOUT", CHANNEL, message)
    refusal = bot.slack.wait_for("response_url")[0]
    assert "own no submission item" in refusal.args["text"]
    assert bot.slack.calls("views.open") == []

    # a forged form (another file id in private_metadata) is refused on the field
    message = _shared_message(bot, "F0Y", "y.pdf", b"y")
    bot.send.message_shortcut("file_submission_item", "UQA1", CHANNEL, message)
    view = _view(bot.slack.wait_for("views.open")[0])
    meta = json.loads(view["private_metadata"])
    forged = {**bot.slack.last_view("UQA1"), "private_metadata": json.dumps({**meta, "files": ["F0X"]})}
    answer = bot.send.view_submission("UQA1", forged, {"item": str(site.id)}).json()
    assert answer["response_action"] == "errors" and "altered" in answer["errors"]["item"]
    with transaction(engine) as session:
        assert session.exec(select(subs.SubmissionFile)).all() == []


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 15, 0, tzinfo=UTC)  # 10:00 in New York


def test_reminders_on_business_days_once_each_then_overdue_alert(bot, engine):
    _program(bot, engine)
    submission_id = _submission(engine)
    with transaction(engine) as session:
        entries = subs.items(session, session.get(subs.Submission, submission_id))
        subs.set_due(session, entry=entries[0], due_on=date(2026, 12, 1), actor=PM, now=NOW)
        for other in entries[1:]:
            subs.mark_not_applicable(session, entry=other, actor=PM, now=NOW)

    def reminders():
        return [c.args["text"] for c in bot.posts("UQA1") if "Reminder" in c.args.get("text", "")]

    def alerts():
        return [c.args["text"] for c in bot.posts("UPM1") if "Overdue" in c.args.get("text", "")]

    bot.tick(_at(date(2026, 11, 6)))  # Friday before the 14-business-day mark: nothing yet
    assert reminders() == []
    bot.tick(_at(date(2026, 11, 9)))  # 14 business days before Tue 1 Dec (11 Nov is Veterans Day)
    bot.tick(_at(date(2026, 11, 9)))  # a second pass the same day sends nothing more
    assert len(reminders()) == 1 and "14 business days" in reminders()[0]
    attach = bot.posts("UQA1")[-1].args["blocks"][-1]["elements"][0]
    assert attach["action_id"] == "submission_attach"
    bot.tick(_at(date(2026, 11, 19)))  # 7 business days (every day in between: tests/unit/test_submissions.py)
    bot.tick(_at(date(2026, 11, 25)))  # 3 business days (26 Nov is Thanksgiving)
    bot.tick(_at(date(2026, 12, 1)))  # the due day itself: no alert yet
    assert [t.split(", in ")[1].split(".")[0] for t in reminders()] == [
        "14 business days", "7 business days", "3 business days"]
    assert alerts() == []
    bot.tick(_at(date(2026, 12, 2)))
    bot.tick(_at(date(2026, 12, 3)))
    assert len(alerts()) == 1
    assert "Site master file" in alerts()[0] and "was due Tue 1 Dec 2026" in alerts()[0] and "<@UQA1>" in alerts()[0]
    assert len(reminders()) == 3


def test_receiving_stops_the_reminders(bot, engine):
    _program(bot, engine)
    submission_id = _submission(engine)
    with transaction(engine) as session:
        entry = subs.items(session, session.get(subs.Submission, submission_id))[0]
        subs.set_due(session, entry=entry, due_on=date(2026, 12, 1), actor=PM, now=NOW)
    bot.tick(_at(date(2026, 11, 9)))
    assert any("Reminder" in c.args["text"] for c in bot.posts("UQA1"))
    site = _item(engine, 1)
    bot.slack.add_file("F0R", "smf.pdf", b"site", user="UQA1")
    bot.send.block_action("UQA1", "submission_attach", value=str(site.id), channel_id=_dm_of(bot, "UQA1"))
    bot.slack.wait_for("views.open")
    bot.submit("UQA1", {"files": ["F0R"]})
    bot.slack.wait_for("chat.postMessage", lambda c: "Received for" in c.args.get("text", ""))
    bot.slack.clear()
    bot.tick(_at(date(2026, 11, 19)))
    bot.tick(_at(date(2026, 12, 3)))
    said = [c.args.get("text", "") for c in bot.posts()]
    assert not [t for t in said if "Site master file" in t and ("Reminder" in t or "Overdue" in t)]


@both_stores
def test_package_refused_with_outstanding_list_then_built_and_verified(bot, engine):
    _program(bot, engine)
    submission_id = _submission(engine)  # "Other": site master file, facility info, CoAs
    root = bot.files
    with transaction(engine) as session:
        submission = session.get(subs.Submission, submission_id)
        entry = subs.item(session, submission, 1)
        filed = file_document(root, "ACME-001", "submissions", str(submission_id), name="smf.pdf", content=b"SMF")
        subs.attach(session, entry=entry, filed=filed, name="smf.pdf", actor=Actor("UQA1", "Quinn Quality"), now=NOW)

    refused = bot.ask("submission package SUB-001", user="UPM1", channel=CHANNEL)
    assert "cannot be packaged: 2 item(s) outstanding" in refused
    assert "#2 Facility and registration information" in refused and "#3 Certificates of analysis" in refused
    assert bot.slack.calls("files.completeUploadExternal") == []

    assert "Only program managers or regulatory" in bot.ask("submission package SUB-001", user="UQA1",
                                                            channel=CHANNEL)
    assert "no program here" in bot.ask("submission package SUB-001", user="UOUT", channel=CHANNEL)

    bot.ask("submission package SUB-001 --draft", user="UPM1", channel=CHANNEL)
    draft = bot.slack.uploaded_files()[-1]
    assert draft["name"] == "ACME-001-SUB-001-DRAFT.zip" and draft["channel"] == CHANNEL
    assert "MISSING" in _verified(draft["bytes"])["table-of-contents.csv"].decode()

    with transaction(engine) as session:
        submission = session.get(subs.Submission, submission_id)
        entry = subs.item(session, submission, 2)
        filed = file_document(root, "ACME-001", "submissions", str(submission_id), name="fei.pdf", content=b"FEI")
        subs.attach(session, entry=entry, filed=filed, name="fei.pdf", actor=Actor("URA1", "Rae Regulatory"), now=NOW)
    assert "is not applicable" in bot.ask("submission na SUB-001 3", user="UPM1", channel=CHANNEL)
    status = bot.ask("submission status SUB-001", user="UQA1", channel=CHANNEL)
    assert "2/2 documents in" in status and "days" in status

    reply = bot.ask("submission package SUB-001", user="UPM1", channel=CHANNEL)
    package = bot.slack.uploaded_files()[-1]
    digest = hashlib.sha256(package["bytes"]).hexdigest()
    assert package["name"] == "ACME-001-SUB-001.zip" and digest in reply and digest in package["initial_comment"]
    contents = _verified(package["bytes"])
    assert contents["01 Facility/01-smf.pdf"] == b"SMF" and contents["01 Facility/02-fei.pdf"] == b"FEI"
    toc = contents["table-of-contents.csv"].decode()
    assert "Quinn Quality" in toc and hashlib.sha256(b"SMF").hexdigest() in toc and "not applicable" in toc
    assert "MISSING" not in toc and "<table>" in contents["table-of-contents.html"].decode()

    assert root.get(f"ACME-001/submissions/{submission_id}/packages/ACME-001-SUB-001.zip") == package["bytes"]
    with transaction(engine) as session:
        trail = audit.history(session, entity="submission", entity_id="ACME-001/SUB-001")
        assert trail[-1].action == "packaged" and trail[-1].after["sha256"] == digest
        assert session.get(subs.Submission, submission_id).package_sha256 == digest


def _verified(zip_bytes: bytes) -> dict[str, bytes]:
    """Unzip and check every file against SHA256SUMS (as `sha256sum -c` would)."""
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
        names = archive.namelist()
        assert len({n.split("/")[0] for n in names}) == 1  # one top folder
        contents = {n.split("/", 1)[1]: archive.read(n) for n in names}
    listed = {}
    for line in contents.pop("SHA256SUMS").decode().splitlines():
        digest, path = line.split("  ", 1)
        listed[path] = digest
    assert set(listed) == set(contents)
    for path, data in contents.items():
        assert hashlib.sha256(data).hexdigest() == listed[path], path
    return contents


def test_new_submission_form_errors_and_who_may_start_one(bot, engine):
    _program(bot, engine)
    assert "Only program managers or regulatory" in bot.ask("submission new", user="UQA1", channel=CHANNEL)
    bot.command("submission new", user="URA1", channel=CHANNEL)
    bot.slack.wait_for("views.open")
    answer = bot.submit("URA1", {"kind": "dmf_type_ii", "title": "Past", "filing_date": "2026-10-01"}).json()
    assert answer["response_action"] == "errors" and "future" in answer["errors"]["filing_date"]
    with transaction(engine) as session:
        assert session.exec(select(subs.Submission)).all() == []


def test_owners_hold_a_role_and_file_only_their_own_items(bot, engine):
    _program(bot, engine)
    _submission(engine)
    refused = bot.ask("submission assign SUB-001 2 <@UOUT|olga>", user="UPM1", channel=CHANNEL)
    assert "holds no role on ACME-001" in refused and _item(engine, 2).owner == "URA1"
    assert bot.posts("UOUT") == []
    with transaction(engine) as session:
        program = session.exec(select(subs.Program)).one()
        programs.add_member(session, program, "UOUT", programs.Role.cmo_quality, actor=PM, now=NOW)
    assert "now owns SUB-001 item #2" in bot.ask("submission assign SUB-001 2 <@UOUT|olga>", user="UPM1",
                                                 channel=CHANNEL)
    asked = bot.slack.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "UOUT")[0]
    assert "Facility and registration information" in json.dumps(asked.args["blocks"])
    bot.slack.add_file("F0FEI", "fei.pdf", b"FEI 3001234567", user="UOUT")
    bot.send.block_action("UOUT", "submission_attach", channel_id=asked.response["channel"])
    bot.slack.wait_for("views.open")
    bot.submit("UOUT", {"files": ["F0FEI"]})
    bot.slack.wait_for("chat.postMessage", lambda c: "Received for" in c.args.get("text", ""))
    assert _item(engine, 2).status == subs.ItemStatus.received
    # an item someone else owns stays out of reach of a quality member
    with transaction(engine) as session:
        other = subs.item(session, session.exec(select(subs.Submission)).one(), 1)
    bot.slack.clear()
    bot.send.block_action("UOUT", "submission_attach", value=str(other.id), channel_id=asked.response["channel"])
    refusal = bot.slack.wait_for("response_url")[0]
    assert "Only the item's owner" in refusal.args["text"] and bot.slack.calls("views.open") == []


def test_a_failed_upload_is_reported_not_hidden(bot, engine):
    _program(bot, engine)
    _submission(engine)
    bot.slack.inject("files.getUploadURLExternal", *[{"error": "not_allowed_token_type"}] * 5)
    reply = bot.ask("submission package SUB-001 --draft", user="UPM1", channel=CHANNEL)
    assert "was built and filed" in reply and "not_allowed_token_type" in reply
    with transaction(engine) as session:
        assert audit.history(session, entity="submission", entity_id="ACME-001/SUB-001")[-1].action == \
            "draft_packaged"


def test_the_generic_file_to_program_shortcut_also_files_submission_items(bot, engine):
    _program(bot, engine)
    _submission(engine)
    item = _item(engine, 3)  # certificates of analysis, owned by UQA1
    message = _shared_message(bot, "F0COA", "CoA B-1042.pdf", b"CoA of B-1042")
    bot.send.message_shortcut("file_to_program", "UQA1", CHANNEL, message)
    view = _view(bot.slack.wait_for("views.open")[0])
    values = [o["value"] for o in view["blocks"][1]["element"]["options"]]
    assert f"submissions|{item.id}" in values
    bot.submit("UQA1", {"target": f"submissions|{item.id}"})
    told = bot.slack.wait_for("chat.postMessage", lambda c: "Received for" in c.args.get("text", ""))[0]
    assert hashlib.sha256(b"CoA of B-1042").hexdigest() in told.args["text"]
    assert _item(engine, 3).status == subs.ItemStatus.received
