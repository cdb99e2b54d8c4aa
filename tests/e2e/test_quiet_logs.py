"""What `cmo-bot serve` writes to its log by default: no library notes, no request bodies."""

from __future__ import annotations


def test_serve_logs_no_library_noise_by_default(bot):
    assert "help" in bot.ask("help").lower()
    stale = bot.send.command("help", "UPM1", "CGENERAL", sign="stale")  # Bolt notes it at INFO, with the body
    assert stale.status_code == 401
    bot.slack.inject("*", {"status": 500})  # a retried call: slack_sdk notes it at INFO
    bot.command("batch list")
    noisy = [line for line in bot.process.output
             if "will be unused" in line or " INFO slack_" in line or "command=%2Fcmo" in line]
    assert noisy == []
