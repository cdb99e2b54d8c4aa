"""Every due rule, in one list: what the sweep asks "what should have been said by now?" — the programs'
digests, then each area's rules as its declaration lists them (store/areas.py); and each rule's horizon (the
first day its answer about a program may change, store/horizons.py), by rule: a rule without one (a test's, a
new area's until it gives one) is asked about every program at each of its midnights, as before horizons."""

from __future__ import annotations

from store import digest
from store.agreements import gaps as agreement_gaps
from store.agreements import rules as agreement_rules
from store.areas import DUE, Rule
from store.batches import rules as batches_rules
from store.horizons import Horizon
from store.stability import rules as stability_rules
from store.submissions import rules as submission_rules

RULES: tuple[Rule, ...] = (digest.due, *DUE)

HORIZONS: dict[Rule, Horizon] = {
    digest.due: digest.horizons,
    agreement_rules.due: agreement_rules.horizons,
    agreement_gaps.due: agreement_gaps.horizons,
    batches_rules.due: batches_rules.horizons,
    stability_rules.due: stability_rules.horizons,
    submission_rules.due: submission_rules.horizons,
}
