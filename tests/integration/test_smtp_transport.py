"""``SmtpTransport`` against a real SMTP server (aiosmtpd): one connection for many emails, a
connection the server closed is replaced, a refusal is an error and costs the next email
nothing. The server requires a login, so its list of logins counts the connections made."""

import asyncio
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest

from consumers.email.transport import SmtpCredentials, SmtpTransport
from local.mail.smtp_sink import SmtpSink


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SmtpSink]:
    server = SmtpSink(tmp_path / "outbox", credentials=("relay", "s3cret")).start()
    yield server
    server.stop()


def transport(sink: SmtpSink) -> SmtpTransport:
    return SmtpTransport(
        host=sink.host,
        port=sink.port,
        starttls=False,
        timeout=10,
        credentials=SmtpCredentials("relay", "s3cret"),
    )


def email(number: int) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "orders@shop.example.com"
    message["To"] = "john.doe@example.com"
    message["Subject"] = f"Order Confirmation - {number}"
    message.set_content(f"email {number}")
    return message


def subjects(sink: SmtpSink) -> list[str]:
    return sorted(str(message["Subject"]) for message in sink.messages())


async def test_many_emails_one_after_another_share_one_connection(sink: SmtpSink) -> None:
    smtp = transport(sink)
    for number in range(5):
        await smtp.send(email(number))
    assert subjects(sink) == [f"Order Confirmation - {n}" for n in range(5)]
    assert sink.logins == ["relay"]


async def test_emails_sent_at_once_use_a_connection_each_and_keep_them(sink: SmtpSink) -> None:
    smtp = transport(sink)
    await asyncio.gather(*(smtp.send(email(n)) for n in range(3)))
    await asyncio.gather(*(smtp.send(email(n)) for n in range(3, 6)))
    assert len(sink.messages()) == 6
    assert sink.logins == ["relay"] * 3  # the second three reused the first three's


async def test_a_connection_the_server_closed_is_replaced_and_the_email_sent_once(
    sink: SmtpSink,
) -> None:
    smtp = transport(sink)
    await smtp.send(email(1))
    sink.stop()  # closes every connection, as an idle timeout would
    sink.start()
    await smtp.send(email(2))
    assert subjects(sink) == ["Order Confirmation - 1", "Order Confirmation - 2"]
    assert sink.logins == ["relay", "relay"]


async def test_a_refused_email_is_an_error_and_the_next_one_goes_through(sink: SmtpSink) -> None:
    smtp = transport(sink)
    await smtp.send(email(1))
    sink.refuse()
    with pytest.raises(aiosmtplib.SMTPDataError):
        await smtp.send(email(2))
    sink.refuse(None)
    await smtp.send(email(3))
    assert subjects(sink) == ["Order Confirmation - 1", "Order Confirmation - 3"]


async def test_no_server_is_an_error(tmp_path: Path) -> None:
    server = SmtpSink(tmp_path / "outbox").start()
    server.stop()  # the port was free a moment ago and nothing listens on it now
    smtp = SmtpTransport(host=server.host, port=server.port, starttls=False, timeout=5)
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await smtp.send(email(1))
