"""Agreements end to end: the modal, redlines, execution, filing, the gate, and renewal reminders moved by
`cmo-bot tick --now …` — all over signed HTTP to the real `serve`, against the emulator."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta

from sqlmodel import select

from store import programs
from store.agreements import service as agreements
from store.agreements.service import Agreement, Status
from store.audit import AuditEntry
from store.db import transaction
from store.outbox import ANNOUNCED, Outbox
from store.programs import Role
from tests import factories
from tests.e2e.harness import both_stores

CHANNEL = "CACME001"


def _program(bot, engine, code: str = "ACME-001", channel: str = CHANNEL) -> None:
    with transaction(engine) as session:
        factories.program(session, bot.clock.now(), code, channel=channel)
    bot.slack.add_channel(channel, code.lower(), members=["UPM1", "UQA1", "UAPP1"])


def _log(bot, values: dict, user: str = "UPM1") -> dict:
    trigger = bot.command("agreement new", user=user, channel=CHANNEL).trigger_id
    bot.slack.wait_for("views.open", lambda c: c.args.get("trigger_id") == trigger)  # this form, not the last one
    return bot.submit(user, values)


def _stored(engine, code: str = "ACME-001") -> list[Agreement]:
    with transaction(engine) as session:
        program = factories.programs.by_code(session, code)
        return agreements.for_program(session, program.id)


EXECUTED_QA = {"kind": "quality", "counterparty": "Acme Pharma", "status": "executed", "version": "v1",
               "effective": date(2026, 1, 1), "expires": date(2027, 6, 1)}


def _agreement_posts(bot, target: str) -> list[str]:
    return [c.args["text"] for c in bot.posts(target) if c.args.get("text", "").startswith(
        (":hourglass_flowing_sand: ACME-001", ":rotating_light: ACME-001"))]


def test_logged_through_the_modal_then_90_60_30_and_expiry_each_once_at_local_morning(bot, engine):
    _program(bot, engine)
    assert _log(bot, EXECUTED_QA).text == ""  # a plain ack: accepted
    bot.slack.wait_for("chat.postMessage", lambda c: "logged" in c.args.get("text", ""))
    [qa] = _stored(engine)
    assert (qa.ref, qa.status, qa.owner_id, qa.expires_on) == ("QA-1", Status.executed, "UPM1", date(2027, 6, 1))

    # 90 days before 1 Jun 2027 is Wed 3 Mar (EST: 09:00 = 14:00 UTC); 60: Fri 2 Apr and 30: Sun 2 May (EDT: 13:00
    # UTC); the expiry alert at the start of the working day on 1 Jun (09:00 EDT = 13:00 UTC), never at night.
    stages = [("90d", datetime(2027, 3, 3, 14, tzinfo=UTC)), ("60d", datetime(2027, 4, 2, 13, tzinfo=UTC)),
              ("30d", datetime(2027, 5, 2, 13, tzinfo=UTC)), ("expiry", datetime(2027, 6, 1, 13, tzinfo=UTC))]
    sent: list[str] = []
    for name, morning in stages:
        if name == "expiry":  # local midnight and the small hours: nothing at night
            assert not [line for line in bot.tick(datetime(2027, 6, 1, 4, tzinfo=UTC)) if "agreement:" in line]
        if name in ("90d", "expiry"):  # a minute early: nothing yet
            assert not [line for line in bot.tick(morning - timedelta(minutes=1)) if "agreement:" in line], name
        lines = [line for line in bot.tick(morning) if "agreement:" in line]
        assert len(lines) == 2 and all(line.startswith("sent") for line in lines), lines  # channel + owner DM
        if name == "60d":  # the same morning again: nothing more
            assert not [line for line in bot.tick(morning + timedelta(hours=3)) if "agreement:" in line]
        sent += lines
    assert not [line for line in bot.tick(datetime(2027, 6, 20, 14, tzinfo=UTC)) if "agreement:" in line]

    channel, dm = _agreement_posts(bot, CHANNEL), _agreement_posts(bot, "UPM1")
    assert len(channel) == 4 and len(dm) == 4 and channel == dm
    assert "expires on *Tue 1 Jun 2027* (90 days from Wed 3 Mar 2027)" in channel[0]
    assert "(30 days from Sun 2 May 2027)" in channel[2] and "/cmo agreement renew QA-1" in channel[2]
    assert "expired today, Tue 1 Jun 2027" in channel[3]
    with transaction(engine) as session:
        rows = [r for r in session.exec(select(Outbox).where(Outbox.key.like("agreement:%")))  # type: ignore
                if not r.key.endswith(ANNOUNCED)]  # the reminders, not the notice that it was logged
        assert len(rows) == 8 and {r.status for r in rows} == {"sent"} and not any(r.late for r in rows)
        assert [r.urgent for r in rows if r.key.startswith(f"agreement:{qa.id}:expiry")] == [True, True]


def test_bad_modal_submission_gets_field_errors_and_saves_nothing(bot, engine):
    _program(bot, engine)
    cases = [
        ({**EXECUTED_QA, "effective": None}, "effective"),  # executed without dates
        ({**EXECUTED_QA, "expires": date(2025, 12, 31)}, "expires"),  # expiration not after effective
        ({**EXECUTED_QA, "status": "draft", "effective": date(2031, 1, 1), "expires": date(2032, 1, 1)},
         "effective"),  # far future
        ({**EXECUTED_QA, "notice": "sixty"}, "notice"),
    ]
    for values, field in cases:
        body = _log(bot, values).json()
        assert body["response_action"] == "errors" and list(body["errors"]) == [field], (values, body)
    assert _stored(engine) == []
    assert not bot.posts(CHANNEL)


def test_a_role_removed_while_the_form_was_open_is_refused_on_the_form(bot, engine):
    _program(bot, engine)
    trigger = bot.command("agreement new", user="UPM1", channel=CHANNEL).trigger_id
    bot.slack.wait_for("views.open", lambda c: c.args.get("trigger_id") == trigger)
    with transaction(engine) as session:  # moved to the stability team meanwhile
        program = programs.by_code(session, "ACME-001")
        programs.add_member(session, program, "UPM1", Role.stability, actor=factories.ADMIN, now=bot.clock.now())
        programs.remove_member(session, program, "UPM1", Role.program_manager, actor=factories.ADMIN,
                               now=bot.clock.now())
    body = bot.submit("UPM1", EXECUTED_QA).json()
    assert body["response_action"] == "errors" and list(body["errors"]) == ["counterparty"], body
    assert "log agreements" in body["errors"]["counterparty"]
    assert _stored(engine) == [] and not bot.posts(CHANNEL)


@both_stores
def test_redline_rounds_then_execution_supersedes_and_files_the_original(bot, engine):
    _program(bot, engine)
    _log(bot, EXECUTED_QA)  # QA-1, the current executed one
    _log(bot, {"kind": "quality", "counterparty": "Acme Pharma", "status": "draft", "version": "v2-draft"})
    bot.tick(datetime(2027, 3, 3, 14, tzinfo=UTC) - timedelta(hours=5))  # QA-1's 90-day reminder queued, not sent

    bot.command('agreement redline QA-2 --from customer "Section 4: batch record review in 5 days"', user="UAPP1",
            channel=CHANNEL)
    announced = bot.slack.wait_for("chat.postMessage", lambda c: "Redline round 1" in c.args.get("text", ""))[0]
    assert "from the customer" in announced.args["text"] and announced.args["channel"] == CHANNEL

    # the second round through the show card's "Log redline" button and its modal, with the redlined file
    show = bot.reply(bot.command("agreement show QA-2", user="UQA1", channel=CHANNEL))
    bot.send.block_action("UQA1", "agreement_open_redline", message={"blocks": show["blocks"], "ts": "1.0"},
                          channel_id=CHANNEL)
    bot.slack.wait_for("views.open", count=3)
    bot.slack.add_file("FRED2", "QA v3 redline.docx", b"redlined by the CMO")
    assert bot.submit("UQA1", {"version": "v3", "side": "cmo", "note": "accepted 5 days",
                               "files": ["FRED2"]}).text == ""
    bot.slack.wait_for("chat.postMessage", lambda c: "Redline round 2" in c.args.get("text", ""))
    bot.slack.wait_for("chat.postMessage", lambda c: "Filed *QA v3 redline.docx*" in c.args.get("text", ""))

    history = bot.reply(bot.command("agreement show QA-2", user="UPM1", channel=CHANNEL))
    text = str(history["blocks"])
    assert "1. *R1* from the customer, Alice Approver" in text and "Section 4" in text
    assert "2. *v3* from the CMO, Quinn Quality" in text and "QA v3 redline.docx" in text

    # execution: the command opens the dates form; the executed original is filed with its checksum
    original = b"%PDF-1.7 executed quality agreement v3"
    bot.slack.add_file("FEXEC", "QA v3 signed.pdf", original)
    bot.command("agreement execute QA-2", user="UPM1", channel=CHANNEL)
    bot.slack.wait_for("views.open", count=4)
    assert bot.submit("UPM1", {"effective": date(2026, 12, 1), "expires": date(2028, 11, 30), "notice": "60",
                               "files": ["FEXEC"]}).text == ""
    done = bot.slack.wait_for("chat.postMessage", lambda c: "recorded the execution" in c.args.get("text", ""))[0]
    assert "It supersedes Quality Agreement QA-1 v1" in done.args["text"]
    filed = bot.slack.wait_for("chat.postMessage", lambda c: "Filed *QA v3 signed.pdf*" in c.args.get("text", ""))
    digest = hashlib.sha256(original).hexdigest()
    assert filed[0].args["channel"] == "UPM1" and digest in filed[0].args["text"]

    assert bot.files.get("ACME-001/agreements/QA-2-QA v3 signed.pdf") == original
    with transaction(engine) as session:
        old, new = session.exec(select(Agreement).order_by(Agreement.id)).all()
        assert (old.status, new.status, new.version, new.notice_days) == ("superseded", "executed", "v3", 60)
        assert old.superseded_on == date(2026, 12, 1)
        queued = session.exec(select(Outbox).where(Outbox.subject == f"agreement:{old.id}")).all()
        assert queued and {r.status for r in queued} == {"cancelled"}
        filed_query = select(AuditEntry).where(AuditEntry.action == "document_filed").order_by(AuditEntry.seq)
        trail = session.exec(filed_query).all()
        originals = [e.after for e in trail if e.after["role"] == "original"]
        assert originals == [{"role": "original", "name": "QA v3 signed.pdf", "path": "ACME-001/agreements/"
                              "QA-2-QA v3 signed.pdf", "sha256": digest, "size": len(original),
                              "slack_file_id": "FEXEC"}]
        assert [e.after["role"] for e in trail] == ["redline", "original"]
    assert not [line for line in bot.tick(datetime(2027, 3, 3, 14, tzinfo=UTC)) if f"agreement:{old.id}:" in line]


def test_a_file_that_cannot_be_fetched_is_told_not_skipped(bot, engine):
    _program(bot, engine)
    _log(bot, {**EXECUTED_QA, "files": ["FGONE"]})
    told = bot.slack.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "UPM1"
                              and "Slack would not show the file" in c.args.get("text", ""))
    assert "File to program" in told[0].args["text"]
    [qa] = _stored(engine)
    with transaction(engine) as session:
        assert agreements.documents(session, qa.id) == []


@both_stores
def test_file_to_program_shortcut_files_an_executed_original(bot, engine):
    _program(bot, engine)
    _log(bot, EXECUTED_QA)
    content = b"the signed NDA and QA, scanned"
    shared = bot.slack.add_file("FSCAN", "QA-1 executed.pdf", content)
    message = bot.slack.add_message(CHANNEL, "Here is the signed QA", "UAPP1")
    message["files"] = [shared]
    bot.send.message_shortcut("file_to_program", "UPM1", CHANNEL, message)
    opened = bot.slack.wait_for("views.open", count=2)[-1]
    options = [o["value"] for b in opened.args["view"]["blocks"] if b.get("block_id") == "target"
               for o in b["element"]["options"]]
    assert options == ["agreements|ACME-001|QA-1|original"]
    assert bot.submit("UPM1", {"target": options[0], "note": "scan"}).text == ""
    bot.slack.wait_for("chat.postMessage", lambda c: "Filed *QA-1 executed.pdf*" in c.args.get("text", ""))
    assert bot.files.get("ACME-001/agreements/QA-1-QA-1 executed.pdf") == content
    # someone without a role on the program is offered nothing and can file nothing
    bot.send.message_shortcut("file_to_program", "UOUT", CHANNEL, message)
    bot.slack.wait_for("chat.postEphemeral", lambda c: c.args.get("user") == "UOUT"
                       and "nothing you can file" in c.args.get("text", ""))
    assert len(bot.slack.calls("views.open")) == 2


def test_gate_and_list_say_plainly_what_is_missing(bot, engine):
    _program(bot, engine)
    status = bot.ask("program status", user="UPM1", channel=CHANNEL)
    assert "Quality agreement gate not met*: no current executed Quality Agreement." in status
    assert "Mutual NDA not in force*: no current executed Mutual NDA." in status
    _log(bot, {**EXECUTED_QA, "expires": date(2026, 11, 20)})
    _log(bot, {**EXECUTED_QA, "kind": "nda", "expires": date(2028, 1, 1)})
    _log(bot, {**EXECUTED_QA, "kind": "msa", "expires": date(2026, 10, 1)})
    status = bot.ask("program status", user="UPM1", channel=CHANNEL)
    assert "gate not met" not in status and "QA-1 v1 expires on Fri 20 Nov 2026 (18 days)" in status
    listing = bot.ask("agreement list", user="UAPP1", channel=CHANNEL).splitlines()
    rows = [line.split()[0] for line in listing[2:] if line.strip("`")]
    assert rows == ["MSA-3", "QA-1", "NDA-2"], listing  # expired, then expiring within 30 days, then the rest
    assert "EXPIRED" in listing[2] and "SOON" in listing[3]
    bot.clock.set(datetime(2026, 11, 21, 15, tzinfo=UTC))
    status = bot.ask("program status", user="UPM1", channel=CHANNEL)
    assert "Quality agreement gate not met*: the Quality Agreement expired on Fri 20 Nov 2026" in status
    # someone without a role sees nothing of it
    assert "no program here" in bot.ask("agreement list --program ACME-001", user="UOUT")


def test_renewal_and_configured_days_restart_the_series_and_admins_list_every_program(bot, engine):
    _program(bot, engine)
    _program(bot, engine, "BETA-002", "CBETA002")
    assert "120, 45 days before expiry" in bot.ask("agreement reminders 45,120", user="UPM1", channel=CHANNEL)
    assert "Only program managers" in bot.ask("agreement reminders 30", user="UQA1", channel=CHANNEL)
    _log(bot, {**EXECUTED_QA, "notice": "30"})  # notice due 2 May 2027; reminders 120 and 45 days before that
    bot.slack.wait_for("chat.postMessage", lambda c: "logged" in c.args.get("text", ""))  # posted after the ack
    lines = [line for line in bot.tick(datetime(2027, 1, 2, 14, tzinfo=UTC)) if "agreement:" in line]
    assert len(lines) == 2 and all(":renewal:120d:2027-06-01" in line for line in lines), lines
    posted = bot.posts(CHANNEL, lambda c: c.args.get("text", "").startswith(":hourglass"))[-1].args["text"]
    assert "Notice of non-renewal is due by *Sun 2 May 2027* (30-day notice period)" in posted

    bot.clock.set(datetime(2027, 3, 1, 15, tzinfo=UTC))
    bot.command("agreement renew QA-1 2029-06-01 --version v1.1", user="UQA1", channel=CHANNEL)
    bot.slack.wait_for("chat.postMessage", lambda c: "recorded the renewal" in c.args.get("text", ""))
    # the old term's 45-day reminder (due 18 Mar 2027) never comes; the new term's series starts fresh
    assert not [line for line in bot.tick(datetime(2027, 3, 18, 14, tzinfo=UTC)) if "agreement:" in line]
    lines = [line for line in bot.tick(datetime(2029, 1, 2, 14, tzinfo=UTC)) if "agreement:" in line]
    assert len(lines) == 2 and all(":renewal:120d:2029-06-01" in line for line in lines), lines

    listing = bot.ask("agreement list --all", user="UADMIN")
    assert "ACME-001" in listing and "QA-1" in listing and "v1.1" in listing
    assert "No agreements logged" in bot.ask("agreement list", user="UPM1", channel="CBETA002")


def test_people_outside_the_company_see_no_agreements(bot, engine):
    with transaction(engine) as session:
        program = factories.program(session, bot.clock.now(), channel=CHANNEL)
        factories.programs.add_member(session, program, "UAPP2", factories.Role.customer_approver,
                                      actor=factories.ADMIN, now=bot.clock.now(), external=True)
    bot.slack.add_channel(CHANNEL, "acme-001", members=["UPM1", "UAPP2"])
    _log(bot, EXECUTED_QA)
    for verb in ("list", "show QA-1", "redline QA-1 note", "new"):
        assert "Only people of the manufacturer" in bot.ask(f"agreement {verb}", user="UAPP2", channel=CHANNEL)
    assert "QA-1" not in bot.ask("agreement list --all", user="UAPP2")


def test_a_forged_filing_form_fetches_nothing(bot, engine):
    import json

    _program(bot, engine)
    _log(bot, EXECUTED_QA)
    shared = bot.slack.add_file("FOK", "ok.pdf", b"ok")
    bot.slack.add_file("FSECRET", "someone else's.pdf", b"secret")
    message = {**bot.slack.add_message(CHANNEL, "signed", "UPM1"), "files": [shared]}
    bot.send.message_shortcut("file_to_program", "UPM1", CHANNEL, message)
    view = bot.slack.wait_for("views.open", count=2)[-1].response["view"]
    forged = json.loads(view["private_metadata"])
    forged["file_ids"] = ["FSECRET"]
    body = bot.send.view_submission("UPM1", {**view, "private_metadata": json.dumps(forged)},
                                    {"target": "agreements|ACME-001|QA-1|original"}).json()
    assert body["response_action"] == "errors" and "altered" in body["errors"]["target"]
    assert not bot.slack.calls("files.info")


def test_a_successor_effective_after_the_expiry_is_a_coverage_gap_alerted_now_and_before(bot, engine):
    """QA-1 runs to Tue 1 Jun 2027; QA-2, executed on Fri 4 Dec 2026, takes effect only on Thu 1 Jul 2027:
    no Quality Agreement from Tue 1 Jun to Wed 30 Jun 2027 (30 days). Alerted at once, again 14 days before
    (Tue 18 May 2027), and QA-1's expiry alert still goes out on Tue 1 Jun."""
    bot.clock.set(datetime(2026, 12, 4, 15, tzinfo=UTC))
    _program(bot, engine)
    _log(bot, EXECUTED_QA)
    _log(bot, {"kind": "quality", "counterparty": "Acme Pharma", "status": "draft", "version": "v2"})
    bot.command("agreement execute QA-2", user="UPM1", channel=CHANNEL)
    bot.slack.wait_for("views.open", count=3)
    assert bot.submit("UPM1", {"effective": date(2027, 7, 1), "expires": date(2029, 6, 30)}).text == ""
    done = bot.slack.wait_for("chat.postMessage", lambda c: "recorded the execution" in c.args.get("text", ""))[0]
    gap = "no Quality Agreement is in force from Tue 1 Jun 2027 to Wed 30 Jun 2027 (30 days)"
    assert gap in done.args["text"]
    with transaction(engine) as session:
        old = session.exec(select(Agreement).where(Agreement.ref == "QA-1")).one()

    def alerted(now: datetime) -> dict[str, list[str]]:
        """What the tick at `now` posted about the gap, per target (the weekly digest aside)."""
        sent = len(bot.posts())
        bot.tick(now)
        return {target: [c.args["text"] for c in bot.posts()[sent:] if c.args["channel"] == target
                         and gap in c.args["text"] and "status —" not in c.args["text"]]
                for target in ("UPM1", "UQA1", "UAPP1", CHANNEL)}

    now = alerted(datetime(2026, 12, 4, 15, 5, tzinfo=UTC))
    for target in ("UPM1", "UQA1", CHANNEL):
        assert len(now[target]) == 1 and "coverage gap ahead" in now[target][0], target
    assert now["UAPP1"] == []
    assert all(v == [] for v in alerted(datetime(2027, 5, 17, 15, tzinfo=UTC)).values())
    before = alerted(datetime(2027, 5, 18, 14, tzinfo=UTC))  # 10:00 EDT
    assert [len(before[t]) for t in ("UPM1", "UQA1", CHANNEL)] == [1, 1, 1]
    expiry = alerted(datetime(2027, 6, 1, 14, tzinfo=UTC))
    assert any("expired today, Tue 1 Jun 2027" in text and "Coverage gap" in text for text in expiry[CHANNEL])
    with transaction(engine) as session:
        keys = {r.key for r in session.exec(select(Outbox).where(Outbox.subject == f"agreement:{old.id}",
                                                                 Outbox.status == "sent"))}
    assert keys == {f"agreement:{old.id}:gap:known:2027-06-01:2027-07-01",
                    f"agreement:{old.id}:gap:soon:2027-06-01:2027-07-01", f"agreement:{old.id}:expiry:2027-06-01"}
    assert all(v == [] for v in alerted(datetime(2027, 7, 1, 14, tzinfo=UTC)).values())
