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
    (["tick", "--dry-run"], {"CMO_NOW": "yesterday"}, "CMO_NOW: 'yesterday' is not an ISO-8601 instant"),
    (["migrate"], {"CMO_NOW": "@/missing/now.txt"}, "CMO_NOW: cannot read the instant from /missing/now.txt"),
])
def test_bad_settings_stop_with_one_line(tmp_path, args, env, expected):
    done = _run(args, tmp_path, **env)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"cmo-bot: {done.stderr.strip().removeprefix('cmo-bot: ')}"]
    assert expected in done.stderr and "Traceback" not in done.stderr


def test_migrate_then_verify_empty_trail(tmp_path):
    assert _run(["migrate"], tmp_path).stdout.startswith("created the database schema (revisions 0")
    verified = _run(["audit", "verify"], tmp_path)
    assert verified.returncode == 0 and verified.stdout.splitlines()[0] == "audit chain is empty: 0 rows"


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


def _one_line(done: subprocess.CompletedProcess, code: int, expected: str) -> None:
    assert done.returncode == code, done.stdout + done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and expected in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("args", [
    ["audit", "verify"],
    ["export", "--all"],
    ["program", "list"],
    ["tick", "--dry-run", "--now", "2026-11-02T10:00:00Z"],
    ["import", "typo.csv", "--kind", "agreements", "--program", "ACME-001", "--dry-run"],
])
def test_reading_commands_never_create_a_database(tmp_path, args):
    (tmp_path / "typo.csv").write_text("Type,Counterparty,Status\nMSA,Acme Pharma,draft\n")
    done = _run(args, tmp_path, DATABASE_URL="sqlite:///typo.db")
    _one_line(done, 2, "cmo-bot: there is no database at sqlite:///typo.db (DATABASE_URL)")
    assert not (tmp_path / "typo.db").exists() and done.stdout == ""


def test_migrate_says_what_it_did(tmp_path):
    from alembic import command

    from store.migrate import config, latest

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    command.upgrade(config(url), "0001")  # a database of the first release
    upgraded = _run(["migrate"], tmp_path)
    assert upgraded.stdout.strip() == f"upgraded the database schema from 0001 to {', '.join(latest())}"
    again = _run(["migrate"], tmp_path)
    assert again.stdout.strip() == f"database schema is up to date (revisions {', '.join(latest())}); nothing to do"


def test_version(tmp_path):
    from importlib.metadata import version

    done = _run(["--version"], tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == f"cmo-bot {version('cmo-bot')}"


def _help(capsys, *path: str) -> str:
    from bot.cli import main

    with pytest.raises(SystemExit) as exited:
        main([*path, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


def _entries(text: str, section: str) -> dict[str, str]:
    """{invocation: help text} of one section of argparse's help ("options:", "positional arguments:")."""
    if f"\n{section}\n" not in text:
        return {}
    lines = text.split(f"\n{section}\n", 1)[1].split("\n\n", 1)[0].splitlines()
    entries: dict[str, str] = {}
    name = ""
    for line in lines:
        if len(line) - len(line.lstrip()) <= 4:  # an entry (subcommands sit under COMMAND, 4 deep)
            name, _, rest = line.strip().partition("  ")
            entries[name] = rest.strip()
        elif name:
            entries[name] = (entries[name] + " " + line.strip()).strip()
    return entries


def _commands(capsys, *path: str) -> list[tuple[str, ...]]:
    """Every leaf command under `path`, found through the help texts alone."""
    listed = _entries(_help(capsys, *path), "positional arguments:")
    if "COMMAND" not in listed:
        return [path]
    names = [n for n in listed if n != "COMMAND"]
    assert all(listed[n] for n in names), listed  # each subcommand says what it does
    return [leaf for n in names for leaf in _commands(capsys, *path, n)]


def test_every_command_and_option_explains_itself(capsys):
    leaves = _commands(capsys)
    assert {" ".join(leaf) for leaf in leaves} >= {"serve", "socket", "work", "migrate", "tick", "demo",
                                                   "audit verify",
                                                   "import", "export", "config", "program new", "program list"}
    for leaf in leaves:
        text = _help(capsys, *leaf)
        usage, description = text.split("\n\n", 2)[:2]
        assert description.strip() and not description.startswith(("options:", "positional")), leaf
        for section in ("options:", "positional arguments:"):
            for name, help_text in _entries(text, section).items():
                assert help_text, (leaf, name)
                takes_value = " " in name.split(",")[-1].strip()
                optional = f"[{name.split(',')[-1].strip().split(' ')[0]}" in " ".join(usage.split())
                if section == "options:" and takes_value and optional:
                    assert "default" in help_text, (leaf, name, help_text)  # a value's default is written


def test_a_port_out_of_range_is_refused_not_replaced(tmp_path):
    done = _run(["serve", "--port", "99999"], tmp_path, SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s")
    _one_line(done, 2, "cmo-bot serve: argument --port: 99999 is not a port")


@pytest.mark.parametrize("count", ["two", "-1", "33"])
def test_a_worker_count_that_is_not_one_is_refused(tmp_path, count):
    done = _run(["serve", "--workers", count], tmp_path, SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s")
    _one_line(done, 2, "cmo-bot serve: argument --workers: ")


def test_a_port_in_use_is_one_line(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _run(["serve", "--host", "127.0.0.1", "--port", str(port), "--no-scheduler"], tmp_path,
                    SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s")
    _one_line(done, 2, f"cmo-bot: cannot listen on 127.0.0.1:{port}: ")


def test_demo_into_a_closed_pipe_stops_quietly(tmp_path):
    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    demo = subprocess.Popen([*cmo_bot(), "demo"], cwd=tmp_path, env=base, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    first = [demo.stdout.readline() for _ in range(3)]  # as `cmo-bot demo | head -n 3` reads
    demo.stdout.close()
    assert demo.wait(timeout=60) == 141
    assert first[0].startswith("cmo-bot demo:") and demo.stderr.read() == ""
