"""A button is only as good as the person who presses it: a batch button replayed by another program's
approver, or with a tampered value, changes nothing and answers plainly."""

from __future__ import annotations

from store.audit import AuditHead
from store.db import transaction
from tests import factories
from tests.conftest import NOW
from tests.hardening import report


def _seq(engine) -> int:
    with transaction(engine) as session:
        return session.get(AuditHead, 1).seq


def test_replayed_and_tampered_batch_buttons(bot, engine):
    with transaction(engine) as session:
        factories.program(session, NOW, "ACME-001", channel="CACME001")
        factories.program(session, NOW, "BETA-002", channel="CBETA002",
                          members={factories.Role.customer_approver: ["UBETA"]})
    bot.slack.add_channel("CACME001", "acme-001")
    bot.slack.add_channel("CBETA002", "beta-002")
    assert "ready for review" in bot.ask("batch ready B-1042 --product Acmezol", user="UPM1", channel="CACME001")
    dm = bot.slack.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "UAPP1")[0]
    message = {**dm.response["message"], "channel": dm.response["channel"]}
    approve = next(e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
                   if e["action_id"] == "batch_approve")
    bot.slack.wait_for("views.publish", timeout=10)
    before = _seq(engine)
    for user, value in (("UBETA", approve["value"]), ("UOUT", approve["value"]),
                        ("UAPP1", '{"batch": "B-1042", "program": 999}'), ("UAPP1", "x" * 2000)):
        response = bot.send.block_action(user, "batch_approve", value,
                                         message=message, channel_id=dm.response["channel"])
        report.COUNTS["fuzzed"] += 1
        assert response.status_code == 200, (user, value[:40], response.text)
    bot.slack.wait_for("response_url", count=5, timeout=10)  # the ready reply and four refusals
    assert _seq(engine) == before  # nobody without the role wrote anything, and no approval was recorded
    assert bot.slack.calls("views.open") == []  # no signing form opened for anyone
    answers = " ".join(c.args.get("text", "") for c in bot.slack.calls("response_url"))
    assert ":boom:" not in answers
