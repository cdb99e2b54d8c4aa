"""Moving an installation's documents to another store (`cmo-bot files migrate --to s3://…`).

The audit trail is the authority: every document the bot filed is named there with the SHA-256 it had
when filed. Each one is read from the current store, checked against that checksum, copied with the
store's write-once rule and read back from the target to check again. What is already at the target
with the right checksum is skipped, so running the migration twice copies nothing new. A document whose
bytes differ from the trail (at the source or at the target), or that is missing, is refused and named;
so is a file the trail does not know. Nothing is deleted or overwritten, anywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from store.audit import AuditEntry
from store.filing import sha256
from store.storage import Store


@dataclass
class Report:
    copied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.refused

    def lines(self) -> Iterator[str]:
        yield from (f"copied   {path}" for path in self.copied)
        yield from (f"skipped  {path} (already there, same SHA-256)" for path in self.skipped)
        yield from (f"refused  {path}: {reason}" for path, reason in self.refused)
        yield f"{len(self.copied)} copied, {len(self.skipped)} skipped, {len(self.refused)} refused"


def _documents_named(after: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(path, sha256) of each document an audit row says was filed (the shapes the areas record)."""
    if isinstance(after.get("path"), str) and isinstance(after.get("sha256"), str):
        yield after["path"], after["sha256"]
    if isinstance(after.get("record_path"), str) and isinstance(after.get("record_sha256"), str):
        yield after["record_path"], after["record_sha256"]
    if isinstance(after.get("files"), dict):
        yield from ((p, d) for p, d in after["files"].items() if isinstance(p, str) and isinstance(d, str))


def recorded(session: Session) -> tuple[dict[str, str], dict[str, str]]:
    """Every filed document's SHA-256 by path, and the paths the trail names with two different checksums."""
    found: dict[str, str] = {}
    contradicted: dict[str, str] = {}
    for after in session.exec(select(col(AuditEntry.after)).order_by(col(AuditEntry.seq))):
        for path, digest in _documents_named(after or {}):
            if found.setdefault(path, digest) != digest:
                contradicted[path] = "the audit trail records two different SHA-256 for it"
    return found, contradicted


def migrate(session: Session, source: Store, target: Store) -> Report:
    report = Report()
    expected, contradicted = recorded(session)
    for path in sorted(expected):
        reason = contradicted.get(path) or _copy(source, target, path, expected[path], report)
        if reason:
            report.refused.append((path, reason))
    report.refused.extend((path, "not in the audit trail; left where it is")
                          for path in source.keys() if path not in expected)
    return report


def _copy(source: Store, target: Store, path: str, digest: str, report: Report) -> str | None:
    """Copy one document, or say why not."""
    there = target.get(path)
    if there is not None:
        if sha256(there) != digest:
            return f"{target} already holds a different file under this name (SHA-256 {sha256(there)[:12]}…)"
        report.skipped.append(path)
        return None
    content = source.get(path)
    if content is None:
        return f"missing from {source}"
    if sha256(content) != digest:
        return (f"its SHA-256 ({sha256(content)[:12]}…) differs from the audit trail's ({digest[:12]}…); "
                "not copied")
    target.put_new(path, content)
    written = target.get(path)
    if written is None or sha256(written) != digest:
        return f"{target} did not keep the file intact (read back with a different SHA-256)"
    report.copied.append(path)
    return None
