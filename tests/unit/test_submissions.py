"""Submissions: templates, checklist creation, the reminder rule, and the package."""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event
from sqlmodel import select

from scheduler.sweep import sweep
from store import audit, digest
from store.audit import Actor
from store.errors import Conflict, Invalid
from store.filing import DocumentUnavailable, file_document
from store.outbox import Outbox, Status
from store.storage import LocalStore, Store
from store.submissions import package
from store.submissions import rules as submission_rules
from store.submissions import service as subs
from store.submissions import templates as submission_templates
from tests import factories
from tests.conftest import NOW
from tests.s3_server import overwrite, s3_store_beside

PM = Actor("UPM1", "Pat Manager")
QA = Actor("UQA1", "Quinn Quality")
FILING = date(2027, 1, 15)


def _sub(session, kind=subs.SubmissionType.fda_510k, **kw):
    program = kw.pop("program", None) or factories.program(session, NOW, holiday_calendar="US")
    created = subs.create(session, program=program, actor=PM, now=NOW, kind=kind, title="Acme catheter",
                          filing_date=kw.pop("filing_date", FILING), customer_contact="Jo at Acme")
    return program, created


def _at(day: date, hour: int = 15) -> datetime:
    """15:00 UTC = 10:00 in New York (the factory program's zone): after the 09:00 send time."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _sent_keys(session) -> list[tuple[str, str]]:
    return sorted((r.key.split(":due:")[1], r.target) for r in session.exec(select(Outbox))
                  if r.key.startswith("submission_item:") and r.status == Status.pending)


# --- templates -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(subs.SubmissionType))
def test_every_type_has_a_valid_template(kind):
    loaded = subs.template(kind)
    assert loaded.type == kind and loaded.items
    assert all(i.section and i.document and 0 <= i.buffer for i in loaded.items)


def test_510k_template_holds_what_a_510k_contains_and_no_manufacturing_records():
    items = subs.template(subs.SubmissionType.fda_510k).items
    text = " | ".join(f"{i.section}: {i.document}" for i in items).lower()
    for needed in ("biocompatibility", "iso 10993-1", "bench performance", "sterilization validation", "endotoxin",
                   "shelf life", "aging", "labeling"):
        assert needed in text, needed
    for absent in ("site master file", "iq/oq/pq", "process validation", "batch record", "batch history",
                   "equipment qualification"):
        assert absent not in text, absent


def test_ctd_module3_follows_the_m4q_numbering():
    sections = {i.section.split(" ")[0] for i in subs.template(subs.SubmissionType.ctd_module3).items}
    for number in ("3.2.S.2.2", "3.2.S.7", "3.2.P.3.1", "3.2.P.3.2", "3.2.P.3.3", "3.2.P.3.4", "3.2.P.3.5",
                   "3.2.P.5.1", "3.2.P.5.2", "3.2.P.5.3", "3.2.P.5.4", "3.2.P.5.6", "3.2.P.7", "3.2.P.8.1",
                   "3.2.P.8.2", "3.2.P.8.3", "3.2.A.1", "3.2.R"):
        assert number in sections, number
    documents = {i.section.split(" ")[0]: i.document for i in subs.template(subs.SubmissionType.ctd_module3).items}
    assert documents["3.2.P.3.2"] == "Batch formula"  # not folded into the process description


def test_dmf_type_ii_in_ectd_structure_with_letter_of_authorization_and_commitment():
    items = subs.template(subs.SubmissionType.dmf_type_ii).items
    by_section = {i.section: i.document for i in items}
    assert "Letter of authorization" in by_section["1.4.1 Letter of authorization"]
    assert "statement of commitment" in by_section["1.2 Cover letter"]
    assert "2.3 Quality overall summary" in by_section
    assert any(s.startswith("3.2.S.2.2") for s in by_section) and any(s.startswith("3.2.S.7") for s in by_section)


@pytest.mark.parametrize(("kind", "cited"), [
    (subs.SubmissionType.fda_510k, "21 CFR 807.87"), (subs.SubmissionType.ctd_module3, "ICH M4Q(R1)"),
    (subs.SubmissionType.dmf_type_ii, "Drug Master Files")])
def test_each_template_cites_the_guidance_it_follows(kind, cited):
    from importlib import resources

    header = (resources.files("store.submissions") / "templates" / f"{kind.value}.toml").read_text(encoding="utf-8")
    comment = "\n".join(line for line in header.splitlines() if line.startswith("#"))
    assert "Follows" in comment and cited in comment


@pytest.mark.parametrize("text", [
    'type = "other"\nname = "x"\n',  # no items
    'type = "other"\nname = "x"\n[[items]]\nsection = "s"\ndocument = "d"\nbuffer = -1\n',
    'type = "other"\nname = "x"\n[[items]]\nsection = ""\ndocument = "d"\nbuffer = 1\n',
    'type = "other"\nname = "x"\n[[items]]\nsection = "s"\ndocument = "d"\nbuffer = 1\nowner_role = "boss"\n',
    'type = "nonsense"\nname = "x"\n[[items]]\nsection = "s"\ndocument = "d"\nbuffer = 1\n',
])
def test_bad_templates_are_refused(text):
    with pytest.raises(ValueError):
        submission_templates.parse_template(text, "bad.toml")


# --- checklist ---------------------------------------------------------------------------------------


def test_checklist_from_template_with_business_day_due_dates_and_role_owners(session):
    program, submission = _sub(session)
    entries = subs.items(session, submission)
    template = subs.template(subs.SubmissionType.fda_510k)
    assert submission.ref == "SUB-001"
    assert [(e.section, e.document) for e in entries] == [(t.section, t.document) for t in template.items]
    site = next(e for e in entries if e.document.startswith("Sterilization validation summary"))
    assert site.owner == "UQA1" and site.source == "QMS" and site.status == subs.ItemStatus.not_started
    assert site.due_on == date(2026, 12, 23)  # 15 business days before 15 Jan 2027 (1 Jan is a US holiday)
    labels = next(e for e in entries if e.document.startswith("Device labels"))
    assert labels.due_on == date(2027, 1, 8)  # 5 business days
    stability = next(e for e in entries if e.section == "Shelf life")
    assert stability.owner == "USTAB1"
    history = audit.history(session, entity="submission", entity_id="ACME-001/SUB-001")
    assert history[0].action == "created" and len(history[0].after["items"]) == len(entries)
    _, second = _sub(session, program=program)
    assert second.ref == "SUB-002" and subs.by_ref(session, program, "sub-2").id == second.id


def test_filing_date_must_be_in_the_future(session):
    with pytest.raises(Invalid) as error:
        _sub(session, filing_date=NOW.date())
    assert error.value.field == "filing_date"


def test_items_added_removed_and_marked_not_applicable(session):
    program, submission = _sub(session, subs.SubmissionType.other)
    added = subs.add_item(session, submission=submission, actor=PM, now=NOW, section="Quality",
                          document="Deviation summary", owner="UQA1")
    assert added.number == 4 and added.due_on == date(2027, 1, 8)
    subs.remove_item(session, entry=added, actor=PM, now=NOW)
    na = subs.mark_not_applicable(session, entry=subs.item(session, submission, 1), actor=PM, now=NOW)
    assert na.status == subs.ItemStatus.not_applicable
    assert [e.number for e in subs.items(session, submission)] == [1, 2, 3]
    assert subs.progress(subs.items(session, submission)) .total == 2
    with pytest.raises(Invalid):
        subs.set_due(session, entry=subs.item(session, submission, 2), due_on=FILING + timedelta(days=1),
                     actor=PM, now=NOW)
    with pytest.raises(Conflict):
        subs.approve(session, entry=subs.item(session, submission, 2), actor=PM, now=NOW)


# --- reminders ----------------------------------------------------------------------------------------


def _one_item(session, due_on=date(2026, 12, 1)):
    program, submission = _sub(session, subs.SubmissionType.other)
    entries = subs.items(session, submission)
    for extra in entries[1:]:
        subs.mark_not_applicable(session, entry=extra, actor=PM, now=NOW)
    subs.set_due(session, entry=entries[0], due_on=due_on, actor=PM, now=NOW)
    return program, submission, entries[0]


def test_reminders_on_business_days_once_each_then_overdue_to_managers(session):
    _, _, entry = _one_item(session)  # due Tue 1 Dec 2026, owner UQA1
    expected = {date(2026, 11, 9): "14bd",  # 11 Nov (Veterans Day) skipped
                date(2026, 11, 19): "7bd",
                date(2026, 11, 25): "3bd"}  # 26 Nov (Thanksgiving) skipped
    day, seen = date(2026, 11, 2), []
    while day <= date(2026, 12, 4):
        for _ in range(2):  # a second sweep the same day adds nothing
            inserted = sweep(session, _at(day)).inserted
            rows = [session.get(Outbox, i) for i in inserted]
            seen += [(day, r.key.rsplit(":", 1)[1], r.target) for r in rows if r.key.startswith("submission_item")]
        for row in session.exec(select(Outbox).where(Outbox.status == Status.pending)):
            row.status = Status.sent  # delivered
        day += timedelta(days=1)
    assert seen == [(d, stage, "UQA1") for d, stage in expected.items()] + [(date(2026, 12, 2), "overdue", "UPM1")]
    assert all(entry.subject in r.subject for r in session.exec(select(Outbox)) if r.key.startswith("submission"))


def test_after_an_outage_only_the_latest_stage_is_due(session):
    _one_item(session)
    sweep(session, _at(date(2026, 11, 20)))
    assert _sent_keys(session) == [("2026-12-01:remind:7bd", "UQA1")]
    sweep(session, _at(date(2026, 12, 3)))  # the 7-day reminder never went out: overdue supersedes it
    assert _sent_keys(session) == [("2026-12-01:overdue", "UPM1")]


def test_receiving_the_document_cancels_pending_reminders(session, tmp_path):
    program, _, entry = _one_item(session)
    sweep(session, _at(date(2026, 11, 9)))
    assert _sent_keys(session) == [("2026-12-01:remind:14bd", "UQA1")]
    filed = file_document(LocalStore(tmp_path), program.code, "submissions", "1", name="smf.pdf",
                          content=b"%PDF site")
    subs.attach(session, entry=entry, filed=filed, name="smf.pdf", actor=QA, now=NOW)
    assert _sent_keys(session) == []
    assert [r.status for r in session.exec(select(Outbox)) if r.key.startswith("submission")] == [Status.cancelled]
    assert list(submission_rules.due(session, _at(date(2026, 12, 3)))) == []


def test_moved_due_date_starts_a_new_series(session):
    _, _, entry = _one_item(session)
    sweep(session, _at(date(2026, 11, 9)))
    subs.set_due(session, entry=entry, due_on=date(2026, 12, 15), actor=PM, now=NOW)
    sweep(session, _at(date(2026, 11, 10)))
    assert _sent_keys(session) == []  # the old series is cancelled; the new 14-day stage is 23 Nov
    sweep(session, _at(date(2026, 11, 24)))
    assert _sent_keys(session) == [("2026-12-15:remind:14bd", "UQA1")]


def test_due_rule_statement_count_does_not_grow_with_items(session, engine):
    def count(now):
        statements = []
        listener = lambda *a, **k: statements.append(1)  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            list(submission_rules.due(session, now))
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(statements)

    program, _ = _sub(session)
    small = count(_at(date(2026, 12, 28)))
    for _ in range(3):
        _sub(session, program=program)
    assert count(_at(date(2026, 12, 28))) == small == 3  # the items, their programs, the managers


def test_digest_line(session):
    program, submission = _sub(session)
    line = subs.digest_section(session, program, date(2026, 12, 28))[0]
    assert "SUB-001" in line and "0/8 documents in" in line and "filing in 18 days" in line and "overdue" in line
    assert "Acme catheter" in digest.compose(session, program, date(2026, 12, 28))


# --- package ---------------------------------------------------------------------------------------------


def _receive(session, files: Store, program, submission, number: int, name: str, content: bytes, when=NOW):
    entry = subs.item(session, submission, number)
    filed = file_document(files, program.code, "submissions", str(submission.id), name=name, content=content)
    return subs.attach(session, entry=entry, filed=filed, name=name, actor=QA, now=when)


def _verify(zip_bytes: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
        contents = {n.split("/", 1)[1]: archive.read(n) for n in archive.namelist()}
    manifest = [line.split("  ", 1) for line in contents.pop("SHA256SUMS").decode().splitlines()]
    assert sorted(path for _, path in manifest) == sorted(contents)
    for digest_hex, path in manifest:
        assert hashlib.sha256(contents[path]).hexdigest() == digest_hex, path
    return contents


def test_package_refused_with_outstanding_list_then_draft_then_final(session, files):
    program, submission = _sub(session, subs.SubmissionType.other)
    _receive(session, files, program, submission, 1, "smf.pdf", b"site master v1")
    with pytest.raises(Conflict) as refused:
        package.build(session, files=files, program=program, submission=submission, now=NOW)
    assert "2 item(s) outstanding" in str(refused.value) and "#2 Facility and registration" in str(refused.value)
    assert "#3 Certificates of analysis" in str(refused.value) and "#1" not in str(refused.value)

    draft = package.build(session, files=files, program=program, submission=submission, now=NOW, draft=True)
    assert draft.name == "ACME-001-SUB-001-DRAFT.zip" and len(draft.gaps) == 2
    toc = list(csv.DictReader(io.StringIO(_verify(draft.content)["table-of-contents.csv"].decode())))
    assert [r["file"].split(" (")[0] for r in toc] == ["01 Facility/01-smf.pdf", "MISSING", "MISSING"]

    _receive(session, files, program, submission, 1, "smf.pdf", b"site master v2")
    _receive(session, files, program, submission, 2, "registration.pdf", b"FEI 123")
    subs.mark_not_applicable(session, entry=subs.item(session, submission, 3), actor=PM, now=NOW)
    final = package.build(session, files=files, program=program, submission=submission, now=NOW)
    contents = _verify(final.content)
    assert contents["01 Facility/01-smf.pdf"] == b"site master v2"  # the latest version only
    assert contents["01 Facility/02-registration.pdf"] == b"FEI 123"
    toc = list(csv.DictReader(io.StringIO(contents["table-of-contents.csv"].decode())))
    assert toc[0]["version"] == "2" and toc[0]["received_by"] == "Quinn Quality"
    assert toc[0]["sha256"] == hashlib.sha256(b"site master v2").hexdigest()
    assert toc[2]["file"] == "not applicable"
    assert "<td>01 Facility/02-registration.pdf</td>" in contents["table-of-contents.html"].decode()
    again = package.build(session, files=files, program=program, submission=submission, now=NOW)
    assert again.sha256 == final.sha256  # reproducible


def test_a_document_changed_or_missing_in_the_store_stops_the_package(session, files, tmp_path):
    program, submission = _sub(session, subs.SubmissionType.other)
    for n in (1, 2, 3):
        row = _receive(session, files, program, submission, n, f"doc{n}.pdf", b"content %d" % n)
    overwrite(files, row.path, b"tampered")
    with pytest.raises(DocumentUnavailable, match=r"^doc3.pdf \(item 3\) in the document store .* is not the file"):
        package.build(session, files=files, program=program, submission=submission, now=NOW)
    assert files.get(row.path) == b"tampered"  # refused and reported, never deleted or "repaired"

    elsewhere = LocalStore(tmp_path / "empty") if isinstance(files, LocalStore) else s3_store_beside(files)
    with pytest.raises(DocumentUnavailable, match=r"^doc1.pdf \(item 1\) is missing from the document store"):
        package.build(session, files=elsewhere, program=program, submission=submission, now=NOW)


def test_app_home_owed_and_health(session):
    from store import home

    program, submission = _sub(session, subs.SubmissionType.other)  # items 1 and 3 owned by UQA1, 2 by URA1
    subs.set_due(session, entry=subs.item(session, submission, 3), due_on=date(2026, 11, 20), actor=PM, now=NOW)
    subs.mark_not_applicable(session, entry=subs.item(session, submission, 1), actor=PM, now=NOW)
    owed = home.owed(session, "UQA1", [program], _at(date(2026, 11, 23)))
    assert [o.text.split(" *")[0] for o in owed] == ["SUB-001 #3"]
    assert owed[0].rank == -3 and "overdue since Fri 20 Nov 2026" in owed[0].text
    assert owed[0].buttons[0].action_id == "submission_attach" and owed[0].buttons[0].value == str(
        subs.item(session, submission, 3).id)
    assert home.owed(session, "UQA1", [], NOW) == []
    health = home.health(session, [program], _at(date(2026, 11, 23)))
    assert "2 submission documents outstanding (1 overdue)" in health.fragments[program.id]
    assert health.deadlines[program.id] == date(2026, 11, 20)


def test_hostile_text_is_cleaned_and_odd_numbers_are_not_found(session):
    from store.errors import NotFound

    program, submission = _sub(session, subs.SubmissionType.other)
    added = subs.add_item(session, submission=submission, actor=PM, now=NOW, section="Q\x00A",
                          document="\u202eevil\x07 doc", source="x" * 500)
    assert (added.section, added.document, len(added.source)) == ("QA", "evil doc", 100)
    for odd in ("²", "٣٣٣٣٣٣٣", "-1", "1.0", "9999999"):
        with pytest.raises(NotFound):
            subs.item(session, submission, odd)
    with pytest.raises(NotFound):
        subs.by_ref(session, program, "SUB-\x00")


def test_owners_must_hold_a_role_and_outsiders_see_nothing_to_file(session):
    program, submission = _sub(session, subs.SubmissionType.other)
    with pytest.raises(Invalid, match="holds no role"):
        subs.assign(session, entry=subs.item(session, submission, 1), owner="UOUT", actor=PM, now=NOW)
    with pytest.raises(Invalid, match="holds no role"):
        subs.add_item(session, submission=submission, actor=PM, now=NOW, section="S", document="D", owner="UOUT")
    assert subs.fileable(session, Actor("UOUT", "Olga")) == []
    assert [c.item.number for c in subs.fileable(session, QA)] == [1, 3]  # own items only
    assert len(subs.fileable(session, PM)) == 3  # a manager files for anyone
