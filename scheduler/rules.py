"""Every due rule, in one list: what the sweep asks "what should have been said by now?" — the programs'
digests, then each area's rules as its declaration lists them (store/areas.py)."""

from __future__ import annotations

from store import digest
from store.areas import DUE, Rule

RULES: tuple[Rule, ...] = (digest.due, *DUE)
