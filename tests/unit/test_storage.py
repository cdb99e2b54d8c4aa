"""The document store: settings that choose it, write-once, verified reads, errors that name the
document, and `cmo-bot files migrate` from a folder into the real S3 server."""

from __future__ import annotations

from datetime import date

import pytest
from prometheus_client import REGISTRY

from bot.settings import SettingsError, load_settings
from store.audit import Actor
from store.db import make_engine, transaction
from store.filing import DocumentUnavailable, file_document, read_document, sha256
from store.migrate import upgrade
from store.storage import LocalStore, S3Store, StoreUnavailable, open_store
from store.submissions import service as subs
from tests import factories
from tests.conftest import NOW
from tests.s3_server import overwrite
from tests.unit.test_cli import _run

QA = Actor("UQA1", "Quinn Quality")


def _errors(operation: str) -> float:
    return REGISTRY.get_sample_value("cmo_storage_errors_total", {"operation": operation}) or 0.0


@pytest.mark.parametrize(("env", "expected"), [
    ({}, "program-files"),
    ({"CMO_FILES_DIR": "/srv/docs"}, "/srv/docs"),
    ({"CMO_FILES_URL": "s3://cmo-docs/prod"}, "s3://cmo-docs/prod"),
    ({"CMO_FILES_URL": "file:///srv/docs", "CMO_FILES_DIR": "file:///srv/docs"}, "file:///srv/docs"),
])
def test_files_url_with_its_synonym(monkeypatch, env, expected):
    for name in ("CMO_FILES_URL", "CMO_FILES_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert load_settings(_env_file=None).files_url == expected


@pytest.mark.parametrize(("env", "message"), [
    ({"CMO_FILES_URL": "ftp://host/docs"}, "CMO_FILES_URL: 'ftp://host/docs': use a folder path"),
    ({"CMO_FILES_URL": "s3://"}, "CMO_FILES_URL: 's3://' does not name a bucket"),
    ({"CMO_FILES_URL": "s3://docs", "CMO_FILES_DIR": "/srv/docs"}, "CMO_FILES_URL and CMO_FILES_DIR name different"),
    ({"CMO_S3_ENDPOINT_URL": "localhost:9000"}, "CMO_S3_ENDPOINT_URL: must be an http(s) URL"),
])
def test_bad_files_settings_are_one_line(monkeypatch, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settings(_env_file=None)


def test_open_store_reads_each_form(tmp_path):
    local = open_store(f"file://{tmp_path}")
    assert isinstance(local, LocalStore) and local.root == tmp_path
    s3 = open_store("s3://cmo-docs/prod/eu", endpoint_url="http://127.0.0.1:1", region="eu-west-1")
    assert isinstance(s3, S3Store) and (s3.bucket, s3.object_key("A/x.pdf")) == ("cmo-docs", "prod/eu/A/x.pdf")


def test_written_once_and_read_back_verified(files):
    assert files.put_new("ACME-001/x.pdf", b"first") is True
    assert files.put_new("ACME-001/x.pdf", b"second") is False  # never overwritten
    assert read_document(files, "ACME-001/x.pdf", sha256(b"first"), "x.pdf") == b"first"
    overwrite(files, "ACME-001/x.pdf", b"changed behind the bot's back")
    before = _errors("altered")
    with pytest.raises(DocumentUnavailable, match=r"^x.pdf in the document store \(ACME-001/x.pdf\) is not the file"):
        read_document(files, "ACME-001/x.pdf", sha256(b"first"), "x.pdf")
    assert _errors("altered") == before + 1
    with pytest.raises(DocumentUnavailable, match=r"^y.pdf is missing from the document store"):
        read_document(files, "ACME-001/y.pdf", sha256(b"first"), "y.pdf")


def test_an_unreachable_store_is_a_clear_refusal_that_files_nothing(tmp_path):
    import boto3
    from botocore.config import Config

    client = boto3.client("s3", endpoint_url="http://127.0.0.1:9", aws_access_key_id="k", aws_secret_access_key="s",
                          region_name="us-east-1", config=Config(retries={"max_attempts": 1}, connect_timeout=1))
    down = S3Store("cmo-docs", "p", client=client)
    before = _errors("put")
    with pytest.raises(StoreUnavailable, match="Documents cannot be reached right now: the document store "
                                               "s3://cmo-docs/p is not answering"):
        file_document(down, "ACME-001", "agreements", name="QA.pdf", content=b"x")
    assert _errors("put") == before + 1


# --- cmo-bot files migrate ---------------------------------------------------------------------------------


def _installation(tmp_path):
    """A SQLite database whose audit trail names three filed documents of a local folder."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    engine = make_engine(url)
    folder = LocalStore(tmp_path / "files")
    with transaction(engine) as session:
        program = factories.program(session, NOW)
        submission = subs.create(session, program=program, actor=factories.ADMIN, now=NOW,
                                 kind=subs.SubmissionType.other, title="Acme", filing_date=date(2027, 1, 15))
        for number, name in ((1, "smf.pdf"), (2, "fei.pdf"), (3, "coa.pdf")):
            filed = file_document(folder, program.code, "submissions", str(submission.id), name=name,
                                  content=name.encode() * 3)
            subs.attach(session, entry=subs.item(session, submission, number), filed=filed, name=name, actor=QA,
                        now=NOW)
    engine.dispose()
    return folder, f"submissions/{submission.id}"


def test_files_migrate_copies_verifies_refuses_and_is_idempotent(tmp_path, s3_server):
    folder, where = _installation(tmp_path)
    overwrite(folder, f"ACME-001/{where}/coa.pdf", b"edited on the old server")
    (folder.root / "ACME-001" / "stray.txt").write_bytes(b"nobody filed me")
    bucket = s3_server.store()
    env = {"CMO_FILES_DIR": str(folder.root), **s3_server.env(bucket.prefix)}
    env.pop("CMO_FILES_URL")

    first = _run(["files", "migrate", "--to", bucket.url], tmp_path, **env)
    assert first.returncode == 1, first.stderr
    assert first.stdout.splitlines() == [
        f"copied   ACME-001/{where}/fei.pdf",
        f"copied   ACME-001/{where}/smf.pdf",
        f"refused  ACME-001/{where}/coa.pdf: its SHA-256 ({sha256(b'edited on the old server')[:12]}…) differs "
        f"from the audit trail's ({sha256(b'coa.pdf' * 3)[:12]}…); not copied",
        "refused  ACME-001/stray.txt: not in the audit trail; left where it is",
        "2 copied, 0 skipped, 2 refused",
    ]
    assert bucket.get(f"ACME-001/{where}/smf.pdf") == b"smf.pdf" * 3 and bucket.get(f"ACME-001/{where}/coa.pdf") is None
    assert folder.get(f"ACME-001/{where}/smf.pdf") == b"smf.pdf" * 3  # the source is left as it was

    again = _run(["files", "migrate", "--to", bucket.url], tmp_path, **env)
    assert again.returncode == 1 and again.stdout.splitlines()[-1] == "0 copied, 2 skipped, 2 refused"
    assert f"skipped  ACME-001/{where}/smf.pdf (already there, same SHA-256)" in again.stdout


def test_files_migrate_refuses_a_different_file_at_the_target_and_bad_targets(tmp_path):
    folder, where = _installation(tmp_path)
    target = LocalStore(tmp_path / "new")
    target.put_new(f"ACME-001/{where}/fei.pdf", b"someone else's file")
    done = _run(["files", "migrate", "--to", f"file://{target.root}"], tmp_path, CMO_FILES_DIR=str(folder.root))
    assert done.returncode == 1
    assert f"refused  ACME-001/{where}/fei.pdf: {target.root} already holds a different file" in done.stdout
    assert target.get(f"ACME-001/{where}/fei.pdf") == b"someone else's file"

    bad = _run(["files", "migrate", "--to", "ftp://x"], tmp_path, CMO_FILES_DIR=str(folder.root))
    assert (bad.returncode, bad.stderr.strip()) == (2, "cmo-bot: --to: 'ftp://x': use a folder path, file:///folder "
                                                       "or s3://bucket/prefix")
    same = _run(["files", "migrate", "--to", str(folder.root)], tmp_path, CMO_FILES_DIR=str(folder.root))
    assert same.returncode == 2 and "already in" in same.stderr
