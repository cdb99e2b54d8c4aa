"""Downloads send the bot token to Slack only, stream with a running size cap and a deadline, and fail alike."""

from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from slack_sdk import WebClient

from bot import downloads
from store.errors import Invalid

TOKEN = "xoxb-unit-test"


class _Slackish(BaseHTTPRequestHandler):
    """files.info for any id, and files that are endless, slow or missing (no Content-Length: streamed)."""

    protocol_version = "HTTP/1.0"
    sent: dict[str, int] = {}
    finished = threading.Event()

    def log_message(self, *args) -> None:  # keep the test output quiet
        pass

    def do_POST(self) -> None:  # the Web API: files.info
        length = int(self.headers.get("Content-Length") or 0)
        file_id = dict(part.split("=", 1) for part in self.rfile.read(length).decode().split("&"))["file"]
        base = f"http://127.0.0.1:{self.server.server_port}"
        body = json.dumps({"ok": True, "file": {"id": file_id, "name": f"{file_id}.pdf", "mode": "hosted",
                                                "url_private_download": f"{base}/files/{file_id}"}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        kind = self.path.rsplit("/", 1)[-1]
        if kind == "missing" or self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.end_headers()
        sent = 0
        try:
            for _ in range(200 if kind == "endless" else 4):  # endless: 50 MB if nobody stops reading
                self.wfile.write(b"x" * 256 * 1024)
                sent += 256 * 1024
        except OSError:
            pass
        finally:
            _Slackish.sent[kind] = sent
            _Slackish.finished.set()


@pytest.fixture
def slackish():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slackish)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Slackish.sent.clear()
    _Slackish.finished.clear()
    yield WebClient(token=TOKEN, base_url=f"http://127.0.0.1:{server.server_port}/api/")
    server.shutdown()
    server.server_close()


def test_a_file_larger_than_the_cap_is_stopped_while_streaming(slackish):
    with pytest.raises(Invalid, match="larger than 1 MB"):
        downloads.fetch(slackish, "endless", max_bytes=1024 * 1024)
    assert _Slackish.finished.wait(10)  # the server notices the bot hung up (waiting for another thread)
    assert _Slackish.sent["endless"] < 50 * 1024 * 1024  # cut off, not read to the end and measured after
    assert downloads.fetch(slackish, "small", max_bytes=1024 * 1024).content == b"x" * 1024 * 1024


def test_a_download_past_its_deadline_fails(slackish):
    ticks = itertools.count(0, 50)  # every look at the clock is 50 s later
    with pytest.raises(Invalid, match="could not be downloaded"):
        downloads.fetch(slackish, "small", deadline=120, clock=lambda: float(next(ticks)))


def test_every_failure_reads_the_same(slackish):
    with pytest.raises(Invalid) as missing:
        downloads.fetch(slackish, "missing")
    assert str(missing.value) == downloads.UNAVAILABLE.format(name="missing.pdf")


@pytest.mark.parametrize(("url", "allowed"), [
    ("https://files.slack.com/files-pri/T1-F1/a.pdf", True),
    ("https://files.slack-gov.com/files-pri/T1-F1/a.pdf", True),
    ("http://files.slack.com/files-pri/T1-F1/a.pdf", False),          # plain http
    ("https://files.slack.com:8443/a.pdf", False),                     # another port
    ("https://files.slack.com.evil.example/a.pdf", False),
    ("https://files.slack.com@evil.example/a.pdf", False),
    ("https://user@files.slack.com/a.pdf", False),
    ("https://drive.google.com/file/d/1/view", False),
    ("http://127.0.0.1:9999/files/F1/a.pdf", True),                    # the emulator, as SLACK_API_URL says
    ("http://127.0.0.1:22/files/F1/a.pdf", False),                     # another port of the same host
    ("http://169.254.169.254/latest/meta-data/", False),
    ("https://files.slack.com:bad/a.pdf", False),
])
def test_only_slack_file_hosts_get_the_token(url, allowed):
    assert downloads.slack_hosted(url, "http://127.0.0.1:9999/api/") is allowed
    assert downloads.slack_hosted(url, "https://slack.com/api/") is (allowed and url.startswith("https://files."))
