"""Onboarding and audits end to end: `/cmo program export` uploads the workbook by DM; the "Import tracker"
shortcut downloads the shared file, answers with the dry run and an Import button that imports."""

from __future__ import annotations

import io

import openpyxl

from store.db import transaction
from tests import factories
from tests.conftest import NOW


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
