"""Batch record review: the tables (models), the review and its decisions (service), signatures and their checks,
the CMO's QA release, a program's review settings, and the due rules, digest and App Home lines (rules),
and what they import from a tracker and export (tracker)."""
