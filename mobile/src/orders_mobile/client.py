"""The Order API over HTTP: ``POST /order`` with retries under one idempotency key, and
``GET /order/{id}``.

Each attempt may take 30 s. Network errors (no connection, a timeout, a dropped connection),
429 and 5xx are retried twice, after 1 s and then 2 s, or after the server's ``Retry-After`` if
it asks for longer (at most 60 s). Every attempt carries the same ``Idempotency-Key``, so the
API stores the order once however many attempts reached it.
"""

import asyncio
import email.utils
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

TIMEOUT_SECONDS = 30.0
RETRIES = 2
FIRST_BACKOFF_SECONDS = 1.0
MAX_RETRY_AFTER_SECONDS = 60.0
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Outcome:
    """What became of a submission.

    ``kind``: ``accepted`` (``order_id``, ``created_at``), ``invalid`` (``errors``: the API's
    field errors), ``rejected`` (the API refused it for good: 413, 415, 422, 401/403, other 4xx),
    ``unavailable`` (network, 429 or 5xx after every retry: it may be sent again, same key).
    """

    kind: str
    status: int | None = None
    order_id: str | None = None
    created_at: str | None = None
    errors: list[tuple[str, str]] = field(default_factory=list)
    detail: str = ""
    attempts: int = 0


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        return None


def encode(value: Any) -> str:
    """JSON with Decimals as exact numbers (``29.99``, never a float's ``29.989999...``)."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(encode(item) for item in value) + "]"
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a JSON number")
        return format(value, "f")
    return json.dumps(value, ensure_ascii=False)


class OrderClient:
    """Talks to one API; ``sleep`` is handed in so tests can record the delays."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = TIMEOUT_SECONDS,
        retries: int = RETRIES,
        first_backoff: float = FIRST_BACKOFF_SECONDS,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self._base = base_url.rstrip("/")
        self._headers = {"Accept": "application/json"}
        if api_key:
            self._headers["x-api-key"] = api_key
        self._timeout = timeout
        self._retries = retries
        self._first_backoff = first_backoff
        self._sleep = sleep
        self._transport = transport

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=self._timeout, headers=self._headers, transport=self._transport
        )

    def delay(self, attempt: int, response: httpx.Response | None) -> float:
        """Before attempt ``attempt + 1``: 1 s, 2 s, ... or longer if the server asks."""
        backoff: float = self._first_backoff * 2**attempt
        asked = retry_after(response.headers.get("Retry-After")) if response is not None else None
        return max(backoff, min(asked or 0.0, MAX_RETRY_AFTER_SECONDS))

    async def submit(self, body: dict[str, Any], idempotency_key: str) -> Outcome:
        content = encode(body).encode("utf-8")
        headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key}
        async with self._http() as http:
            for attempt in range(self._retries + 1):
                response: httpx.Response | None = None
                try:
                    response = await http.post(
                        f"{self._base}/order", content=content, headers=headers
                    )
                except httpx.TransportError as exc:
                    problem = f"{type(exc).__name__}: {exc}".rstrip(": ")
                else:
                    if response.status_code not in RETRIED_STATUSES:
                        return self._outcome(response, attempt + 1)
                    problem = _detail(response)
                if attempt < self._retries:
                    await self._sleep(self.delay(attempt, response))
            status = None if response is None else response.status_code
            return Outcome("unavailable", status=status, detail=problem, attempts=attempt + 1)

    def _outcome(self, response: httpx.Response, attempts: int) -> Outcome:
        body = _json(response)
        status = response.status_code
        if status == 200 and isinstance(body, dict) and isinstance(body.get("orderId"), str):
            return Outcome(
                "accepted",
                status=status,
                order_id=body["orderId"],
                created_at=str(body.get("createdAt", "")),
                attempts=attempts,
            )
        if status == 400 and isinstance(body, dict) and isinstance(body.get("errors"), list):
            errors = [
                (str(e.get("field", "body")), str(e.get("message", "")))
                for e in body["errors"]
                if isinstance(e, dict)
            ]
            return Outcome("invalid", status=status, errors=errors, attempts=attempts)
        if status == 200:
            return Outcome(
                "unavailable",
                status=status,
                detail="an answer without an order id",
                attempts=attempts,
            )
        return Outcome("rejected", status=status, detail=_detail(response), attempts=attempts)

    async def order(self, order_id: str) -> tuple[int, dict[str, Any] | None]:
        """``GET /order/{id}``: (status, the stored order or None). Raises httpx.TransportError."""
        async with self._http() as http:
            response = await http.get(f"{self._base}/order/{order_id}")
        body = _json(response)
        return response.status_code, body if isinstance(body, dict) else None


def _detail(response: httpx.Response | None) -> str:
    if response is None:
        return ""
    body = _json(response)
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or "")
    return ""
