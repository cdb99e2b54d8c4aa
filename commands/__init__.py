"""Slack listeners, one module per area: parse and validate the payload, call the store, render the reply."""
