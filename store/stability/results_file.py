"""Reading a results file (CSV or XLSX) into result rows; rows that cannot be read are reported, not dropped.

Columns (header names are matched loosely, in any order): study, condition, time point (months), lot
(batch; optional, for a study of several batches), attribute, value, unit, lower and upper specification
limit. The study column may be left out when the import is for one study. Conditions and time points may
be written as labs and LIMS exports write them (`25°C/60%RH`, `6M`, `T6`: see `store.stability.notation`).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Sequence

from store.errors import Invalid
from store.stability import notation
from store.stability.results import ResultRow
from store.workbooks import first_sheet_rows

ALIASES = {
    "study": ("study", "studyid", "study_id"),
    "condition": ("condition", "storagecondition", "conditioncode"),
    "months": ("timepoint", "timepointmonths", "months", "month", "tp"),
    "batch": ("lot", "batch", "lotno", "lotnumber", "batchno", "batchnumber", "lotid", "batchid"),
    "attribute": ("attribute", "test", "parameter"),
    "value": ("value", "result"),
    "unit": ("unit", "units"),
    "spec_low": ("speclow", "lowerlimit", "lsl", "min", "speclower", "lowerspec", "specmin"),
    "spec_high": ("spechigh", "upperlimit", "usl", "max", "specupper", "upperspec", "specmax"),
}
REQUIRED = ("condition", "months", "attribute", "value")
MAX_ROWS = 5000
MAX_BYTES = 20 * 1024 * 1024  # far more than 5,000 rows of results; a bigger file is refused unread


def _key(header: object) -> str:
    return re.sub(r"[^a-z0-9_]", "", str(header or "").lower()).replace("_", "")


def _columns(header: Sequence[object], has_study: bool) -> dict[str, int]:
    names = [_key(h) for h in header]
    found = {}
    for field, aliases in ALIASES.items():
        for i, name in enumerate(names):
            if name in {a.replace("_", "") for a in aliases}:
                found[field] = i
                break
    missing = [f for f in REQUIRED + (() if has_study else ("study",)) if f not in found]
    if missing:
        raise Invalid(f"The file has no column for {', '.join(missing)}; columns are study, condition, "
                      "time point, lot, attribute, value, unit, lower limit, upper limit.")
    return found


def _number(text: object, what: str) -> float | None:
    if text is None or str(text).strip() == "":
        return None
    try:
        value = float(str(text).strip().replace(",", "."))
    except ValueError:
        raise ValueError(f"{what} {str(text)[:20]!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{what} is not a finite number")
    return value


def _time_point(cell: object) -> int:
    """Months as a spreadsheet holds them (6, 6.0) or as labs write them (`6M`, `T6`, `6 months`)."""
    if isinstance(cell, str) and not re.fullmatch(r"\s*[\d.,]*\s*", cell):
        try:
            return notation.parse_time_point(cell)
        except Invalid as exc:
            raise ValueError(str(exc)) from None
    months = _number(cell, "time point")
    if months is None or months != int(months) or months < 0:
        raise ValueError("the time point is not whole months")
    return int(months)


def to_rows(table: Iterable[Sequence[object]], study: str | None = None
            ) -> tuple[list[ResultRow], list[tuple[int, str]]]:
    """Rows of a table whose first row is the header; row numbers are those a spreadsheet shows."""
    lines = iter(table)
    header = next(lines, None)
    if header is None:
        raise Invalid("The file is empty.")
    columns = _columns(header, study is not None)
    rows: list[ResultRow] = []
    rejected: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=2):
        if number > MAX_ROWS + 1:
            rejected.append((number, f"more than {MAX_ROWS} rows: the rest was not read"))
            break
        if not any(str(c or "").strip() for c in line):
            continue
        cells = {f: line[i] if i < len(line) else None for f, i in columns.items()}
        cell = cells.get
        try:
            if any(isinstance(c, str) and "\x00" in c for c in line):  # PostgreSQL cannot store it
                raise ValueError("a cell holds a NUL character (0x00)")
            value = _number(cell("value"), "value")
            months = _time_point(cell("months"))
            if value is None:
                raise ValueError("no value")
            rows.append(ResultRow(
                line=number, study=str(cell("study") or study or "").strip(),
                condition=str(cell("condition") or "").strip(), months=months, batch=str(cell("batch") or "").strip(),
                attribute=str(cell("attribute") or "").strip(), value=value, unit=str(cell("unit") or "").strip(),
                spec_low=_number(cell("spec_low"), "lower limit"), spec_high=_number(cell("spec_high"), "upper limit"),
            ))
        except ValueError as exc:
            rejected.append((number, str(exc)))
    return rows, rejected


def read(name: str, content: bytes, study: str | None = None) -> tuple[list[ResultRow], list[tuple[int, str]]]:
    """A CSV or XLSX file's result rows and the rows that could not be read."""
    if len(content) > MAX_BYTES:
        raise Invalid(f"{name[:60]} is larger than {MAX_BYTES // (1024 * 1024)} MB; split it.")
    lower = name.lower()
    if lower.endswith(".xlsx"):
        return to_rows(first_sheet_rows(content, name, MAX_ROWS + 1), study)
    if lower.endswith((".csv", ".txt")):
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = content.decode("latin-1")
        dialect = csv.excel_tab if text.count("\t") > text.count(",") else csv.excel
        return to_rows(csv.reader(io.StringIO(text), dialect), study)
    raise Invalid(f"{name[:60]}: share results as a .csv or .xlsx file.")
