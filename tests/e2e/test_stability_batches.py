"""A primary study of three batches end to end, through the real `serve` and the emulator: a results file with
a lot column, the data package with the ICH Q1E poolability decision, and a significant change at accelerated
that alerts at once and starts the intermediate testing that waited on standby."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

from openpyxl import load_workbook
from pypdf import PdfReader

from store.db import transaction
from store.stability import service as stability
from store.stability.schedule import ICH_BY_CODE
from tests import factories

CREATED = datetime(2027, 1, 20, 15, tzinfo=UTC)
CHANNEL = "CACME001"
LOTS = ("L-2201", "L-2202", "L-2203")
# three lots falling at 0.10, 0.15 and 0.30 %/month: the slopes differ, each lot on its own, L-2203 governs
SLOPES = {"L-2201": -0.10, "L-2202": -0.15, "L-2203": -0.30}
NOISE = (0.05, -0.04, 0.02, -0.03, 0.04, -0.02)
MONTHS = (0, 3, 6, 9, 12, 18)


def _program(bot, engine, conditions, time_points, code="STB-0001"):
    bot.slack.add_channel(CHANNEL, "acme-001", members=["UPM1", "UQA1", "USTAB1"])
    with transaction(engine) as session:
        program = factories.program(session, CREATED, channel=CHANNEL, status_cadence="off")
        return stability.create_study(
            session, program=program, actor=factories.ADMIN, now=CREATED, code=code,
            product="Acmezol 10 mg tablets", placed_on=date(2027, 1, 31), duration_months=24,
            conditions=[ICH_BY_CODE[c] for c in conditions], time_points=time_points, lots=", ".join(LOTS)).id


def _import(bot, content: str, count: int = 1, study: str = "STB-0001"):
    """Import a results file through the results form; the importer's DM (its text and channel)."""
    bot.slack.add_file(f"F0R{count}", "results.csv", content.encode(), mimetype="text/csv", user="USTAB1")
    bot.command(f"stability results {study}", user="USTAB1", channel=CHANNEL)
    bot.slack.wait_for("views.open", count=count)
    assert bot.submit("USTAB1", {"file": [f"F0R{count}"]}).text in ("", "{}")
    return bot.slack.wait_for("chat.postMessage", lambda c: "Results for ACME-001" in c.args.get("text", ""),
                              count=count)[-1]


def test_three_lots_in_one_file_and_the_poolability_decision_in_the_data_package(bot, engine):
    _program(bot, engine, ("LT25",), {"LT25": list(MONTHS)}, code="STB-0201")  # its own data package files
    bot.clock.set(datetime(2029, 1, 10, 15, tzinfo=UTC))
    rows = ["Study,Condition,Time point,Lot,Attribute,Value,Unit,LSL"]
    rows += [f"STB-0201,25/60,{m}M,{lot},Assay,{100 + SLOPES[lot] * m + NOISE[i]:.3f},%,95"
             for lot in LOTS for i, m in enumerate(MONTHS)]
    # the pulls were never recorded: the import's button records them and imports
    told = _import(bot, "\n".join(rows) + "\n", study="STB-0201")
    assert "18 rows wait for 6 pulls" in told.args["text"]
    dm = bot.slack.messages(told.response["channel"])[-1]
    bot.send.block_action("USTAB1", "stability_record_and_import", message=dm)
    done = bot.slack.wait_for("response_url", lambda c: "Recorded from these results" in c.args.get("text", ""))
    assert "18 results imported, 0 rows refused" in done[0].args["text"]  # three lots at each time point

    bot.command("stability report STB-0201", user="UPM1", channel=CHANNEL)
    bot.slack.wait_for("files.completeUploadExternal")
    uploaded = {f["name"]: f["bytes"] for f in bot.slack.uploaded_files()}
    book = load_workbook(io.BytesIO(uploaded["STB-0201-data-package.xlsx"]))
    assert [r[1].value for r in book["LT25"].iter_rows(min_row=3)] == list(LOTS)
    q1e = [[c.value for c in r] for r in book["ICH Q1E"].iter_rows(min_row=2)]
    assert {r[2] for r in q1e} == {"separate"} and [r[5] for r in q1e] == list(LOTS)
    assert q1e[0][3] < 0.25 and q1e[0][4] is None  # slopes differ at the 0.25 level; intercepts not tested
    assert [r[5] for r in q1e if r[14] == "yes"] == ["L-2203"]
    pdf = " ".join(" ".join(p.extract_text().split())
                   for p in PdfReader(io.BytesIO(uploaded["STB-0201-data-package.pdf"])).pages)
    assert "Poolability of batches L-2201, L-2202, L-2203" in pdf and "each batch on its own line" in pdf
    assert "Governing: batch L-2203" in pdf


