"""Every due rule, in one list: what the sweep asks "what should have been said by now?" — the programs'
digests, then each area's rules as its declaration lists them (store/areas.py); and each rule's horizon (the
first day its answer about a program may change, store/horizons.py), by rule, as the areas declare them: a rule
without one (a test's, or a new area's until it declares one) is asked about every program each midnight."""

from __future__ import annotations

from store import digest
from store.areas import DUE, Rule
from store.areas import HORIZONS as AREA_HORIZONS
from store.horizons import Horizon

RULES: tuple[Rule, ...] = (digest.due, *DUE)
HORIZONS: dict[Rule, Horizon] = {digest.due: digest.horizons, **AREA_HORIZONS}
