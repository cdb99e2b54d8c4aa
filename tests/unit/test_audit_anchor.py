"""The audit trail's anchors outside the database: a keyed chain (CMO_AUDIT_KEY) and published checkpoints.

Someone with write access to the database can rewrite the chain consistently, cut its end and reset the
head, or wipe both tables; each of these must be reported broken."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from sqlalchemy import delete, update
from sqlmodel import select

from bot.emulator.server import SlackEmulator
from bot.settings import load_settings
from bot.slack import web_client
from scheduler import checkpoints
from store import audit
from store.audit import AuditEntry, AuditHead
from store.db import transaction
from tests import factories
from tests.conftest import NOW
from tests.unit.test_cli import _run

KEY = "k" * 40


@pytest.fixture
def keyed():
    audit.use_key(KEY)
    yield
    audit.use_key(None)


def _trail(engine, rows: int = 5) -> None:
    with transaction(engine) as session:
        for i in range(rows):
            audit.record(session, actor=factories.ADMIN, action="noted", entity="thing", entity_id=i,
                         now=NOW + timedelta(minutes=i), after={"n": i})


def _verify(engine, checkpoint: audit.Checkpoint | None = None) -> audit.VerifyReport:
    with transaction(engine) as session:
        report = audit.verify(session)
        if checkpoint is not None:
            audit.verify_checkpoint(session, checkpoint, report)
    return report


def _head(engine) -> audit.Checkpoint:
    with transaction(engine) as session:
        return audit.head_checkpoint(session)


def test_a_consistent_rewrite_without_the_key_is_broken(engine, keyed):
    _trail(engine)
    assert _verify(engine).ok
    with transaction(engine) as session:  # the forger edits row 3 and re-hashes everything after it, unkeyed
        prev = session.get(AuditEntry, 2).hash
        for entry in session.exec(select(AuditEntry).where(AuditEntry.seq >= 3).order_by(AuditEntry.seq)):
            entry.after = {"n": 99} if entry.seq == 3 else entry.after
            entry.prev_hash = prev
            entry.hash = prev = hashlib.sha256(audit._content(entry).encode()).hexdigest()
            session.add(entry)
        session.exec(update(AuditHead).values(hash=prev))
    report = _verify(engine)
    assert not report.ok
    assert report.problems == [f"row {n} is not keyed with CMO_AUDIT_KEY (rewritten without it)" for n in (3, 4, 5)]


def test_rows_written_before_the_key_was_set_still_verify(engine):
    _trail(engine, 2)
    audit.use_key(KEY)
    try:
        _trail(engine, 2)
        assert _verify(engine).ok
    finally:
        audit.use_key(None)
    assert _verify(engine).problems == [f"row {n} was edited after it was written" for n in (3, 4)]  # no key


def test_a_cut_with_the_head_reset_is_caught_by_a_checkpoint(engine, keyed):
    _trail(engine)
    checkpoint = _head(engine)
    with transaction(engine) as session:
        session.exec(delete(AuditEntry).where(AuditEntry.seq >= 4))
        row3 = session.get(AuditEntry, 3)
        session.exec(update(AuditHead).values(seq=3, hash=row3.hash))
    assert _verify(engine).ok  # consistent in itself …
    assert _verify(engine, checkpoint).problems == ["row 5 of the checkpoint is gone (the chain was cut)"]


def test_a_rewrite_with_the_key_is_caught_by_a_checkpoint(engine, keyed):
    _trail(engine)
    checkpoint = _head(engine)
    with transaction(engine) as session:  # someone who holds the key too: only the checkpoint can tell
        entry = session.get(AuditEntry, 5)
        entry.after = {"n": 99}
        entry.hash = audit._digest(entry, KEY.encode())
        session.add(entry)
        session.exec(update(AuditHead).values(hash=entry.hash))
    assert _verify(engine).ok
    assert _verify(engine, checkpoint).problems == ["row 5 differs from the checkpoint (the chain was rewritten)"]


def test_wiped_or_headless_chain_beside_programs_is_broken(engine):
    with transaction(engine) as session:
        factories.program(session, NOW)
    with transaction(engine) as session:
        session.exec(delete(AuditHead))
    assert _verify(engine).problems == ["the chain's head row is missing"]
    with transaction(engine) as session:
        session.exec(delete(AuditEntry))
    assert _verify(engine).problems == ["the chain's head row is missing",
                                        "the audit trail is empty although 1 program(s) exist"]


def test_checkpoint_text_and_file_forms_parse():
    digest = "ab" * 32
    assert audit.Checkpoint.parse(f"12:{digest}") == audit.Checkpoint(12, digest)
    assert audit.Checkpoint.parse(audit.Checkpoint(12, digest).to_json(NOW)) == audit.Checkpoint(12, digest)
    for bad in ("12", f"x:{digest}", "12:abc", f"0:{digest}", '{"seq": 1}'):
        with pytest.raises(ValueError):
            audit.Checkpoint.parse(bad)


@pytest.fixture
def slack():
    with SlackEmulator() as emulator:
        emulator.add_channel("CALERTS", "cmo-alerts")
        yield emulator


def test_checkpoints_go_to_the_alerts_channel_and_the_store_once_an_hour(engine, slack, tmp_path):
    settings = load_settings(slack_bot_token="xoxb-test", slack_api_url=slack.url, cmo_alerts_channel="CALERTS",
                             cmo_files_dir=str(tmp_path))
    client = web_client(settings)
    assert checkpoints.publish(engine, client, settings, NOW) is None  # an empty chain has nothing to anchor
    _trail(engine, 3)
    published = checkpoints.publish(engine, client, settings, NOW)
    assert published == _head(engine) and published.seq == 3
    [post] = slack.calls("chat.postMessage")
    assert post.args["channel"] == "CALERTS" and f"--checkpoint {published}" in post.args["text"]
    [stored] = (tmp_path / checkpoints.FOLDER / "checkpoints").iterdir()
    assert audit.Checkpoint.parse(stored.read_text()) == published
    _trail(engine, 1)
    assert checkpoints.publish(engine, client, settings, NOW + timedelta(minutes=59)) is None  # not yet due
    assert checkpoints.publish(engine, client, settings, NOW + timedelta(hours=1)).seq == 4
    assert checkpoints.publish(engine, client, settings, NOW + timedelta(hours=3)) is None  # nothing new
    assert json.loads(sorted((tmp_path / checkpoints.FOLDER / "checkpoints").iterdir())[-1].read_text())["seq"] == 4


def test_cli_verifies_against_a_checkpoint(tmp_path):
    from store.db import make_engine

    _run(["migrate"], tmp_path)
    engine = make_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    with transaction(engine) as session:
        factories.program(session, NOW)  # 7 rows
    checkpoint = _head(engine)
    stored = tmp_path / "checkpoint.json"
    stored.write_text(checkpoint.to_json(NOW))
    done = _run(["audit", "verify", "--checkpoint", str(checkpoint)], tmp_path)
    assert done.returncode == 0 and "checked against checkpoint 7" in done.stdout, done.stdout + done.stderr
    with transaction(engine) as session:
        session.exec(delete(AuditEntry).where(AuditEntry.seq >= 6))
        session.exec(update(AuditHead).values(seq=5, hash=session.get(AuditEntry, 5).hash))
    engine.dispose()
    assert _run(["audit", "verify"], tmp_path).returncode == 0  # the cut is invisible without an anchor …
    for given in (str(checkpoint), str(stored)):
        done = _run(["audit", "verify", "--checkpoint", given], tmp_path)
        assert done.returncode == 1 and "row 7 of the checkpoint is gone" in done.stdout, done.stdout
    done = _run(["audit", "verify", "--checkpoint", "7:nothex"], tmp_path)
    assert done.returncode == 2 and done.stderr.startswith("cmo-bot: --checkpoint:") and "Traceback" not in done.stderr
