"""`/cmo submission …` in Slack: the verbs (commands), the documents filed for checklist items (documents), and
the Block Kit (views)."""
