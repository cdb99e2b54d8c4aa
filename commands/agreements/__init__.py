"""`/cmo agreement …` in Slack: the verbs (commands), the forms and their buttons, the channel notices and
filed documents (messages), and the Block Kit (views)."""
