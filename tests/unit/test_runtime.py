"""Retry classification, deadlines, configuration errors and log masking."""

import asyncio
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from api.config import ApiSettings
from runtime.config import ConfigError, load_settings
from runtime.logs import mask_emails
from runtime.loop import LoopRunner
from runtime.retry import RetryPolicy, deadline_after, is_transient


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "x"}, "ResponseMetadata": {"HTTPStatusCode": status}},  # type: ignore[typeddict-item]
        "PutItem",
    )


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (client_error("ProvisionedThroughputExceededException", 400), True),
        (client_error("ThrottlingException", 400), True),
        (client_error("Throttling", 400), True),
        (client_error("InternalServerError", 500), True),
        (client_error("ServiceUnavailable", 503), True),
        (EndpointConnectionError(endpoint_url="http://x"), True),
        (ReadTimeoutError(endpoint_url="http://x"), True),
        (TimeoutError(), True),
        (client_error("ConditionalCheckFailedException", 400), False),
        (client_error("ResourceNotFoundException", 400), False),
        (client_error("ValidationException", 400), False),
        (client_error("AccessDeniedException", 403), False),
        (ValueError("bug"), False),
    ],
)
def test_only_throttling_5xx_and_connection_errors_are_transient(
    exc: BaseException, transient: bool
) -> None:
    assert is_transient(exc) is transient


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def failing(errors: list[BaseException]) -> Any:
    calls = []

    async def call() -> str:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return "ok"

    call.calls = calls  # type: ignore[attr-defined]
    return call


def test_retry_gives_up_after_max_attempts() -> None:
    call = failing([client_error("Throttling", 400)] * 10)
    policy = RetryPolicy(max_attempts=3, first_wait=0.001, max_wait=0.002)
    with pytest.raises(ClientError):
        run(policy.call("op", call))
    assert len(call.calls) == 3


def test_retry_reports_each_retry() -> None:
    seen: list[tuple[str, int]] = []
    policy = RetryPolicy(
        first_wait=0.001, max_wait=0.002, on_retry=lambda op, n, e: seen.append((op, n))
    )
    assert run(policy.call("op", failing([client_error("Throttling", 400)] * 2))) == "ok"
    assert seen == [("op", 1), ("op", 2)]


def test_non_transient_error_is_raised_at_once() -> None:
    call = failing([client_error("ValidationException", 400)])
    with pytest.raises(ClientError):
        run(RetryPolicy(first_wait=0.001).call("op", call))
    assert len(call.calls) == 1


def test_no_retry_starts_that_cannot_finish_before_the_deadline() -> None:
    call = failing([client_error("Throttling", 400)] * 10)
    policy = RetryPolicy(max_attempts=10, first_wait=0.001, max_wait=0.002, attempt_seconds=5.0)
    with deadline_after(1.0), pytest.raises(ClientError):
        run(policy.call("op", call))
    assert len(call.calls) == 1


def test_loop_runner_keeps_one_loop_across_calls() -> None:
    runner = LoopRunner()

    async def current() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    try:
        assert runner.run(current()) is runner.run(current()) is runner.loop
    finally:
        runner.close()


VALID_ENV = {
    "ORDER_TABLE_NAME": "dev-Orders",
}


def test_settings_load_from_environment_names() -> None:
    settings = load_settings(ApiSettings, VALID_ENV | {"LOG_LEVEL": "DEBUG"})
    assert settings.order_table_name == "dev-Orders"
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "ORDER_TABLE_NAME is required but not set"),
        (VALID_ENV | {"ORDER_TABLE_NAME": ""}, "ORDER_TABLE_NAME is invalid"),
        (VALID_ENV | {"ORDER_TABLE_NAME": "a" * 300}, "ORDER_TABLE_NAME is invalid"),
        (VALID_ENV | {"ORDER_TABLE_NAME": "bad name;drop"}, "ORDER_TABLE_NAME is invalid"),
        (VALID_ENV | {"LOG_LEVEL": "chatty"}, "LOG_LEVEL is invalid"),
        (VALID_ENV | {"REQUEST_BUDGET_SECONDS": "0"}, "REQUEST_BUDGET_SECONDS is invalid"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(ApiSettings, env)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("john.doe@example.com", "j***@example.com"),
        ("to: <zoë@exämple.de>, cc a+b@x.io", "to: <z***@exämple.de>, cc a***@x.io"),
        ("no address here", "no address here"),
        ("j***@example.com", "j***@example.com"),
    ],
)
def test_mask_emails(text: str, masked: str) -> None:
    assert mask_emails(text) == masked
    assert mask_emails({"a": [text, 1, None]}) == {"a": [masked, 1, None]}
