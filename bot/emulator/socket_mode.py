"""Slack's Socket Mode side of the emulator: the WebSocket the app opens instead of a public URL.

What Slack does, and so what this does (the peer is slack_sdk's Socket Mode client, as Bolt uses it):

- ``apps.connections.open`` (app-level ``xapp-`` token) hands out a one-time ``ws://…/link/?ticket=…`` URL;
  a connection without a valid ticket is refused at the handshake.
- On connect Slack sends ``hello``; every slash command, interactivity payload and Events API callback
  then arrives as an envelope ``{"envelope_id", "type", "payload", "accepts_response_payload"}``
  (events also carry ``retry_attempt``/``retry_reason``) on one of the app's open connections.
- The app acknowledges with ``{"envelope_id", "payload"?}`` within 3 seconds; the payload is the body it
  would have answered over HTTP (``response_action: errors`` on a view submission, a command's reply).
- An envelope that is not acknowledged is delivered again with ``retry_attempt`` + 1: on the next
  connection when its connection is lost, and (events, as Slack retries them) after the 3 seconds.
- ``disconnect`` with a reason: ``warning`` (the connection will be refreshed soon), ``refresh_requested``
  (open a new one now; this one is closed shortly after), ``link_disabled`` (Socket Mode was turned off:
  the connection is closed and no new one is accepted).

The server side is `websockets` (its threaded, synchronous server), so framing, pings and the
handshake are a well-kept library's, and this module holds only Slack's protocol.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

log = logging.getLogger(__name__)
_server_log = logging.getLogger(f"{__name__}.server")  # the library's own lines: start, stop, handshakes
_server_log.setLevel(logging.WARNING)

ACK_SECONDS = 3.0  # Slack: "your app must respond within 3 seconds"
MAX_RETRIES = 3  # Slack retries an unacknowledged event up to three times
DISCONNECT_REASONS = ("warning", "refresh_requested", "link_disabled")
REFRESH_GRACE = 1.0  # how long an old connection lives on after `refresh_requested`
KINDS = ("slash_commands", "interactive", "events_api")


@dataclass
class Envelope:
    """One delivery to the app and what became of it."""

    id: str
    type: str
    payload: dict[str, Any]
    accepts_response_payload: bool
    retry_attempt: int = 0
    retry_reason: str = ""
    ack_seconds: float = ACK_SECONDS
    first_sent_at: float | None = None
    sent_at: float | None = None
    connection: ServerConnection | None = None
    acked_at: float | None = None
    ack: dict[str, Any] | None = None
    deliveries: int = 0
    done: threading.Event = field(default_factory=threading.Event)

    def message(self) -> dict[str, Any]:
        body: dict[str, Any] = {"envelope_id": self.id, "type": self.type, "payload": self.payload,
                                "accepts_response_payload": self.accepts_response_payload}
        if self.type == "events_api":
            body.update(retry_attempt=self.retry_attempt, retry_reason=self.retry_reason)
        return body

    @property
    def late(self) -> bool:
        """Acknowledged later than Slack's 3 seconds after it was first sent (Slack would have shown an error)."""
        return (self.acked_at is not None and self.first_sent_at is not None
                and self.acked_at - self.first_sent_at > self.ack_seconds)


