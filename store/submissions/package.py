"""The submission package: a ZIP with a folder per section, a table of contents (HTML and CSV) and a
`SHA256SUMS` manifest in `sha256sum` format, so the customer can check every file
(`cd <folder> && sha256sum -c SHA256SUMS`).

Every document is read back from the document store and checked against the SHA-256 recorded when it
was received; a file missing or changed since stops the packaging with its name. Only the latest version of
each file name of an item goes in. With items outstanding the package is refused and they are listed,
unless it is a draft, whose table of contents marks the gaps.
"""

from __future__ import annotations

import csv
import html
import io
import zipfile
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from store.db import pk
from store.errors import Conflict
from store.filing import read_document, safe_name, sha256
from store.markup import day
from store.programs import Program
from store.sheets import neutralise
from store.storage import Store
from store.submissions import service as subs

TOC_COLUMNS = ("section", "document", "file", "version", "sha256", "received_on", "received_by")
MANIFEST = "SHA256SUMS"


@dataclass(frozen=True)
class Row:
    section: str
    document: str
    file: str
    version: str
    sha256: str
    received_on: str
    received_by: str


@dataclass(frozen=True)
class Package:
    name: str
    content: bytes
    sha256: str
    documents: int
    gaps: tuple[str, ...]


def outstanding_lines(entries: list[subs.SubmissionItem]) -> list[str]:
    return [f"#{e.number} {e.document} ({e.section}) — {subs.ItemStatus(e.status).label}, owner "
            f"{'<@' + e.owner + '>' if e.owner else 'unassigned'}, due {day(e.due_on)}"
            for e in subs.progress(entries).outstanding]


def latest_versions(found: list[subs.SubmissionFile]) -> list[subs.SubmissionFile]:
    latest: dict[tuple[int, str], subs.SubmissionFile] = {}
    for f in found:
        if (f.item_id, f.name) not in latest or f.version > latest[(f.item_id, f.name)].version:
            latest[(f.item_id, f.name)] = f
    return sorted(latest.values(), key=lambda f: (f.item_id, f.name))


def _toc_html(title: str, rows: list[Row]) -> str:
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in TOC_COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(getattr(r, c))}</td>" for c in TOC_COLUMNS) + "</tr>\n" for r in rows)
    return (f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            "<style>table{border-collapse:collapse}td,th{border:1px solid #999;padding:4px;text-align:left}"
            "</style></head>\n"
            f"<body><h1>{html.escape(title)}</h1>\n<table>\n<tr>{head}</tr>\n{body}</table></body></html>\n")


def _toc_csv(rows: list[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TOC_COLUMNS)
    writer.writerows([neutralise(getattr(r, c)) for c in TOC_COLUMNS] for r in rows)
    return out.getvalue()


def build(session: Session, *, files: Store, program: Program, submission: subs.Submission, now: datetime,
          draft: bool = False) -> Package:
    entries = subs.items(session, submission)
    gaps = outstanding_lines(entries)
    if gaps and not draft:
        raise Conflict(f"{submission.ref} cannot be packaged: {len(gaps)} item(s) outstanding:\n"
                       + "\n".join(f"• {g}" for g in gaps) + "\nAdd `--draft` for a package that marks the gaps.")
    top = safe_name(f"{program.code}-{submission.ref}{'-DRAFT' if draft else ''}")
    sections = list(dict.fromkeys(e.section for e in entries))
    folder = {s: f"{n:02d} {safe_name(s)}" for n, s in enumerate(sections, 1)}
    by_item: dict[int, list[subs.SubmissionFile]] = {}
    for f in latest_versions(subs.files(session, [pk(e) for e in entries])):
        by_item.setdefault(f.item_id, []).append(f)
    contents: dict[str, bytes] = {}
    rows: list[Row] = []
    tz = program.tz
    for entry in entries:
        attached = by_item.get(pk(entry), [])
        if not attached:
            state = "not applicable" if entry.status == subs.ItemStatus.not_applicable else \
                f"MISSING ({subs.ItemStatus(entry.status).label}, due {entry.due_on.isoformat()})"
            rows.append(Row(entry.section, entry.document, state, "", "", "", ""))
            continue
        for f in attached:
            data = read_document(files, f.path, f.sha256, f"{f.name} (item {entry.number})")
            path = f"{folder[entry.section]}/{entry.number:02d}-{safe_name(f.name)}"
            contents[path] = data
            rows.append(Row(entry.section, entry.document, path, str(f.version), f.sha256,
                            f.received_at.astimezone(tz).isoformat(timespec="minutes"), f.received_by_name))
    title = (f"{program.code} {submission.ref} — {subs.type_name(submission.kind)}: {submission.title} "
             f"(filing date {submission.filing_date.isoformat()}){' — DRAFT, gaps marked' if draft else ''}")
    contents["table-of-contents.html"] = _toc_html(title, rows).encode()
    contents["table-of-contents.csv"] = _toc_csv(rows).encode()
    contents[MANIFEST] = "".join(f"{sha256(data)}  {path}\n" for path, data in contents.items()).encode()
    stamp = now.astimezone(tz).timetuple()[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in contents.items():
            info = zipfile.ZipInfo(f"{top}/{path}", date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    content = buffer.getvalue()
    return Package(f"{top}.zip", content, sha256(content), sum(len(v) for v in by_item.values()), tuple(gaps))
