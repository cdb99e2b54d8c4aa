"""A lab's results file shared in the program channel, filed with *File to program* (the results import is a
destination), for a running study whose pulls were never recorded: the reply names the missing pulls and its
button records them on their pull dates and imports in one step. Through the real `serve` and the emulator."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlmodel import select

from store.audit import AuditEntry
from store.db import transaction
from store.stability import service as stability
from tests import factories
from tests.stability_factories import study as make_study

CREATED = datetime(2027, 8, 10, 15, tzinfo=UTC)  # the study is entered in the bot months after its placement
CHANNEL = "CACME001"
LAB_FILE = (
    "Study,Storage condition,Time point,Test,Result,Unit,LSL,USL\n"
    "STB-0001,25°C/60%RH,T0,Assay,100.1,%,95,105\n"
    "STB-0001,25°C/60%RH,T3,Assay,99.6,%,95,105\n"
    "STB-0001,40°C/75%RH,T0,Assay,100.0,%,95,105\n"
    "STB-0001,40°C/75%RH,3M,Assay,97.9,%,95,105\n"
    "STB-0001,40°C/75%RH,6M,Assay,96.8,%,95,105\n"
    "STB-0001,25°C/60%RH,T6,Assay,99.3,%,95,105\n"
    "STB-0001,25°C/60%RH,T12,Assay,98.8,%,95,105\n"
)


def _program(bot, engine) -> int:
    bot.slack.add_channel(CHANNEL, "acme-001", members=["UPM1", "UQA1", "USTAB1", "UAPP1"])
    bot.clock.set(CREATED)
    with transaction(engine) as session:
        program = factories.program(session, CREATED, channel=CHANNEL, status_cadence="off")
        return make_study(session, program, CREATED, time_points={"LT25": [0, 3, 6, 12], "ACC40": [0, 3, 6]}).id


def _share(bot, name: str, content: str, by: str = "USTAB1") -> dict:
    shared = bot.slack.add_file("F0LAB", name, content.encode(), mimetype="text/csv", user=by)
    message = bot.slack.add_message(CHANNEL, "Lab results, batch L-001", by)
    message["files"] = [shared]
    return message


def _options(bot, count: int) -> list[str]:
    opened = bot.slack.wait_for("views.open", count=count)[-1]
    return [o["value"] for b in opened.args["view"]["blocks"] if b.get("block_id") == "target"
            for o in b["element"]["options"]]


def _pulls(engine, study_id: int) -> dict[tuple[str, int], tuple]:
    with transaction(engine) as session:
        return {(p.condition, p.months): (p.pulled_on and p.pulled_on.isoformat(), p.from_results)
                for p in stability.pulls_of(session, study_id)}


def test_results_shared_in_the_channel_record_the_missing_pulls_and_import_in_one_step(bot, engine):
    study_id = _program(bot, engine)
    message = _share(bot, "STB-0001 lab results.csv", LAB_FILE)
    bot.send.message_shortcut("file_to_program", "USTAB1", CHANNEL, message)
    options = _options(bot, 1)
    assert options == ["stability|ACME-001|", "stability|ACME-001|STB-0001"]
    assert bot.submit("USTAB1", {"target": "stability|ACME-001|STB-0001"}).text in ("", "{}")

    told = bot.slack.wait_for("chat.postMessage", lambda c: "Results for ACME-001" in c.args.get("text", ""))[0]
    text = told.args["text"]
    assert told.args["channel"] == "USTAB1"
    assert "0 results imported, 1 row refused" in text
    assert "row 8: the 12-month LT25 pull is not recorded and not due before 2028-01-31" in text
    assert "6 rows wait for 6 pulls not recorded yet" in text
    assert "STB-0001 LT25 0 months (pull date Sun 31 Jan 2027): rows 2" in text
    assert "STB-0001 ACC40 6 months (pull date Sat 31 Jul 2027): rows 6" in text
    assert all(pulled is None for pulled, _ in _pulls(engine, study_id).values())  # nothing changed yet

    dm = bot.slack.messages(told.response["channel"])[-1]
    [button] = [e for b in dm["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert button["text"]["text"] == "Record 6 pulls and import"
    bot.send.block_action("USTAB1", "stability_record_and_import", message=dm)
    done = bot.slack.wait_for("response_url", lambda c: "Recorded from these results" in c.args.get("text", ""))
    assert done[0].args["replace_original"] is True
    assert "6 results imported, 1 row refused" in done[0].args["text"]
    assert "stability_record_and_import" not in json.dumps(done[0].args.get("blocks"))  # nothing left to press
    assert _pulls(engine, study_id) == {
        ("LT25", 0): ("2027-01-31", True), ("ACC40", 0): ("2027-01-31", True), ("LT25", 3): ("2027-04-30", True),
        ("ACC40", 3): ("2027-04-30", True), ("LT25", 6): ("2027-07-31", True), ("ACC40", 6): ("2027-07-31", True),
        ("LT25", 12): (None, False)}
    with transaction(engine) as session:
        audited = session.exec(select(AuditEntry).where(AuditEntry.action == "pulled_from_results")).all()
        assert len(audited) == 6 and {e.actor_id for e in audited} == {"USTAB1"}
        assert len(session.exec(select(stability.StabilityResult)).all()) == 6
    schedule = bot.ask("stability schedule STB-0001", user="USTAB1", channel=CHANNEL)
    assert "STB-0001" in schedule
    assert "pulled 2027-07-31 (from results)" in str(bot.slack.calls("response_url")[-1].args["blocks"])

    # pressed again (a double click): nothing is recorded or imported twice
    bot.send.block_action("USTAB1", "stability_record_and_import", message=dm)
    again = bot.slack.wait_for("response_url", lambda c: "already imported before" in c.args.get("text", ""))
    assert "0 results imported, 1 row refused, 6 already imported before" in again[0].args["text"]
    with transaction(engine) as session:
        assert len(session.exec(select(stability.StabilityResult)).all()) == 6


def test_an_altered_button_or_another_person_records_nothing(bot, engine):
    study_id = _program(bot, engine)
    bot.send.message_shortcut("file_to_program", "USTAB1", CHANNEL, _share(bot, "r.csv", LAB_FILE))
    _options(bot, 1)
    bot.submit("USTAB1", {"target": "stability|ACME-001|"})
    told = bot.slack.wait_for("chat.postMessage", lambda c: "Results for ACME-001" in c.args.get("text", ""))[0]
    dm = bot.slack.messages(told.response["channel"])[-1]
    [button] = [e for b in dm["blocks"] if b["type"] == "actions" for e in b["elements"]]
    forged = {**json.loads(button["value"]), "program": "BETA-002"}
    bot.send.block_action("USTAB1", "stability_record_and_import", value=json.dumps(forged), message=dm)
    bot.slack.wait_for("response_url", lambda c: "altered" in c.args.get("text", ""))
    bot.send.block_action("UPM1", "stability_record_and_import", message=dm)  # the seal names the importer
    bot.slack.wait_for("response_url", lambda c: "altered" in c.args.get("text", "")
                       and c.args.get("replace_original") is not True, count=2)
    assert all(pulled is None for pulled, _ in _pulls(engine, study_id).values())


def test_the_shortcut_says_why_nothing_can_be_filed(bot, engine):
    bot.slack.add_channel(CHANNEL, "acme-001", members=["UPM1", "USTAB1", "UAPP1"])
    with transaction(engine) as session:
        factories.program(session, CREATED, channel=CHANNEL, status_cadence="off")  # no study, agreement, submission
    message = _share(bot, "r.csv", LAB_FILE)
    for user, expected in (
        ("USTAB1", "Nothing is open for you to file to on ACME-001 (stability team). What can be filed, and by "
                   "whom: "),
        ("UAPP1", "Nothing is open for you to file to on ACME-001 (customer approvers)"),
        ("UOUT", "There is nothing you can file to: you hold no role on any program."),
    ):
        bot.send.message_shortcut("file_to_program", user, CHANNEL, message)
        told = bot.slack.wait_for("chat.postEphemeral", lambda c, u=user: c.args.get("user") == u)[0].args["text"]
        assert expected in told, told
        assert "you hold no role" not in told or user == "UOUT"
    stability_team = bot.slack.wait_for("chat.postEphemeral", lambda c: c.args.get("user") == "USTAB1")[0]
    assert "stability results files (stability team, program managers, CMO quality) for a program with a study" \
        in stability_team.args["text"]
    assert not bot.slack.calls("views.open")