class SocketModeHub:
    """The WebSocket server, the app's open connections and the envelopes not yet acknowledged."""

    def __init__(self, host: str, app_id: str, ack_seconds: float = ACK_SECONDS) -> None:
        self.app_id = app_id
        self.ack_seconds = ack_seconds
        self._lock = threading.RLock()
        self._tickets: set[str] = set()
        self._connections: list[ServerConnection] = []
        self._draining: set[ServerConnection] = set()  # told to refresh: nothing new is sent on them
        self._pending: dict[str, Envelope] = {}
        self._unknown_acks: list[dict[str, Any]] = []
        self.enabled = True
        self.hellos = 0
        self._server: Server = serve(self._session, host, 0, process_request=self._check_ticket,
                                     compression=None, logger=_server_log)
        self.host = host
        self.port = self._server.socket.getsockname()[1]
        self._stopped = threading.Event()
        self._threads = [threading.Thread(target=self._server.serve_forever, daemon=True, name="socket-mode"),
                         threading.Thread(target=self._watch_acks, daemon=True, name="socket-mode-acks")]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._server.shutdown()

    def reset(self) -> None:
        """Forget envelopes of the previous test; connections (and the app on them) stay."""
        with self._lock:
            self._pending.clear()
            self._unknown_acks.clear()
            self.enabled = True

    # --- apps.connections.open and the handshake ----------------------------------------------

    def open_url(self) -> str:
        """A one-time WebSocket URL, as ``apps.connections.open`` answers."""
        ticket = secrets.token_hex(16)
        with self._lock:
            self._tickets.add(ticket)
        return f"ws://{self.host}:{self.port}/link/?ticket={ticket}&app_id={self.app_id}"

    def _check_ticket(self, connection: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        ticket = (parse_qs(parts.query).get("ticket") or [""])[0]
        with self._lock:
            valid = parts.path.rstrip("/") == "/link" and ticket in self._tickets and self.enabled
            self._tickets.discard(ticket)
        if not valid:
            return connection.respond(401, "invalid or used ticket\n")
        return None

    # --- one connection ------------------------------------------------------------------------

    def _session(self, connection: ServerConnection) -> None:
        with self._lock:
            self._connections.append(connection)
            count = len(self._connections)
        try:
            connection.send(json.dumps({
                "type": "hello", "num_connections": count,
                "debug_info": {"host": "applink-emulator", "build_number": 1,
                               "approximate_connection_time": 18060},
                "connection_info": {"app_id": self.app_id},
            }))
            with self._lock:
                self.hellos += 1
            self._flush()
            for raw in connection:
                self._on_ack(raw)
        except ConnectionClosed:
            pass
        finally:
            self._lost(connection)

    def _on_ack(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            log.warning("socket mode: a message that is not JSON: %.80r", raw)
            return
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        with self._lock:
            envelope = self._pending.pop(str(envelope_id), None)
            if envelope is None:
                self._unknown_acks.append(message if isinstance(message, dict) else {"raw": message})
                return
            envelope.acked_at = time.monotonic()
            envelope.ack = message.get("payload") if isinstance(message.get("payload"), dict) else None
        envelope.done.set()

    def _lost(self, connection: ServerConnection) -> None:
        """A closed connection: what it had not acknowledged goes out again on another."""
        with self._lock:
            if connection in self._connections:
                self._connections.remove(connection)
            self._draining.discard(connection)
            for envelope in self._pending.values():
                if envelope.connection is connection:
                    envelope.connection = None
                    envelope.retry_attempt += 1
                    envelope.retry_reason = "connection_failed"
        self._flush()

    # --- delivery --------------------------------------------------------------------------------

    def deliver(self, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool,
                wait: float = 15.0) -> Envelope:
        """Send `payload` as an envelope and wait (up to `wait` s) for the app's acknowledgement."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        envelope = Envelope(f"{secrets.token_hex(4)}-{secrets.token_hex(6)}", kind, payload,
                            accepts_response_payload, ack_seconds=self.ack_seconds)
        with self._lock:
            self._pending[envelope.id] = envelope
        self._flush()
        envelope.done.wait(wait)
        return envelope

    def _flush(self) -> None:
        """Send every envelope that is on no connection to the newest open one."""
        with self._lock:
            open_ones = [c for c in self._connections if c not in self._draining]
            target = open_ones[-1] if open_ones else None
            if target is None:
                return
            waiting = [e for e in self._pending.values() if e.connection is None]
            for envelope in waiting:
                envelope.connection, envelope.sent_at = target, time.monotonic()
                envelope.first_sent_at = envelope.first_sent_at or envelope.sent_at
                envelope.deliveries += 1
        for envelope in waiting:
            try:
                target.send(json.dumps(envelope.message()))
            except ConnectionClosed:
                self._lost(target)
                return

    def _watch_acks(self) -> None:
        """Events not acknowledged in time are retried, as Slack retries them."""
        while not self._stopped.wait(0.2):
            now = time.monotonic()
            with self._lock:
                for envelope in self._pending.values():
                    overdue = envelope.sent_at is not None and now - envelope.sent_at > self.ack_seconds
                    if (envelope.type == "events_api" and envelope.connection is not None and overdue
                            and envelope.retry_attempt < MAX_RETRIES):
                        envelope.connection = None
                        envelope.retry_attempt += 1
                        envelope.retry_reason = "http_timeout"
            self._flush()

    # --- faults ----------------------------------------------------------------------------------

    def drop(self, *, abrupt: bool = False) -> int:
        """Close every connection without a ``disconnect`` first; returns how many.

        By default with a WebSocket close frame (Slack's servers going away); `abrupt` cuts the TCP
        connection instead, which a client notices only when its pings go unanswered.
        """
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            if abrupt:
                connection.close_socket()
            else:
                connection.close(1001, "going away")
        return len(connections)

    def disconnect(self, reason: str = "refresh_requested") -> int:
        """Send ``disconnect`` as Slack does; `refresh_requested` and `link_disabled` then close the link."""
        if reason not in DISCONNECT_REASONS:
            raise ValueError(f"reason must be one of {DISCONNECT_REASONS}")
        with self._lock:
            connections = list(self._connections)
            if reason == "link_disabled":
                self.enabled = False
            if reason != "warning":
                self._draining.update(connections)
        message = json.dumps({"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-emulator"}})
        for connection in connections:
            try:
                connection.send(message)
            except ConnectionClosed:
                continue
        if reason != "warning":
            grace = 0.0 if reason == "link_disabled" else REFRESH_GRACE

            def close_all() -> None:
                for connection in connections:
                    connection.close(1000, reason)

            threading.Timer(grace, close_all).start()
        return len(connections)

    # --- what tests look at ----------------------------------------------------------------------

    def connected(self) -> int:
        """Open connections that envelopes can be sent on."""
        with self._lock:
            return len([c for c in self._connections if c not in self._draining])

    def wait_connected(self, count: int = 1, timeout: float = 20.0, *, hellos_after: int | None = None) -> bool:
        """Wait until `count` connections are open (and, if given, more than `hellos_after` hellos sent)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self._connections) >= count and (hellos_after is None or self.hellos > hellos_after):
                    return True
            time.sleep(0.02)  # waiting for another process to connect
        return False

    def unknown_acks(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._unknown_acks)
