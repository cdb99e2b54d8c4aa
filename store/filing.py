"""Filing documents in a program's folder: `CMO_FILES_DIR/<program>/<area>/…`, with their SHA-256.

File names come from Slack users: they are reduced to a safe base name (no directories, no `..`,
no control characters) before they touch the disk, and a name already taken gets a numeric suffix so
an earlier filing is never overwritten.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from store.errors import Invalid

_UNSAFE = re.compile(r"[^\w.\- ()]+")
MAX_NAME_BYTES = 200  # most file systems allow 255 bytes; the rest is room for a "-2" when a name is taken
MAX_EXTENSION_BYTES = 16


@dataclass(frozen=True)
class Filed:
    path: Path  # relative to the files root
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


def file_document(root: Path, program_code: str, *folders: str, name: str, content: bytes) -> Filed:
    """Write `content` under root/<program>/<folders…>/<safe name> and return where, with its checksum."""
    relative_dir = Path(safe_part(program_code), *(safe_part(f) for f in folders))
    directory = root / relative_dir
    directory.mkdir(parents=True, exist_ok=True)
    base = safe_name(name)
    stem, dot, suffix = base.rpartition(".") if "." in base[1:] else (base, "", "")
    candidate, n = base, 1
    while (directory / candidate).exists():
        n += 1
        candidate = f"{stem}-{n}{dot}{suffix}"
    target = directory / candidate
    if root.resolve() not in target.resolve().parents:
        raise Invalid("That file name is not allowed.")
    with open(target, "xb") as handle:
        handle.write(content)
    return Filed(relative_dir / candidate, sha256(content), len(content))
