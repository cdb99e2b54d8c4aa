"""Forms open within Slack's three seconds even when the workers are behind (bot/worker.py, commands/access.py).

Slack accepts a click's or a command's trigger_id for three seconds; a request queued behind a backlog could
outwait that, and the person would see nothing. So a request that may open a form runs in the process that
acknowledged it. Here the workers are stopped with a backlog queued, and the emulator refuses a trigger_id
older than three seconds, as Slack does: the forms open all the same, while the backlog waits for the workers.
"""

from __future__ import annotations

from sqlmodel import select

from store.db import transaction
from store.work import Work
from tests.e2e.harness import BOTH_TRANSPORTS
from tests.e2e.test_batches import CHANNEL, _program, _ready
from tests.e2e.test_work_kill import _workers, paused

BACKLOG = 5


@BOTH_TRANSPORTS
def test_forms_open_at_once_while_the_workers_are_stopped_behind_a_backlog(bot, engine):
    _program(bot, engine)
    dms = _ready(bot)
    bot.process.wait_idle()  # the queue empty: what waits below is the backlog
    bot.slack.trigger_ttl = 3.0
    try:
        with paused(engine, _workers(bot, every=True)):
            backlog = [bot.command("batch log", user="UQA1", channel=CHANNEL) for _ in range(BACKLOG)]
            bot.send.block_action("UAPP1", "batch_approve", channel_id=dms["UAPP1"])  # a button: the signing form
            [signing] = bot.slack.wait_for("views.open", count=1)
            form = bot.command("agreement new", user="UPM1", channel=CHANNEL)  # a command: the agreement form
            kind, view = bot.answer(form)
            with transaction(engine) as session:
                waiting = session.exec(select(Work)).all()
            assert [c.response["ok"] for c in bot.slack.calls("views.open")] == [True, True]
            assert "I approve the executed batch record B-1042" in str(signing.args["view"]["blocks"])
            assert kind == "view" and view["callback_id"] == "agreement_new"
            assert len(waiting) == BACKLOG  # the rest waits for the workers
            tags = {r.response_url_tag for r in backlog}
            assert not [c for c in bot.slack.calls("response_url") if c.args.get("tag") in tags]
        assert all("B-1042" in bot.reply(response)["text"] for response in backlog)
    finally:
        bot.slack.trigger_ttl = None
