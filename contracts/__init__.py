"""Shared data contracts of the order pipeline: API request/response shapes, the stored order,
the ``OrderCreated`` event and the audit record, with their committed JSON Schema files."""
