"""Time-driven work: the sweep (due rules → outbox) and delivery (outbox → Slack).

APScheduler is only the clock here; exactly-once lives in the outbox table (store/outbox.py).
"""
