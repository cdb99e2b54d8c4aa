"""Tokens and the signing secret never appear in what the bot logs or answers."""

from __future__ import annotations

from tests.e2e.harness import SECRET, TOKEN
from tests.hardening import report


def test_secrets_stay_out_of_logs_and_replies(bot):
    bot.ask("program list")  # the bot has confirmed its token once (auth.test), as after any start
    bot.slack.inject("chat.postMessage", {"status": 500}, {"error": "invalid_auth"})
    bot.slack.inject("views.open", {"error": "invalid_auth"})
    report.COUNTS["faults"] += 3
    for sign in ("none", "wrong", "stale"):
        bot.send.command("program list", "UPM1", "CGENERAL", sign=sign)
    replies = [bot.ask(text) for text in ("program new", "program status", "nonsense", "program roles add x y")]
    bot.command("program new", user="UADMIN")
    lines = bot.tick("2026-11-02T14:05:00+00:00")
    captured = "".join(bot.process.output) + "\n".join(replies + lines)
    for secret in (TOKEN, SECRET, TOKEN.removeprefix("xoxb-")):
        leaked = secret in captured
        report.COUNTS["leaked"] += leaked
        assert not leaked
