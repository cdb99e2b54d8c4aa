"""The database away: commands say "try again shortly", /healthz says 503, tick says so in one line."""

from __future__ import annotations

import subprocess

import requests

from tests.e2e.harness import Bot, BotProcess, Clock, bot_env, cmo_bot, seed
from tests.hardening import report

UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:9/cmo?connect_timeout=2"


def test_commands_and_health_while_the_database_is_down(slack, tmp_path):
    seed(slack)
    clock = Clock(tmp_path / "now.txt")
    clock.set("2026-11-02T14:00:00+00:00")
    process = BotProcess(bot_env(slack, UNREACHABLE, tmp_path, clock))
    try:
        bot = Bot(process, slack, clock)
        for text in ("program list", "status --all", "program status --program ACME-001"):
            reply = bot.ask(text, user="UPM1")
            report.COUNTS["faults"] += 1
            assert "database is not answering" in reply and "try again shortly" in reply, reply
        health = requests.get(process.url.replace("/slack/events", "/healthz"), timeout=10)
        assert health.status_code == 503 and health.json()["ok"] is False
        assert "Traceback" not in "".join(process.output)  # the calendar warm-up at start said one line
        done = subprocess.run([*cmo_bot(), "tick", "--now", "2026-11-02T14:05:00Z"], env=process.env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert done.returncode == 3 and "Traceback" not in done.stderr
        assert done.stderr.strip().endswith("nothing was changed, run it again when it is back")
    finally:
        process.stop()
