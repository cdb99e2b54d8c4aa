"""Onboarding and audits end to end: `/cmo program export` uploads the workbook by DM; the "Import tracker"
shortcut downloads the shared file, answers with the dry run and an Import button that imports."""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
from sqlmodel import select

from store import programs
from store.agreements import service as agreements
from store.audit import AuditEntry
from store.db import transaction
from tests import factories
from tests.conftest import NOW

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _program(engine, bot):
    with transaction(engine) as session:
        factories.program(session, NOW, "ACME-001", channel="CACME001")
    bot.slack.add_channel("CACME001", "acme-001", members=["UADMIN", "UPM1", "UQA1", "UAPP1"])


def test_program_export_is_uploaded_to_the_caller_by_dm(bot, engine):
    _program(engine, bot)
    reply = bot.ask("program export", user="UQA1", channel="CACME001")
    assert "is in your DMs with the bot" in reply and "audit chain verified" in reply, reply
    [upload] = bot.slack.uploaded_files()
    assert upload["channel"].startswith("D") and upload["name"].startswith("cmo-export-ACME-001-")
    workbook = openpyxl.load_workbook(io.BytesIO(upload["bytes"]))
    assert workbook.sheetnames[0] == "Summary" and workbook["Summary"]["B2"].value == "verified"
    assert len(list(workbook["Audit trail"].iter_rows(min_row=2))) == 7
    assert "Records of ACME-001" in upload["initial_comment"]


def test_program_export_is_for_managers_quality_and_admins(bot, engine):
    _program(engine, bot)
    assert "Only program managers or cmo quality" in bot.ask("program export", user="UAPP1", channel="CACME001")
    assert "no program here" in bot.ask("program export --program ACME-001", user="UOUT")
    assert "not a date" in bot.ask("program export --from 1/2/2026", user="UPM1", channel="CACME001")
    assert bot.slack.uploaded_files() == []
    assert "is in your DMs" in bot.ask("program export --program ACME-001 --format csv", user="UADMIN")
    assert bot.slack.uploaded_files()[0]["name"].endswith(".zip")


def _share_tracker(bot, name="agreements.csv", content=None, file_id="F0TRACK1", user="UADMIN", channel="CACME001"):
    content = content if content is not None else (EXAMPLES / name).read_bytes()
    bot.slack.add_file(file_id, name, content, mimetype="text/csv", user=user)
    message = bot.slack.add_message(channel, "our tracker", user)
    message["files"] = [bot.slack.file_object(file_id)]
    before = len(bot.posts(user))
    response = bot.send.message_shortcut("import_tracker", user, channel, message)
    assert response.status_code == 200, response.text
    return bot.slack.wait_for("chat.postMessage", lambda c: c.args.get("channel") == user, count=before + 1)[-1]


def _agreements(engine):
    with transaction(engine) as session:
        return sorted(a.ref for a in agreements.for_program(session, programs.by_code(session, "ACME-001").id))


def test_import_tracker_shortcut_dry_runs_then_imports_on_the_button(bot, engine):
    _program(engine, bot)
    preview = _share_tracker(bot)
    text = preview.args["text"]
    assert "(dry run: nothing was changed)" in text and "4 to import, 0 already present, 4 refused" in text, text
    assert "row 7: Exp. Date '31/05/2030' has no month 31" in text
    assert _agreements(engine) == []
    dm = preview.response["channel"]
    bot.send.block_action("UADMIN", "import_tracker_run", channel_id=dm)
    done = bot.slack.wait_for("chat.update", lambda c: c.args.get("channel") == dm)[0]
    assert "4 imported, 0 already present, 4 refused" in done.args["text"], done.args["text"]
    assert "import_tracker_run" not in str(done.args.get("blocks"))  # the button is gone once imported
    assert _agreements(engine) == ["MSA-1", "NDA-3", "QA-2", "QA-4"]
    with transaction(engine) as session:
        imported = session.exec(select(AuditEntry).where(AuditEntry.action == "imported")).all()
        assert {(e.actor_id, e.after["file"]) for e in imported} == {("UADMIN", "agreements.csv")}
    again = bot.send.block_action("UADMIN", "import_tracker_run", channel_id=dm, message=preview.response["message"]
                                  | {"channel": dm})
    assert again.status_code == 200
    second = bot.slack.wait_for("chat.update", lambda c: "already present" in c.args.get("text", "")
                                and "0 imported" in c.args["text"])[0]
    assert "0 imported, 4 already present" in second.args["text"]
    assert _agreements(engine) == ["MSA-1", "NDA-3", "QA-2", "QA-4"]


