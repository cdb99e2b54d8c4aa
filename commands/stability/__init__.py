"""`/cmo stability …` in Slack: the verbs and the pull buttons (commands), results from a form or a file
(results), and the Block Kit (views)."""
