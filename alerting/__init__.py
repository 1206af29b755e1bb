"""Alerts, recipients, groups, incidents and the dispatcher: Tocsin's core.

The core receives its database sessions, queues and channel adapters from `ops/`; it never reads
the environment and never imports `console/`, `ops/` or `escalation/`.
"""
