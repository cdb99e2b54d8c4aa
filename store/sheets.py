"""What every spreadsheet the bot writes has in common: worksheet titles Excel accepts, and no cell that a
spreadsheet program would run as a formula.

Product names, attributes, customer names and people's names come from users and end up in files that go to
customers and regulators; `=HYPERLINK(…)` typed as a product name must stay text there.  `neutralise` is the
one rule, used by every CSV writer; `append_row` (and `text_cells` for a streamed sheet) applies the same rule
to XLSX, where the text is kept exact and marked as text (a quote prefix) instead of gaining an apostrophe.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

LIMIT = 31
# What Excel, LibreOffice and Google Sheets start a formula (or a DDE call) with.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def sheet_title(text: str, taken: set[str]) -> str:
    """At most 31 characters, none of `[]:*?/\\`, unique in the book."""
    base = re.sub(r"[\[\]:*?/\\]", "-", text).strip()[:LIMIT] or "Sheet"
    title, n = base, 1
    while title in taken:
        n += 1
        suffix = f"-{n}"
        title = base[: LIMIT - len(suffix)] + suffix
    taken.add(title)
    return title


def formula_like(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_START)


def neutralise(value: Any) -> Any:
    """A CSV cell that no spreadsheet runs: text that could start a formula gets a leading apostrophe."""
    return "'" + value if formula_like(value) else value


def text_cells(sheet: Any, values: Iterable[Any], **style: Any) -> list[Any]:
    """A row of openpyxl write-only cells (`Workbook(write_only=True)`, which streams a sheet to the file
    instead of holding it: an export of thousands of records), with formula-like text marked as text as
    `append_row` does; `style` (font, number_format …) is set on each cell."""
    from openpyxl.cell import WriteOnlyCell

    cells = []
    for value in values:
        entry = WriteOnlyCell(sheet, value=value)
        if formula_like(value):
            entry.data_type = "s"
            entry.quotePrefix = True
        for name, setting in style.items():
            setattr(entry, name, setting)
        cells.append(entry)
    return cells


def append_row(sheet: Any, values: Iterable[Any]) -> None:
    """Append to an openpyxl worksheet, with formula-like text stored as text (never a live formula)."""
    sheet.append(list(values))
    for entry in sheet[sheet.max_row]:
        if formula_like(entry.value):
            entry.data_type = "s"
            entry.quotePrefix = True  # Excel's own "this is text" mark; editing the cell keeps it text
