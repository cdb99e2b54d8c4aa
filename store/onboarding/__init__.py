"""Onboarding and audits: a CMO's tracker (CSV or XLSX) read and imported through each area's services, and
every area's records exported for auditors. What each area imports and exports is declared in its own
`store/<area>/tracker.py`, built from the shared parts in kinds.py; this package imports no area."""
