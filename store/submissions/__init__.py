"""Regulatory submissions: the tables (models), checklists built from the reviewed templates (templates.py and
the TOML files under templates/), documents handed in and approved (service, signatures), the package, the
owners' reminders and the App Home part."""
