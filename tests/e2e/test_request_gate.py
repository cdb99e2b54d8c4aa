"""What reaches `serve` before anyone is known: oversized, malformed, unsigned and replayed requests are
answered by the gate in front of Bolt (413, 400, 401, once), never with a traceback or their body in the log."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlencode, urlsplit

import pytest
import requests

from bot.emulator.client import sign_request
from tests.e2e.harness import SECRET


def _post(bot, body: str, *, timestamp: str | None = None, signed: bool = True,
          content_type: str = "application/x-www-form-urlencoded") -> requests.Response:
    stamp = timestamp or str(int(time.time()))
    headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": stamp}
    if signed:
        headers["X-Slack-Signature"] = sign_request(SECRET, int(stamp) if stamp.isdecimal() else 0, body)
    return requests.post(bot.process.url, data=body.encode(), headers=headers, timeout=10)


def test_a_body_larger_than_slack_sends_is_refused_before_it_is_read(bot):
    url = urlsplit(bot.process.url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as conn:
        conn.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 314572800\r\n\r\n")  # 300 MB announced, none sent
        answer = conn.recv(200)
    assert answer.startswith(b"HTTP/1.1 413")
    assert requests.get(bot.process.url.replace("/slack/events", "/healthz"), timeout=5).json() == {"ok": True}


def test_malformed_timestamps_and_bodies_are_400_without_a_traceback(bot):
    before = len(bot.process.output)
    assert _post(bot, "command=/cmo&text=help", timestamp="abc").status_code == 400
    assert _post(bot, "command=/cmo&text=help", timestamp="1e9").status_code == 400
    assert _post(bot, "payload=%7Bnot-json").status_code == 400
    assert _post(bot, "{not json", content_type="application/json").status_code == 400
    assert _post(bot, json.dumps([1, 2]), content_type="application/json").status_code == 400
    empty = {"type": "block_actions", "actions": [], "user": {"id": "UPM1"}, "team": {"id": "T0CMO"},
             "api_app_id": "A0CMOBOT", "trigger_id": "1.2.x"}
    assert _post(bot, urlencode({"payload": json.dumps(empty)})).status_code == 400
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": str(int(time.time()))}
    body = b"text=\xff\xfe"
    headers["X-Slack-Signature"] = "v0=" + "0" * 64
    assert requests.post(bot.process.url, data=body, headers=headers, timeout=10).status_code == 400
    assert requests.get(bot.process.url.replace("/slack/events", "/healthz"), timeout=5).status_code == 200
    assert "Traceback" not in "".join(bot.process.output[before:])


def test_the_body_of_an_unsigned_request_never_reaches_the_log(bot):
    forged = "alert: the audit chain is BROKEN-FORGED-LINE"
    assert _post(bot, urlencode({"payload": forged}), signed=False).status_code == 401
    assert _post(bot, urlencode({"payload": "{" + forged}), signed=False).status_code == 401
    assert _post(bot, forged, content_type="application/json", signed=False).status_code == 401
    assert bot.ask("help")  # answered after them: their log lines, if any, were written before
    assert "BROKEN-FORGED-LINE" not in "".join(bot.process.output)


def test_a_replayed_signed_command_is_answered_once(bot):
    first = bot.command("help")
    bot.reply(first)
    again = requests.post(bot.process.url, data=first.request.body, headers=dict(first.request.headers), timeout=10)
    assert again.status_code == 200 and again.text == ""
    tag = first.response_url_tag  # type: ignore[attr-defined]
    with pytest.raises(AssertionError, match="got 1"):  # a second answer would come within a second
        bot.slack.wait_for("response_url", lambda c: c.args.get("tag") == tag, timeout=1.5, count=2)


def test_superscript_digits_are_a_usage_line_not_an_error(bot):
    reply = bot.ask("stability pulls --days ²")
    assert "--days is a number of days" in reply and "went wrong" not in reply


def test_a_command_whose_text_says_payload_is_answered_like_any_other(bot):
    """Bolt alone reads a form body containing "payload" as an interactive request with none, and answers 404:
    the person saw Slack's failure for a note or a name that happens to use the word."""
    reply = bot.ask("help payload")
    assert reply == bot.ask("help payloads")  # the same answer as for a word Bolt does not trip on
    assert "went wrong" not in reply
