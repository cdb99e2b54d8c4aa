"""Forms open within Slack's three seconds even when the workers are behind (bot/worker.py, commands/access.py).

Slack accepts a click's or a command's trigger_id for three seconds; a request queued behind a backlog could
outwait that, and the person would see nothing. So a request that may open a form goes to the deployment's
forms queue, which workers take before any other. Here the workers are stopped while a backlog is queued and
then a button and a command that open forms; the emulator refuses a trigger_id older than three seconds, as
Slack does. One worker started again opens both forms before it works through the backlog; and a burst of
*Show all* clicks opens every modal first, each filled after (what fills it is gathered from the other queue).
"""

from __future__ import annotations

import os
import signal

from sqlmodel import select

from store import work
from store.db import transaction
from store.work import Work
from tests.e2e.harness import BOTH_TRANSPORTS
from tests.e2e.test_batches import CHANNEL, _program, _ready
from tests.e2e.test_home import _open_home
from tests.e2e.test_work_kill import _workers, paused

BACKLOG = 12
BURST = 6


@BOTH_TRANSPORTS
def test_forms_open_before_a_backlog_queued_ahead_of_them(bot, engine):
    _program(bot, engine)
    dms = _ready(bot)
    bot.process.wait_idle()  # the queue empty: what waits below is the backlog
    queue = bot.env["CMO_WORK_QUEUE"]
    bot.slack.trigger_ttl = 3.0
    workers = _workers(bot, every=True)
    try:
        with paused(engine, workers):
            backlog = [bot.command("batch log", user="UQA1", channel=CHANNEL) for _ in range(BACKLOG)]
            bot.send.block_action("UAPP1", "batch_approve", channel_id=dms["UAPP1"])  # a button: the signing form
            form = bot.command("agreement new", user="UPM1", channel=CHANNEL)  # a command: the agreement form
            with transaction(engine) as session:
                waiting = [w.queue for w in session.exec(select(Work).order_by(Work.id))]  # type: ignore[arg-type]
            assert waiting == [queue] * BACKLOG + [work.forms_of(queue)] * 2
            os.kill(workers[0], signal.SIGCONT)  # one worker, so the order it takes them in shows
            opened = bot.slack.wait_for("views.open", count=2)
            tags = {r.response_url_tag for r in backlog}
            before = [c for c in bot.slack.calls("response_url")
                      if c.args.get("tag") in tags and c.ts_received < opened[-1].ts_received]
        kind, view = bot.answer(form)
        replies = [bot.reply(response) for response in backlog]
        assert len(before) <= 1  # at most the one it was about to take when it was stopped; not the backlog
        assert [c.response["ok"] for c in opened] == [True, True]
        assert "I approve the executed batch record B-1042" in str(opened[0].args["view"]["blocks"])
        assert kind == "view" and view["callback_id"] == "agreement_new"
        assert all("B-1042" in reply["text"] for reply in replies)
    finally:
        bot.slack.trigger_ttl = None


@BOTH_TRANSPORTS
def test_a_burst_of_show_all_clicks_opens_every_modal_before_filling_any(bot, engine):
    _program(bot, engine)
    _ready(bot)
    home = _open_home(bot, "UAPP1")
    bot.process.wait_idle()
    bot.slack.trigger_ttl = 3.0
    workers = _workers(bot, every=True)
    try:
        with paused(engine, workers):
            for _ in range(BURST):
                bot.send.block_action("UAPP1", "home_show_all", view=home)
            os.kill(workers[0], signal.SIGCONT)  # one worker: the order it works in shows
            opened = bot.slack.wait_for("views.open", count=BURST)
            filled = bot.slack.wait_for("views.update", count=BURST)
        assert all(c.response["ok"] for c in opened + filled)
        assert max(c.ts_received for c in opened) < min(c.ts_received for c in filled)  # none gathered first
        assert {c.args["view_id"] for c in filled} == {c.response["view"]["id"] for c in opened}
        assert all("B-1042" in str(c.args["view"]) for c in filled)
    finally:
        bot.slack.trigger_ttl = None
