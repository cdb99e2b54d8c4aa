"""Nothing tells one program's people about another's records: an id in a button answers the same whether
it does not exist or belongs to someone else, and `--program A` used in another program's channel answers
only the person (never A's records in_channel there)."""

from __future__ import annotations

from datetime import date, timedelta

from store import programs
from store.batches import service as batches
from store.db import transaction
from store.submissions import service as subs
from tests import factories
from tests.conftest import NOW
from tests.stability_factories import study

ACME, BETA = "CACME001", "CBETA002"


def _programs(engine) -> tuple[int, int]:
    """ACME-001 with a batch awaiting review and a submission; BETA-002 whose approver is UBETA. Pat (UPM1)
    manages both."""
    with transaction(engine) as session:
        acme = factories.program(session, NOW, "ACME-001", channel=ACME)
        factories.program(session, NOW, "BETA-002", channel=BETA, members={
            programs.Role.program_manager: ["UPM1"], programs.Role.customer_approver: ["UBETA"]})
        batch = batches.ready(session, acme, batch_no="B-1042", product="Acmezol", release_by=None,
                              actor=factories.ADMIN, now=NOW)
        submission = subs.create(session, program=acme, actor=factories.ADMIN, now=NOW, kind="fda_510k",
                                 title="510(k)", filing_date=NOW.date() + timedelta(days=90))
        study(session, acme, NOW, placed_on=date(2026, 8, 2))
        return batch.id, subs.items(session, submission)[0].id


def _answer(bot, user: str, action: str, value: str) -> str:
    message = {"ts": "1700000000.000200", "text": "forwarded", "channel": BETA, "blocks": []}
    response = bot.send.block_action(user, action, value, message=message, channel_id=BETA)
    tag = response.response_url_tag
    return bot.slack.wait_for("response_url", lambda c: c.args.get("tag") == tag)[0].args["text"]


def test_ids_in_buttons_answer_alike_for_missing_and_not_yours(bot, engine):
    batch_id, item_id = _programs(engine)
    bot.slack.add_channel(BETA, "beta-002")
    for action, theirs, missing in (("batch_approve", f'{{"batch_id": {batch_id}}}', '{"batch_id": 987654}'),
                                    ("submission_attach", str(item_id), "987654")):
        not_yours, absent = _answer(bot, "UBETA", action, theirs), _answer(bot, "UBETA", action, missing)
        assert not_yours == absent, (action, not_yours, absent)
        assert "ACME" not in not_yours
    assert bot.slack.calls("views.open") == []


def test_program_flag_in_another_programs_channel_answers_only_the_caller(bot, engine):
    _programs(engine)
    bot.slack.add_channel(BETA, "beta-002")
    response = bot.command("stability pulled STB-0001 LT25 3 --program ACME-001", user="UPM1", channel=BETA)
    reply = bot.reply(response)
    assert "3-month pull recorded" in reply["text"] and reply["response_type"] == "ephemeral"
    response = bot.command("stability pulled STB-0001 LT25 6 --program ACME-001", user="UPM1", channel=ACME)
    assert bot.reply(response)["response_type"] == "in_channel"  # in ACME's own channel the team sees it
