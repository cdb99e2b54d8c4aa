"""The door in front of Bolt for HTTP mode: size, signature, freshness and shape, before anything is parsed.

Bolt reads and parses a request body before it checks the signature, so an unsigned 300 MB post is held in
memory and a malformed one ends in a traceback (and its text in the log, where a forged line looks like a
real alert). This gate answers first, from the raw bytes: 413 for a body larger than Slack ever sends,
401 for a missing, stale or wrong signature, 400 for a malformed timestamp or body, and a plain 200 for a
replay of a request already answered within Slack's 5-minute window. Only then does Bolt see the request.
Nothing of a refused request's body is logged.

A body is decoded once. An interactive request (a button, a form's submission) is a form whose one field,
`payload`, is percent-encoded JSON: decoding a form's 9 KB took 0.3 ms, and Bolt decoded it again. The gate hands
Bolt the payload it decoded and checked, as the JSON body it is (Bolt reads a JSON body as it reads the Events
API's), and a slash command's form as a JSON object of its fields, so Bolt's own signature check, which would now
fail, is off in the apps behind the gate (bot/app.py, bench/floor.py): the signature is checked here, once, for
every request.
"""

from __future__ import annotations

import hmac
import io
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from urllib.parse import parse_qs

from slack_sdk.signature import SignatureVerifier

# Slack's largest requests are view submissions (a view of at most 100 blocks and its state); 2 MiB is
# several times that. The same figure is waitress's `max_request_body_size`.
MAX_BODY_BYTES = 2 * 1024 * 1024
WINDOW_SECONDS = 5 * 60  # Slack's own freshness window for X-Slack-Request-Timestamp

log = logging.getLogger("cmo_bot.gate")


class _Refusal(Exception):
    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status = status


class ReplayCache:
    """Signed requests already let through, remembered for the freshness window (a replay is older). They are
    forgotten oldest first, from the front of the order they came in: each request costs the same however
    many arrived in the window (a scan of all of them cost every acknowledgement more as traffic grew)."""

    def __init__(self, clock: Callable[[], float]):
        self._clock = clock
        self._seen: set[tuple[str, str]] = set()
        self._order: deque[tuple[float, tuple[str, str]]] = deque()  # (remembered until, key), oldest first
        self._lock = threading.Lock()

    def first_time(self, signature: str, timestamp: str) -> bool:
        now = self._clock()
        with self._lock:
            while self._order and self._order[0][0] < now:
                self._seen.discard(self._order.popleft()[1])
            if (signature, timestamp) in self._seen:
                return False
            self._seen.add((signature, timestamp))
            self._order.append((now + WINDOW_SECONDS, (signature, timestamp)))
            return True


def _body(environ: dict) -> str:
    try:
        declared = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise _Refusal("400 Bad Request", "a malformed Content-Length") from None
    if declared > MAX_BODY_BYTES:
        raise _Refusal("413 Payload Too Large", f"a body of {declared} bytes")
    body = environ["wsgi.input"].read(declared if declared > 0 else MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise _Refusal("413 Payload Too Large", "a body larger than the limit")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise _Refusal("400 Bad Request", "a body that is not UTF-8") from None


def _check_shape(text: str, content_type: str) -> str | None:
    """The body is what Slack sends: a JSON object, or a form whose `payload` (if any) is a JSON object. Returns
    the JSON text Bolt is handed instead of a form: its payload, or else its fields (a slash command's) as one
    object — Bolt reads any form body containing the word "payload" as an interactive one and, finding no such
    field, as empty, so `/cmo … payload …` typed by a person reached no listener."""
    given = None
    try:
        if content_type.startswith("application/json"):
            payload = json.loads(text)
        else:
            form = parse_qs(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=1000)
            if "payload" in form:
                given = form["payload"][0]
                payload = json.loads(given)
            else:
                payload = {}
                given = json.dumps({name: values[-1] for name, values in form.items()})  # the last, as Bolt's
    except ValueError as exc:
        raise _Refusal("400 Bad Request", f"a malformed body ({type(exc).__name__})") from None
    if not isinstance(payload, dict):
        raise _Refusal("400 Bad Request", "a body that is not a JSON object")
    actions = payload.get("actions")
    if payload.get("type") == "block_actions" and not (
            isinstance(actions, list) and actions and all(isinstance(a, dict) for a in actions)):
        raise _Refusal("400 Bad Request", "a block_actions payload without actions")
    return given


def gate(slack: Callable, signing_secret: str, clock: Callable[[], float] = time.time) -> Callable:
    """Wrap the Bolt WSGI handler `slack` so that only sound, signed, first-seen requests reach it; a form
    carrying a `payload` reaches it as that payload, a JSON body (its app must not check the signature again)."""
    verifier = SignatureVerifier(signing_secret)
    replays = ReplayCache(clock)

    def check(environ: dict) -> tuple[str, str] | None:
        """The body to hand on and its content type, or None for a replay; raises _Refusal otherwise."""
        timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP") or ""
        signature = environ.get("HTTP_X_SLACK_SIGNATURE") or ""
        if not timestamp or not signature:
            raise _Refusal("401 Unauthorized", "no signature")
        if not timestamp.isascii() or not timestamp.isdecimal() or len(timestamp) > 12:
            raise _Refusal("400 Bad Request", "a malformed request timestamp")
        if abs(clock() - int(timestamp)) > WINDOW_SECONDS:
            raise _Refusal("401 Unauthorized", "a stale request timestamp")
        body = _body(environ)
        expected = verifier.generate_signature(timestamp=timestamp, body=body) or ""  # freshness checked above
        if not hmac.compare_digest(expected, signature):
            raise _Refusal("401 Unauthorized", "a wrong or missing signature")
        content_type = environ.get("CONTENT_TYPE") or ""
        payload = _check_shape(body, content_type.lower())
        if not replays.first_time(signature, timestamp):
            return None
        return (body, content_type) if payload is None else (payload, "application/json")

    def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
        try:
            checked = check(environ)
        except _Refusal as refusal:
            log.warning("refused a request to %s: %s", environ.get("PATH_INFO"), refusal)
            start_response(refusal.status, [("Content-Type", "text/plain")])
            return [refusal.status.split(" ", 1)[1].encode()]
        if checked is None:
            log.warning("ignored a replayed request (same signature and timestamp as one already answered)")
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b""]
        body, content_type = checked
        raw = body.encode("utf-8")
        return slack({**environ, "wsgi.input": io.BytesIO(raw), "CONTENT_LENGTH": str(len(raw)),
                      "CONTENT_TYPE": content_type}, start_response)

    return application
