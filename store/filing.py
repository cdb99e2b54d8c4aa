"""Filing documents in a program's folder of the document store (`<program>/<area>/…`, see
`store.storage`) with their SHA-256, and reading them back verified.

File names come from Slack users: they are reduced to a safe base name (no directories, no `..`,
no control characters) before they are stored, and a name already taken gets a numeric suffix so
an earlier filing is never overwritten. A document read back whose SHA-256 differs from the one recorded
at filing, or that is missing, stops the operation with a message naming it; nothing is ever deleted.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

from store.errors import Conflict, Invalid
from store.storage import STORAGE_ERRORS, Store

_UNSAFE = re.compile(r"[^\w.\- ()]+")
MAX_NAME_BYTES = 200  # most file systems allow 255 bytes; the rest is room for a "-2" when a name is taken
MAX_EXTENSION_BYTES = 16


@dataclass(frozen=True)
class Filed:
    path: PurePosixPath  # the key in the document store
    sha256: str
    size: int


def safe_name(name: str, default: str = "document") -> str:
    """A base file name that is safe on any file system: no directories, no control, format or bidi
    characters, and at most MAX_NAME_BYTES of UTF-8 with its extension kept."""
    name = unicodedata.normalize("NFKC", name or "")
    name = name.replace("\\", "/").split("/")[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = _UNSAFE.sub("_", name).strip(" .")
    return fit_bytes(name or default, MAX_NAME_BYTES)


def fit_bytes(name: str, limit: int) -> str:
    """`name` cut to `limit` bytes of UTF-8 at a character boundary, keeping a short extension
    (file systems count bytes: 150 CJK characters are 450 bytes, beyond the usual 255)."""
    if len(name.encode()) <= limit:
        return name
    stem, dot, extension = name.rpartition(".")
    if not stem or len(extension.encode()) > MAX_EXTENSION_BYTES:
        stem, dot, extension = name, "", ""
    room = limit - len(f"{dot}{extension}".encode())
    stem = stem.encode()[:room].decode("utf-8", "ignore").rstrip(" .") or "document"
    return f"{stem}{dot}{extension}"


def safe_part(part: str) -> str:
    cleaned = safe_name(part, default="")
    if not cleaned:
        raise Invalid(f"{part!r} cannot be used as a folder name.")
    return cleaned


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


class DocumentUnavailable(Conflict):
    """A filed document is missing from the store or differs from what was filed."""


def numbered(base: str) -> Iterator[str]:
    """`QA.pdf`, then `QA-2.pdf`, `QA-3.pdf` …: the names tried until one is free."""
    yield base
    stem, dot, suffix = base.rpartition(".") if "." in base[1:] else (base, "", "")
    for n in itertools.count(2):
        yield f"{stem}-{n}{dot}{suffix}"


def file_document(store: Store, program_code: str, *folders: str, name: str, content: bytes) -> Filed:
    """Store `content` once as <program>/<folders…>/<safe name> and return where, with its checksum."""
    folder = PurePosixPath(safe_part(program_code), *(safe_part(f) for f in folders))
    names = numbered(safe_name(name))
    path = folder / next(names)
    while not store.put_new(str(path), content):
        path = folder / next(names)
    filed = Filed(path, sha256(content), len(content))
    read_document(store, path, filed.sha256, path.name)  # what was written is what is kept
    return filed


def read_document(store: Store, path: str | PurePosixPath, expected_sha256: str, label: str) -> bytes:
    """The document's bytes, only if they are still exactly what was filed (`label` names it for people)."""
    content = store.get(str(path))
    if content is None:
        STORAGE_ERRORS.labels("missing").inc()
        raise DocumentUnavailable(f"{label} is missing from the document store ({path}); nothing was done. "
                                  "Tell an administrator: documents are never deleted by the bot.")
    if sha256(content) != expected_sha256:
        STORAGE_ERRORS.labels("altered").inc()
        raise DocumentUnavailable(f"{label} in the document store ({path}) is not the file that was filed "
                                  f"(SHA-256 {sha256(content)[:12]}…, recorded {expected_sha256[:12]}…); nothing was "
                                  "done. Tell an administrator, or share the document again.")
    return content
