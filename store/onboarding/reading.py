"""Reading a tracker file for store/onboarding/importing.py: its table (CSV in any usual delimiter and encoding, or the
first sheet of an XLSX) and its cells.

Reading is forgiving about *shape* and strict about *meaning*:
- the header row is the first row that is not blank; header names are matched with case, spacing and
  punctuation ignored, against each column's documented synonyms ("Expiry", "Exp. Date" …);
- blank rows are skipped silently; a column nobody knows is ignored (and named in the report);
- dates are read in ISO (`2027-01-31`, `2027/01/31`), `31-Jan-2027` / `31 Jan 2027`, US `01/31/2027`,
  or with `dayfirst` `31/01/2027`, and from real Excel date cells. A date that does not exist, or that
  could be read two ways (a two-digit year), is a row error: the importer never guesses.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Any

from store.errors import Invalid
from store.workbooks import first_sheet_rows

MAX_ROWS = 20_000
DELIMITERS = ",;\t|"
MAX_BYTES = 20 * 1024 * 1024
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")
TRUE_WORDS = {"yes", "y", "true", "x", "1", "evergreen", "auto", "autorenew"}
FALSE_WORDS = {"no", "n", "false", "0", "-", ""}

Value = Any


# --------------------------------------------------------------------------------------------- reading


def normalise(header: object) -> str:
    """`Exp. Date` → `expdate`: case, spacing and punctuation ignored."""
    return re.sub(r"[\W_]+", "", str(header or "").casefold())


def blank(cells: Sequence[Value]) -> bool:
    return not any(str(c).strip() for c in cells if c is not None)


def _decode(content: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    return content.decode("latin-1")


def _dialect(text: str) -> Any:
    """The sniffed dialect, checked against the header line: the sniffer is fooled by rows of bare
    delimiters and by free text; then the delimiter the header line uses most is taken."""
    first = next((line for line in text.splitlines() if line.strip(" ,;\t|")), "")
    counts = {d: first.count(d) for d in DELIMITERS}
    try:
        dialect: Any = csv.Sniffer().sniff(text[:8192], delimiters=DELIMITERS)
        if counts.get(dialect.delimiter, 0) >= max(counts.values()):
            return dialect
    except csv.Error:
        pass

    class Header(csv.excel):
        delimiter = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","

    return Header


def _csv_rows(content: bytes) -> Iterator[tuple[int, list[Value]]]:
    text = _decode(content)
    dialect = _dialect(text)
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    start = 1
    for cells in reader:
        yield start, cells
        start = reader.line_num + 1


def _xlsx_rows(content: bytes, file_name: str) -> Iterator[tuple[int, list[Value]]]:
    yield from enumerate(first_sheet_rows(content, file_name, MAX_ROWS + 1), start=1)


def read_table(content: bytes, file_name: str) -> list[tuple[int, list[Value]]]:
    """(spreadsheet row number, cells) for every row of a CSV or the first sheet of an XLSX."""
    if len(content) > MAX_BYTES:
        raise Invalid(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB; split it.")
    name = file_name.lower()
    if name.endswith((".xlsx", ".xlsm")) or content[:2] == b"PK":
        rows = _xlsx_rows(content, file_name)
    elif name.endswith((".csv", ".txt", ".tsv")) or not name.rpartition(".")[1]:
        rows = _csv_rows(content)
    else:
        raise Invalid(f"{file_name} is neither CSV nor XLSX; save the tracker as one of those.")
    table = []
    for number, cells in rows:
        table.append((number, cells))
        if len(table) > MAX_ROWS + 1:
            raise Invalid(f"The file has more than {MAX_ROWS} rows; split it.")
    return table


# --------------------------------------------------------------------------------------------- values


def _two_digit_year(year: str) -> None:
    if len(year) != 4:
        raise ValueError("has a two-digit year, which could be read two ways; write the year in full")


def _day(year: str | int, month: int, day_: str | int) -> date:
    try:
        return date(int(year), month, int(day_))
    except ValueError:
        raise ValueError("is not a day of the calendar") from None


def parse_date(value: Value, *, dayfirst: bool = False) -> date:
    """A calendar date from a cell, strictly; ValueError says why not."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("is a number, not a date (format the cell as a date, or write 2027-01-31)")
    text = str(value).strip()
    if m := re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]00:00(?::00)?)?", text):
        return _day(m[1], int(m[2]), m[3])
    if m := re.fullmatch(r"(\d{1,2})[- ]([A-Za-z]{3,9})\.?[- ,]*(\d{2,4})", text):
        day_, word, year = m[1], m[2], m[3]
    elif m := re.fullmatch(r"([A-Za-z]{3,9})\.? (\d{1,2}),? (\d{2,4})", text):
        word, day_, year = m[1], m[2], m[3]
    elif m := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{2,4})", text):
        _two_digit_year(m[3])
        first, second = int(m[1]), int(m[2])
        day_, month = (first, second) if dayfirst else (second, first)
        if month > 12:
            hint = "" if dayfirst else " (if it is day/month/year, import with --dayfirst)"
            raise ValueError(f"has no month {month}{hint}")
        return _day(m[3], month, day_)
    else:
        raise ValueError("is not a date; write it as 2027-01-31, 31-Jan-2027 or 01/31/2027")
    named = _month_word(word)
    if named is None:
        raise ValueError(f"has no month called {word!r}")
    _two_digit_year(year)
    return _day(year, named, day_)


def _month_word(word: str) -> int | None:
    word = word.lower()
    for number, name in enumerate(MONTHS, start=1):
        if word == name or word == name[:3] or (word == "sept" and number == 9):
            return number
    return None


def parse_int(value: Value) -> int:
    if isinstance(value, bool):
        raise ValueError("is not a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = str(value).strip()
    if m := re.fullmatch(r"(\d+)(?:\s*(?:days?|d|months?|mo|m))?", text, re.IGNORECASE):
        return int(m[1])
    raise ValueError("is not a whole number")


def parse_bool(value: Value) -> bool:
    if isinstance(value, bool):
        return value
    text = normalise(value)
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ValueError("is not yes or no")


def shown(value: Value) -> str:
    """A cell as the report quotes it."""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    return text if len(text) <= 40 else text[:39] + "…"


def header_of(table: list[tuple[int, list[Value]]]) -> tuple[int, list[Value]] | None:
    return next(((n, cells) for n, cells in table if not blank(cells)), None)
