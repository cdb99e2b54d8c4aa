"""Every area's due rule, in one list: what the sweep asks "what should have been said by now?"."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from sqlmodel import Session

from store import agreement_gaps, agreement_reminders, batches_rules, digest, stability_rules, submission_reminders
from store.outbox import Due

Rule = Callable[[Session, datetime], Iterable[Due]]

RULES: tuple[Rule, ...] = (
    digest.due,
    agreement_reminders.due,
    agreement_gaps.due,
    batches_rules.due,
    submission_reminders.due,
    stability_rules.due,
)
