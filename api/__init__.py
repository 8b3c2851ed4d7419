"""The Order API: ``POST /order`` and ``GET /order/{orderId}`` behind API Gateway (SPEC §3)."""
