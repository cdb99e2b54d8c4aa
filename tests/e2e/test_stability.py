"""Stability end to end: the study modal, schedule and pull lists, reminders through `tick`, the Mark
pulled button, an out-of-window pull, results from a shared file, and the data package."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from pathlib import Path

from openpyxl import load_workbook
from pypdf import PdfReader
from sqlmodel import select

from store.audit import AuditEntry
from store.db import transaction
from store.stability import service as stability
from tests import factories
from tests.e2e.harness import both_stores
from tests.stability_factories import study as make_study

CREATED = datetime(2027, 1, 20, 15, tzinfo=UTC)
CHANNEL = "CACME001"


def _program(bot, engine, code="ACME-001", channel=CHANNEL):
    bot.slack.add_channel(channel, code.lower(), members=["UPM1", "UQA1", "USTAB1", "UADMIN"])
    with transaction(engine) as session:
        return factories.program(session, CREATED, code, channel=channel, status_cadence="off").id


def _study(engine, **kw):
    with transaction(engine) as session:
        program = factories.programs.by_code(session, "ACME-001")
        return make_study(session, program, CREATED, **kw).id


def test_study_through_the_modal_and_its_schedule(bot, engine):
    _program(bot, engine)
    bot.clock.set(CREATED)
    bot.command("stability new", user="USTAB1", channel=CHANNEL)
    view = bot.slack.wait_for("views.open")[0].args["view"]
    assert "STB-0001" in str(view)
    bot.submit("USTAB1", {
        "product": "Acmezol 10 mg tablets", "lots": "L-001", "protocol": "PR-17",
        "conditions": ["LT25", "ACC40"], "custom": "25/40 = 25 °C / 40 % RH semi-permeable",
        "duration": "24", "placed": "2027-01-31", "timepoints": "ACC40: 0, 1, 3, 6",
    })
    announced = bot.slack.wait_for("chat.postMessage", lambda c: "Stability study" in c.args.get("text", ""))[0]
    assert announced.args["channel"] == CHANNEL and "STB-0001" in announced.args["text"]
    with transaction(engine) as session:
        program = factories.programs.by_code(session, "ACME-001")
        study = stability.get_study(session, program.id, "STB-0001")
        pulls = {(p.condition, p.months): p for p in stability.pulls_of(session, study.id)}
    assert sorted(m for c, m in pulls if c == "ACC40") == [0, 1, 3, 6]
    assert sorted(m for c, m in pulls if c == "LT25") == [0, 3, 6, 9, 12, 18, 24]
    assert sorted(m for c, m in pulls if c == "25/40") == [0, 3, 6, 9, 12, 18, 24]
    assert pulls[("ACC40", 1)].due_on.isoformat() == "2027-02-28"
    assert pulls[("LT25", 3)].due_on.isoformat() == "2027-04-30"

    reply = bot.ask("stability schedule STB-0001", user="USTAB1", channel=CHANNEL)
    assert "STB-0001" in reply
    blocks = str(bot.slack.calls("response_url")[-1].args.get("blocks"))
    assert "2027-02-28" in blocks and "2027-04-30" in blocks and "2027-10-17 – 2027-11-14" in blocks


def test_bad_study_form_gets_field_errors_and_saves_nothing(bot, engine):
    _program(bot, engine)
    bot.command("stability new", user="USTAB1", channel=CHANNEL)
    bot.slack.wait_for("views.open")
    body = bot.submit("USTAB1", {"product": "X", "conditions": ["ACC40"], "duration": "6", "placed": "2027-01-31",
                                 "timepoints": "ACC40: 0, 3, 12"}).json()
    assert body["response_action"] == "errors" and "past the 6-month duration" in body["errors"]["timepoints"]
    body = bot.submit("USTAB1", {"product": "X", "duration": "6", "placed": "2027-01-31"}).json()
    assert "Choose at least one storage condition" in body["errors"]["conditions"]
    with transaction(engine) as session:
        assert session.exec(select(stability.StabilityStudy)).first() is None
    assert "Only stability team or program managers" in bot.ask("stability new", user="UAPP1", channel=CHANNEL)


def test_pulls_list_in_channel_and_across_programs(bot, engine):
    _program(bot, engine)
    _study(engine)
    _program(bot, engine, "BETA-002", "CBETA002")
    with transaction(engine) as session:
        beta = factories.programs.by_code(session, "BETA-002")
        make_study(session, beta, CREATED, code="STB-0001", placed_on=datetime(2027, 2, 5).date())
    bot.clock.set(datetime(2027, 1, 25, 15, tzinfo=UTC))
    bot.command("stability pulls --days 30", user="USTAB1", channel=CHANNEL)
    here = str(bot.slack.wait_for("response_url")[0].args)
    assert "ACME-001" in here and "BETA-002" not in here and "2027-01-31" in here
    bot.slack.clear()
    bot.command("stability pulls --days 30", user="USTAB1", channel="CGENERAL")
    everywhere = str(bot.slack.wait_for("response_url")[0].args)
    assert "ACME-001" in everywhere and "BETA-002" in everywhere and "2027-02-05" in everywhere
    assert "no program's stability team" in bot.ask("stability pulls", user="UAPP1", channel="CGENERAL")


def test_reminders_mark_pulled_button_and_missed_alert(bot, engine):
    _program(bot, engine)
    study_id = _study(engine, conditions=("LT25",), time_points={"LT25": [0, 9]})
    # 9-month pull: due 2027-10-31, window 17 Oct – 14 Nov; notice 24 Oct; missed alert 15 Nov
    lines = bot.tick(datetime(2027, 10, 17, 14, 30, tzinfo=UTC))  # 10:30 New York
    opened = [line for line in lines if ":window-open" in line and line.startswith("sent")]
    assert len(opened) == 2  # the channel and the stability team's DM
    dm = bot.posts("USTAB1")[-1]
    assert "window opens today" in dm.args["text"] and "Mark pulled" in str(dm.args["blocks"])
    assert bot.tick(datetime(2027, 10, 17, 20, tzinfo=UTC)) == []  # exactly once

    bot.clock.set(datetime(2027, 10, 20, 15, tzinfo=UTC))
    bot.send.block_action("UAPP1", "stability_mark_pulled", channel_id=CHANNEL)  # a customer approver may not
    assert "Only stability team" in str(bot.slack.wait_for("response_url")[0].args)
    dm_reminder = bot.slack.messages(bot.posts("USTAB1")[-1].response["channel"])[-1]
    bot.send.block_action("USTAB1", "stability_mark_pulled", message=dm_reminder)  # pressed in the DM
    bot.slack.wait_for("response_url", lambda c: "recorded as pulled" in c.args.get("text", ""))
    announced = bot.slack.wait_for("chat.postMessage", lambda c: "recorded as pulled" in c.args.get("text", ""))
    assert announced[0].args["channel"] == CHANNEL and "<@USTAB1>" in announced[0].args["text"]
    with transaction(engine) as session:
        pull = stability.find_pull(session, session.get(stability.StabilityStudy, study_id), "LT25", 9)
        assert pull.pulled_on.isoformat() == "2027-10-20" and pull.pulled_by == "USTAB1" and not pull.deviation
    # after the window: neither the 7-day notice (cancelled by the pull) nor a missed alert is sent
    assert bot.tick(datetime(2027, 11, 15, 15, tzinfo=UTC)) == []


def test_missed_pull_alert_is_urgent_and_reaches_managers_and_quality(bot, engine):
    _program(bot, engine)
    _study(engine, conditions=("LT25",), time_points={"LT25": [0, 9]})
    # 00:30 New York, the day after the window: due, but nothing goes out at night
    assert not [line for line in bot.tick(datetime(2027, 11, 15, 5, 30, tzinfo=UTC)) if ":missed" in line]
    lines = bot.tick(datetime(2027, 11, 15, 14, 0, tzinfo=UTC))  # 09:00 New York: the start of the working day
    missed = sorted(line.split("→ ")[1].strip() for line in lines if ":missed" in line)
    assert missed == [CHANNEL, "UPM1", "UQA1", "USTAB1"]
    assert "Missed stability pull" in bot.posts("UPM1")[0].args["text"]
    assert bot.tick(datetime(2027, 11, 16, 15, tzinfo=UTC)) == []


def test_out_of_window_pull_is_flagged_and_audited(bot, engine):
    _program(bot, engine)
    _study(engine, conditions=("LT25",), time_points={"LT25": [0, 3]})
    bot.clock.set(datetime(2027, 5, 20, 15, tzinfo=UTC))
    bot.command("stability pulled STB-0001 LT25 3 --date 2027-05-15", user="USTAB1", channel=CHANNEL)
    posted = bot.slack.wait_for("response_url")[0].args
    assert posted["response_type"] == "in_channel"
    assert "Out of window" in posted["text"] and "deviation" in posted["text"]
    with transaction(engine) as session:
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "pulled_out_of_window")).one()
    assert entry.actor_id == "USTAB1" and entry.after["deviation"] is True and entry.after["pulled_on"] == "2027-05-15"
    assert "already recorded" in bot.ask("stability pulled STB-0001 LT25 3", user="USTAB1", channel=CHANNEL)
    assert "no 6-month pull" in bot.ask("stability pulled STB-0001 LT25 6", user="USTAB1", channel=CHANNEL)


def test_lab_submission_and_late_results_reminder(bot, engine):
    _program(bot, engine)
    _study(engine, conditions=("LT25",), time_points={"LT25": [0, 3]})
    bot.clock.set(datetime(2027, 2, 1, 15, tzinfo=UTC))
    bot.ask("stability pulled STB-0001 LT25 0 --date 2027-01-31", user="USTAB1", channel=CHANNEL)
    reply = bot.ask('stability submit STB-0001 LT25 0 --lab "QC lab" --samples S-1,S-2 --expected 2027-02-15',
                    user="USTAB1", channel=CHANNEL)
    assert "results expected by" in reply
    lines = bot.tick(datetime(2027, 2, 16, 15, tzinfo=UTC))
    assert sorted(line.split("→ ")[1].strip() for line in lines if "results-late" in line) == [CHANNEL, "USTAB1"]


RESULTS = (
    "Study,Condition,Time point,Attribute,Value,Unit,Lower limit,Upper limit\n"
    "STB-0001,LT25,0,Assay,100.1,%,95,105\n"
    "STB-0001,LT25,3,Assay,99.6,%,95,105\n"
    "STB-0001,LT25,6,Assay,99.2,%,95,105\n"
    "STB-0001,LT25,9,Assay,98.7,%,95,105\n"
    "STB-0001,LT25,12,Assay,98.1,%,95,105\n"
    "STB-0001,LT25,18,Assay,97.4,%,95,105\n"
    "STB-0009,LT25,3,Assay,99.6,%,95,105\n"
    "STB-0001,LT25,3,Assay,99.9,%,95,105\n"
    "STB-0001,ACC40,3,Assay,94.1,%,95,105\n"
    "STB-0001,ACC40,3,Water,1.1,mg,,3\n"
    "STB-0001,LT25,3,Water,1.1,%,,3\n"
)


@both_stores
def test_results_from_a_file_then_the_data_package(bot, engine):
    _program(bot, engine)
    study_id = _study(engine, time_points={"LT25": [0, 3, 6, 9, 12, 18, 24], "ACC40": [0, 3, 6]})
    with transaction(engine) as session:
        program = factories.programs.by_code(session, "ACME-001")
        for pull in stability.pulls_of(session, study_id):
            if pull.months <= 18:
                stability.record_pull(session, program=program, pull=pull, actor=factories.ADMIN,
                                      now=datetime(2029, 1, 10, tzinfo=UTC), pulled_on=pull.due_on)
    bot.clock.set(datetime(2029, 1, 10, 15, tzinfo=UTC))
    bot.slack.add_file("F0RESULTS", "results.csv", RESULTS.encode(), mimetype="text/csv", user="USTAB1")
    bot.command("stability results", user="USTAB1", channel=CHANNEL)
    bot.slack.wait_for("views.open")
    assert bot.submit("USTAB1", {"file": ["F0RESULTS"]}).text in ("", "{}")
    summary = bot.slack.wait_for("chat.postMessage", lambda c: "Results for ACME-001" in c.args.get("text", ""))
    text = summary[0].args["text"]
    assert summary[0].args["channel"] == "USTAB1"
    assert "8 results imported, 3 rows refused" in text
    assert "row 8: unknown study" in text and "row 9: duplicate" in text and "row 12: unit" in text
    alerts = bot.slack.wait_for("chat.postMessage", lambda c: "Out-of-specification" in c.args.get("text", ""),
                                count=2)
    assert sorted(a.args["channel"] for a in alerts) == ["UPM1", "UQA1"] and "94.1" in alerts[0].args["text"]

    # one result typed into the form: a bad number is a field error, nothing saved
    bot.command("stability results STB-0001", user="USTAB1", channel=CHANNEL)
    bot.slack.wait_for("views.open", count=2)
    body = bot.submit("USTAB1", {"condition": "ACC40", "timepoint": "6", "attribute": "Assay", "value": "abc"}).json()
    assert body["response_action"] == "errors" and "not a number" in body["errors"]["value"]

    bot.command("stability report STB-0001", user="UPM1", channel=CHANNEL)
    bot.slack.wait_for("files.completeUploadExternal")
    reply = bot.slack.wait_for("response_url", lambda c: "data package" in c.args.get("text", ""))[0].args["text"]
    uploaded = {f["name"]: f for f in bot.slack.uploaded_files()}
    assert set(uploaded) == {"STB-0001-data-package.xlsx", "STB-0001-data-package.pdf"}
    assert all(f["channel"] == CHANNEL for f in uploaded.values())
    book = load_workbook(io.BytesIO(uploaded["STB-0001-data-package.xlsx"]["bytes"]))
    lt = [[c.value for c in row] for row in book["LT25"].iter_rows()]
    assert lt[2][:3] == ["Assay", None, "%"] and lt[2][5:] == [100.1, 99.6, 99.2, 98.7, 98.1, 97.4]
    assert [c.value for c in book["ACC40"][3]][5] == 94.1
    pdf = " ".join(" ".join(p.extract_text().split())
                   for p in PdfReader(io.BytesIO(uploaded["STB-0001-data-package.pdf"]["bytes"])).pages)
    assert "97.4" in pdf and "94.1" in pdf and "meet the limit 95 at 30.71 months" in pdf  # two-sided (95–105)

    with transaction(engine) as session:
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "data_package_filed")).one()
    for path, digest in entry.after["files"].items():
        content = bot.files.get(path)
        assert hashlib.sha256(content).hexdigest() == digest and digest in reply
        assert content == uploaded[Path(path).name]["bytes"]


def test_app_home_lists_pulls_and_marks_them_pulled(bot, engine):
    _program(bot, engine)
    study_id = _study(engine, conditions=("LT25",), time_points={"LT25": [0, 3]})
    bot.clock.set(datetime(2027, 4, 26, 15, tzinfo=UTC))  # the 3-month pull is due 30 Apr; time zero was missed
    bot.send.event({"type": "app_home_opened", "user": "USTAB1", "channel": "D0HOME", "tab": "home"})
    bot.slack.wait_for("views.publish", lambda c: c.args.get("user_id") == "USTAB1")
    home = str(bot.slack.home_view("USTAB1")["blocks"])
    assert "missed pull" in home and "3 months" in home and "Mark pulled" in home
    with transaction(engine) as session:
        pull = stability.find_pull(session, session.get(stability.StabilityStudy, study_id), "LT25", 3)
    bot.send.block_action("USTAB1", "stability_mark_pulled", value=str(pull.id), view=bot.slack.home_view("USTAB1"))
    bot.slack.wait_for("chat.postMessage", lambda c: c.args.get("channel") == CHANNEL
                       and "3-month pull recorded" in c.args.get("text", ""))
    with transaction(engine) as session:
        assert session.get(stability.StabilityPull, pull.id).pulled_on.isoformat() == "2027-04-26"
    bot.slack.wait_for("views.publish", lambda c: c.args.get("user_id") == "USTAB1", count=2)
    assert "3 months" not in str(bot.slack.home_view("USTAB1")["blocks"])
    # a forged button value for a pull of a program the person has no role on is refused like any unknown one
    bot.send.block_action("UOUT", "stability_mark_pulled", value=str(pull.id), view=bot.slack.home_view("USTAB1"))
    refused = bot.slack.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "UOUT")
    assert "not there, or not yours" in refused[0].args["text"]
