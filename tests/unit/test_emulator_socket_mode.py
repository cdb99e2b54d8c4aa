"""The emulator's Socket Mode side, driven by a raw WebSocket client so every frame is visible."""

from __future__ import annotations

import json
import threading

import pytest
import requests
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from bot.emulator import SlackEmulator, SocketModeSender

APP_TOKEN = "xapp-1-A0CMOBOT-unit"


@pytest.fixture
def slack():
    with SlackEmulator() as emulator:
        emulator.socket_mode.ack_seconds = 0.3  # the retry after "3 s", shortened for the test
        yield emulator


def _open(slack, token: str = APP_TOKEN) -> dict:
    return requests.post(slack.url + "apps.connections.open", headers={"Authorization": f"Bearer {token}"},
                         timeout=5).json()


def _receive(ws) -> dict:
    return json.loads(ws.recv(timeout=5))


def test_a_ticket_opens_one_connection_that_says_hello(slack):
    opened = _open(slack)
    assert opened["ok"] and opened["url"].startswith("ws://127.0.0.1:") and "/link/?ticket=" in opened["url"]
    with connect(opened["url"]) as ws:
        hello = _receive(ws)
        assert hello["type"] == "hello" and hello["num_connections"] == 1
        assert hello["connection_info"] == {"app_id": "A0CMOBOT"} and "host" in hello["debug_info"]
    with pytest.raises(InvalidStatus):  # a ticket is good for one connection
        connect(opened["url"])
    assert _open(slack, "xoxb-bot-token") == {"ok": False, "error": "not_allowed_token_type"}
    slack.revoked_tokens.add(APP_TOKEN)
    assert _open(slack) == {"ok": False, "error": "invalid_auth"}


def test_envelopes_acks_and_redelivery(slack):
    with connect(_open(slack)["url"]) as ws:
        _receive(ws)
        sender = SocketModeSender(slack, timeout=5)
        answers: dict[str, object] = {}
        sending = threading.Thread(target=lambda: answers.update(
            event=sender.event({"type": "app_home_opened", "user": "U1", "tab": "home"})))
        sending.start()
        first = _receive(ws)
        assert first["type"] == "events_api" and first["accepts_response_payload"] is False
        assert (first["retry_attempt"], first["retry_reason"]) == (0, "")
        assert first["payload"]["event"]["type"] == "app_home_opened"
        again = _receive(ws)  # not acknowledged in time: delivered again, as Slack retries events
        assert again["envelope_id"] == first["envelope_id"]
        assert (again["retry_attempt"], again["retry_reason"]) == (1, "http_timeout")
        ws.send(json.dumps({"envelope_id": again["envelope_id"]}))
        sending.join()
        assert answers["event"].status_code == 504  # acknowledged, but after the deadline

        slack.socket_mode.ack_seconds = 3.0
        threading.Thread(target=lambda: answers.update(
            command=sender.command("help", "U1", "C1"))).start()
        command = _receive(ws)
        assert command["type"] == "slash_commands" and command["accepts_response_payload"] is True
        assert command["payload"]["command"] == "/cmo" and command["payload"]["text"] == "help"
        assert "retry_attempt" not in command
        ws.send(json.dumps({"envelope_id": command["envelope_id"], "payload": {"text": "ok"}}))
        while "command" not in answers:
            sending.join(0.02)
        assert answers["command"].status_code == 200 and answers["command"].json() == {"text": "ok"}


def test_a_lost_connection_hands_its_envelopes_to_the_next(slack):
    sender = SocketModeSender(slack, timeout=5)
    answers: dict[str, object] = {}
    with connect(_open(slack)["url"]) as first:
        _receive(first)
        threading.Thread(target=lambda: answers.update(r=sender.command("help", "U1", "C1"))).start()
        lost = _receive(first)
        slack.socket_mode.drop()
    with connect(_open(slack)["url"]) as second:
        assert _receive(second)["type"] == "hello"
        redelivered = _receive(second)
        assert redelivered["envelope_id"] == lost["envelope_id"]
        second.send(json.dumps({"envelope_id": lost["envelope_id"]}))
        while "r" not in answers:
            threading.Event().wait(0.02)
    assert answers["r"].status_code == 200 and answers["r"].text == ""


def test_disconnect_is_sent_as_slack_sends_it(slack):
    with connect(_open(slack)["url"]) as ws:
        _receive(ws)
        assert slack.socket_mode.disconnect("warning") == 1
        assert _receive(ws) == {"type": "disconnect", "reason": "warning", "debug_info": {"host": "applink-emulator"}}
        assert slack.socket_mode.connected() == 1  # a warning leaves the connection in use
        control = requests.post(slack.base + "/_emulator/socket_mode/disconnect", json={"reason": "link_disabled"},
                                timeout=5)
        assert control.json() == {"ok": True}
        assert _receive(ws)["reason"] == "link_disabled"
    with pytest.raises(InvalidStatus):  # Socket Mode is off: no new connection
        connect(_open(slack)["url"])
    with pytest.raises(ValueError):
        slack.socket_mode.disconnect("bored")
