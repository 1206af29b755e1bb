"""Channel adapters: one per channel and provider. They send plain values and return receipts.

Adapters never touch the database and never import `alerting/`: the core decides what to send and
records what happened; an adapter only talks to its provider.
"""
