"""`cmo-bot try`: the emulator, the real bot and a web page over them on 127.0.0.1.

The page is one static HTML file with a small script (in `static/`, shipped with the package): it asks this
server for JSON — what the chosen person sees — about once a second, and posts what they do. Nothing is fetched
from anywhere else, so it works offline.
"""

from __future__ import annotations

import json
import mimetypes
import sys
import tempfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.exit_codes import CANNOT_RUN
from bot.trypage.session import Refused, TrySession

STATIC = files("bot.trypage") / "static"
PAGES = {"/": "index.html", "/app.js": "app.js", "/app.css": "app.css"}
MAX_UPLOAD = 10 * 1024 * 1024
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost"})
PAGE_HEADER = "X-Try-Page"  # app.js sends it with every POST


class TryServer(ThreadingHTTPServer):
    daemon_threads = True

    session: TrySession  # set once the port is bound (a busy port fails before anything starts)

    def __init__(self, host: str, port: int) -> None:
        super().__init__((host, port), Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host if isinstance(host, str) else host.decode()}:{port}/"


class Handler(BaseHTTPRequestHandler):
    server: TryServer

    def log_message(self, format: str, *args: Any) -> None:  # the terminal shows only the URL and the end
        pass

    def _reply(self, status: int, body: bytes, content_type: str = "application/json; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, payload: Any, status: int = 200) -> None:
        self._reply(status, json.dumps(payload).encode())

    def _refused_origin(self, posting: bool) -> bool:
        """Only this machine's page may use it: a Host other than the loopback address (DNS rebinding) or a POST
        without the page's own header (another site's form or fetch cannot add one without asking) is 403."""
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        if host not in LOOPBACK_NAMES or (posting and self.headers.get(PAGE_HEADER) != "1"):
            self._json({"error": "only the try page on this machine may do that"}, 403)
            return True
        return False

    def do_GET(self) -> None:
        if self._refused_origin(posting=False):
            return
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        session = self.server.session
        try:
            if url.path in PAGES:
                name = PAGES[url.path]
                kind = mimetypes.guess_type(name)[0] or "text/plain"
                self._reply(200, (STATIC / name).read_bytes(), f"{kind}; charset=utf-8")
            elif url.path == "/api/state":
                self._json(state(session, session.person(query.get("as", "")), query.get("conversation")))
            elif url.path.startswith("/files/"):
                file_id = url.path.split("/")[2]
                content = session.slack.file_bytes(file_id)
                if content is None:
                    self._json({"error": "no such file"}, 404)
                else:
                    found = session.slack.file_object(file_id)
                    guessed = mimetypes.guess_type(found["name"])[0] if found else None
                    self._reply(200, content, guessed or "application/octet-stream")
            else:
                self._json({"error": "not found"}, 404)
        except Refused as exc:
            self._json({"error": str(exc)}, 400)

    def do_POST(self) -> None:
        if self._refused_origin(posting=True):
            return
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_UPLOAD:
            self._json({"error": "files up to 10 MB"}, 413)
            return
        body = self.rfile.read(length)
        session = self.server.session
        try:
            if url.path == "/api/upload":
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                found = session.upload(session.person(query.get("as", "")), query.get("name", ""), body)
                self._json({"id": found["id"], "name": found["name"]})
                return
            data = json.loads(body or b"{}")
            self._json(act(session, url.path, data))
        except Refused as exc:
            self._json({"error": str(exc)}, 400)
        except (ValueError, KeyError, TypeError, AssertionError) as exc:
            self._json({"error": f"not understood: {exc}"}, 400)


def state(session: TrySession, user: str, conversation: str | None) -> dict[str, Any]:
    """Everything the page shows for `user`: sidebar, the open conversation, Home, the modal, the clock."""
    conversations = session.conversations(user)
    open_id = conversation if conversation in {c["id"] for c in conversations} or conversation == "home" else None
    return {
        "people": session.people(), "me": user, "names": session.names(), "channels": session.channel_names(),
        "conversations": conversations, "conversation": open_id,
        "messages": session.messages(user, open_id) if open_id and open_id != "home" else [],
        "home": session.home(user) if open_id == "home" else None,
        "modal": session.modal(user), "now": session.now().isoformat(timespec="seconds"),
        "authenticator": session.authenticator_code(user),
    }


def act(session: TrySession, path: str, data: dict[str, Any]) -> dict[str, Any]:
    """One thing the person did, sent to the bot as Slack sends it."""
    if path == "/api/clock":
        return session.travel(float(data["hours"]))
    user = session.person(str(data.get("as", "")))
    if path == "/api/command":
        session.command(user, str(data["channel"]), str(data["text"]))
    elif path == "/api/home":
        session.open_home(user)
    elif path == "/api/action":
        session.click(user, str(data["action_id"]), channel=data.get("channel"), ts=data.get("ts"),
                      view_id=data.get("view_id"), value=data.get("value"))
    elif path == "/api/submit":
        return {"errors": session.submit(user, str(data["view_id"]), dict(data.get("values") or {}))}
    elif path == "/api/close":
        session.close(user, str(data["view_id"]))
    else:
        raise Refused("no such action")
    return {}


def run(port: int = 8000, transport: str = "http") -> int:
    """Start everything, print the URL, serve until Ctrl-C; one line at the end. A port that cannot be had is
    one line and exit 2, before anything starts."""
    try:
        server = TryServer("127.0.0.1", port)
    except OSError as exc:
        print(f"cmo-bot try: port {port} cannot be used ({exc.strerror}); pick another with --port",
              file=sys.stderr)
        return CANNOT_RUN
    with tempfile.TemporaryDirectory(prefix="cmo-bot-try-") as workdir:
        server.session = session = TrySession(Path(workdir), transport=transport)
        try:
            print("cmo-bot try: loading the sample portfolio…", flush=True)
            session.load_portfolio()
            print(f"cmo-bot try: open {server.url} (Ctrl-C stops it; nothing leaves this machine)", flush=True)
            server.serve_forever()
        except KeyboardInterrupt:
            print("\ncmo-bot try: stopped", flush=True)
        finally:
            server.server_close()
            session.stop()
    return 0
