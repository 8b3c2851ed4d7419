"""Lambda entry point of the Order API: ``api.handler.handler``.

The handler only adapts: Powertools injects the Lambda context into logs (with API Gateway's
request id as correlation id) and flushes EMF metrics; ``OrderApiFunction`` runs the async core
on the container's one event loop, building its AWS clients on first use and keeping them.
"""

from collections.abc import Callable
from functools import cache
from typing import Any, cast

from aws_lambda_powertools.logging import correlation_paths

from api.app import OrderApi
from api.config import ApiSettings
from api.observability import log_retry, logger, metrics
from api.service import OrderService
from api.store import OrderStore
from runtime.aws import AwsClients
from runtime.config import load_settings
from runtime.loop import LoopRunner
from runtime.retry import RetryPolicy
from runtime.snapstart import prepare_at_init

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
AWS_SERVICES = ("dynamodb",)


class OrderApiFunction:
    """One Lambda container's Order API: settings, event loop and clients, each made once."""

    def __init__(
        self,
        settings: ApiSettings,
        clients: AwsClients | None = None,
        runner: LoopRunner | None = None,
        service_options: dict[str, Any] | None = None,
    ):
        self.settings = settings
        self._clients = clients or AwsClients()
        self._runner = runner or LoopRunner()
        self._service_options = service_options or {}
        self._api: OrderApi | None = None

    async def _build(self) -> OrderApi:
        settings = self.settings
        retry = RetryPolicy(on_retry=log_retry)
        service = OrderService(
            store=OrderStore(await self._clients.dynamodb(), settings.order_table_name, retry),
            budget_seconds=settings.request_budget_seconds,
            **self._service_options,
        )
        return OrderApi(service, settings.cors_allow_origin)

    async def _handle(self, event: dict[str, Any], request_id: str) -> dict[str, Any]:
        if self._api is None:
            self._api = await self._build()
        return await self._api.handle(event, request_id)

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        request_context = event.get("requestContext") or {}
        request_id = str(request_context.get("requestId") or getattr(context, "aws_request_id", ""))
        return self._runner.run(self._handle(event, request_id))

    def before_snapshot(self) -> None:
        """SnapStart: botocore's models loaded, no client, connection or loop kept."""
        self._runner.run(self._clients.warm(AWS_SERVICES))
        self._runner.close()

    def after_restore(self) -> None:
        self._api = None
        self._runner.renew()

    def at_init(self) -> None:
        self._runner.run(self._clients.open(AWS_SERVICES))

    def close(self) -> None:
        self._runner.run(self._clients.close())
        self._runner.close()


def make_handler(function: Callable[[], OrderApiFunction]) -> Handler:
    """The Lambda-shaped entry around ``function()``, with Powertools' logging and metrics."""

    @metrics.log_metrics(capture_cold_start_metric=True)
    @logger.inject_lambda_context(
        correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True
    )
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return function()(event, context)

    return cast(Handler, handler)


@cache
def function_from_environment() -> OrderApiFunction:
    """Configuration is read and validated once per container; a bad variable is named."""
    settings = load_settings(ApiSettings)
    logger.setLevel(settings.log_level)
    return OrderApiFunction(settings)


handler = make_handler(function_from_environment)
prepare_at_init(function_from_environment)
