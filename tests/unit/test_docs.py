"""The documentation holds together: a short README, and every relative link in it and in docs/ resolves
(the file exists; an `#anchor` is a heading of that file, slugged as GitHub does)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _prose(text: str) -> str:
    """The text outside code fences and inline code, where links are links."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def slugs(text: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered."""
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *#*$", re.sub(r"^```.*?^```", "", text, flags=re.S | re.M),
                              re.M):
        plain = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
        slug = re.sub(r"[^\w\- ]", "", plain.strip().lower()).replace(" ", "-")
        number, candidate = 0, slug
        while candidate in found:
            number += 1
            candidate = f"{slug}-{number}"
        found.add(candidate)
    return found


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in LINK.findall(_prose(page.read_text())):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto: — not ours to check offline
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and (file.suffix != ".md" or anchor not in slugs(file.read_text())):
            broken.append(f"{target} (no such heading)")
    return broken


def test_the_readme_is_short_and_every_relative_link_resolves():
    assert len((REPO / "README.md").read_text().splitlines()) < 150
    assert {page.name for page in PAGES} >= {"README.md", "agreements.md", "batches.md", "stability.md",
                                             "submissions.md", "programs.md", "operations.md", "compliance.md",
                                             "architecture.md", "troubleshooting.md", "cli.md"}
    assert {page.name: broken_links(page) for page in PAGES} == {page.name: [] for page in PAGES}


def test_the_link_check_can_fail(tmp_path):
    page = tmp_path / "page.md"
    (tmp_path / "other.md").write_text("# Other\n\n## In Slack: `/cmo <area> <verb>`\n## Twice\n## Twice\n")
    page.write_text("# Page\n[ok](other.md#in-slack-cmo-area-verb) [ok](other.md#twice-1) [self](#page)\n"
                    "[gone](missing.md) [no anchor](other.md#nowhere) `[code](not-a-link.md)`\n")
    assert broken_links(page) == ["missing.md (no such file)", "other.md#nowhere (no such heading)"]
