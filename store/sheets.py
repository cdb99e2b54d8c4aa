"""Worksheet titles that Excel accepts: at most 31 characters, none of `[]:*?/\\`, unique in the book."""

from __future__ import annotations

import re

LIMIT = 31


def sheet_title(text: str, taken: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\]", "-", text).strip()[:LIMIT] or "Sheet"
    title, n = base, 1
    while title in taken:
        n += 1
        suffix = f"-{n}"
        title = base[: LIMIT - len(suffix)] + suffix
    taken.add(title)
    return title
