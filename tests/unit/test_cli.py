"""The command line as an operator meets it: one clear line for bad settings, never a traceback."""

from __future__ import annotations

import subprocess

import pytest

from tests.e2e.harness import REPO, cmo_bot


def _run(args: list[str], tmp_path, **env: str) -> subprocess.CompletedProcess:
    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(REPO),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    return subprocess.run([*cmo_bot(), *args], cwd=tmp_path, env={**base, **env}, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize(("args", "env", "expected"), [
    (["serve"], {}, "SLACK_BOT_TOKEN is not set"),
    (["serve"], {"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET is not set"),
    (["socket"], {"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_APP_TOKEN is not set"),
    (["tick"], {"SLACK_BOT_TOKEN": "xoxp-1"}, "SLACK_BOT_TOKEN: must be a bot token"),
    (["migrate"], {"DATABASE_URL": "oracle://x"}, "DATABASE_URL: must be a sqlite://"),
    (["tick", "--now", "next tuesday"], {"SLACK_BOT_TOKEN": "xoxb-1"}, "--now 'next tuesday' is not an ISO-8601"),
])
def test_bad_settings_stop_with_one_line(tmp_path, args, env, expected):
    done = _run(args, tmp_path, **env)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"cmo-bot: {done.stderr.strip().removeprefix('cmo-bot: ')}"]
    assert expected in done.stderr and "Traceback" not in done.stderr


def test_migrate_then_verify_empty_trail(tmp_path):
    assert _run(["migrate"], tmp_path).stdout.strip() == "database schema is up to date"
    verified = _run(["audit", "verify"], tmp_path)
    assert verified.returncode == 0 and "audit chain verified: 0 rows" in verified.stdout


def test_audit_verify_names_edited_and_deleted_rows(tmp_path):
    from sqlalchemy import delete, update

    from store.audit import AuditEntry
    from store.db import make_engine, transaction
    from tests import factories
    from tests.conftest import NOW

    _run(["migrate"], tmp_path)
    engine = make_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    with transaction(engine) as session:
        factories.program(session, NOW)  # created, 5 roles granted, channel linked: 7 rows
    with transaction(engine) as session:
        session.exec(update(AuditEntry).where(AuditEntry.seq == 2).values(actor_name="Mallory"))
        session.exec(delete(AuditEntry).where(AuditEntry.seq == 5))
    engine.dispose()
    done = _run(["audit", "verify"], tmp_path)
    assert done.returncode == 1
    assert "row 2 was edited after it was written" in done.stdout and "row(s) 5 deleted" in done.stdout