def test_a_significant_change_at_accelerated_alerts_at_once_and_starts_intermediate(bot, engine):
    study_id = _program(bot, engine, ("LT25", "INT30", "ACC40"), None)
    bot.clock.set(datetime(2027, 5, 10, 15, tzinfo=UTC))
    schedule = bot.ask("stability schedule STB-0001", user="USTAB1", channel=CHANNEL)
    assert "STB-0001" in schedule
    assert "standby" in str(bot.slack.calls("response_url")[-1].args["blocks"])
    told = _import(bot, "Study,Condition,Time point,Lot,Attribute,Value,Unit,LSL,USL\n"
                        "STB-0001,ACC40,0,L-2201,Assay,100.0,%,95,105\n"
                        "STB-0001,ACC40,3,L-2201,Assay,95.0,%,90,110\n")  # −5.0 %: a significant change
    assert "2 rows wait for 2 pulls" in told.args["text"]
    dm = bot.slack.messages(told.response["channel"])[-1]
    bot.send.block_action("USTAB1", "stability_record_and_import", message=dm)
    alerts = bot.slack.wait_for("chat.postMessage", lambda c: "Significant change at accelerated" in
                                c.args.get("text", ""), count=3)
    assert sorted(a.args["channel"] for a in alerts) == ["UPM1", "UQA1", "USTAB1"]  # at once, not at 09:00
    text = alerts[0].args["text"]
    assert "STB-0001 ACC40 3 months lot L-2201: Assay 95 %" in text and "-5.0 % from the initial 100" in text
    assert "intermediate testing at INT30 has started: 4 pulls from standby" in text
    assert "next pull INT30 6 months on Sat 31 Jul 2027" in text
    with transaction(engine) as session:
        int30 = [p for p in stability.pulls_of(session, study_id) if p.condition == "INT30"]
        assert int30 and all(not p.standby and p.activated_on == date(2027, 5, 10) for p in int30)


def test_without_an_intermediate_condition_the_alert_names_the_recommendation(bot, engine):
    _program(bot, engine, ("LT25", "ACC40"), None)
    bot.clock.set(datetime(2027, 5, 10, 15, tzinfo=UTC))
    with transaction(engine) as session:
        program = factories.programs.by_code(session, "ACME-001")
        study = stability.get_study(session, program.id, "STB-0001")
        study_id = study.id
        for months in (0, 3):
            pull = stability.find_pull(session, study, "ACC40", months)
            stability.record_pull(session, program=program, pull=pull, actor=factories.ADMIN,
                                  now=datetime(2027, 5, 10, 15, tzinfo=UTC), pulled_on=pull.due_on)
    _import(bot, "Study,Condition,Time point,Lot,Attribute,Value,Unit,LSL,USL\n"
                 "STB-0001,ACC40,0,L-2202,Impurity A,0.1,%,,0.5\n"
                 "STB-0001,ACC40,3,L-2202,Impurity A,0.6,%,,0.5\n")  # above its acceptance criterion
    alerts = bot.slack.wait_for("chat.postMessage", lambda c: "Significant change at accelerated" in
                                c.args.get("text", ""), count=3)
    text = alerts[0].args["text"]
    assert "Impurity A 0.6 %" in text and "outside its specification" in text
    assert "ICH Q1A(R2) recommends testing at the intermediate condition (30 °C / 65 % RH); the study's protocol " \
           "has none" in text

    # a result typed into the form names a lot the study does not have: a field error, nothing imported
    bot.command("stability results STB-0001", user="USTAB1", channel=CHANNEL)
    bot.slack.wait_for("views.open", count=2)
    body = bot.submit("USTAB1", {"condition": "ACC40", "timepoint": "3", "lot": "L-9", "attribute": "Assay",
                                 "value": "99"}).json()
    assert body["response_action"] == "errors"
    assert body["errors"]["lot"] == "lot 'L-9' is not a lot of STB-0001 (L-2201, L-2202, L-2203)"
    with transaction(engine) as session:
        assert len(stability.results_of(session, study_id)) == 2
