"""Agreements (NDA, Quality Agreement, MSA …): the tables (models), their negotiation, execution and renewal
(service), the renewal reminders, the coverage gaps that supersession leaves, and their part of App Home."""
