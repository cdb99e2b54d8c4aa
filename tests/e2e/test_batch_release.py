"""The CMO's QA release end to end through the real `serve`: `ready` in a new program waits for CMO quality,
the release is signed in the dialog with an authenticator code (pyotp at the bot's injected clock), and only
then do the customer's approvers get their requests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlmodel import select

from store.agreements import service as agreements
from store.batches import release as batch_release
from store.batches import service as batches
from store.db import transaction
from store.programs import Role
from tests import factories
from tests.e2e.test_signatures import _code, _enroll

CHANNEL = "CACME001"
MON_23 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Monday 23 Nov 2026, 10:00 in New York
MEMBERS = {Role.program_manager: ["UPM1"], Role.customer_approver: ["UAPP1", "UAPP2"], Role.cmo_quality: ["UQA1"]}


def _program(bot, engine) -> None:
    """ACME-001 created now: QA release required and signing with an authenticator code (the defaults)."""
    bot.clock.set(MON_23)
    with transaction(engine) as session:
        program = factories.program(session, MON_23, channel=CHANNEL, members=MEMBERS, qa_release=None)
        for kind in (agreements.Kind.nda, agreements.Kind.quality):
            agreements.create(session, program=program, actor=factories.ADMIN, now=MON_23, kind=kind,
                              counterparty="Acme Pharma", status=agreements.Status.executed,
                              terms=agreements.Terms(effective_on=date(2025, 1, 1), expires_on=date(2028, 12, 31)))
    bot.slack.add_channel(CHANNEL, "acme-001", members=["UPM1", "UAPP1", "UAPP2", "UQA1"])


def _buttons(message: dict) -> list[str]:
    return [e["action_id"] for b in message.get("blocks", []) if b["type"] == "actions" for e in b["elements"]]


def test_ready_waits_for_the_signed_qa_release_then_the_approvers_are_asked(bot, engine):
    _program(bot, engine)
    reply = bot.ask("batch ready B-1042 --product 'Acmezol 10 mg'", user="UQA1", channel=CHANNEL)
    assert "awaits the CMO's QA release" in reply and "<@UQA1>" in reply, reply
    [dm] = bot.slack.wait_for("chat.postMessage", lambda c: c.args["channel"] == "UQA1")
    assert _buttons(dm.args) == ["batch_qa_release"] and "awaiting CMO QA release" in dm.args["text"]
    assert bot.posts("UAPP1") == [] and bot.posts("UAPP2") == []  # the customer is not asked yet
    assert "awaits the CMO's QA release" in bot.ask("batch approve B-1042", user="UAPP1", channel=CHANNEL)
    assert "can QA-release batch records" in bot.ask("batch qa-release B-1042", user="UPM1", channel=CHANNEL)

    secret = _enroll(bot, "UQA1")
    # the person who marked it ready cannot release it (segregation of duties), in the dialog
    bot.send.block_action("UQA1", "batch_qa_release", channel_id=dm.response["channel"],
                          message={**dm.args, "ts": dm.response["ts"]})
    view = bot.slack.wait_for("views.open", lambda c: c.args["view"]["callback_id"] == "batch_qa_release_sign")
    assert "I release the executed batch record B-1042 for the customer" in str(view[0].args["view"]["blocks"])
    refused = bot.submit("UQA1", {"code": _code(secret, bot.clock.now())}).json()
    assert refused["response_action"] == "errors" and "segregation of duties" in refused["errors"]["code"]

    # the manager marks a second batch ready; CMO quality releases it with a current code
    assert "awaits the CMO's QA release" in bot.ask("batch ready B-1043", user="UPM1", channel=CHANNEL)
    bot.clock.set(datetime(2026, 11, 25, 15, 0, tzinfo=UTC))  # Wed 25 Nov
    assert bot.answer(bot.command("batch qa-release B-1043", user="UQA1", channel=CHANNEL))[0] == "view"
    bot.slack.wait_for("views.open", lambda c: c.args["view"]["callback_id"] == "batch_qa_release_sign", count=2)
    wrong = bot.submit("UQA1", {"code": "000000"}).json()
    assert wrong["response_action"] == "errors" and "code" in wrong["errors"]
    bot.clock.set(bot.clock.now() + timedelta(seconds=30))
    assert bot.submit("UQA1", {"code": _code(secret, bot.clock.now())}).text == ""

    requests = bot.slack.wait_for("chat.postMessage", lambda c: c.args["channel"] in ("UAPP1", "UAPP2"), count=2)
    assert all(_buttons(r.args) == ["batch_approve", "batch_hold", "batch_reject", "batch_call"] for r in requests)
    receipt = bot.slack.wait_for("chat.postMessage", lambda c: "QA release signed by" in c.args.get("text", ""))
    assert receipt[0].args["channel"] == "UQA1" and "Quinn Quality" in receipt[0].args["text"]
    with transaction(engine) as session:
        program = factories.programs.by_code(session, "ACME-001")
        batch = batches.get(session, program, "B-1043")
        assert (batch.state, batch.released_on, batch.round_started_on) == \
            (batches.BatchStatus.awaiting, date(2026, 11, 25), date(2026, 11, 25))
        row = session.exec(select(batch_release.BatchRelease)).one()
        assert (row.user_id, row.second_component, row.linked_sha256) == \
            ("UQA1", "totp", batches.link(program, batch, 1))
    history = bot.ask("batch status B-1043", user="UAPP1", channel=CHANNEL)
    assert "signed by Quinn Quality — I release the executed batch record B-1043" in history
    assert "QA release: required" in bot.ask("batch settings", user="UPM1", channel=CHANNEL)
    assert "QA release: off" in bot.ask("batch settings --qa-release off", user="UPM1", channel=CHANNEL)
    assert "ready for review" in bot.ask("batch ready B-1044", user="UPM1", channel=CHANNEL)
    bot.slack.wait_for("views.publish", count=4, timeout=10)