def test_import_tracker_is_for_admins_and_imports_only_what_was_checked(bot, engine):
    _program(engine, bot)
    bot.slack.add_file("F0TRACK1", "agreements.csv", b"Type\nNDA\n", mimetype="text/csv", user="UPM1")
    message = bot.slack.add_message("CACME001", "our tracker", "UPM1")
    message["files"] = [bot.slack.file_object("F0TRACK1")]
    bot.send.message_shortcut("import_tracker", "UPM1", "CACME001", message)  # refused at the door (access.py)
    refused = bot.slack.wait_for("response_url", lambda c: "Only admins" in c.args.get("text", ""))[0]
    assert "import_tracker_run" not in str(refused.args.get("blocks")) and bot.posts("UPM1") == []
    preview = _share_tracker(bot, file_id="F0TRACK2")
    dm = preview.response["channel"]
    bot.slack.add_file("F0TRACK2", "agreements.csv", b"Type,Counterparty\nNDA,Someone Else\n")  # edited since
    bot.send.block_action("UADMIN", "import_tracker_run", channel_id=dm)
    told = bot.slack.wait_for("response_url", lambda c: "changed since it was checked" in c.args.get("text", ""))
    assert told and _agreements(engine) == []
    shown = preview.response["message"] | {"channel": dm}
    forwarded = bot.send.block_action("UPM1", "import_tracker_run", message=shown)  # a non-admin clicks
    assert forwarded.status_code == 200
    bot.slack.wait_for("response_url", lambda c: "Only admins" in c.args.get("text", ""))
    altered = bot.send.block_action("UADMIN", "import_tracker_run", message=shown, value='{"file_id": "../x"}')
    assert altered.status_code == 200
    bot.slack.wait_for("response_url", lambda c: "data was altered" in c.args.get("text", ""))
    assert _agreements(engine) == []


def test_read_dates_day_first_rechecks_without_importing(bot, engine):
    _program(engine, bot)
    preview = _share_tracker(bot)
    dm = preview.response["channel"]
    bot.send.block_action("UADMIN", "import_tracker_recheck", channel_id=dm)
    rechecked = bot.slack.wait_for("chat.update", lambda c: c.args.get("channel") == dm)[0].args
    assert "row 7: Exp. Date" not in rechecked["text"]  # 31/05/2030 reads as 31 May
    assert "row 3: Exp. Date '02/28/2028' has no month 28" in rechecked["text"], rechecked["text"]
    assert "Slash dates read day first" in str(rechecked["blocks"]) and _agreements(engine) == []


def test_file_names_and_cells_from_people_are_escaped(bot, engine):
    _program(engine, bot)
    content = b"Type,Counterparty,Status\n<!channel>,Acme,draft\n"
    preview = _share_tracker(bot, name="<!channel>.csv", content=content, file_id="F0TRACK3")
    assert "<!channel>" not in preview.args["text"] and "&lt;!channel&gt;" in preview.args["text"]
    assert "<!channel>" not in str(preview.args["blocks"])
    refused = _share_tracker(bot, name="<!here> notes.csv", content=b"Colour\nred\n", file_id="F0TRACK4")
    assert "does not look like a tracker" in refused.args["text"] and "<!here>" not in refused.args["text"]
