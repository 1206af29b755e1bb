"""Escalation policies, the re-send engine and confirmation tracking (issue: escalation and accountability)."""
