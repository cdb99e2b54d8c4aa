"""Spreadsheet bombs, generated here (none is committed): a tiny XLSX that declares a huge sheet, millions of
shared strings, a zip that inflates a thousandfold, a damaged sheet. Each is refused plainly, cheaply."""

from __future__ import annotations

import io
import re
import tracemalloc
import zipfile

import pytest

from store.errors import Invalid
from store.onboarding import importing
from store.stability import results_file as stability_import
from store.workbooks import MAX_COLUMNS, MAX_SHARED_STRINGS, first_sheet_rows
from tests.unit.test_cli import _run
from tests.unit.test_onboarding_cli import cli_db  # noqa: F401  (a fixture)

SHEET = "xl/worksheets/sheet1.xml"
STRINGS = "xl/sharedStrings.xml"


PARTS = {
    "[Content_Types].xml":
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
    "_rels/.rels":
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Target="xl/workbook.xml" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/>'
        "</Relationships>",
    "xl/workbook.xml":
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels":
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Target="worksheets/sheet1.xml" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"/>'
        '<Relationship Id="rId2" Target="sharedStrings.xml" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"/>'
        "</Relationships>",
    SHEET:
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><dimension ref="A1:C2"/>'
        '<sheetData><row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="s"><v>2</v></c>'
        '</row><row r="2"><c r="A2" t="s"><v>3</v></c><c r="B2" t="s"><v>4</v></c><c r="C2" t="s"><v>5</v></c>'
        "</row></sheetData></worksheet>",
    STRINGS:
        '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="6" uniqueCount="6">'
        + "".join(f"<si><t>{t}</t></si>" for t in ("Type", "Counterparty", "Status", "MSA", "Acme Pharma", "draft"))
        + "</sst>",
}


def _workbook() -> bytes:
    """A small, sound XLSX written part by part (so that each part can be made hostile)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in PARTS.items():
            archive.writestr(name, text)
    return out.getvalue()


def _rewrite(content: bytes, **replace) -> bytes:
    """The same workbook with some parts rewritten by a function of their old text (streamed: bombs are big)."""
    names = {SHEET: "sheet", STRINGS: "strings"}
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for member in source.infolist():
            new = replace.get(names.get(member.filename, ""))
            if new is None:
                target.writestr(member, source.read(member))
                continue
            with target.open(member.filename, "w", force_zip64=True) as part:
                for chunk in new(source.read(member).decode()):
                    part.write(chunk)
    return out.getvalue()


def _declared(dimension: str):
    def sheet(xml: str):
        yield re.sub(r'<dimension ref="[^"]*"', f'<dimension ref="{dimension}"', xml).encode()
    return sheet


def test_a_huge_declared_dimension_costs_nothing():
    wide = _rewrite(_workbook(), sheet=_declared("A1:XFD3"))
    assert first_sheet_rows(wide, "wide.xlsx", 100) == [["Type", "Counterparty", "Status"],
                                                         ["MSA", "Acme Pharma", "draft"]]
    assert all(len(cells) <= 3 for _, cells in importing.read_table(wide, "wide.xlsx"))
    huge = _rewrite(_workbook(), sheet=_declared("A1:XFD1048576"))  # 0.15 MB took 2.6 GB before
    tracemalloc.start()
    try:
        table = importing.read_table(huge, "huge.xlsx")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [cells for _, cells in table][:2] == [["Type", "Counterparty", "Status"], ["MSA", "Acme Pharma", "draft"]]
    assert peak < 50 * 1024 * 1024


def test_a_row_wider_than_the_cap_is_refused():
    def far_cell(xml: str):
        yield xml.replace("</sheetData>", '<row r="3"><c r="ZZ3" t="inlineStr"><is><t>x</t></is></c></row>'
                                          "</sheetData>").encode()
    with pytest.raises(Invalid, match=f"more than {MAX_COLUMNS} columns"):
        importing.read_table(_rewrite(_workbook(), sheet=far_cell), "far.xlsx")


def _shared_strings(count: int, distinct: bool):
    def strings(_xml: str):
        yield (f'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="{count}" '
               f'uniqueCount="{count}">').encode()
        batch = 100_000
        for start in range(0, count, batch):
            end = min(start + batch, count)
            yield "".join(map("<si><t>{}</t></si>".format, range(start, end))).encode() if distinct \
                else b"<si><t/></si>" * (end - start)
        yield b"</sst>"
    return strings


def test_too_many_shared_strings_are_refused_before_openpyxl_loads_them():
    many = _rewrite(_workbook(), strings=_shared_strings(MAX_SHARED_STRINGS + 10, distinct=True))
    with pytest.raises(Invalid, match="distinct texts"):
        importing.read_table(many, "many.xlsx")
    with pytest.raises(Invalid, match="distinct texts"):
        stability_import.read("many.xlsx", many)


def test_ten_million_empty_shared_strings_in_half_a_megabyte_are_refused():
    bomb = _rewrite(_workbook(), strings=_shared_strings(10_000_000, distinct=False))
    assert len(bomb) < 1024 * 1024
    with pytest.raises(Invalid, match="zip bomb|more than"):
        stability_import.read("bomb.xlsx", bomb)


@pytest.mark.parametrize("damage", [
    lambda xml: [xml[: len(xml) // 2].encode()],                               # cut off mid-sheet
    lambda xml: [xml.replace("<sheetData>", '<!DOCTYPE x [<!ENTITY a "aaaa">]><sheetData>').encode()],
    lambda xml: [b"\xff\xfe not xml at all"],
])
def test_a_damaged_sheet_is_a_clear_refusal(damage):
    broken = _rewrite(_workbook(), sheet=damage)
    with pytest.raises(Invalid, match="cannot be read as an XLSX workbook"):
        importing.read_table(broken, "broken.xlsx")
    with pytest.raises(Invalid, match="cannot be read as an XLSX workbook"):
        stability_import.read("broken.xlsx", broken)


def test_a_results_file_too_large_is_refused_unread():
    with pytest.raises(Invalid, match="larger than 20 MB"):
        stability_import.read("results.csv", b"x" * (stability_import.MAX_BYTES + 1))


def test_the_command_line_exits_2_on_a_bomb(cli_db):  # noqa: F811
    (cli_db / "bomb.xlsx").write_bytes(_rewrite(_workbook(), sheet=lambda xml: [xml[:200].encode()]))
    done = _run(["import", "bomb.xlsx", "--kind", "agreements", "--program", "ACME-001"], cli_db)
    assert done.returncode == 2 and "cannot be read as an XLSX workbook" in done.stderr
    assert "Traceback" not in done.stderr
