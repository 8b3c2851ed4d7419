"""The Order API's logger and metrics (Powertools), one of each per process."""

import warnings

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from runtime.logs import make_logger

SERVICE = "order-api"
NAMESPACE = "OrderPipeline"

logger = make_logger(service=SERVICE, component="api")
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

# GET requests publish no metric; Powertools warns about that on every such invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish")


def count(name: str) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def log_retry(operation: str, attempt: int, exc: BaseException) -> None:
    logger.warning(
        "transient AWS error, retrying",
        extra={"operation": operation, "attempt": attempt, "error": f"{type(exc).__name__}: {exc}"},
    )
