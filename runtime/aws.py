"""aioboto3 clients, created once on first use and kept for the life of the container.

Endpoints and credentials come from the standard AWS configuration (``AWS_ENDPOINT_URL``,
``AWS_DEFAULT_REGION``, the credential chain), so pointing the same code at moto, LocalStack or
a real account is configuration, never code.

botocore's own retries are switched off: ``runtime.retry`` owns the retry policy, and two
stacked retry loops would multiply attempts past the Lambda timeout.
"""

from collections.abc import Iterable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, cast

from runtime import tls  # first: it imports aiohttp without loading a CA store

# isort: split
import aioboto3
import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.httpsession import AIOHTTPSession
from botocore.httpsession import get_cert_path

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_secretsmanager import SecretsManagerClient
    from types_aiobotocore_sesv2 import SESV2Client
    from types_aiobotocore_sns import SNSClient
    from types_aiobotocore_sqs import SQSClient

CONNECT_TIMEOUT_SECONDS = 1.0
READ_TIMEOUT_SECONDS = 3.0


class SharedTlsSession(AIOHTTPSession):
    """aiobotocore's HTTP session, with one SSL context per CA bundle for the whole process.

    aiobotocore builds a new SSL context and reloads the CA bundle for every client: ~20 ms
    each on a cold start, even for an http:// endpoint. The context is the same for every
    client with the same bundle, so it is built once, shared, and reads the bundle only at the
    first TLS handshake (``runtime.tls``). Anything custom (a client certificate, a proxy)
    still goes through aiobotocore's own path.
    """

    def _create_connector(self, proxy_url: str | None) -> aiohttp.TCPConnector:
        # aiobotocore's own attributes (2.25), which its type stubs do not declare.
        own = vars(self)
        verify, cert_file = own["_verify"], own["_cert_file"]
        ca_bundle = get_cert_path(verify) if verify else None
        if not isinstance(ca_bundle, str) or cert_file is not None or proxy_url:
            connector: aiohttp.TCPConnector = super()._create_connector(proxy_url)  # type: ignore[misc]
            return connector
        return aiohttp.TCPConnector(
            limit=own["_max_pool_connections"],
            ssl=tls.deferred_bundle_context(ca_bundle),
            **own["_connector_args"],
        )


DEFAULT_CONFIG = AioConfig(
    http_session_cls=SharedTlsSession,
    connect_timeout=CONNECT_TIMEOUT_SECONDS,
    read_timeout=READ_TIMEOUT_SECONDS,
    retries={"total_max_attempts": 1},
    max_pool_connections=64,
)


def long_poll_config(wait_seconds: int) -> AioConfig:
    """For SQS long polls: the read timeout must outlast the wait, or the client gives up while
    the server still holds the receive, and a message arriving then is taken by the abandoned
    request and stays invisible for the whole visibility timeout."""
    merged: AioConfig = DEFAULT_CONFIG.merge(AioConfig(read_timeout=wait_seconds + 10))
    return merged


class AwsClients:
    """Lazily opened aioboto3 clients sharing one session; close() releases them all."""

    def __init__(
        self,
        session: aioboto3.Session | None = None,
        config: AioConfig | None = None,
        endpoint_url: str | None = None,
    ):
        self._session = session or aioboto3.Session()
        self._config = config or DEFAULT_CONFIG
        self._endpoint_url = endpoint_url
        self._stack = AsyncExitStack()
        self._clients: dict[str, Any] = {}

    async def _client(self, service: str) -> Any:
        client = self._clients.get(service)
        if client is None:
            client = await self._stack.enter_async_context(
                self._session.client(  # type: ignore[call-overload]
                    service, config=self._config, endpoint_url=self._endpoint_url
                )
            )
            self._clients[service] = client
        return client

    async def dynamodb(self) -> "DynamoDBClient":
        return cast("DynamoDBClient", await self._client("dynamodb"))

    async def sns(self) -> "SNSClient":
        return cast("SNSClient", await self._client("sns"))

    async def sqs(self) -> "SQSClient":
        return cast("SQSClient", await self._client("sqs"))

    async def sesv2(self) -> "SESV2Client":
        return cast("SESV2Client", await self._client("sesv2"))

    async def secretsmanager(self) -> "SecretsManagerClient":
        return cast("SecretsManagerClient", await self._client("secretsmanager"))

    async def dynamodbstreams(self) -> Any:
        """Untyped (no stubs installed): only the local stack reads the Orders table's stream,
        as Lambda's event-source mapping does on AWS."""
        return await self._client("dynamodbstreams")

    async def cloudformation(self) -> Any:
        """Untyped (no stubs installed): only ``orders smoke --stack`` reads stack outputs."""
        return await self._client("cloudformation")

    async def apigateway(self) -> Any:
        """Untyped (no stubs installed): only ``orders smoke --stack`` reads the API key."""
        return await self._client("apigateway")

    async def open(self, services: Iterable[str]) -> None:
        """Make a client per service now and keep it (a Lambda init without SnapStart: the
        first request then finds them made)."""
        for service in services:
            await self._client(service)

    async def warm(self, services: Iterable[str]) -> None:
        """Open and close a client per service, keeping neither client nor connection: botocore's
        service models and endpoint rules stay loaded in the session for the next clients (what
        a SnapStart snapshot should hold)."""
        await self.open(services)
        await self.close()

    async def close(self) -> None:
        self._clients.clear()
        await self._stack.aclose()
        self._stack = AsyncExitStack()


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError, else None."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None
