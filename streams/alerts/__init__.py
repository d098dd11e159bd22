"""The alert engine (event-time rules, lifecycle, inhibition) and the notifier (grouping,
durable outbox, webhooks in Alertmanager's format, optional push to a real Alertmanager)."""
