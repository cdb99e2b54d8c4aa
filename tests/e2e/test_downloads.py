"""The bot token goes to Slack only: a file whose URL leads elsewhere (a URL off Slack, an external Google Drive
file, a redirect from Slack's own URL) is refused with a clear line, and the other host hears nothing."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.e2e.harness import TOKEN
from tests.e2e.test_agreements import CHANNEL, EXECUTED_QA, _log, _program


class _Elsewhere(BaseHTTPRequestHandler):
    """A host that is not Slack: it records whatever reaches it."""

    seen: list[dict[str, str]] = []

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        _Elsewhere.seen.append(dict(self.headers))
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"stolen")


@pytest.fixture
def elsewhere():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Elsewhere)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Elsewhere.seen.clear()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _file_it(bot, file_id: str, name: str | None = None, **options) -> str:
    """Share a file through the File-to-program shortcut; the line the bot DMs about it."""
    shared = bot.slack.add_file(file_id, name or f"{file_id}.pdf", b"%PDF executed", **options)
    message = {**bot.slack.add_message(CHANNEL, "the signed QA", "UAPP1"), "files": [shared]}
    opened, told = len(bot.slack.calls("views.open")), len(bot.posts("UPM1"))
    bot.send.message_shortcut("file_to_program", "UPM1", CHANNEL, message)
    bot.slack.wait_for("views.open", count=opened + 1)
    assert bot.submit("UPM1", {"target": "agreements|ACME-001|QA-1|original"}).text == ""
    dms = bot.slack.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "UPM1", count=told + 1)
    return dms[-1].args["text"]


def test_the_token_is_never_sent_off_slack(bot, engine, elsewhere):
    _program(bot, engine)
    _log(bot, EXECUTED_QA)
    off = _file_it(bot, "FOFFSLACK", off_slack_url=f"{elsewhere}/F.pdf")
    assert "not stored on Slack's file servers" in off
    external = _file_it(bot, "FDRIVE", external_type="gdrive", off_slack_url=f"{elsewhere}/G.pdf")
    assert "kept in gdrive" in external and "upload the file itself" in external
    redirected = _file_it(bot, "FREDIRECT", redirect_to=f"{elsewhere}/R.pdf")
    assert "could not be downloaded" in redirected
    assert [c.token for c in bot.slack.calls("file_download")] == [TOKEN]  # only the emulator's own URL
    assert _Elsewhere.seen == []  # the other host heard nothing at all, let alone the token
    folder = Path(bot.env["CMO_FILES_DIR"]) / "ACME-001" / "agreements"
    refused = {"QA-1-FOFFSLACK.pdf", "QA-1-FDRIVE.pdf", "QA-1-FREDIRECT.pdf"}
    assert not folder.exists() or not refused & {p.name for p in folder.iterdir()}
    ok = _file_it(bot, "FFINE")
    assert "Filed *FFINE.pdf*" in ok


def test_agreement_files_keep_their_prefix_and_fit_the_file_system(bot, engine):
    _program(bot, engine)
    _log(bot, EXECUTED_QA)
    assert "Filed" in _file_it(bot, "FSLASH", name="scans/QA v3 signed.pdf")
    long = "品質契約書の署名済み原本" * 30 + ".pdf"  # 1,080 bytes of UTF-8
    assert "Filed" in _file_it(bot, "FCJK", name=long)
    filed = {p.name for p in (Path(bot.env["CMO_FILES_DIR"]) / "ACME-001" / "agreements").iterdir()}
    assert "QA-1-QA v3 signed.pdf" in filed  # not "QA v3 signed.pdf": the prefix survives the slash
    [cjk] = [name for name in filed if name.startswith("QA-1-品質契約書")]
    assert cjk.endswith(".pdf") and len(cjk.encode()) <= 200
