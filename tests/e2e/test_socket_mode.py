"""Socket Mode faults end to end: the real `cmo-bot socket` against the emulator's WebSocket.

The connection is dropped and refreshed under the bot; every command sent before and after is answered
exactly once. A refused or unreachable app token stops start-up with one line and a documented exit code.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections import Counter

import pytest
import requests

from tests.e2e.harness import APP_TOKEN, cmo_bot

pytestmark = pytest.mark.parametrize("bot", ["socket"], indirect=True)


def _answered_once(bot, responses) -> None:
    tags = [r.response_url_tag for r in responses]
    bot.slack.wait_for("response_url", lambda c: c.args.get("tag") in tags, count=len(tags), timeout=30)
    counts = Counter(c.args.get("tag") for c in bot.slack.calls("response_url") if c.args.get("tag") in tags)
    assert counts == dict.fromkeys(tags, 1), counts


def test_commands_before_and_after_a_dropped_connection_are_answered_exactly_once(bot):
    before = [bot.command(f"program status --program NOPE-{n:03d}") for n in range(3)]
    hellos = bot.slack.socket_mode.hellos
    assert bot.slack.socket_mode.drop() == 1
    after = [bot.command(f"program status --program LATE-{n:03d}") for n in range(3)]  # queued while down
    assert bot.slack.socket_mode.hellos > hellos  # the bot reconnected by itself
    _answered_once(bot, before + after)
    first_after = after[0].envelope  # type: ignore[attr-defined]
    assert first_after.deliveries >= 1 and all(r.status_code == 200 for r in before + after)


def test_a_connection_cut_without_a_close_loses_no_command(bot):
    """A network cut: slack_sdk's client notices at its ping rounds (seconds), then the envelope comes again."""
    hellos = bot.slack.socket_mode.hellos
    bot.slack.socket_mode.drop(abrupt=True)
    during = bot.send.command("program status --program CUT-001", "UPM1", "CGENERAL")  # may be answered late
    assert bot.slack.socket_mode.wait_connected(hellos_after=hellos, timeout=30)
    _answered_once(bot, [during, bot.command("help")])


def test_refresh_requested_moves_to_a_new_connection_without_losing_a_command(bot):
    hellos = bot.slack.socket_mode.hellos
    assert bot.slack.socket_mode.disconnect("refresh_requested") == 1
    during = [bot.command("help") for _ in range(3)]
    assert bot.slack.socket_mode.wait_connected(hellos_after=hellos)
    after = [bot.command("program list") for _ in range(2)]
    _answered_once(bot, during + after)
    ours = {r.envelope.id for r in during + after}  # type: ignore[attr-defined]
    assert not [a for a in bot.slack.socket_mode.unknown_acks() if a.get("envelope_id") in ours]  # none acked twice


def test_health_follows_the_connection(bot):
    health = bot.process.health_url
    assert requests.get(health, timeout=5).json() == {"ok": True}
    bot.slack.socket_mode.disconnect("link_disabled")  # Socket Mode turned off: no new connection accepted
    assert _eventually(lambda: requests.get(health, timeout=5).status_code == 503)
    assert requests.get(health, timeout=5).json() == {"ok": False, "error": "socket_mode_disconnected"}
    bot.slack.socket_mode.reset()  # turned on again: the bot's own reconnection brings it back
    assert bot.slack.socket_mode.wait_connected()
    assert _eventually(lambda: requests.get(health, timeout=5).status_code == 200)
    assert requests.get(health.replace("/healthz", "/nothing"), timeout=5).status_code == 404


def _eventually(check, timeout: float = 15) -> bool:
    """Poll another process's answer (its reconnection runs on its own timers)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def _socket_start(bot, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([*cmo_bot(), "socket", "--no-scheduler", *args], env={**bot.env, **env},
                          cwd=bot.env["CMO_WORKDIR"], capture_output=True, text=True, timeout=120)


def test_a_revoked_app_token_stops_start_up_with_one_line(bot):
    bot.slack.revoked_tokens.add(APP_TOKEN)
    done = _socket_start(bot)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("cmo-bot: Slack refused SLACK_APP_TOKEN (invalid_auth)")
    assert "Traceback" not in done.stderr and "run again shortly" not in done.stderr
    assert [c.args for c in bot.slack.calls("apps.connections.open")] == [{}]  # asked once, no retry loop


def test_an_unreachable_slack_stops_start_up_with_one_line(bot):
    done = _socket_start(bot, SLACK_API_URL="http://127.0.0.1:9/api/")
    assert done.returncode == 3, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("cmo-bot: Slack is not reachable at http://127.0.0.1:9/api/") and "run it again" in last
    assert "Traceback" not in done.stderr


def test_the_bot_token_is_not_an_app_token(bot):
    assert bot.slack.socket_mode.connected() == 1
    done = requests.post(bot.slack.url + "apps.connections.open", headers={"Authorization": "Bearer xoxb-e2e-x"},
                         timeout=5).json()
    assert done == {"ok": False, "error": "not_allowed_token_type"}
    posted = requests.post(bot.slack.url + "chat.postMessage", data={"channel": "CGENERAL", "text": "hi"},
                           headers={"Authorization": f"Bearer {APP_TOKEN}"}, timeout=5).json()
    assert posted == {"ok": False, "error": "not_allowed_token_type"}


def test_a_health_port_that_cannot_be_used_is_one_line(bot):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        for port, says in (("99999", "--health-port 99999 is not a port (0–65535)"),
                           (str(taken), f"--health-port {taken}: cannot listen there")):
            done = _socket_start(bot, "--health-port", port, "--host", "127.0.0.1")
            assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].startswith(f"cmo-bot: {says}")
            assert "Traceback" not in done.stderr
