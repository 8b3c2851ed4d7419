"""How a rendered email leaves: SMTP through aiosmtplib, or SES (v2) through aioboto3."""

import functools
import json
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, Protocol

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
    """SMTP through aiosmtplib, its connections kept open between emails and invocations.

    A connection per email cost a TCP handshake, EHLO (and STARTTLS, AUTH) and QUIT every
    time, on both ends. Up to ``MAX_IDLE`` connections wait for the next email; a kept one
    that the server closed meanwhile (an idle timeout) is replaced once, before any of the
    message was accepted on it.
    """

    MAX_IDLE = 10

    def __init__(
        self,
        host: str,
        port: int,
        starttls: bool,
        timeout: float,
        credentials: SmtpCredentials | None = None,
        ca_bundle: str | None = None,
    ):
        # Imported here: only SMTP configurations load it, not a cold start on SES.
        import aiosmtplib

        self._errors_of_a_closed_connection = (
            aiosmtplib.SMTPServerDisconnected,
            ConnectionError,
        )
        self._client = functools.partial(
            aiosmtplib.SMTP,
            hostname=host,
            port=port,
            start_tls=starttls,
            use_tls=False,
            timeout=timeout,
            username=credentials.username if credentials else None,
            password=credentials.password if credentials else None,
            cert_bundle=ca_bundle,
        )
        self._idle: list[aiosmtplib.SMTP] = []

    async def send(self, message: EmailMessage) -> None:
        while self._idle:
            kept = self._idle.pop()
            if not kept.is_connected:
                continue
            try:
                await kept.send_message(message)
            except self._errors_of_a_closed_connection:
                kept.close()
                break  # closed while it waited: once more on a new connection
            except BaseException:
                kept.close()
                raise
            self._keep(kept)
            return
        client = self._client()
        try:
            await client.connect()
            await client.send_message(message)
        except BaseException:
            client.close()
            raise
        self._keep(client)

    def _keep(self, client: Any) -> None:
        if len(self._idle) < self.MAX_IDLE:
            self._idle.append(client)
        else:
            client.close()


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
