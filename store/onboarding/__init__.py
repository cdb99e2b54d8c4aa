"""Onboarding and audits: a CMO's tracker (CSV or XLSX) read and imported through each area's services, and
every area's records exported for auditors; what each area imports and exports is declared in kinds.py."""
