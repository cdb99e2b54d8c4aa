"""The foundation end to end: signatures, the /cmo router, programs through the modal, isolation."""

from __future__ import annotations

import requests
from sqlmodel import select

from store import programs
from store.audit import AuditEntry
from store.db import transaction
from tests.e2e.harness import BOTH_TRANSPORTS


def _create_program(bot, code="ACME-001", approvers=("UAPP1", "UAPP2")):
    assert bot.answer(bot.command("program new", user="UADMIN"))[0] == "view"  # this command's form, not the last
    bot.submit("UADMIN", {
        "code": code, "customer": "Acme Pharma", "products": "Acmezol 10 mg tablets",
        "timezone": "America/New_York", "cadence": "weekly",
        "program_manager": ["UPM1"], "customer_approver": list(approvers), "cmo_quality": ["UQA1"],
    })
    return bot.slack.wait_for("chat.postMessage", lambda c: "This is the channel" in c.args.get("text", ""))[0]


@BOTH_TRANSPORTS
def test_program_created_through_modal(bot, engine):
    welcome = _create_program(bot)
    created = bot.slack.calls("conversations.create")
    assert [c.args["name"] for c in created] == ["acme-001"]
    channel = created[0].response["channel"]["id"]
    assert welcome.args["channel"] == channel and "ACME-001" in welcome.args["text"]
    invited = bot.slack.calls("conversations.invite")[0].args["users"].split(",")
    assert set(invited) == {"UPM1", "UAPP1", "UAPP2", "UQA1", "UADMIN"}
    with transaction(engine) as session:
        program = programs.by_code(session, "ACME-001")
        assert program.channel_id == channel and program.timezone == "America/New_York"
        assert programs.roles_of(session, program.id, "UAPP2") == {programs.Role.customer_approver}


@BOTH_TRANSPORTS
def test_bad_modal_submission_gets_field_errors_and_saves_nothing(bot, engine):
    bot.command("program new", user="UADMIN")
    bot.slack.wait_for("views.open")
    response = bot.submit("UADMIN", {"code": "no spaces/allowed", "customer": "Acme", "timezone": "Mars/Base"})
    body = response.json()
    assert body["response_action"] == "errors" and "code" in body["errors"]
    with transaction(engine) as session:
        assert programs.visible_to(session, programs.Actor("UADMIN", "a", is_admin=True)) == []


def test_non_admin_cannot_open_program_form(bot):
    reply = bot.ask("program new", user="UPM1")
    assert "Only admins" in reply
    assert bot.slack.calls("views.open") == []


def test_bad_missing_and_stale_signatures_are_refused(bot):
    for sign in ("none", "wrong", "stale"):
        response = bot.send.command("help", "UPM1", "CGENERAL", sign=sign)
        assert response.status_code == 401, sign
    response = bot.send.command("help", "UPM1", "CGENERAL", secret="another-apps-secret")
    assert response.status_code == 401
    assert bot.slack.calls("response_url") == []


@BOTH_TRANSPORTS
def test_unknown_and_malformed_commands_get_help(bot):
    assert "There is no area `frobnicate`" in bot.ask("frobnicate now")
    reply = bot.ask("program explode")
    assert "`explode` is not a verb of program" in reply and "/cmo program new" in reply
    assert "quote is not closed" in bot.ask('program roles add "UAPP1')
    assert "/cmo agreement" in bot.ask("") or "/cmo program" in bot.ask("")


@BOTH_TRANSPORTS
def test_tenant_isolation_between_two_programs(bot):
    _create_program(bot, "ACME-001")
    acme_channel = bot.slack.calls("conversations.create")[0].response["channel"]["id"]
    _create_program(bot, "BETA-002", approvers=("UBETA",))
    reply = bot.ask("program status --program ACME-001", user="UBETA")
    assert "no program here that you can act on" in reply and "Acme" not in reply
    unknown = bot.ask("program status --program NOPE-999", user="UBETA")
    assert unknown == reply
    assert "no program here" in bot.ask("program roles", user="UBETA", channel=acme_channel)
    listing = bot.ask("program list", user="UBETA")
    assert "BETA-002" in listing and "ACME-001" not in listing


