"""Bounded retries of transient AWS errors, with tenacity.

Only throttling, 5xx answers and connection failures are retried; everything else (a failed
condition, a missing table, a bad request) fails at once. Waits are jittered exponential.
A request deadline (set per invocation with ``deadline_after``) stops retrying early enough that
the last attempt still ends inside the Lambda timeout.
"""

import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from runtime.aws import CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS, error_code

if TYPE_CHECKING:
    from tenacity import RetryCallState

T = TypeVar("T")

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TransactionInProgressException",
        "SlowDown",
        "LimitExceededException",
    }
)

_deadline: ContextVar[float | None] = ContextVar("retry_deadline", default=None)


def is_transient(exc: BaseException) -> bool:
    """Worth another attempt: throttling, a 5xx answer, or no answer at all."""
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error_code(exc) in THROTTLING_CODES or int(status) >= 500
    return isinstance(exc, BotoConnectionError | HTTPClientError | TimeoutError)


@contextmanager
def deadline_after(seconds: float) -> Iterator[float]:
    """Within this block no retry starts that could not finish before ``seconds`` from now."""
    deadline = time.monotonic() + seconds
    token = _deadline.set(deadline)
    try:
        yield deadline
    finally:
        _deadline.reset(token)


def _deadline_near(attempt_seconds: float) -> bool:
    """No attempt starts that could not finish before the request deadline."""
    deadline = _deadline.get()
    return deadline is not None and time.monotonic() + attempt_seconds > deadline


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    first_wait: float = 0.05
    max_wait: float = 1.0
    attempt_seconds: float = CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS
    on_retry: Callable[[str, int, BaseException], None] | None = None

    def _before_sleep(self, operation: str) -> Callable[["RetryCallState"], None]:
        def report(state: "RetryCallState") -> None:
            if self.on_retry is not None and state.outcome is not None:
                exc = state.outcome.exception()
                if exc is not None:
                    self.on_retry(operation, state.attempt_number, exc)

        return report

    async def call(self, operation: str, fn: Callable[[], Awaitable[T]]) -> T:
        """``await fn()``, retried per this policy. The first attempt runs bare: setting up
        tenacity costs more than the AWS call it guards when that call succeeds at once."""
        try:
            return await fn()
        except Exception as exc:
            if not is_transient(exc) or self.max_attempts <= 1:
                raise
            first_failure: BaseException = exc
        return await self._retry(operation, fn, first_failure)

    async def _retry(
        self, operation: str, fn: Callable[[], Awaitable[T]], first_failure: BaseException
    ) -> T:
        # Imported here: most calls never retry, and a cold start need not pay for tenacity.
        from tenacity import (
            AsyncRetrying,
            retry_if_exception,
            stop_after_attempt,
            wait_random_exponential,
        )

        attempts = stop_after_attempt(self.max_attempts)

        def stop(state: "RetryCallState") -> bool:
            return attempts(state) or _deadline_near(self.attempt_seconds)

        retrying = AsyncRetrying(
            stop=stop,
            wait=wait_random_exponential(multiplier=self.first_wait, max=self.max_wait),
            retry=retry_if_exception(is_transient),
            before_sleep=self._before_sleep(operation),
            reraise=True,
        )

        replay = [first_failure]

        async def attempt() -> T:
            # Attempt 1 already ran in call(): tenacity sees its failure, waits, then retries.
            # (A coroutine function, so tenacity awaits each attempt; a lambda would not be.)
            if replay:
                raise replay.pop()
            return await fn()

        return await retrying(attempt)
