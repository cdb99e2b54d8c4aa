"""Guests fail closed: a member counts as outside the company until Slack (users.info) has said otherwise;
a lookup that fails (5xx, 429) is said in the reply and retried — by the scheduler's pass and by the
person's own next command — until it succeeds."""

from __future__ import annotations

from sqlmodel import select

from store import programs
from store.db import transaction
from tests import factories
from tests.conftest import NOW

CHANNEL = "CACME001"
def failing(user: str) -> list[dict]:
    """Three 503s for one person's users.info (the client retries a 5xx twice: three exhaust it); other
    lookups meanwhile (the caller's printed name, their own classification) are answered."""
    return [{"status": 503, "only": {"user": user}}] * 3


def _program(bot, engine) -> None:
    with transaction(engine) as session:
        factories.program(session, NOW, channel=CHANNEL)
    bot.slack.add_channel(CHANNEL, "acme-001", members=["UPM1"])


def _rows(engine, user: str) -> list[programs.ProgramMember]:
    with transaction(engine) as session:
        return list(session.exec(select(programs.ProgramMember).where(programs.ProgramMember.user_id == user)))


def test_a_guest_whose_lookup_fails_stays_outside_until_the_scheduler_classifies_them(bot, engine):
    _program(bot, engine)
    bot.slack.inject("users.info", *failing("UBETA"))
    # admins grant approvers; with a reason the grant needs no lookup first, so the failing one is the grant's own
    reply = bot.ask('program roles add <@UBETA> approver --reason "Beta QA lead"', user="UADMIN", channel=CHANNEL)
    assert "now has the role customer approvers" in reply
    assert "Slack did not say whether <@UBETA> belong to the manufacturer" in reply
    [row] = _rows(engine, "UBETA")
    assert not row.classified and row.external  # outside until Slack says otherwise
    assert "Only people of the manufacturer can see a program's status." in bot.ask(
        "program status", user="UBETA", channel=CHANNEL)
    assert "Only people of the manufacturer" in bot.ask("batch log", user="UBETA", channel=CHANNEL)
    bot.tick(NOW)  # the pass asks again; now Slack answers: a guest, for good
    [row] = _rows(engine, "UBETA")
    assert row.classified and row.external
    assert "Only people of the manufacturer" in bot.ask("stability list", user="UBETA", channel=CHANNEL)


def test_an_internal_member_whose_lookup_failed_is_classified_on_their_next_command(bot, engine):
    _program(bot, engine)
    bot.slack.inject("users.info", *failing("UOUT"))
    reply = bot.ask("program roles add <@UOUT> quality", user="UPM1", channel=CHANNEL)
    assert "Slack did not say whether <@UOUT>" in reply
    assert not _rows(engine, "UOUT")[0].classified
    with transaction(engine) as session:
        assert programs.is_outsider(session, "UOUT")
    reply = bot.ask("batch log", user="UOUT", channel=CHANNEL)  # the lookup is retried first, and succeeds
    assert "Only people of the manufacturer" not in reply
    [row] = _rows(engine, "UOUT")
    assert row.classified and not row.external


def test_a_program_created_while_slack_fails_tells_its_creator_and_keeps_members_outside(bot, engine):
    bot.slack.inject("users.info", *failing("UBETA"))
    bot.command("program new", user="UADMIN")
    bot.slack.wait_for("views.open")
    assert bot.submit("UADMIN", {"code": "GAMMA-1", "customer": "Gamma", "timezone": "UTC",
                                 "customer_approver": ["UBETA"]}).text == ""
    told = bot.slack.wait_for("chat.postMessage", lambda c: c.args["channel"] == "UADMIN"
                              and "Slack did not say whether <@UBETA>" in c.args.get("text", ""))
    assert told
    [row] = _rows(engine, "UBETA")
    assert row.external and not row.classified


def test_an_approver_grant_whose_lookup_fails_is_refused_not_granted(bot, engine):
    _program(bot, engine)
    bot.slack.inject("users.info", *failing("UBETA"))
    reply = bot.ask("program roles add <@UBETA> approver", user="UADMIN", channel=CHANNEL)
    assert "Slack did not say whether <@UBETA> is outside the company" in reply and "--reason" in reply
    assert _rows(engine, "UBETA") == []