def test_non_member_and_approver_cannot_change_roles(bot, engine):
    _create_program(bot)
    channel = bot.slack.calls("conversations.create")[0].response["channel"]["id"]
    assert "no program here" in bot.ask("program roles add <@UOUT|olga> approver", user="UOUT", channel=channel)
    assert "Only program managers" in bot.ask("program roles add <@UOUT|olga> approver", user="UAPP1",
                                              channel=channel)
    # segregation of duties: a manager cannot make anyone (themselves included) a customer approver, nor remove one
    assert "Only admins" in bot.ask("program roles add <@UPM1|pat> approver", user="UPM1", channel=channel)
    assert "Only admins" in bot.ask("program roles remove <@UAPP1|alice> approver", user="UPM1", channel=channel)
    # an admin grants it to someone inside the company only with a recorded reason
    refused = bot.ask("program roles add <@UOUT|olga> approver", user="UADMIN", channel=channel)
    assert "inside the company" in refused and "--reason" in refused
    assert "now has the role" in bot.ask('program roles add <@UOUT|olga> approver --reason "Acme QA seconded to us"',
                                         user="UADMIN", channel=channel)
    assert "now has the role" in bot.ask("program roles add <@UBETA|bea> approver", user="UADMIN", channel=channel)
    with transaction(engine) as session:
        program = programs.by_code(session, "ACME-001")
        assert programs.roles_of(session, program.id, "UOUT") == {programs.Role.customer_approver}
        assert programs.roles_of(session, program.id, "UPM1") == {programs.Role.program_manager}
        grants = [e.after for e in session.exec(select(AuditEntry).where(AuditEntry.action == "role_granted")
                                                    .order_by(AuditEntry.seq))  # type: ignore[arg-type]
                  if e.after["user_id"] in ("UOUT", "UBETA")]
        # granted before Slack has said which side they are on: outside until it does (guests fail closed)
        assert grants == [{"user_id": "UOUT", "role": "customer_approver", "external": None,
                           "reason": "Acme QA seconded to us"},
                          {"user_id": "UBETA", "role": "customer_approver", "external": None}]


def test_healthz(bot):
    assert requests.get(bot.process.url.replace("/slack/events", "/healthz"), timeout=5).json() == {"ok": True}


def test_status_lists_what_will_be_sent_in_the_next_14_days(bot, engine):
    from tests import factories
    from tests.conftest import NOW

    with transaction(engine) as session:
        factories.program(session, NOW, "ACME-001", channel="CACME001")
    bot.slack.add_channel("CACME001", "acme-001")
    reply = bot.ask("status", user="UPM1", channel="CACME001")
    assert "3 message(s) planned in the next 14 days" in reply, reply
    for day in ("Mon 2 Nov 2026 09:00 EST", "Mon 9 Nov 2026 09:00 EST", "Mon 16 Nov 2026 09:00 EST"):
        assert day in reply
    bot.tick("2026-11-02T14:05:00+00:00")
    assert "2 message(s) planned" in bot.ask("status", user="UPM1", channel="CACME001")
    assert "no program here" in bot.ask("status", user="UOUT", channel="CACME001")


def test_slack_connect_members_are_marked_external(bot, engine):
    _create_program(bot)
    with transaction(engine) as session:
        program = programs.by_code(session, "ACME-001")
        assert programs.is_external(session, program.id, "UAPP2")  # Bob, from the customer's workspace
        assert not programs.is_external(session, program.id, "UAPP1")
    assert "Only people of the manufacturer" in bot.ask("program status --program ACME-001", user="UAPP2")
    assert "ACME-001" in bot.ask("program list", user="UAPP2")


def test_program_form_offers_the_sites_region_and_status_names_it(bot, engine):
    bot.command("program new", user="UADMIN")
    view = bot.slack.wait_for("views.open")[0].args["view"]
    block = next(b for b in view["blocks"] if b.get("block_id") == "holidays")
    groups = {g["label"]["text"]: [o["value"] for o in g["options"]] for g in block["element"]["option_groups"]}
    assert "GB-ENG" in groups["United Kingdom"] and "GB" not in groups["United Kingdom"]
    assert "DE-BY" in groups["Germany"] and "US-NJ" in groups["United States"]
    bot.submit("UADMIN", {"code": "BRIT-001", "customer": "Albion Labs", "timezone": "Europe/London",
                          "cadence": "weekly", "holidays": "GB-ENG", "program_manager": ["UPM1"]})
    bot.slack.wait_for("chat.postMessage", lambda c: "This is the channel" in c.args.get("text", ""))
    with transaction(engine) as session:
        assert programs.by_code(session, "BRIT-001").holiday_calendar == "GB-ENG"
    status = bot.reply(bot.command("program status --program BRIT-001", user="UPM1"))
    assert "England, United Kingdom (GB-ENG)" in str(status["blocks"])
