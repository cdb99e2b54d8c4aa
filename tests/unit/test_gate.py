"""The gate in front of Bolt, with time as an input: what it lets through, once, and what it never reads."""

from __future__ import annotations

import io
import json
from urllib.parse import urlencode

from slack_bolt import BoltRequest

from bot.emulator.client import sign_request
from bot.gate import MAX_BODY_BYTES, gate

SECRET = "unit-secret"
T0 = 1_800_000_000
FORM = "application/x-www-form-urlencoded"


class _Unreadable(io.BytesIO):
    def read(self, *args):  # a body that must not be read
        raise AssertionError("the gate read a body it should have refused unread")


def _call(app, body: bytes, *, stamp: int = T0, signed: bool = True, stream=None, length: int | None = None,
          content_type: str = "application/json"):
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/slack/events", "CONTENT_TYPE": content_type,
               "CONTENT_LENGTH": str(len(body) if length is None else length),
               "wsgi.input": stream or io.BytesIO(body), "HTTP_X_SLACK_REQUEST_TIMESTAMP": str(stamp),
               "HTTP_X_SLACK_SIGNATURE": sign_request(SECRET, stamp, body.decode()) if signed else "v0=0"}
    answer: list[str] = []
    chunks = app(environ, lambda status, _headers: answer.append(status))
    return answer[0], b"".join(chunks)


def test_first_seen_signed_requests_pass_once_and_stale_ones_never():
    now = [float(T0)]
    seen: list[bytes] = []

    def bolt(environ, start_response):
        seen.append(environ["wsgi.input"].read())
        start_response("200 OK", [])
        return [b"ok"]

    app = gate(bolt, SECRET, clock=lambda: now[0])
    body = b'{"type": "event_callback", "event": {}}'
    assert _call(app, body) == ("200 OK", b"ok")
    assert _call(app, body) == ("200 OK", b"")  # the replay: answered, not handled
    now[0] += 299
    assert _call(app, body)[0] == "200 OK" and len(seen) == 1  # still remembered inside the window
    now[0] += 2
    assert _call(app, body)[0] == "401 Unauthorized"  # past the window, the timestamp itself is stale
    assert _call(app, body, stamp=T0 + 301)[0] == "200 OK" and len(seen) == 2  # a fresh request passes
    assert _call(app, body, signed=False)[0] == "401 Unauthorized"


def test_oversized_and_unsigned_bodies_are_never_read():
    app = gate(lambda *_: [b""], SECRET, clock=lambda: float(T0))
    assert _call(app, b"", length=MAX_BODY_BYTES + 1, stream=_Unreadable())[0] == "413 Payload Too Large"
    assert _call(app, b"", length=300 * 1024 * 1024, stream=_Unreadable())[0] == "413 Payload Too Large"
    assert _call(app, b"{}", stamp=T0 - 3600, stream=_Unreadable())[0] == "401 Unauthorized"


def test_a_payload_form_reaches_bolt_as_the_payload_it_was_checked_as_and_other_bodies_as_sent():
    """An interactive request is decoded once: Bolt gets the payload the gate decoded and checked, as a JSON
    body (which Bolt reads as it reads the Events API's), not the form to decode again."""
    seen: list[tuple[str, bytes]] = []

    def bolt(environ, start_response):
        body = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        seen.append((environ["CONTENT_TYPE"], body))
        start_response("200 OK", [])
        return [b"ok"]

    app = gate(bolt, SECRET, clock=lambda: float(T0))
    payload = json.dumps({"type": "view_submission", "view": {"id": "V1", "notes": "Révision – 100 % & co"}})
    form = urlencode({"payload": payload}).encode()
    command = urlencode({"command": "/cmo", "text": "program status", "user_id": "U1"}).encode()
    assert _call(app, form, content_type=FORM)[0] == "200 OK"
    assert _call(app, command, content_type=FORM, stamp=T0 + 1)[0] == "200 OK"
    assert _call(app, b'{"type": "event_callback", "event": {}}', stamp=T0 + 2)[0] == "200 OK"
    fields = {"command": "/cmo", "text": "program status", "user_id": "U1"}
    assert seen == [("application/json", payload.encode()), ("application/json", json.dumps(fields).encode()),
                    ("application/json", b'{"type": "event_callback", "event": {}}')]
    assert BoltRequest(body=seen[0][1].decode(), headers={"content-type": seen[0][0]}).body == json.loads(payload)


def test_a_command_whose_text_says_payload_reaches_bolt_with_its_fields():
    """Bolt reads a form body containing the word "payload" as an interactive request and, finding no `payload`
    field, as empty: a person's `/cmo submission note … payload …` reached no listener. The gate hands Bolt a
    command's fields as a JSON object instead."""
    seen: list[BoltRequest] = []

    def bolt(environ, start_response):
        body = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])).decode()
        seen.append(BoltRequest(body=body, headers={"content-type": environ["CONTENT_TYPE"]}))
        start_response("200 OK", [])
        return [b"ok"]

    fields = {"command": "/cmo", "text": "agreement note NDA-1 payload spec v2 – révisé", "user_id": "U1",
              "response_url": "https://hooks.slack.com/commands/T1/1/x"}
    assert BoltRequest(body=urlencode(fields), headers={"content-type": FORM}).body == {}  # Bolt alone
    app = gate(bolt, SECRET, clock=lambda: float(T0))
    assert _call(app, urlencode(fields).encode(), content_type=FORM)[0] == "200 OK"
    assert seen[0].body == fields
