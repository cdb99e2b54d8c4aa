"""Two `cmo-bot serve` replicas on one database and one bucket, as behind a load balancer: whichever
replica Slack reaches, a document filed through one is there, verified, for the other. And serving processes
of one machine sharing one port (`--reuse-port`)."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import pytest

from tests.conftest import NOW
from tests.e2e.conftest import ready
from tests.e2e.harness import Bot, BotProcess, Clock, bot_env, s3_env
from tests.e2e.test_submissions import CHANNEL, _item, _program, _shared_message, _submission, _verified
from tests.s3_server import overwrite


@pytest.fixture
def replicas(slack, db_url, engine, s3_server, tmp_path):
    prefix = f"replicas-{uuid.uuid4().hex[:8]}"
    started: list[tuple[BotProcess, Clock]] = []
    try:
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            clock = Clock(tmp_path / name / "now.txt")
            clock.set(NOW)
            env = {**s3_env(bot_env(slack, db_url, tmp_path / name, clock), s3_server, prefix),
                   "CMO_WORK_QUEUE": prefix}  # one deployment: either replica's workers run either's requests
            started.append((BotProcess(env), clock))
        second, clock = started[1]
        yield ready(*started[0], slack), Bot(second, slack, clock)
    finally:
        for process, _ in started:
            process.stop()


def test_filed_through_one_replica_packaged_and_verified_through_the_other(replicas, engine):
    a, b = replicas
    assert a.env["CMO_FILES_URL"] == b.env["CMO_FILES_URL"] and a.process.url != b.process.url
    _program(a, engine)
    submission_id = _submission(engine)
    site = _item(engine, 1, submission_id)
    content = b"%PDF-1.7 site master file, filed through replica A"

    # the shortcut reaches replica A, the form's submission replica B: the file lands in the shared bucket
    a.send.message_shortcut("file_submission_item", "UQA1", CHANNEL,
                            _shared_message(a, "F0SMF", "Site Master File.pdf", content))
    a.slack.wait_for("views.open")
    b.submit("UQA1", {"item": str(site.id)})
    a.slack.wait_for("chat.postMessage", lambda c: "Received for" in c.args.get("text", ""))
    key = f"ACME-001/submissions/{submission_id}/Site Master File.pdf"
    assert a.files.get(key) == content

    # replica A packages what B filed, verified against the checksum recorded at filing
    a.ask("submission package SUB-001 --draft", user="UPM1", channel=CHANNEL)
    package = a.slack.uploaded_files()[-1]
    assert _verified(package["bytes"])["01 Facility/01-Site Master File.pdf"] == content
    assert b.files.get(f"ACME-001/submissions/{submission_id}/packages/{package['name']}") == package["bytes"]

    # a document changed in the bucket behind the bot's back stops packaging on either replica, by name
    overwrite(a.files, key, b"edited in the bucket")
    for replica in (a, b):
        refused = replica.ask("submission package SUB-001 --draft", user="UPM1", channel=CHANNEL)
        assert "Site Master File.pdf (item 1) in the document store" in refused and "is not the file" in refused
    assert len(a.slack.uploaded_files()) == 1


def test_serving_processes_share_one_port_and_the_port_outlives_either(slack, db_url, engine, tmp_path):
    """`serve --reuse-port`: a second serving process on the same machine listens on the first's port (more
    cores answer, no proxy in front); stopped, either leaves the port answering. A process without the flag
    cannot take a port they hold, and says so."""
    clock = Clock(tmp_path / "now.txt")
    clock.set(NOW)
    env = {**bot_env(slack, db_url, tmp_path, clock), "CMO_WORK_QUEUE": f"port-{uuid.uuid4().hex[:8]}"}
    first = BotProcess(env, options=["--reuse-port"])
    second = None
    try:
        port = str(urlsplit(first.url).port)
        second = BotProcess(env, options=["--port", port, "--reuse-port"])
        assert second.url == first.url and second.proc.pid != first.proc.pid
        bot = ready(first, clock, slack)
        for _ in range(4):  # each request on a connection of its own: the kernel may hand it to either
            assert "/cmo help <area>" in bot.ask("help", user="UADMIN")
        first.stop()
        assert "/cmo help <area>" in Bot(second, slack, clock).ask("help", user="UADMIN")
        with pytest.raises(RuntimeError, match=f"cannot listen on 127.0.0.1:{port}"):
            BotProcess(env, options=["--port", port])
    finally:
        for process in (first, second):
            if process is not None:
                process.stop()
