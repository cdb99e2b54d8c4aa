"""Agreements (NDA, Quality Agreement, MSA …): the tables (models), their negotiation, execution and renewal
(service), the renewal reminders, the coverage gaps that supersession leaves, their part of App Home, and what
they import from a tracker and export (tracker)."""
