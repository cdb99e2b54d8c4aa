"""The checklist templates of each submission type: data files under store/submissions/templates/, reviewed by
regulatory affairs, each item with its section, document, usual source, owner role and buffer (business days before
the filing date)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from store.programs import Role
from store.submissions.models import SubmissionType


@dataclass(frozen=True)
class TemplateItem:
    section: str
    document: str
    source: str
    owner_role: Role | None
    buffer: int


@dataclass(frozen=True)
class Template:
    type: SubmissionType
    name: str
    items: tuple[TemplateItem, ...]


def _template_item(raw: dict[str, Any], where: str) -> TemplateItem:
    section, document = str(raw.get("section", "")).strip(), str(raw.get("document", "")).strip()
    buffer = raw.get("buffer")
    if not section or not document:
        raise ValueError(f"{where}: every item needs a section and a document")
    if not isinstance(buffer, int) or isinstance(buffer, bool) or not 0 <= buffer <= 250:
        raise ValueError(f"{where}: buffer must be a whole number of business days (0–250)")
    role = raw.get("owner_role")
    return TemplateItem(section[:200], document[:300], str(raw.get("source", "")).strip()[:100],
                        Role(role) if role else None, buffer)


def parse_template(text: str, where: str) -> Template:
    raw = tomllib.loads(text)
    kind = SubmissionType(raw["type"])
    items = tuple(_template_item(item, f"{where} item {n}") for n, item in enumerate(raw.get("items", []), 1))
    if not items:
        raise ValueError(f"{where}: a template needs at least one item")
    return Template(kind, str(raw["name"]), items)


@cache
def template(kind: SubmissionType) -> Template:
    path = resources.files("store.submissions") / "templates" / f"{kind.value}.toml"
    loaded = parse_template(path.read_text(encoding="utf-8"), path.name)
    if loaded.type != kind:
        raise ValueError(f"{path.name} declares type {loaded.type}, expected {kind}")
    return loaded


def type_name(kind: str) -> str:
    return template(SubmissionType(kind)).name

