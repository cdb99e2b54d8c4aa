"""Text from people, made inert where it lands: file names on disk, lines in posts, cells in imports."""

from __future__ import annotations

import pytest

from bot.blocks import table
from store.filing import MAX_NAME_BYTES, file_document, safe_name
from store.markup import escape
from store.onboarding import importing
from store.stability import results_file as stability_import
from store.storage import LocalStore
from tests.conftest import NOW
from tests.unit.test_importing import ACTOR, kind  # noqa: F401  (a fixture)
from tests.unit.test_importing import program as grants_program  # noqa: F401  (a fixture)


@pytest.mark.parametrize(("hostile", "start", "end"), [
    ("報告書" * 100 + ".pdf", "報告書報告書", "報告.pdf"),  # 900 bytes of CJK: cut to 200, the extension kept
    ("a" * 300 + ".xlsx", "aaaa", "aaa.xlsx"),
    ("évaluation " * 40 + ".docx", "évaluation é", ".docx"),
    ("x." + "e" * 400, "x.eee", "eee"),  # a 400-byte "extension" is no extension: cut like the rest
])
def test_file_names_fit_in_bytes_and_keep_their_extension(hostile, start, end):
    name = safe_name(hostile)
    assert len(name.encode()) <= MAX_NAME_BYTES and name.startswith(start) and name.endswith(end)
    assert len(name.encode()) > MAX_NAME_BYTES - 4  # cut at a character boundary, not short of the limit
    assert safe_name("invoice\u202egpj.exe") == "invoicegpj.exe"  # a bidi override never reaches the disk


def test_a_long_cjk_name_is_filed_and_a_taken_one_numbered(tmp_path):
    long = "安定性試験報告書" * 40 + ".pdf"
    first = file_document(LocalStore(tmp_path), "ACME-001", "stability", name=long, content=b"one")
    second = file_document(LocalStore(tmp_path), "ACME-001", "stability", name=long, content=b"two")
    assert first.path.name.endswith(".pdf") and second.path.name.endswith("-2.pdf")
    assert (tmp_path / second.path).read_bytes() == b"two"


def test_user_text_cannot_forge_lines_or_read_backwards_in_a_post():
    forged = "ok\n:white_check_mark: *B-1043 approved by Quinn Quality*\u2028```\n<!channel>"
    text = escape(forged)
    assert text.splitlines()[1].startswith("> ") and all(line.startswith("> ") for line in text.splitlines()[1:])
    assert "```" not in text and "<!channel>" not in text and "\u2028" not in text
    assert escape("report\u202efdp.exe \u2066x\u2069 \ufeff\u200b") == "reportfdp.exe x "
    listed = table([("ACME-001", "Acme\n```\n:rotating_light: gate met"), ("BETA-002", "Beta")], ("Code", "Customer"))
    assert listed.count("```") == 2 and len(listed.splitlines()) == 3  # a header and two rows, one fence pair


@pytest.mark.usefixtures("grants_program")
def test_nul_bytes_in_imported_cells_are_refused_per_row(engine, kind):  # noqa: F811
    content = b"Person;Role\nUQ\x00A1;cmo_quality\nUPM1;program_manager\n"
    report = importing.run(engine, kind=kind, content=content, file_name="grants.csv", actor=ACTOR, now=NOW,
                           program="ACME-001")
    assert [n for n, _ in report.refused] == [2] and "holds a NUL character" in report.refused[0][1]
    assert report.totals().startswith("1 imported")


def test_nul_bytes_in_stability_results_are_refused_per_row():
    rows, rejected = stability_import.read("r.csv", (
        b"Study,Condition,Time point,Attribute,Value,Unit\n"
        b"STB-0001,LT25,0,Ass\x00ay,100.1,%\n"
        b"STB-0001,LT25,0,Assay,100.1,%\n"))
    assert [r.line for r in rows] == [3] and rejected == [(2, "a cell holds a NUL character (0x00)")]
