"""The gate in front of Bolt, with time as an input: what it lets through, once, and what it never reads."""

from __future__ import annotations

import io

from bot.emulator.client import sign_request
from bot.gate import MAX_BODY_BYTES, gate

SECRET = "unit-secret"
T0 = 1_800_000_000


class _Unreadable(io.BytesIO):
    def read(self, *args):  # a body that must not be read
        raise AssertionError("the gate read a body it should have refused unread")


def _call(app, body: bytes, *, stamp: int = T0, signed: bool = True, stream=None, length: int | None = None):
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/slack/events", "CONTENT_TYPE": "application/json",
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
