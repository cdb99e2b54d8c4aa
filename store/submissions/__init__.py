"""Regulatory submissions: the tables (models), checklists built from the reviewed templates (templates.py and
the TOML files under templates/), documents handed in and approved (service, signatures), the package, the
owners' reminders, the App Home part, and what they import from a tracker and export (tracker)."""
