"""A real SMTP server (aiosmtpd) that keeps every message it accepts as one ``.eml`` file.

It can also be told to refuse mail (an SMTP 5xx answer), so the email workflow's failure
paths are exercised against a real server rather than a stub.
"""

import asyncio
import socket
import ssl
import threading
import uuid
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


class OutboxHandler:
    def __init__(self, outbox: Path):
        self.outbox = outbox
        self.refuse_with: str | None = None
        self.refuse_recipient: str | None = None
        self.delay = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        if self.refuse_with is not None:
            return self.refuse_with
        if self.refuse_recipient is not None and self.refuse_recipient in envelope.rcpt_tos:
            return "550 5.1.1 Mailbox refused for this test"
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            return self._store(envelope)
        finally:
            self.in_flight -= 1

    def _store(self, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content
        data = content if isinstance(content, bytes) else str(content).encode("utf-8")
        name = f"{uuid.uuid4().hex}.eml"
        with self._lock:
            (self.outbox / f".{name}.tmp").write_bytes(data)
            (self.outbox / f".{name}.tmp").rename(self.outbox / name)  # whole files only
        return "250 Message accepted for delivery"


class SmtpSink:
    def __init__(
        self,
        outbox: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        credentials: tuple[str, str] | None = None,
        tls_context: ssl.SSLContext | None = None,
    ):
        """``credentials``: require AUTH with this login; ``tls_context``: offer STARTTLS and
        require it before mail is accepted."""
        outbox.mkdir(parents=True, exist_ok=True)
        self.handler = OutboxHandler(outbox)
        self.host = host
        self._port = port
        self._credentials = credentials
        self._tls_context = tls_context
        self.logins: list[str] = []
        self._controller: Controller | None = None

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            self._credentials is not None
            and isinstance(auth_data, LoginPassword)
            and (auth_data.login.decode(), auth_data.password.decode()) == self._credentials
        )
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=ok)

    @property
    def outbox(self) -> Path:
        return self.handler.outbox

    @property
    def port(self) -> int:
        return self._port

    def start(self) -> "SmtpSink":
        if not self._port:  # aiosmtpd checks readiness by connecting to the port it was given
            with socket.socket() as probe:
                probe.bind((self.host, 0))
                self._port = probe.getsockname()[1]
        kwargs: dict[str, Any] = {"hostname": self.host, "port": self._port}
        if self._credentials is not None:
            kwargs |= {"authenticator": self._authenticate, "auth_required": True}
            kwargs["auth_require_tls"] = self._tls_context is not None
        if self._tls_context is not None:
            kwargs |= {"tls_context": self._tls_context, "require_starttls": True}
        self._controller = Controller(self.handler, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def refuse(self, reply: str | None = "550 5.7.1 Refused for this test") -> None:
        """Answer DATA with this SMTP reply (None: accept again)."""
        self.handler.refuse_with = reply

    def messages(self) -> list[EmailMessage]:
        return [
            message_from_bytes(path.read_bytes(), policy=policy.default)
            for path in sorted(self.outbox.glob("*.eml"))
        ]
