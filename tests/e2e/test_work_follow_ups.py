"""A form's work after its acknowledgement is done by a worker, not by the process that acknowledged it
(commands/after.py, bot/worker.py).

The real `cmo-bot serve` (and `socket`) runs a form's submission itself — its acknowledgement carries the field
errors — but hands what follows the ack to its workers through the work table. Here the workers are stopped
(SIGSTOP) before the Log agreement form is submitted: the form is acknowledged and the agreement saved, the
follow-up waits in the queue and nothing is posted; a worker started again posts the channel's notice.
"""

from __future__ import annotations

import os
import signal
import time
from datetime import date

from sqlmodel import col, select

from commands import after
from store.db import transaction
from store.work import Work
from tests.e2e.harness import BOTH_TRANSPORTS
from tests.e2e.test_agreements import CHANNEL, _program, _stored
from tests.e2e.test_work_kill import _workers, paused

QA = {"kind": "quality", "counterparty": "Acme Pharma", "status": "negotiation", "version": "v1",
      "effective": date(2026, 1, 1), "expires": date(2027, 6, 1)}


def _follow_ups(engine) -> list[Work]:
    with transaction(engine) as session:
        return list(session.exec(select(Work).where(col(Work.mode) == after.MODE)).all())


def _logged(bot) -> list[str]:
    return [c.args["text"] for c in bot.posts(CHANNEL) if "logged" in c.args.get("text", "")]


@BOTH_TRANSPORTS
def test_the_channel_notice_of_a_submitted_form_is_posted_by_a_worker(bot, engine):
    _program(bot, engine)
    trigger = bot.command("agreement new", user="UPM1", channel=CHANNEL).trigger_id
    bot.slack.wait_for("views.open", lambda c: c.args.get("trigger_id") == trigger)  # a worker opened the form
    bot.process.wait_idle()
    workers = _workers(bot, every=True)
    with paused(engine, workers):
        assert bot.submit("UPM1", QA).text == ""  # acknowledged, by serve (or socket) alone
        deadline = time.monotonic() + 10
        while not (waiting := _follow_ups(engine)) and time.monotonic() < deadline:
            time.sleep(0.02)  # waiting for the other process to hand it over, not moving the bot's time
        [queued] = waiting
        assert queued.listener == "agreements.saved" and queued.claimed_by is None
        [agreement] = _stored(engine)  # the act ran before the ack
        assert agreement.counterparty == "Acme Pharma"
        assert _logged(bot) == []  # the notice is the worker's to post
        os.kill(workers[0], signal.SIGCONT)  # one worker started again
        bot.slack.wait_for("chat.postMessage", lambda c: "logged" in c.args.get("text", ""))
    bot.process.wait_idle()
    [notice] = _logged(bot)
    assert notice.startswith(":page_facing_up: <@UPM1> logged *") and "Acme Pharma" in notice
    assert "`/cmo agreement show QA-1`" in notice
    assert _follow_ups(engine) == []  # done and gone
