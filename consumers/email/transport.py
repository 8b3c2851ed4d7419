"""How a rendered email leaves: SMTP through aiosmtplib, or SES (v2) through aioboto3."""

import json
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING, Protocol

from runtime.retry import RetryPolicy

if TYPE_CHECKING:
    from types_aiobotocore_secretsmanager import SecretsManagerClient
    from types_aiobotocore_sesv2 import SESV2Client


class EmailTransport(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True)
class SmtpCredentials:
    username: str
    password: str


async def credentials_from_secret(
    client: "SecretsManagerClient", secret_arn: str
) -> SmtpCredentials:
    """A Secrets Manager secret holding ``{"username": ..., "password": ...}``."""
    secret = await client.get_secret_value(SecretId=secret_arn)
    try:
        value = json.loads(secret["SecretString"])
        return SmtpCredentials(username=str(value["username"]), password=str(value["password"]))
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"secret {secret_arn} must be JSON with username and password") from None


class SmtpTransport:
    def __init__(
        self,
        host: str,
        port: int,
        starttls: bool,
        timeout: float,
        credentials: SmtpCredentials | None = None,
        ca_bundle: str | None = None,
    ):
        self._host = host
        self._port = port
        self._starttls = starttls
        self._timeout = timeout
        self._credentials = credentials
        self._ca_bundle = ca_bundle
        # Imported here: only SMTP configurations load it, not a cold start on SES.
        import aiosmtplib

        self._smtp_send = aiosmtplib.send

    async def send(self, message: EmailMessage) -> None:
        await self._smtp_send(
            message,
            hostname=self._host,
            port=self._port,
            start_tls=self._starttls,
            use_tls=False,
            timeout=self._timeout,
            username=self._credentials.username if self._credentials else None,
            password=self._credentials.password if self._credentials else None,
            cert_bundle=self._ca_bundle,
        )


class SesTransport:
    def __init__(self, client: "SESV2Client", retry: RetryPolicy):
        self._client = client
        self._retry = retry

    async def send(self, message: EmailMessage) -> None:
        raw = message.as_bytes()
        await self._retry.call(
            "sesv2.SendEmail",
            lambda: self._client.send_email(
                FromEmailAddress=str(message["From"]),
                Destination={"ToAddresses": [str(message["To"])]},
                Content={"Raw": {"Data": raw}},
            ),
        )
