"""Reading the first sheet of an XLSX workbook someone shared, without letting the file decide the cost.

An XLSX is a zip of XML. A 0.15 MB file can declare a sheet of 16,384 columns by a million rows (openpyxl
pads every row to the declared width), or hold ten million shared strings (which openpyxl loads whole), and
take a server's memory with it. So before openpyxl reads anything, the zip's members are checked: their
count, their declared uncompressed sizes (which zipfile enforces while inflating) and compression ratios,
and the number of shared strings; then the sheet is read with its declared dimension ignored and rows and
columns capped. XML entity tricks are refused by defusedxml, which openpyxl uses when it is installed.
Every failure, whatever the parser raised, is one `Invalid` that says what to do.
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

from store.errors import Invalid

MAX_MEMBERS = 2_000
MAX_UNCOMPRESSED = 200 * 1024 * 1024  # all members together, as declared (and enforced while inflating)
MAX_RATIO = 200  # uncompressed / compressed, for members over RATIO_FLOOR; real sheets stay far below
RATIO_FLOOR = 1024 * 1024
MAX_SHARED_STRINGS = 1_000_000
MAX_COLUMNS = 256
_SHARED_STRING = re.compile(rb"<(?:\w+:)?si[\s>/]")


def _refuse(name: str, why: str) -> Invalid:
    return Invalid(f"{name[:60]} cannot be read as an XLSX workbook: {why}. Save it again from Excel (or as CSV) "
                   "and share that.")


def _check_archive(archive: zipfile.ZipFile, name: str) -> None:
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise _refuse(name, f"it holds more than {MAX_MEMBERS} parts")
    if sum(m.file_size for m in members) > MAX_UNCOMPRESSED:
        raise _refuse(name, f"it unpacks to more than {MAX_UNCOMPRESSED // (1024 * 1024)} MB")
    for member in members:
        if member.file_size > RATIO_FLOOR and member.file_size > MAX_RATIO * max(member.compress_size, 1):
            raise _refuse(name, "it is compressed far more than any spreadsheet (a zip bomb?)")
    shared = next((m for m in members if m.filename.lower().endswith("sharedstrings.xml")), None)
    if shared is not None and _count_shared_strings(archive, shared) > MAX_SHARED_STRINGS:
        raise _refuse(name, f"it has more than {MAX_SHARED_STRINGS:,} distinct texts")


def _count_shared_strings(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> int:
    """Count `<si>` entries streaming, without holding the part in memory."""
    count, tail = 0, b""
    with archive.open(member) as part:
        while chunk := part.read(1024 * 1024):
            data = tail + chunk
            count += len(_SHARED_STRING.findall(data[: len(data) - 16])) if len(data) > 16 else 0
            tail = data[-16:] if len(data) > 16 else data
            if count > MAX_SHARED_STRINGS:
                break
    return count + len(_SHARED_STRING.findall(tail))


def first_sheet_rows(content: bytes, name: str, max_rows: int) -> list[list[Any]]:
    """The values of the first sheet's rows (at most `max_rows` + 1, so that the caller can say "too many"),
    each without trailing empty cells; `Invalid` for anything that is not a sound, reasonable workbook."""
    import openpyxl

    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            _check_archive(archive, name)
        workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Invalid:
        raise
    except Exception as exc:  # openpyxl, zipfile and the XML parser raise many kinds for a broken file  # noqa: BLE001
        raise _refuse(name, f"the file is damaged or not a workbook ({type(exc).__name__})") from None
    try:
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # the declared size is the file's claim, not a fact
        rows = []
        for cells in sheet.iter_rows(min_row=1, max_row=max_rows + 1, values_only=True):  # one row at a time
            values = list(cells)
            if len(values) > MAX_COLUMNS and any(v is not None for v in values[MAX_COLUMNS:]):
                raise _refuse(name, f"a row has more than {MAX_COLUMNS} columns")
            while values and values[-1] is None:
                values.pop()
            rows.append(values)
        return rows
    except Invalid:
        raise
    except Exception as exc:  # a damaged sheet fails while it is read  # noqa: BLE001
        raise _refuse(name, f"the sheet is damaged ({type(exc).__name__})") from None
    finally:
        workbook.close()
