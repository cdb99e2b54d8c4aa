"""`cmo-bot tick`, `program new/list` and `config` as an operator runs them (real processes, the emulator as Slack)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest

from bot.emulator.server import SlackEmulator
from store.db import make_engine, transaction
from store.migrate import upgrade
from tests import factories
from tests.conftest import NOW
from tests.unit.test_cli import _run

TOKEN = "xoxb-cli-0000-token"
MONDAY = datetime(2026, 11, 2, 14, 30, tzinfo=UTC)  # 09:30 in New York, when the programs' digests are due


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def due(tmp_path):
    """A database in which two programs' weekly digests are due at MONDAY."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    engine = make_engine(url)
    with transaction(engine) as session:
        for code in ("ACME-001", "BETA-002"):
            factories.program(session, NOW, code, channel=f"C{code[:4]}", members={})
    engine.dispose()
    return tmp_path


def test_dry_run_needs_no_token_and_says_when_nothing_is_due(tmp_path):
    assert _run(["migrate"], tmp_path).returncode == 0
    done = _run(["tick", "--dry-run", "--now", NOW.isoformat()], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr.strip() == (
        f"tick --dry-run {NOW.isoformat()}: 0 would be sent; nothing was changed")


def test_dry_run_lists_what_is_due(due):
    done = _run(["tick", "--dry-run", "--now", MONDAY.isoformat()], due)
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 2
    assert done.stderr.strip().endswith("2 would be sent; nothing was changed")


def _said(stderr: str) -> list[str]:
    """stderr without the line of the pass's upkeep, which publishes an audit checkpoint when one is due."""
    return [line for line in stderr.splitlines() if not line.startswith("audit checkpoint published: ")]


def test_slack_unreachable_is_one_line_per_row_and_a_failure(due):
    done = _run(["tick", "--now", MONDAY.isoformat()], due, SLACK_BOT_TOKEN=TOKEN,
                SLACK_API_URL=f"http://127.0.0.1:{_closed_port()}/api/")
    assert done.returncode == 1
    rows = done.stdout.splitlines()
    assert len(rows) == 2 and all(r.startswith("retry ") and "Connection refused" in r for r in rows)
    assert _said(done.stderr) == [
        f"tick {MONDAY.isoformat()}: 2 queued, 0 cancelled, 0 delivered",
        "cmo-bot tick: 2 notification(s) not delivered (see the lines above): `retry` ones wait in the outbox for a "
        "later pass, `dead` ones were dead-lettered"]


def test_tick_delivers_quietly(due):
    with SlackEmulator(bot_token=TOKEN) as slack:
        slack.add_channel("CACME", "acme-001")
        slack.add_channel("CBETA", "beta-002")
        done = _run(["tick", "--now", MONDAY.isoformat()], due, SLACK_BOT_TOKEN=TOKEN, SLACK_API_URL=slack.url)
    assert done.returncode == 0 and [r.split()[0] for r in done.stdout.splitlines()] == ["sent", "sent"]
    assert _said(done.stderr) == [f"tick {MONDAY.isoformat()}: 2 queued, 0 cancelled, 2 delivered"]


def test_program_new_then_list(tmp_path):
    created = _run(["program", "new", "--code", "acme-001", "--customer", "Acme Pharma", "--manager", "U0PM1",
                    "--manager", "U0PM2"], tmp_path, CMO_TIMEZONE="Europe/Berlin")
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == ("created ACME-001: Acme Pharma (Europe/Berlin, no channel, program managers: "
                                      "U0PM1, U0PM2)")
    _run(["program", "new", "--code", "BETA-002", "--customer", "Beta", "--timezone", "Asia/Tokyo"], tmp_path)
    listed = _run(["program", "list"], tmp_path)
    assert listed.returncode == 0 and listed.stdout.splitlines() == [
        "ACME-001: Acme Pharma (Europe/Berlin, no channel, program managers: U0PM1, U0PM2)",
        "BETA-002: Beta (Asia/Tokyo, no channel, program managers: none)"]
    trail = _run(["audit", "verify"], tmp_path)
    assert trail.stdout.startswith("audit chain verified: ")


@pytest.mark.parametrize(("args", "expected"), [
    (["--code", "ACME-001", "--customer", "Again"], "cmo-bot: program new: A program ACME-001 already exists."),
    (["--code", "X", "--customer", "Acme"], "cmo-bot: program new: "),
    (["--code", "NEW-1", "--customer", "Acme", "--manager", "pat"], "cmo-bot: --manager PAT is not a Slack user ID"),
    (["--code", "NEW-1", "--customer", "Acme", "--timezone", "Mars/Olympus"], "cmo-bot: program new: "),
])
def test_program_new_refusals_are_one_line_and_change_nothing(tmp_path, args, expected):
    _run(["program", "new", "--code", "ACME-001", "--customer", "Acme"], tmp_path)
    done = _run(["program", "new", *args], tmp_path)
    assert done.returncode == 2 and done.stderr.startswith(expected) and len(done.stderr.splitlines()) == 1
    assert _run(["program", "list"], tmp_path).stdout.splitlines() == [
        "ACME-001: Acme (UTC, no channel, program managers: none)"]


def test_program_list_of_an_empty_database(tmp_path):
    _run(["migrate"], tmp_path)
    done = _run(["program", "list"], tmp_path)
    assert done.returncode == 0 and done.stdout == "" and done.stderr.startswith("no programs yet")


def _config(tmp_path, slack_url: str, **env: str):
    return _run(["config"], tmp_path, **{"SLACK_API_URL": slack_url, "CMO_FILES_DIR": str(tmp_path / "files"), **env})


def _checks(done) -> dict[str, str]:
    lines = done.stdout.split("\nchecks:\n", 1)[1].splitlines()
    return {line.split(":", 1)[0].split(None, 1)[1]: line.strip() for line in lines}


def test_config_shows_settings_with_their_source_and_checks_each(tmp_path):
    _run(["migrate"], tmp_path)
    (tmp_path / ".env").write_text(f"SLACK_SIGNING_SECRET=0123456789abcdef0123\nSLACK_BOT_TOKEN={TOKEN}\n")
    with SlackEmulator(bot_token=TOKEN) as slack:
        done = _config(tmp_path, slack.url)
    assert done.returncode == 0, done.stdout + done.stderr
    settings = {line.split()[0]: line.split() for line in done.stdout.split("\nchecks:\n")[0].splitlines()[1:]}
    assert settings["SLACK_BOT_TOKEN"] == ["SLACK_BOT_TOKEN", "xoxb-••••", "(19", "characters)", ".env"]
    assert settings["SLACK_SIGNING_SECRET"][1:] == ["••••", "(20", "characters)", ".env"]
    assert settings["DATABASE_URL"][-1] == "environment" and settings["CMO_TIMEZONE"][1:] == ["UTC", "default"]
    assert TOKEN not in done.stdout and "0123456789abcdef" not in done.stdout
    checks = _checks(done)
    assert all(line.startswith("ok ") for line in checks.values()), checks
    assert "accepted by Slack: the bot @" in checks["SLACK_BOT_TOKEN"]
    assert "schema up to date" in checks["database"]
    assert "it will be created" in checks["files store"]
    assert not (tmp_path / "files").exists()


def test_config_names_each_thing_that_is_wrong(tmp_path):
    (tmp_path / "files").write_text("a file where the folder should be")
    with SlackEmulator(bot_token=TOKEN) as slack:
        done = _config(tmp_path, slack.url, SLACK_BOT_TOKEN="xoxb-some-other-workspace",
                       CMO_FILES_DIR=str(tmp_path / "files" / "inner"), DATABASE_URL="sqlite:///typo.db")
    assert done.returncode == 1
    checks = _checks(done)
    assert checks["SLACK_BOT_TOKEN"].startswith("FAIL") and "(invalid_auth)" in checks["SLACK_BOT_TOKEN"]
    assert checks["database"] == "FAIL  database: sqlite:///typo.db does not exist (`cmo-bot migrate` creates it)"
    assert checks["SLACK_SIGNING_SECRET"].startswith("FAIL  SLACK_SIGNING_SECRET: not set")
    assert checks["files store"].startswith("FAIL") and not (tmp_path / "typo.db").exists()


def test_config_with_slack_unreachable_and_a_bad_setting(tmp_path):
    _run(["migrate"], tmp_path)
    done = _config(tmp_path, f"http://127.0.0.1:{_closed_port()}/api/", SLACK_BOT_TOKEN=TOKEN)
    assert done.returncode == 1 and "Slack is not reachable at http://127.0.0.1:" in _checks(done)["SLACK_BOT_TOKEN"]
    assert done.stderr == ""  # the check's line says it all, without the Web API client's log
    bad = _run(["config"], tmp_path, CMO_TIMEZONE="Mars/Olympus", CMO_ADMINS="pat")
    assert bad.returncode == 2 and bad.stderr.splitlines() == [
        "cmo-bot: CMO_TIMEZONE: 'Mars/Olympus' is not an IANA time zone name such as Europe/Berlin",
        "cmo-bot: CMO_ADMINS: must be Slack user IDs such as U012ABCDEF, not pat"]
