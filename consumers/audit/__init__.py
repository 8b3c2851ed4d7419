"""The Audit consumer: one audit record per ``OrderCreated`` event (SPEC §6)."""
