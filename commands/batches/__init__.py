"""`/cmo batch …` in Slack: the verbs (commands), the customer's decisions and their dialogs, review calls, the
CMO's QA release, the batch messages kept up to date, and the Block Kit (views)."""
