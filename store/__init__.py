"""The database: SQLModel tables and the services that change them, one module per area.

Nothing here imports Slack. Every change of state writes its audit row in the same transaction.
"""
