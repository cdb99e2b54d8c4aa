"""`cmo-bot import` and `cmo-bot export` as an operator runs them: exit codes, the report on stdout, the files."""

from __future__ import annotations

import io
import sqlite3
import zipfile
from contextlib import closing
from pathlib import Path

import openpyxl
import pytest

from store.db import make_engine, transaction
from store.migrate import upgrade
from tests import factories
from tests.conftest import NOW
from tests.unit.test_cli import _run


@pytest.fixture
def cli_db(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    engine = make_engine(url)
    with transaction(engine) as session:
        factories.program(session, NOW, "ACME-001")
    engine.dispose()
    return tmp_path


def test_export_writes_a_workbook_and_says_the_chain_is_verified(cli_db):
    done = _run(["export", "--program", "acme-001", "--out", "audit.xlsx"], cli_db)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "audit chain verified: 7 rows, no break"
    workbook = openpyxl.load_workbook(cli_db / "audit.xlsx")
    assert workbook.sheetnames[0] == "Summary" and workbook["Summary"]["B2"].value == "verified"
    assert [r[0] for r in workbook["Programs"].iter_rows(min_row=2, values_only=True)] == ["ACME-001"]


def test_export_all_as_csv_zip_with_a_period(cli_db):
    done = _run(["export", "--all", "--format", "csv", "--from", "2026-11-01", "--to", "2026-11-30", "--out", "out/"],
                cli_db)
    assert done.returncode == 0, done.stderr
    written = next((cli_db / "out").glob("cmo-export-all-*.zip"))
    with zipfile.ZipFile(io.BytesIO(written.read_bytes())) as archive:
        assert archive.namelist()[0] == "01-summary.csv"


@pytest.mark.parametrize(("args", "expected"), [
    (["export", "--program", "NOPE-1"], "cmo-bot: there is no program NOPE-1"),
    (["export", "--program", "ACME-001", "--from", "1/2/2026"], "cmo-bot: --from and --to are dates"),
    (["import", "missing.csv", "--kind", "agreements", "--program", "ACME-001"], "cmo-bot: cannot read missing.csv"),
    (["export", "--program", "ACME-001", "--out", "missing/audit.xlsx"],
     "cmo-bot: --out missing/audit.xlsx: there is no folder missing"),
    (["export", "--program", "ACME-001", "--out", "missing/deeper/"],
     "cmo-bot: --out missing/deeper/: there is no folder missing"),
])
def test_operator_mistakes_get_one_line(cli_db, args, expected):
    done = _run(args, cli_db)
    assert done.returncode == 2 and done.stderr.strip().startswith(expected)
    assert "Traceback" not in done.stderr


def test_export_of_an_empty_trail_says_empty_not_verified(tmp_path):
    upgrade(f"sqlite:///{tmp_path / 'cli.db'}")
    done = _run(["export", "--all", "--out", "empty.xlsx"], tmp_path)
    assert done.returncode == 0 and done.stdout.splitlines()[-1] == "audit chain is empty: 0 rows"
    assert openpyxl.load_workbook(tmp_path / "empty.xlsx")["Summary"]["B2"].value == "empty"


def test_unknown_kind_is_refused_before_reading_rows(cli_db):
    (cli_db / "t.csv").write_text("Colour\nred\n")
    done = _run(["import", "t.csv", "--kind", "recipes", "--program", "ACME-001"], cli_db)
    assert done.returncode == 2 and "'recipes' is not a kind of tracker" in done.stderr


def test_import_prints_the_report_and_exits_1_when_rows_were_refused(cli_db):
    example = str(Path(__file__).resolve().parents[2] / "examples" / "agreements.csv")
    dry = _run(["import", example, "--kind", "agreements", "--program", "ACME-001", "--dry-run"], cli_db,
               CMO_NOW="2026-11-02T10:00:00Z")
    assert dry.returncode == 1, dry.stderr
    assert dry.stdout.splitlines()[-1] == "4 to import, 0 already present, 4 refused, 1 blank row skipped"
    assert "row 7: Exp. Date '31/05/2030' has no month 31" in dry.stdout
    assert _analyzed(cli_db) == set()  # a dry run writes nothing, statistics included
    first = _run(["import", example, "--kind", "agreements", "--program", "ACME-001"], cli_db,
                 CMO_NOW="2026-11-02T10:00:00Z")
    assert first.stdout.splitlines()[-1] == "4 imported, 0 already present, 4 refused, 1 blank row skipped"
    assert {"agreement", "program"} <= _analyzed(cli_db)  # the load is followed by the planner's statistics
    clean = cli_db / "clean.csv"
    clean.write_text("Type,Counterparty,Status\nMSA,Acme Pharma,draft\n")
    ok = _run(["import", str(clean), "--kind", "agreements", "--program", "ACME-001"], cli_db)
    assert ok.returncode == 0 and ok.stdout.splitlines()[-1] == "1 imported, 0 already present, 0 refused"


def _analyzed(folder: Path) -> set[str]:
    """The tables SQLite holds planner statistics for (sqlite_stat1, made by the first ANALYZE)."""
    with closing(sqlite3.connect(folder / "cli.db")) as connection:
        if not connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone():
            return set()
        return {tbl for (tbl,) in connection.execute("SELECT DISTINCT tbl FROM sqlite_stat1")}


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_stderr_only_for_long_files_on_a_terminal(monkeypatch):
    from bot import cli

    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert list(cli.progress_bar(range(5), 5)) == list(range(5))
    assert terminal.getvalue() == ""
    assert list(cli.progress_bar(range(cli.LONG_FILE), cli.LONG_FILE)) == list(range(cli.LONG_FILE))
    assert f"{cli.LONG_FILE}/{cli.LONG_FILE}" in terminal.getvalue() and "row" in terminal.getvalue()
    piped = io.StringIO()
    monkeypatch.setattr("sys.stderr", piped)
    list(cli.progress_bar(range(cli.LONG_FILE), cli.LONG_FILE))
    assert piped.getvalue() == ""
